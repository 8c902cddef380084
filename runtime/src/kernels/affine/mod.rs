//! Per-channel affine (standalone BatchNormalization), f32.

pub mod float;
