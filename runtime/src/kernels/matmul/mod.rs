//! Batched matrix product of two runtime tensors (f32).

pub mod float;
