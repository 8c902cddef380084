//! Local response normalization across channels (ONNX LRN), f32.

pub mod float;
