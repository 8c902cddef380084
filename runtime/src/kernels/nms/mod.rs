//! NonMaxSuppression kernels (ONNX semantics; the NMS building blocks are in
//! [`crate::detect`]).

pub mod float;
