//! softmax kernels.

pub mod float;
pub mod scalar;
