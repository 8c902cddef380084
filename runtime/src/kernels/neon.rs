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
//! The per-channel `bias + input_offset * sum w` is computed once per call for
//! each block of [`BLOCK`] output channels ([`Block`]). Every sum wraps
//! modulo 2^32, as in the scalar kernels, so the results are bit-exact even when
//! a sum overflows. Padded conv taps hold the input zero point `-input_offset`
//! (an int8 value, as offsets are in `[-127, 128]`) and contribute
//! `(-input_offset + input_offset) * w = 0`, as in the scalar kernel.
//!
//! Reduction rows are read 16 values at a time; the last `len % 16` activations
//! are a zero-padded vector, and the matching weights are read as 16 bytes of
//! the weight matrix (the bytes past the row belong to the next channel and meet
//! zero activations), or copied, zero-padded, where that would run past its end.
//! Four output channels share each activation load, and their four sums are
//! requantized together in vectors (`Requant::apply`, the vector twin of the
//! scalar kernels' `requant_out`, bit-exact with [`crate::quant::requantize`]:
//! a unit test compares them on extreme accumulators, multipliers and shifts).
//! Weights with a zero point run the scalar kernels.

use crate::kernels::RequantParams;
use crate::quant::total_shift;
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
pub(crate) fn zero() -> int32x4_t {
    // SAFETY: a register-only NEON intrinsic; NEON is enabled in this build.
    unsafe { vdupq_n_s32(0) }
}

/// The first 16 bytes of `s` as a vector, zero-padded when `s` is shorter.
#[inline(always)]
pub(crate) fn load_padded(s: &[i8]) -> int8x16_t {
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

/// The 4 accumulators of the dot products of `x` with the weight rows of
/// channels `oc` (`len = x.len()` weights each in `weights`); a channel whose row
/// is missing counts as zeros.
#[inline(always)]
fn dot4<K: Mac>(k: K, x: &Row<'_>, weights: &[i8], oc: [usize; 4]) -> [int32x4_t; 4] {
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
    acc
}

/// The per-channel constants of a block of up to [`BLOCK`] output channels,
/// computed once per call (the "prepare" step the model format does not store):
/// `bias + input_offset * sum w` and the requantization shifts.
pub(crate) struct Block {
    /// First channel of the block.
    oc0: usize,
    /// Channels in the block.
    n: usize,
    /// `bias + input_offset * sum w` (wrapping), see the module docs.
    eff: [i32; BLOCK],
    /// `-total_shift(shift)`: the rounding right shift of the requantization.
    shr: [i64; BLOCK],
}

impl Block {
    /// The constants of channels `oc0..oc0 + n` (`n <= BLOCK`) of weight rows of
    /// `len` values.
    pub(crate) fn new(
        weights: &[i8],
        len: usize,
        bias: Option<&[i32]>,
        input_offset: i32,
        rq: &RequantParams<'_>,
        oc0: usize,
        n: usize,
    ) -> Self {
        let mut b = Block {
            oc0,
            n: n.min(BLOCK),
            eff: [0; BLOCK],
            shr: [0; BLOCK],
        };
        let rows = weights.get(oc0 * len..).unwrap_or_default();
        for (j, (e, r)) in b.eff.iter_mut().zip(&mut b.shr).take(n).enumerate() {
            let oc = oc0 + j;
            let w = rows.get(j * len..(j + 1) * len).unwrap_or_default();
            let sum = w.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
            let bias = bias.and_then(|b| b.get(oc)).copied().unwrap_or(0);
            *e = bias.wrapping_add(input_offset.wrapping_mul(sum));
            *r = -i64::from(total_shift(rq.shift.get(oc).copied().unwrap_or(0)));
        }
        b
    }
}

impl Block {
    /// Requantize `acc`, the sums of the block's channels `j..j + 4` (without
    /// `eff`), and store those of them that are in the block into `out`
    /// (indexed by channel, as `rq`).
    #[inline(always)]
    pub(crate) fn store(
        &self,
        q: &Requant,
        j: usize,
        acc: int32x4_t,
        rq: &RequantParams<'_>,
        out: &mut [i8],
    ) {
        let (n, oc0) = (self.n, self.oc0);
        let ids = group(j, n);
        let mult = rq.mult.get(oc0..).unwrap_or_default();
        let v = q.apply(
            acc,
            lanes(&self.eff, j, ids),
            lanes(mult, j, ids),
            lanes(&self.shr, j, ids),
        );
        let cnt = n.saturating_sub(j).min(4);
        if let (Some(o), Some(v)) = (out.get_mut(oc0 + j..oc0 + j + cnt), v.get(..cnt)) {
            o.copy_from_slice(v);
        }
    }
}

/// 16 channels of a depthwise convolution, one tap: lane-wise
/// `acc += (x + input_offset) * w` (`io` holds `input_offset` in every lane).
/// `x + input_offset` is formed in `i16` (`[-255, 255]`), the weights are
/// widened to `i16`, and `SMLAL` adds the exact products to the `i32` lanes
/// (wrapping, as the scalar kernel): channels `4i..4i + 4` in `acc[i]`.
#[inline(always)]
pub(crate) fn dw_mac(acc: &mut [int32x4_t; 4], x: int8x16_t, w: int8x16_t, io: int16x8_t) {
    // SAFETY: register-only NEON intrinsics; NEON is enabled in this build.
    unsafe {
        let xl = vaddw_s8(io, vget_low_s8(x));
        let xh = vaddw_high_s8(io, x);
        let wl = vmovl_s8(vget_low_s8(w));
        let wh = vmovl_high_s8(w);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(xl), vget_low_s16(wl));
        acc[1] = vmlal_high_s16(acc[1], xl, wl);
        acc[2] = vmlal_s16(acc[2], vget_low_s16(xh), vget_low_s16(wh));
        acc[3] = vmlal_high_s16(acc[3], xh, wh);
    }
}

