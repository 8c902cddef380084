//! Run a model on every frame of a source: time it, check it, summarize it.

use crate::clock::{Clock, Unit};
use crate::error::AppError;
use crate::input::{Preprocess, argmax, fill_input};
use crate::source::FrameSource;
use edgerun::{Interpreter, KernelSet, Model, OpHook, OpKind};
use heapless::Vec;

/// Operators a model may have (per-op statistics live in a fixed vector).
pub const MAX_OPS: usize = 64;
/// Failed frames a report keeps (the count of all of them is kept too).
pub const MAX_FAILURES: usize = 8;

/// Time spent in one operator over all frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpStat<'m> {
    pub name: &'m str,
    pub kind: OpKind,
    /// Multiply-accumulates of one run of the operator ([`edgerun::format::schema::Op::macs`]).
    pub macs: u64,
    /// Sum over frames, in [`ModelReport::unit`].
    pub total: u64,
    pub min: u64,
    pub max: u64,
}

/// The outcome of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameResult {
    pub index: usize,
    pub label: Option<u8>,
    pub predicted: Option<usize>,
    /// Whether output 0 equals the expected bytes, when the frame has them.
    pub bit_exact: Option<bool>,
    /// Time of the inference, in the clock's unit.
    pub elapsed: u64,
}

impl FrameResult {
    /// True unless the output differs from the expected bytes.
    pub fn ok(&self) -> bool {
        self.bit_exact != Some(false)
    }
}

/// Everything [`run_model`] measured and checked.
#[derive(Debug, Clone)]
pub struct ModelReport<'m> {
    pub model_name: &'m str,
    pub unit: Unit,
    /// Multiply-accumulates of one inference (sum of [`edgerun::format::schema::Op::macs`]).
    pub macs: u64,
    pub arena_bytes: usize,
    pub frames: usize,
    /// Frames with a label, and how many of them the model got right.
    pub labelled: usize,
    pub correct: usize,
    /// Frames with expected output bytes, and how many differed.
    pub checked: usize,
    pub mismatches: usize,
    /// Inference time: sum, minimum and maximum over frames.
    pub total: u64,
    pub min: u64,
    pub max: u64,
    pub ops: Vec<OpStat<'m>, MAX_OPS>,
    /// The first frames whose output differed from the expected bytes.
    pub failures: Vec<FrameResult, MAX_FAILURES>,
}

impl ModelReport<'_> {
    /// Mean inference time (0 without frames).
    pub fn mean(&self) -> u64 {
        mean_of(self.total, self.frames)
    }
    /// Sum of the per-operator means: [`Self::mean`] minus the hook's overhead.
    pub fn ops_mean(&self) -> u64 {
        let sum = self.ops.iter().fold(0u64, |a, s| a.saturating_add(s.total));
        mean_of(sum, self.frames)
    }
    /// Every frame with expected bytes reproduced them exactly, and there was
    /// at least one such frame.
    pub fn bit_exact(&self) -> bool {
        self.checked > 0 && self.mismatches == 0
    }
}

/// `total / count` rounded down, 0 for no count: the mean of `count` samples
/// that sum to `total`. Shift-and-subtract, because this is the firmware's
/// only 64-bit division and the general one (compiler-builtins'
/// `__aeabi_uldivmod`) is about 900 bytes of Cortex-M code; it runs once per
/// reported number, not per frame.
pub(crate) fn mean_of(total: u64, count: usize) -> u64 {
    let Ok(d) = u32::try_from(count) else {
        // Only where usize is wider than 32 bits (the host).
        return total / count as u64;
    };
    if d == 0 {
        return 0;
    }
    let d = u64::from(d);
    let (mut q, mut r) = (0u64, 0u64);
    for bit in (0..64).rev() {
        // r < d < 2^32: no overflow.
        r = (r << 1) | ((total >> bit) & 1);
        if r >= d {
            r -= d;
            q |= 1 << bit;
        }
    }
    q
}

/// Times every operator with a [`Clock`].
struct Profiler<'c, 'r, 'm, C> {
    clock: &'c mut C,
    start: u64,
    ops: &'r mut Vec<OpStat<'m>, MAX_OPS>,
}

impl<C: Clock> OpHook for Profiler<'_, '_, '_, C> {
    fn before_op(&mut self, _index: usize, _name: &str, _kind: OpKind) {
        self.start = self.clock.now();
    }
    fn after_op(&mut self, index: usize, _name: &str, _kind: OpKind) {
        let dt = self.clock.now().saturating_sub(self.start);
        if let Some(s) = self.ops.get_mut(index) {
            s.total = s.total.saturating_add(dt);
            s.min = s.min.min(dt);
            s.max = s.max.max(dt);
        }
    }
}

