//! QuantizeLinear / DequantizeLinear.

pub mod scalar;