/// `input_offset` in the 8 `i16` lanes [`dw_mac`] takes (`[-127, 128]`, so it
/// fits).
#[inline(always)]
pub(crate) fn dw_offset(input_offset: i32) -> int16x8_t {
    // SAFETY: a register-only NEON intrinsic; NEON is enabled in this build.
    unsafe { vdupq_n_s16(input_offset as i16) }
}

/// Channels `j..j + 4` of a block of `n`, the last one repeated past the end.
#[inline(always)]
fn group(j: usize, n: usize) -> [usize; 4] {
    let last = n.saturating_sub(1);
    [j, (j + 1).min(last), (j + 2).min(last), (j + 3).min(last)]
}

/// Lanes `j..j + 4` of `s`, or lanes `ids` when those run past its end.
#[inline(always)]
fn lanes<T: Copy + Default>(s: &[T], j: usize, ids: [usize; 4]) -> [T; 4] {
    match s.get(j..).and_then(|s| s.first_chunk::<4>()) {
        Some(c) => *c,
        None => ids.map(|i| s.get(i).copied().unwrap_or_default()),
    }
}

/// `out[oc] = clamp(requantize(x . w[oc] + eff) + output_offset)` for the
/// channels of block `b` (`weights`: rows of `x.len()` values; `out` and `rq`
/// indexed by channel), four channels at a time, accumulation and
/// requantization in vectors ([`requant4`]). A last group of 1 to 3 channels
/// reuses the 4-channel loop on repeated rows and drops the extra results.
#[inline(always)]
pub(crate) fn channels<K: Mac>(
    k: K,
    x: &Row<'_>,
    weights: &[i8],
    b: &Block,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) {
    let q = Requant::new(rq);
    let (n, oc0) = (b.n, b.oc0);
    for j in (0..n).step_by(4) {
        let [a0, a1, a2, a3] = dot4(k, x, weights, group(j, n).map(|i| oc0 + i));
        b.store(&q, j, sum4(a0, a1, a2, a3), rq, out);
    }
}

/// `[sum a0, sum a1, sum a2, sum a3]` (lane sums, wrapping).
#[inline(always)]
fn sum4(a0: int32x4_t, a1: int32x4_t, a2: int32x4_t, a3: int32x4_t) -> int32x4_t {
    // SAFETY: register-only NEON intrinsics; NEON is enabled in this build.
    unsafe { vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3)) }
}

/// The output parameters of [`RequantParams`] in vectors.
pub(crate) struct Requant {
    output_offset: int32x4_t,
    act_min: int32x4_t,
    act_max: int32x4_t,
}

