//! Compiler errors.

/// Everything that can go wrong while importing or compiling a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The bytes are not a valid ONNX protobuf.
    #[error("not a valid ONNX model: {0}")]
    Protobuf(String),
    /// The model is valid ONNX but malformed for our purposes (missing shapes...).
    #[error("invalid model: {0}")]
    Invalid(String),
    /// An operator, attribute or dtype edgerun does not support.
    #[error("unsupported: {op} (node '{node}'): {reason}")]
    Unsupported {
        node: String,
        op: String,
        reason: String,
    },
    /// Writing the `.edge` file failed.
    #[error("could not write the .edge file: {0:?}")]
    Write(edgerun::format::write::WriteError),
    /// The runtime rejected the compiled model (a compiler bug).
    #[error("runtime: {0}")]
    Runtime(edgerun::Error),
}

impl CompileError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CompileError::Invalid(msg.into())
    }
}

pub type Result<T, E = CompileError> = std::result::Result<T, E>;
