//! Typed errors of the trainer.

use std::path::PathBuf;

/// Everything that can go wrong while training, checkpointing or exporting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] edgerun_data::DataError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A burn record (checkpoint) could not be written, read or applied.
    #[error("{path}: {message}")]
    Record { path: PathBuf, message: String },
    /// No checkpoint where one was expected.
    #[error("{0}: no checkpoint here (state.json missing)")]
    NoCheckpoint(PathBuf),
    /// The checkpoint is of another architecture or head than asked for.
    #[error("checkpoint mismatch: {0}")]
    CheckpointMismatch(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading a tensor back from the backend failed.
    #[error("tensor read: {0}")]
    Tensor(String),
    /// burn-onnx could not export the model, or the exported graph is not
    /// what edgerun expects.
    #[error("ONNX export: {0}")]
    Export(String),
    /// The edgerun compiler or runtime rejected the exported model.
    #[error("edgerun: {0}")]
    Edgerun(#[from] edgerun_compiler::CompileError),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn record(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        TrainError::Record {
            path: path.into(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
