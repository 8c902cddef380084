//! Data movement (dtype-agnostic, byte level): chunk copies (Concat, Reshape), transpose, per-axis gather (Resize nearest).

pub mod scalar;
