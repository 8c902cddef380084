//! Where frames come from: a camera, a sensor, or frames baked into flash.

/// One frame and what is known about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'s> {
    /// One byte per element of the model input, in the input's (ONNX) layout;
    /// [`crate::Preprocess`] maps the bytes to the input's element type.
    pub pixels: &'s [u8],
    /// The true class, when the frame is labelled.
    pub label: Option<u8>,
    /// The bytes of output 0 that the host runtime computed for this frame,
    /// when known: the firmware must reproduce them bit for bit.
    pub expected_output: Option<&'s [u8]>,
}

/// Why a frame source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SourceError {
    /// The baked data is inconsistent (lengths that do not divide, too few labels).
    Corrupt,
    /// The device did not deliver a frame in time.
    Timeout,
    /// The device reported an error.
    Device,
}

/// A source of frames, e.g. a camera driver or [`crate::BakedSource`].
pub trait FrameSource {
    /// The next frame, or `None` when the source is exhausted. The frame
    /// borrows the source until the next call.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError>;
}
