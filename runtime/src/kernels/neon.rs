//! Building blocks of the aarch64 kernels (`conv/neon.rs`, `fc/neon.rs`).
//!
//! Two twins share one loop structure and differ in one step ([`Mac`]):
//! - [`Neon`], Armv8.0 Advanced SIMD, present on every aarch64 CPU (Cortex-A53,
//!   A72: Raspberry Pi 3 and 4): `SMULL`/`SMULL2` multiply 16 int8 pairs into
//!   `i16` lanes (exact: `|x * w| <= 128 * 128`), two `SADALP` add them pairwise
//!   into the `i32` accumulator: 4 instructions for 16 MACs;
//! - [`Sdot`], the Armv8.2 dot product (`SDOT`, Cortex-A55, A76: Raspberry Pi 5):
//!   16 MACs in one instruction. It is chosen at run time
//!   (`is_aarch64_feature_detected!("dotprod")`, so only with the `std` feature;
//!   without it the NEON twin runs). `vdotq_s32` is unstable on Rust 1.95, so
//!   `SDOT` is an `asm!`, which must end up in a function compiled with the
//!   `dotprod` feature (the kernels' `run_sdot` wrappers): anywhere else the
//!   assembler rejects it, at build time.
//!
//! # int8 activations and the offset term
//!
//! Both twins multiply the int8 activations as they are, not `x + input_offset`
//! (which needs 9 bits), using
//!
//! ```text
//! sum (x + input_offset) * w = sum x * w + input_offset * sum w
//! ```
//!
//! The per-channel `bias + input_offset * sum w` ([`effective_bias`]) is computed
//! once per call for each block of [`BLOCK`] output channels. Every sum wraps
//! modulo 2^32, as in the scalar kernels, so the results are bit-exact even when
//! a sum overflows. Padded conv taps hold the input zero point `-input_offset`
//! (an int8 value, as offsets are in `[-127, 128]`) and contribute
//! `(-input_offset + input_offset) * w = 0`, as in the scalar kernel.
//!
//! Reduction rows are read 16 values at a time; the last `len % 16` activations
//! are a zero-padded vector, and the matching weights are read as 16 bytes of
//! the weight matrix (the bytes past the row belong to the next channel and meet
//! zero activations), or copied, zero-padded, where that would run past its end.
//! Four output channels share each activation load. Weights with a zero point
//! run the scalar kernels.

use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::requant_out;
use core::arch::aarch64::*;

/// Longest conv window (`k_h * k_w * in_c`) the kernel copies into its stack
/// row; longer ones run the scalar kernel. fc rows are read in place and have no
/// limit.
pub const ROW_MAX: usize = 4096;

/// Output channels per block of effective biases (`4 * BLOCK` bytes of stack).
pub const BLOCK: usize = 256;

