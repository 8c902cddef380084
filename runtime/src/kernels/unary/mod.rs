//! Element-wise unary ops: f32 functions, and the int8 256-entry lookup table.

pub mod float;
pub mod scalar;
