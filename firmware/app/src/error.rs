//! The application's errors. Nothing in this crate panics on data from a model
//! or a frame source: every failure is one of these.

use crate::source::SourceError;
use edgerun::DType;

/// Everything that can stop [`crate::run_model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AppError {
    /// The runtime rejected the model or failed while running it (this includes
    /// [`edgerun::Error::ArenaTooSmall`] when the static arena is too small).
    Runtime(edgerun::Error),
    /// The frame source failed.
    Source(SourceError),
    /// The model has more operators than [`crate::MAX_OPS`] (per-op statistics
    /// are kept in a fixed-capacity vector).
    TooManyOps { ops: usize, max: usize },
    /// A frame has `got` values; the model input has `expected` elements.
    FrameSize { expected: usize, got: usize },
    /// An expected output has `got` bytes; the model output has `expected`.
    ExpectedSize { expected: usize, got: usize },
    /// The model's input has an element type [`crate::Preprocess`] cannot fill.
    UnsupportedInput(DType),
    /// The model has no input or no output.
    NoTensor,
}

impl From<edgerun::Error> for AppError {
    fn from(e: edgerun::Error) -> Self {
        AppError::Runtime(e)
    }
}

impl From<SourceError> for AppError {
    fn from(e: SourceError) -> Self {
        AppError::Source(e)
    }
}