/// One multiply-accumulate step of a twin.
pub trait Mac: Copy {
    /// `acc` plus the products of the 16 lanes of `x` and `w`, summed into the 4
    /// `i32` lanes (which products go to which lane is the twin's choice: only the
    /// total of the lanes is used), wrapping.
    fn mac(self, acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t;
}

/// The Armv8.0 NEON twin (every aarch64 CPU).
#[derive(Debug, Clone, Copy)]
pub struct Neon;

impl Mac for Neon {
    #[inline(always)]
    fn mac(self, acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
        // SAFETY: register-only NEON intrinsics; this module is compiled only
        // when the build enables NEON (`cfg(edgerun_neon)`, set by `build.rs`).
        unsafe {
            let lo = vmull_s8(vget_low_s8(x), vget_low_s8(w));
            let hi = vmull_high_s8(x, w);
            vpadalq_s16(vpadalq_s16(acc, lo), hi)
        }
    }
}

/// The SDOT twin. A value of this type is the proof that the CPU has the
/// dot-product instructions: only [`Sdot::detect`] makes one.
#[cfg(any(test, feature = "std"))]
#[derive(Debug, Clone, Copy)]
pub struct Sdot(());

#[cfg(any(test, feature = "std"))]
impl Sdot {
    /// `Some` when this CPU has `SDOT` (Armv8.2 `dotprod`).
    pub fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("dotprod").then_some(Sdot(()))
    }
}

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(any(test, feature = "std"))]
impl Mac for Sdot {
    /// Lane `i` gets `x[4i..4i+4] . w[4i..4i+4]`.
    #[inline(always)]
    fn mac(self, acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: `self` exists, so `Sdot::detect` found `SDOT` on this CPU. One
        // register-to-register instruction: no memory, stack or flags.
        unsafe {
            core::arch::asm!(
                "sdot {acc:v}.4s, {x:v}.16b, {w:v}.16b",
                acc = inout(vreg) acc,
                x = in(vreg) x,
                w = in(vreg) w,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }
}

/// 16 bytes as a vector.
#[inline(always)]
fn load(v: &[i8; 16]) -> int8x16_t {
    // SAFETY: `v` is 16 readable bytes and `ld1` has no alignment requirement;
    // NEON is enabled in this build (`cfg(edgerun_neon)`).
    unsafe { vld1q_s8(v.as_ptr()) }
}

/// Four zero lanes.
#[inline(always)]
fn zero() -> int32x4_t {
    // SAFETY: a register-only NEON intrinsic; NEON is enabled in this build.
    unsafe { vdupq_n_s32(0) }
}

/// Sum of the 4 lanes (wrapping).
#[inline(always)]
fn hsum(v: int32x4_t) -> i32 {
    // SAFETY: a register-only NEON intrinsic; NEON is enabled in this build.
    unsafe { vaddvq_s32(v) }
}

/// The first 16 bytes of `s` as a vector, zero-padded when `s` is shorter.
#[inline(always)]
fn load_padded(s: &[i8]) -> int8x16_t {
    match s.first_chunk::<16>() {
        Some(c) => load(c),
        None => {
            let mut t = [0i8; 16];
            for (t, &v) in t.iter_mut().zip(s) {
                *t = v;
            }
            load(&t)
        }
    }
}

/// A reduction row of activations: whole groups of 16 and a zero-padded tail.
pub(crate) struct Row<'a> {
    full: &'a [[i8; 16]],
    tail: Option<int8x16_t>,
    len: usize,
}

impl<'a> Row<'a> {
    #[inline(always)]
    pub(crate) fn new(x: &'a [i8]) -> Self {
        let (full, rest) = x.as_chunks::<16>();
        Row {
            full,
            tail: (!rest.is_empty()).then(|| load_padded(rest)),
            len: x.len(),
        }
    }
}

/// The dot products of `x` with the weight rows of channels `oc` (`len = x.len()`
/// weights each in `weights`); a channel whose row is missing counts as zeros.
#[inline(always)]
fn dot4<K: Mac>(k: K, x: &Row<'_>, weights: &[i8], oc: [usize; 4]) -> [i32; 4] {
    let len = x.len;
    let rows = oc.map(|c| weights.get(c * len..).unwrap_or_default());
    let full = rows.map(|r| r.get(..len).unwrap_or_default().as_chunks::<16>().0);
    let mut acc = [zero(); 4];
    for ((((xv, w0), w1), w2), w3) in x
        .full
        .iter()
        .zip(full[0])
        .zip(full[1])
        .zip(full[2])
        .zip(full[3])
    {
        let xv = load(xv);
        acc[0] = k.mac(acc[0], xv, load(w0));
        acc[1] = k.mac(acc[1], xv, load(w1));
        acc[2] = k.mac(acc[2], xv, load(w2));
        acc[3] = k.mac(acc[3], xv, load(w3));
    }
    if let Some(xt) = x.tail {
        let start = 16 * x.full.len();
        for (a, r) in acc.iter_mut().zip(rows) {
            *a = k.mac(*a, xt, load_padded(r.get(start..).unwrap_or_default()));
        }
    }
    acc.map(hsum)
}

/// `out[oc] = requant(x . w[oc] + eff[oc - oc0])` for the `eff.len()` channels
/// from `oc0` (`weights`: rows of `x.len()` values; `out` and `rq` indexed by
/// channel), four channels at a time. A last group of 1 to 3 channels reuses the
/// 4-channel loop on repeated rows and drops the extra results.
#[inline(always)]
pub(crate) fn channels<K: Mac>(
    k: K,
    x: &Row<'_>,
    weights: &[i8],
    oc0: usize,
    eff: &[i32],
    rq: &RequantParams<'_>,
    out: &mut [i8],
) {
    let n = eff.len();
    for j in (0..n).step_by(4) {
        let last = n - 1;
        let ids = [j, (j + 1).min(last), (j + 2).min(last), (j + 3).min(last)];
        let acc = dot4(k, x, weights, ids.map(|i| oc0 + i));
        for (i, a) in (j..n).zip(acc) {
            let oc = oc0 + i;
            if let (Some(o), Some(&e), Some(&m), Some(&s)) = (
                out.get_mut(oc),
                eff.get(i),
                rq.mult.get(oc),
                rq.shift.get(oc),
            ) {
                *o = requant_out(a.wrapping_add(e), m, s, rq);
            }
        }
    }
}

/// `eff[j] = bias[oc0 + j] + input_offset * sum w[oc0 + j]` (wrapping), the
/// per-channel constant of the int8 dot products (see the module docs); weight
/// rows of `len` values.
pub(crate) fn effective_bias(
    weights: &[i8],
    len: usize,
    bias: Option<&[i32]>,
    input_offset: i32,
    oc0: usize,
    eff: &mut [i32],
) {
    let rows = weights.get(oc0 * len..).unwrap_or_default();
    for (j, e) in eff.iter_mut().enumerate() {
        let w = rows.get(j * len..(j + 1) * len).unwrap_or_default();
        let sum = w.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
        let b = bias.and_then(|b| b.get(oc0 + j)).copied().unwrap_or(0);
        *e = b.wrapping_add(input_offset.wrapping_mul(sum));
    }
}