impl Requant {
    #[inline(always)]
    pub(crate) fn new(rq: &RequantParams<'_>) -> Self {
        // SAFETY: register-only NEON intrinsics; NEON is enabled in this build.
        unsafe {
            Requant {
                output_offset: vdupq_n_s32(rq.output_offset),
                act_min: vdupq_n_s32(rq.act_min),
                act_max: vdupq_n_s32(rq.act_max),
            }
        }
    }

    /// The vector twin of `conv::scalar::requant_out` on 4 lanes:
    /// `clamp(requantize(acc + eff, mult, shift) + output_offset, act_min,
    /// act_max)`, with `shr = -total_shift(shift)`. `SMULL` forms the exact
    /// 64-bit product, `SRSHL` by `-total_shift` is the rounding right shift of
    /// [`crate::quant::requantize`] (`(p + 2^(s-1)) >> s`, computed without
    /// overflow), `SQXTN` its saturation to `i32`, `SQADD` the saturating
    /// offset. Requires `act_min <= act_max` in the int8 range
    /// ([`check_requant`](crate::kernels::conv::scalar::check_requant)).
    #[inline(always)]
    fn apply(&self, acc: int32x4_t, eff: [i32; 4], mult: [i32; 4], shr: [i64; 4]) -> [i8; 4] {
        // SAFETY: register-only NEON intrinsics and loads from local arrays of
        // the loaded length; NEON is enabled in this build.
        unsafe {
            let acc = vaddq_s32(acc, vld1q_s32(eff.as_ptr()));
            let m = vld1q_s32(mult.as_ptr());
            let (shr_lo, shr_hi) = (vld1q_s64(shr.as_ptr()), vld1q_s64(shr.as_ptr().add(2)));
            let lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), shr_lo);
            let hi = vrshlq_s64(vmull_high_s32(acc, m), shr_hi);
            let r = vqaddq_s32(vqmovn_high_s64(vqmovn_s64(lo), hi), self.output_offset);
            let r = vminq_s32(vmaxq_s32(r, self.act_min), self.act_max);
            let r16 = vmovn_s32(r);
            let r8 = vmovn_s16(vcombine_s16(r16, r16));
            let w = vget_lane_u32::<0>(vreinterpret_u32_s8(r8));
            w.to_le_bytes().map(|b| b as i8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::scalar::requant_out;

    /// [`Requant::apply`] against the scalar `requant_out` on accumulators,
    /// effective biases, multipliers and shifts at and beyond their extremes
    /// (sums that wrap, shifts outside `[-31, 30]`), and several clamps.
    #[test]
    fn requant_matches_scalar() {
        let accs = [i32::MIN, -70_000, -3, -1, 0, 1, 2, 12_345, i32::MAX];
        let effs = [0, -1, 1 << 30, i32::MIN];
        let mults = [0, 1, 1 << 30, 1_288_490_189, i32::MAX, -5, i32::MIN];
        let shifts: std::vec::Vec<i32> = (-40..=40).chain([i32::MIN, i32::MAX]).collect();
        let outs = [(0, -128, 127), (-128, -128, 127), (127, -5, 9), (3, 4, 4)];
        for (oo, lo, hi) in outs {
            let rq = RequantParams {
                mult: &[],
                shift: &[],
                output_offset: oo,
                act_min: lo,
                act_max: hi,
            };
            let q = Requant::new(&rq);
            for &s in &shifts {
                for &m in &mults {
                    for &e in &effs {
                        for a in accs.chunks(4) {
                            let a = [0, 1, 2, 3].map(|i| a.get(i).copied().unwrap_or(7));
                            // SAFETY: a load from a local array of 4 values.
                            let v = unsafe { vld1q_s32(a.as_ptr()) };
                            let shr = -i64::from(total_shift(s));
                            let got = q.apply(v, [e; 4], [m; 4], [shr; 4]);
                            let want = a.map(|a| requant_out(a.wrapping_add(e), m, s, &rq));
                            assert_eq!(got, want, "acc {a:?} eff {e} mult {m} shift {s} out {oo}");
                        }
                    }
                }
            }
        }
    }
}