/// Run the model in `model_bytes` (16-byte aligned) on every frame of
/// `source`, in `arena`, timing it with `clock`, with the kernels of `K` only
/// (e.g. [`edgerun::QuantizedKernels`] to keep f32 kernels out of the binary).
/// `on_frame` sees every frame's result as it comes (e.g. to log progress).
///
/// A model with an operator outside `K` is refused before the first frame
/// ([`edgerun::Error::KernelNotBuilt`]).
///
/// A frame whose output differs from its expected bytes does not stop the run:
/// it is counted in [`ModelReport::mismatches`] and kept in
/// [`ModelReport::failures`]. Errors of the model, the arena or the source do.
// Out of line (once per model): inlined into a board's `main` it made the
// binary 1.6 KB larger.
#[inline(never)]
pub fn run_model<'m, K: KernelSet, C: Clock, S: FrameSource>(
    _kernels: K,
    model_bytes: &'m [u8],
    pre: Preprocess,
    arena: &mut [u8],
    source: &mut S,
    clock: &mut C,
    mut on_frame: impl FnMut(&FrameResult),
) -> Result<ModelReport<'m>, AppError> {
    let model = Model::parse(model_bytes)?;
    let mut ops: Vec<OpStat<'m>, MAX_OPS> = Vec::new();
    let mut macs = 0u64;
    for rec in model.ops() {
        let rec = rec?;
        if !K::includes(rec.op.kind()) {
            return Err(edgerun::Error::KernelNotBuilt(rec.op.kind()).into());
        }
        let m = rec.op.macs();
        macs = macs.saturating_add(m);
        ops.push(OpStat {
            name: rec.name,
            kind: rec.op.kind(),
            macs: m,
            total: 0,
            min: u64::MAX,
            max: 0,
        })
        .map_err(|_| AppError::TooManyOps {
            ops: model.num_ops(),
            max: MAX_OPS,
        })?;
    }
    let mut interp = Interpreter::new(&model, arena)?;
    let mut report = ModelReport {
        model_name: model.name(),
        unit: C::UNIT,
        macs,
        arena_bytes: interp.arena_used_bytes(),
        frames: 0,
        labelled: 0,
        correct: 0,
        checked: 0,
        mismatches: 0,
        total: 0,
        min: u64::MAX,
        max: 0,
        ops: Vec::new(),
        failures: Vec::new(),
    };

    while let Some(frame) = source.next_frame()? {
        fill_input(&mut interp, frame.pixels, pre)?;
        let t0 = clock.now();
        interp.invoke_with_kernels::<K>(&mut Profiler {
            clock: &mut *clock,
            start: t0,
            ops: &mut ops,
        })?;
        let elapsed = clock.now().saturating_sub(t0);

        let predicted = argmax(&interp)?;
        let bit_exact = match frame.expected_output {
            Some(want) => {
                let got = interp.output_bytes(0)?;
                if got.len() != want.len() {
                    return Err(AppError::ExpectedSize {
                        expected: got.len(),
                        got: want.len(),
                    });
                }
                Some(got == want)
            }
            None => None,
        };
        let result = FrameResult {
            index: report.frames,
            label: frame.label,
            predicted,
            bit_exact,
            elapsed,
        };

        report.frames += 1;
        if let Some(label) = frame.label {
            report.labelled += 1;
            if predicted == Some(usize::from(label)) {
                report.correct += 1;
            }
        }
        if let Some(exact) = bit_exact {
            report.checked += 1;
            if !exact {
                report.mismatches += 1;
                // Only the first MAX_FAILURES are kept; the count has them all.
                let _ = report.failures.push(result);
            }
        }
        report.total = report.total.saturating_add(elapsed);
        report.min = report.min.min(elapsed);
        report.max = report.max.max(elapsed);
        on_frame(&result);
    }
    if report.frames == 0 {
        report.min = 0;
    }
    for s in ops.iter_mut().filter(|s| s.min == u64::MAX) {
        s.min = 0;
    }
    report.ops = ops;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::mean_of;

    #[test]
    fn mean_of_is_the_integer_division() {
        assert_eq!(mean_of(7, 0), 0);
        assert_eq!(mean_of(0, 3), 0);
        assert_eq!(mean_of(u64::MAX, 1), u64::MAX);
        assert_eq!(
            mean_of(u64::MAX, u32::MAX as usize),
            u64::MAX / u64::from(u32::MAX)
        );
        // A deterministic spread of sums and counts (xorshift), against `/`.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let total = x >> (x % 64);
            let count = (x as u32 >> (x % 32)) as usize;
            let want = if count == 0 { 0 } else { total / count as u64 };
            assert_eq!(mean_of(total, count), want, "{total} / {count}");
        }
    }
}
