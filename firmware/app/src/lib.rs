//! The board-independent part of edgerun's Cortex-M firmware.
//!
//! A board crate supplies three things and calls [`run_model`]:
//! - a [`Clock`]: a cycle counter (DWT CYCCNT on hardware) or an instruction
//!   counter (SysTick under `qemu -icount shift=0`);
//! - a [`FrameSource`]: a camera, or the frames baked into flash by [`codegen`]
//!   ([`BakedSource`]);
//! - an arena: a static buffer of at least the model's
//!   [`edgerun::Model::arena_bytes`], 16-byte aligned ([`Aligned16`]).
//!
//! [`run_model`] runs the model on every frame, times every operator through
//! [`edgerun::OpHook`], checks each prediction against the frame's label and
//! each output against the host runtime's bytes, bit for bit, and returns a
//! [`ModelReport`] held in `heapless` containers. With the `defmt` feature,
//! [`log`] prints it as machine-readable lines.
//!
//! Everything here is `no_std`, allocation-free, and built and tested on the
//! host too (`cargo test -p edgerun-fw-app`, with a mock clock and source).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(any(test, feature = "codegen"))]
extern crate std;

mod baked;
mod clock;
mod error;
mod input;
#[cfg(feature = "kernel-cases")]
pub mod kernel_cases;
mod run;
mod source;

#[cfg(feature = "codegen")]
pub mod codegen;
#[cfg(feature = "defmt")]
pub mod log;

pub use baked::{Aligned16, BakedFrames, BakedModel, BakedSource};
pub use clock::{Clock, Unit};
/// The runtime, and the kernel sets boards choose from.
pub use edgerun::{self, AllKernels, KernelSet, QuantizedKernels};
pub use error::AppError;
pub use input::{Preprocess, argmax, fill_input};
pub use run::{FrameResult, MAX_FAILURES, MAX_OPS, ModelReport, OpStat, run_model};
pub use source::{Frame, FrameSource, SourceError};
