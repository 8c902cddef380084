//! edgerun runtime: executes `.edge` models (int8 and f32) with no allocator.
//!
//! The compiler (`edgerun-compiler`) does everything that can be done ahead of
//! time: shapes, layouts (NHWC inside, ONNX layout at the boundary), requantization
//! multipliers, clamps, lookup tables, padding geometry and the static arena plan.
//! This crate only validates a model once ([`Model::parse`]) and then does math
//! ([`Interpreter::invoke`]) in memory the caller owns.
//!
//! ```no_run
//! # fn demo(model_bytes: &[u8]) -> Result<(), edgerun::Error> {
//! let model = edgerun::Model::parse(model_bytes)?;
//! let mut arena = [0u8; 64 * 1024];
//! let mut interp = edgerun::Interpreter::new(&model, &mut arena)?;
//! interp.input_f32_mut(0)?.fill(0.0);
//! interp.invoke()?;
//! let logits = interp.output_f32(0)?;
//! # let _ = logits; Ok(()) }
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
// Nothing that reads a model or caller data may panic. Kernels that index after
// checking every length up front opt out with a scoped, justified `#[allow]`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(target_endian = "big")]
compile_error!("edgerun's .edge format and kernels assume a little-endian target");

pub mod detect;
pub mod digest;
pub mod error;
pub mod format;
pub mod interp;
pub mod kernels;
pub mod quant;
#[cfg(feature = "threads")]
pub mod threads;

pub use error::Error;

/// Cases per property test: `n`, or 4 under Miri (which interprets every
/// instruction and is thousands of times slower; see `tests/miri.sh`).
#[cfg(test)]
pub(crate) fn proptest_cases(n: u32) -> u32 {
    if cfg!(miri) { n.min(4) } else { n }
}
pub use format::Model;
pub use format::schema::{DType, Op, OpKind};
#[cfg(feature = "alloc")]
pub use interp::DecodedOps;
pub use interp::{
    AllKernels, Interpreter, KernelSet, NoHook, OpHook, QuantizedKernels, ReferenceKernels,
    TensorInfo,
};
#[cfg(feature = "threads")]
pub use threads::Threads;
