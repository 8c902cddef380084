//! Kernels, one folder per operator. In each folder:
//! - `scalar.rs`: the int8 reference kernel (portable Rust, the bit-exact contract
//!   every SIMD twin is tested against);
//! - `float.rs`: the f32 kernel;
//! - `dsp.rs` (conv, fc): the Armv7E-M twin (Cortex-M4/M7: SMLAD, SXTB16), chosen at
//!   compile time (`cfg(edgerun_dsp)`, set by `build.rs` on `thumbv7em-*`); its
//!   building blocks are in `kernels/dsp.rs` (compiled on the host too, with emulated
//!   instructions, for the tests);
//! - `avx2.rs` (conv, fc, binary Add): the x86_64 AVX2 twin, chosen at run time
//!   with the `std` feature (`is_x86_feature_detected!`);
//! - `neon.rs` (conv, fc): the aarch64 twins, NEON (every aarch64 CPU) and SDOT
//!   (Armv8.2 dot product, chosen at run time with the `std` feature,
//!   `is_aarch64_feature_detected!("dotprod")`); building blocks in
//!   `kernels/neon.rs`.
//!
//! `conv::conv_i8` and `fc::fc_i8` call the fastest twin of the build. Each folder
//! lists its twins (`TWINS`); the shared test frame (`frame/`) runs the same
//! property tests on every twin and requires the reference's bytes, and reports the
//! twins this build or CPU cannot run as `SKIP`. On the target itself,
//! `firmware/run-qemu.sh` runs the DSP twins and the scalar kernels in QEMU against
//! outputs the host computed with the scalar reference (defmt-test).
//!
//! Contract of every kernel function: it first checks that every slice has exactly
//! the length its geometry implies (returning [`Error::BadGeometry`] or
//! [`Error::Overflow`] otherwise), then only does math; it never allocates and never
//! panics. Geometry lengths are computed by the `*_lens` functions next to each
//! kernel, which the model validator uses too (one place for each piece of logic).
//! Indexing inside kernels happens after those checks.

use crate::error::Error;

pub mod affine;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
pub mod binary;
pub mod conv;
pub mod copy;
#[cfg(any(test, edgerun_dsp))]
pub mod dsp;
pub mod fc;
#[cfg(test)]
pub(crate) mod frame;
pub mod lrn;
pub mod matmul;
#[cfg(edgerun_neon)]
pub mod neon;
pub mod nms;
pub mod pool;
pub mod quantize;
pub mod softmax;
pub mod unary;

/// Which twin `conv::conv_i8` and `fc::fc_i8` run in this build on this CPU:
/// `"dsp"` (Armv7E-M builds), `"avx2"` (x86_64 with `std`, when the CPU has
/// AVX2), `"sdot"` (aarch64 with `std`, when the CPU has dot product),
/// `"neon"` (other aarch64 builds), else `"scalar"`. For reports.
pub fn int8_twin() -> &'static str {
    #[cfg(edgerun_dsp)]
    return "dsp";
    #[cfg(all(not(edgerun_dsp), target_arch = "x86_64", feature = "std"))]
    return if avx2::available() { "avx2" } else { "scalar" };
    #[cfg(all(edgerun_neon, feature = "std"))]
    return if neon::Sdot::detect().is_some() {
        "sdot"
    } else {
        "neon"
    };
    #[cfg(all(edgerun_neon, not(feature = "std")))]
    return "neon";
    #[cfg(not(any(
        edgerun_dsp,
        edgerun_neon,
        all(target_arch = "x86_64", feature = "std")
    )))]
    "scalar"
}

/// Requantization parameters of an int8 kernel, resolved from a
/// [`crate::format::schema::Requant`] record (see [`crate::quant::requantize`]).
#[derive(Debug, Clone, Copy)]
pub struct RequantParams<'a> {
    /// Q31 multipliers: one per output channel (or one for per-tensor ops).
    pub mult: &'a [i32],
    /// Shifts, same length as `mult`.
    pub shift: &'a [i32],
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Multiply dimensions, failing on overflow.
#[inline]
pub fn prod(dims: &[u32]) -> Result<usize, Error> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .ok_or(Error::Overflow)
}

/// `Ok(())` when `got == expected`, else [`Error::BadGeometry`].
#[inline]
pub fn check_len(got: usize, expected: usize) -> Result<(), Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::BadGeometry)
    }
}
