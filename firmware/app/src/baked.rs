//! Models and labelled frames baked into flash by a board's build script
//! ([`crate::codegen`]), with the host runtime's expected outputs.

use crate::clock::Clock;
use crate::error::AppError;
use crate::input::Preprocess;
use crate::run::{FrameResult, ModelReport, run_model};
use crate::source::{Frame, FrameSource, SourceError};
use edgerun::KernelSet;

/// Forces 16-byte alignment on its content: `.edge` models are read in place
/// and need it, and so do arenas.
///
/// ```
/// use edgerun_fw::Aligned16;
/// static MODEL: Aligned16<[u8; 4]> = Aligned16(*b"EDGE");
/// assert_eq!(MODEL.0.as_ptr() as usize % 16, 0);
/// ```
#[repr(C, align(16))]
pub struct Aligned16<T: ?Sized>(pub T);

/// A model in flash and the frames to check it on.
#[derive(Debug, Clone, Copy)]
pub struct BakedModel {
    /// Short name for reports.
    pub name: &'static str,
    /// The `.edge` file, 16-byte aligned (see [`Aligned16`]).
    pub bytes: &'static [u8],
    /// The arena the model's plan needs ([`edgerun::Model::arena_bytes`]).
    pub arena_bytes: usize,
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// How frame bytes become the model's input.
    pub preprocess: Preprocess,
    /// Frames, labels and expected outputs.
    pub frames: BakedFrames,
    /// How many frames the host runtime classified correctly.
    pub host_correct: u32,
}

impl BakedModel {
    /// Run the model on its baked frames (see [`run_model`]).
    pub fn run<K: KernelSet, C: Clock>(
        &self,
        kernels: K,
        arena: &mut [u8],
        clock: &mut C,
        on_frame: impl FnMut(&FrameResult),
    ) -> Result<ModelReport<'static>, AppError> {
        run_model(
            kernels,
            self.bytes,
            self.preprocess,
            arena,
            &mut self.frames.source(),
            clock,
            on_frame,
        )
    }

    /// The run reproduced the host: every baked frame ran, every output equals
    /// the host runtime's bit for bit, and so the accuracy is the host's.
    pub fn passed(&self, report: &ModelReport<'_>) -> bool {
        report.frames == self.frames.count
            && report.checked == self.frames.count
            && report.bit_exact()
            && report.correct == self.host_correct as usize
    }
}

/// `count` frames of `frame_bytes` bytes, their labels (one per frame, or
/// none: unlabelled frames), and the host runtime's output 0 for each
/// (`output_bytes` bytes per frame).
#[derive(Debug, Clone, Copy)]
pub struct BakedFrames {
    pub count: usize,
    pub frame_bytes: usize,
    pub output_bytes: usize,
    pub images: &'static [u8],
    pub labels: &'static [u8],
    pub expected: &'static [u8],
}

impl BakedFrames {
    /// A source that yields the frames in order.
    pub fn source(&self) -> BakedSource<'_> {
        BakedSource {
            frames: self,
            next: 0,
        }
    }

    fn frame(&self, i: usize) -> Result<Frame<'_>, SourceError> {
        let slice = |data: &'static [u8], each: usize| {
            let start = i.checked_mul(each).ok_or(SourceError::Corrupt)?;
            let end = start.checked_add(each).ok_or(SourceError::Corrupt)?;
            data.get(start..end).ok_or(SourceError::Corrupt)
        };
        Ok(Frame {
            pixels: slice(self.images, self.frame_bytes)?,
            label: if self.labels.is_empty() {
                None
            } else {
                Some(*self.labels.get(i).ok_or(SourceError::Corrupt)?)
            },
            expected_output: Some(slice(self.expected, self.output_bytes)?),
        })
    }
}

/// A [`FrameSource`] over [`BakedFrames`].
pub struct BakedSource<'f> {
    frames: &'f BakedFrames,
    next: usize,
}

impl FrameSource for BakedSource<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        if self.next >= self.frames.count {
            return Ok(None);
        }
        let frame = self.frames.frame(self.next)?;
        self.next += 1;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static IMAGES: [u8; 6] = [1, 2, 3, 4, 5, 6];
    static LABELS: [u8; 3] = [7, 8, 9];
    static EXPECTED: [u8; 3] = [10, 11, 12];

    fn frames(count: usize, labels: &'static [u8]) -> BakedFrames {
        BakedFrames {
            count,
            frame_bytes: 2,
            output_bytes: 1,
            images: &IMAGES,
            labels,
            expected: &EXPECTED,
        }
    }

    #[test]
    fn yields_frames_in_order_then_none() {
        let f = frames(3, &LABELS);
        let mut s = f.source();
        let a = s.next_frame().unwrap().unwrap();
        assert_eq!(
            (a.pixels, a.label, a.expected_output),
            (&[1u8, 2][..], Some(7), Some(&[10u8][..]))
        );
        s.next_frame().unwrap().unwrap();
        let c = s.next_frame().unwrap().unwrap();
        assert_eq!((c.pixels, c.label), (&[5u8, 6][..], Some(9)));
        assert_eq!(s.next_frame().unwrap(), None);
    }

    #[test]
    fn frames_without_labels_are_unlabelled() {
        let f = frames(3, &[]);
        let mut s = f.source();
        for _ in 0..3 {
            assert_eq!(s.next_frame().unwrap().unwrap().label, None);
        }
        assert_eq!(s.next_frame().unwrap(), None);
    }

    #[test]
    fn inconsistent_data_is_an_error_not_a_panic() {
        let f = frames(4, &LABELS);
        let mut s = f.source();
        for _ in 0..3 {
            s.next_frame().unwrap();
        }
        assert_eq!(s.next_frame(), Err(SourceError::Corrupt));
        let short = frames(2, &LABELS[..1]);
        let mut s = short.source();
        s.next_frame().unwrap();
        assert_eq!(s.next_frame(), Err(SourceError::Corrupt));
    }
}
