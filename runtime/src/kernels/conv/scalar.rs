//! int8 2-D convolution, the portable reference kernel (TFLite / CMSIS-NN scheme).
//!
//! ```text
//! acc[oc] = bias[oc] + sum_{kh, kw, ic in group(oc)} (x + input_offset) * (w + weight_offset)
//! out[oc] = clamp(requantize(acc, mult[oc], shift[oc]) + output_offset, act_min, act_max)
//! ```
//!
//! NHWC input and output, OHWI weights `[out_c][k_h][k_w][in_c / groups]`. Padded taps
//! contribute nothing: they hold the input zero point, so `x + input_offset == 0`.
//!
//! Three paths, all bit-exact with each other (integer math, same sums, only the loop
//! order differs; the tests check it):
//! - pointwise (1x1, stride 1, no padding, one group): a GEMM over pixels;
//! - depthwise (`groups == in_c`, any channel multiplier `out_c / in_c`): channels in
//!   the inner loop, accumulated in a small stack block;
//! - general: every other geometry (grouped, strided, dilated, padded).
//!
//! # Accumulator range
//!
//! Accumulation is wrapping `i32` arithmetic, as in CMSIS-NN and TFLite. Offsets are
//! checked to lie in `[-127, 128]` (`-zero_point` of an int8 tensor), so every product
//! is at most `255 * 255` in magnitude; the compiler must guarantee
//! `|bias| + k_h * k_w * (in_c / groups) * 255 * 255 < 2^31` (e.g.
//! `k_h * k_w * in_c / groups <= 16_384` and `|bias| < 2^30`). Beyond that the sum
//! wraps (two's complement) in every build: a wrong value for a malformed model,
//! never a panic. The kernel does not check this bound (it depends on the weights
//! and bias values).

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::conv::float::conv_lens;
use crate::kernels::{RequantParams, check_len};
use crate::quant::{Multiplier, clamp_i8, requantize};

/// Offsets accepted for `x + offset` products: the negated zero points of int8 tensors.
pub(crate) const MIN_OFFSET: i32 = -127;
pub(crate) const MAX_OFFSET: i32 = 128;

/// `Ok` when `offset` is the negated zero point of an int8 tensor (`[-127, 128]`).
#[inline]
pub(crate) fn check_offset(offset: i32) -> Result<(), Error> {
    if (MIN_OFFSET..=MAX_OFFSET).contains(&offset) {
        Ok(())
    } else {
        Err(Error::InvalidParameter)
    }
}

/// Check [`RequantParams`] for an op with `channels` output multipliers: lengths
/// ([`Error::BadGeometry`]), then `-128 <= act_min <= act_max <= 127` and an int8
/// output zero point ([`Error::InvalidParameter`]).
///
/// Shared by the int8 kernels (conv, fc, pool, binary).
pub(crate) fn check_requant(rq: &RequantParams<'_>, channels: usize) -> Result<(), Error> {
    check_len(rq.mult.len(), channels)?;
    check_len(rq.shift.len(), channels)?;
    if rq.act_min < -128
        || rq.act_max > 127
        || rq.act_min > rq.act_max
        || !(-128..=127).contains(&rq.output_offset)
    {
        return Err(Error::InvalidParameter);
    }
    Ok(())
}

/// `clamp(requantize(acc, mult, shift) + output_offset, act_min, act_max)` as `i8`.
///
/// The addition saturates (it cannot overflow for a requantized value that fits
/// the int8 range; saturation only keeps absurd multipliers panic-free).
/// Requires [`check_requant`] to have passed (`act_min <= act_max`).
#[inline(always)]
pub(crate) fn requant_out(acc: i32, mult: i32, shift: i32, rq: &RequantParams<'_>) -> i8 {
    offset_clamp(requantize(acc, mult, shift), rq)
}

/// [`requant_out`] with the requantization inlined ([`Multiplier::apply`]), for the
/// output loops of the microcontroller kernels.
#[inline(always)]
pub(crate) fn requant_out_inline(acc: i32, m: Multiplier, rq: &RequantParams<'_>) -> i8 {
    offset_clamp(m.apply(acc), rq)
}

/// The last step of [`requant_out`]: `clamp(v + output_offset, act_min, act_max)`.
#[inline(always)]
pub(crate) fn offset_clamp(v: i32, rq: &RequantParams<'_>) -> i8 {
    clamp_i8(v.saturating_add(rq.output_offset), rq.act_min, rq.act_max)
}

/// Geometry as `usize`, checked: every index the paths form is in bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) n: usize,
    pub(crate) in_h: usize,
    pub(crate) in_w: usize,
    pub(crate) in_c: usize,
    pub(crate) out_h: usize,
    pub(crate) out_w: usize,
    pub(crate) out_c: usize,
    pub(crate) k_h: usize,
    pub(crate) k_w: usize,
    pub(crate) stride_h: usize,
    pub(crate) stride_w: usize,
    pub(crate) dil_h: usize,
    pub(crate) dil_w: usize,
    pub(crate) pad_top: usize,
    pub(crate) pad_left: usize,
    pub(crate) groups: usize,
}

impl Dims {
    /// Input channels per group.
    #[inline(always)]
    fn icg(&self) -> usize {
        self.in_c / self.groups
    }
    /// Output channels per group (the channel multiplier of a depthwise conv).
    #[inline(always)]
    fn ocg(&self) -> usize {
        self.out_c / self.groups
    }
}

/// Largest padded-coordinate `(out - 1) * stride + (k - 1) * dil` along one axis, or
/// [`Error::Overflow`] when it does not fit a `usize`.
fn span(out: usize, stride: usize, k: usize, dil: usize) -> Result<usize, Error> {
    out.saturating_sub(1)
        .checked_mul(stride)
        .and_then(|a| k.saturating_sub(1).checked_mul(dil)?.checked_add(a))
        .ok_or(Error::Overflow)
}

/// Input coordinate of output position `o`, kernel tap `k`, or `None` for a padded tap.
/// No overflow: [`span`] bounded `o * stride + k * dil` when the geometry was checked.
#[inline(always)]
pub(crate) fn tap(
    o: usize,
    stride: usize,
    k: usize,
    dil: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + k * dil).checked_sub(pad).filter(|&i| i < len)
}

/// Pixel `p`'s receptive field in the (kh, kw, ic) order of a weight row (the
/// im2col row of the SIMD kernels): `copy(from, to)` converts each run of input
/// values into the same number of row values, `pad` fills each padded tap.
/// Always inlined, so that a SIMD kernel's `copy` is inlined with its target
/// features. `row` holds `k_h * k_w * in_c` values; `d` was checked by
/// [`validate`], so every index is in bounds (and a short `row` only ends early).
#[cfg(edgerun_neon)]
#[inline(always)]
pub(crate) fn im2col_row<T: Copy>(
    d: &Dims,
    input: &[i8],
    p: usize,
    row: &mut [T],
    pad: T,
    copy: impl Fn(&[i8], &mut [T]),
) {
    let ow = p % d.out_w;
    let t = p / d.out_w;
    let oh = t % d.out_h;
    let b = t / d.out_h;
    // One kernel row is `k_w * in_c` values; without dilation and inside the
    // image it is one contiguous run of the input, copied at once.
    let run = d.k_w * d.in_c;
    let first_iw = (ow * d.stride_w)
        .checked_sub(d.pad_left)
        .filter(|&iw| d.dil_w == 1 && iw + d.k_w <= d.in_w);
    for kh in 0..d.k_h {
        let Some(to_row) = row.get_mut(kh * run..(kh + 1) * run) else {
            return;
        };
        let ih = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h);
        let contiguous = match (ih, first_iw) {
            (Some(ih), Some(iw)) => {
                let at = ((b * d.in_h + ih) * d.in_w + iw) * d.in_c;
                input.get(at..at + run)
            }
            _ => None,
        };
        if let Some(from) = contiguous {
            copy(from, to_row);
            continue;
        }
        for (kw, to) in to_row.chunks_exact_mut(d.in_c).enumerate() {
            let iw = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w);
            let from = match (ih, iw) {
                (Some(ih), Some(iw)) => {
                    let at = ((b * d.in_h + ih) * d.in_w + iw) * d.in_c;
                    input.get(at..at + d.in_c)
                }
                _ => None,
            };
            match from {
                Some(from) => copy(from, to),
                None => to.fill(pad),
            }
        }
    }
}

/// Validate everything `conv_i8` relies on; returns the geometry as `usize`.
///
/// [`conv_lens`] is the one validator of a [`ConvGeom`] (the model validator uses
/// it too), so it runs first and its error wins; the checks after it re-state what
/// the loops below rely on, so that the kernel stays panic-free on its own.
#[allow(clippy::too_many_arguments)]
pub(crate) fn validate(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &[i8],
) -> Result<Dims, Error> {
    let (in_len, w_len, out_len) = conv_lens(g)?;
    if g.groups == 0 || !g.in_c.is_multiple_of(g.groups) || !g.out_c.is_multiple_of(g.groups) {
        return Err(Error::BadGeometry);
    }
    if g.stride_h == 0
        || g.stride_w == 0
        || g.dil_h == 0
        || g.dil_w == 0
        || g.k_h == 0
        || g.k_w == 0
    {
        return Err(Error::InvalidParameter);
    }
    check_offset(input_offset)?;
    check_offset(weight_offset)?;
    check_len(input.len(), in_len)?;
    check_len(weights.len(), w_len)?;
    check_len(out.len(), out_len)?;
    let out_c = g.out_c as usize;
    if let Some(b) = bias {
        check_len(b.len(), out_c)?;
    }
    check_requant(rq, out_c)?;
    let d = Dims {
        n: g.n as usize,
        in_h: g.in_h as usize,
        in_w: g.in_w as usize,
        in_c: g.in_c as usize,
        out_h: g.out_h as usize,
        out_w: g.out_w as usize,
        out_c,
        k_h: g.k_h as usize,
        k_w: g.k_w as usize,
        stride_h: g.stride_h as usize,
        stride_w: g.stride_w as usize,
        dil_h: g.dil_h as usize,
        dil_w: g.dil_w as usize,
        pad_top: g.pad_top as usize,
        pad_left: g.pad_left as usize,
        groups: g.groups as usize,
    };
    span(d.out_h, d.stride_h, d.k_h, d.dil_h)?;
    span(d.out_w, d.stride_w, d.k_w, d.dil_w)?;
    Ok(d)
}

/// Which loop nest computes a geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Pointwise,
    Depthwise,
    General,
}

fn choose_path(d: &Dims) -> Path {
    if d.k_h == 1
        && d.k_w == 1
        && d.stride_h == 1
        && d.stride_w == 1
        && d.pad_top == 0
        && d.pad_left == 0
        && d.groups == 1
        && d.out_h == d.in_h
        && d.out_w == d.in_w
        && d.in_c > 0
        && d.out_c > 0
    {
        Path::Pointwise
    } else if d.groups == d.in_c && d.in_c > 0 {
        Path::Depthwise
    } else {
        Path::General
    }
}

/// int8 convolution (see the module docs for the formula and the accumulator range).
///
/// Errors: [`Error::BadGeometry`] when a slice length (input, weights, bias, output,
/// `rq.mult`/`rq.shift` with `out_c` entries) disagrees with `g`;
/// [`Error::Overflow`] for sizes that overflow `usize`; [`Error::InvalidParameter`]
/// for zero strides/dilations/kernel sizes, groups that do not divide the channel
/// counts, offsets outside `[-127, 128]` or a bad clamp/output zero point.
#[allow(clippy::too_many_arguments)]
pub fn conv_i8(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(
        g,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )?;
    let a = Args {
        d,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
    };
    match choose_path(&d) {
        Path::Pointwise => pointwise(&a, out),
        Path::Depthwise => depthwise(&a, out),
        Path::General => general(&a, out),
    }
    Ok(())
}

/// [`conv_i8`] without the pointwise path (1x1 geometries run the general one):
/// the fallback of the SIMD kernels, which handle every one-group convolution
/// whose window fits their rows, so that their builds do not link the pointwise
/// loop.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(any(test, edgerun_dsp)), allow(dead_code))]
pub(crate) fn conv_i8_fallback(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(
        g,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )?;
    let a = Args {
        d,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
    };
    match choose_path(&d) {
        Path::Depthwise => depthwise(&a, out),
        Path::Pointwise | Path::General => general(&a, out),
    }
    Ok(())
}

/// Validated inputs of one call.
struct Args<'a, 'r> {
    d: Dims,
    input: &'a [i8],
    weights: &'a [i8],
    bias: Option<&'a [i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &'a RequantParams<'r>,
}

// `conv_i8` checked bias, mult and shift to hold exactly `out_c` entries.
#[allow(clippy::indexing_slicing)]
impl Args<'_, '_> {
    #[inline(always)]
    fn bias(&self, oc: usize) -> i32 {
        self.bias.map_or(0, |b| b[oc])
    }
    #[inline(always)]
    fn finish(&self, acc: i32, oc: usize) -> i8 {
        requant_out(acc, self.rq.mult[oc], self.rq.shift[oc], self.rq)
    }
    /// `sum (x + input_offset) * (w + weight_offset)` over two equal-length runs.
    #[inline(always)]
    fn dot(&self, x: &[i8], w: &[i8]) -> i32 {
        let mut acc = 0i32;
        for (&xv, &wv) in x.iter().zip(w) {
            acc = acc
                .wrapping_add((xv as i32 + self.input_offset) * (wv as i32 + self.weight_offset));
        }
        acc
    }
}

/// Any geometry: one output value at a time, bounds-tested taps.
// Lengths checked by `conv_i8` against the geometry; `tap` keeps taps in the image.
#[allow(clippy::indexing_slicing)]
fn general(a: &Args<'_, '_>, out: &mut [i8]) {
    let d = &a.d;
    let (icg, ocg) = (d.icg(), d.ocg());
    let w_per_oc = d.k_h * d.k_w * icg;
    let mut o = 0usize;
    for b in 0..d.n {
        let in_b = b * d.in_h * d.in_w * d.in_c;
        for oh in 0..d.out_h {
            for ow in 0..d.out_w {
                for oc in 0..d.out_c {
                    let ic0 = (oc / ocg) * icg;
                    let w_oc = oc * w_per_oc;
                    let mut acc = a.bias(oc);
                    for kh in 0..d.k_h {
                        let Some(ih) = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h) else {
                            continue;
                        };
                        for kw in 0..d.k_w {
                            let Some(iw) = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w)
                            else {
                                continue;
                            };
                            let xi = in_b + (ih * d.in_w + iw) * d.in_c + ic0;
                            let wi = w_oc + (kh * d.k_w + kw) * icg;
                            acc = acc.wrapping_add(
                                a.dot(&a.input[xi..xi + icg], &a.weights[wi..wi + icg]),
                            );
                        }
                    }
                    out[o] = a.finish(acc, oc);
                    o += 1;
                }
            }
        }
    }
}

/// 1x1, stride 1, no padding, one group, `out_h/w == in_h/w`: `out[p] = W x[p]`.
/// Requires `in_c > 0` and `out_c > 0` (checked by [`choose_path`]).
fn pointwise(a: &Args<'_, '_>, out: &mut [i8]) {
    let d = &a.d;
    for (x, o) in a
        .input
        .chunks_exact(d.in_c)
        .zip(out.chunks_exact_mut(d.out_c))
    {
        for (oc, (w, ov)) in a.weights.chunks_exact(d.in_c).zip(o.iter_mut()).enumerate() {
            *ov = a.finish(a.bias(oc) + a.dot(x, w), oc);
        }
    }
}

/// Channels per accumulator block of the depthwise path (`32 * 4` bytes of stack).
const DW_BLOCK: usize = 32;

/// `groups == in_c`: output channel `oc` reads input channel `oc / multiplier`.
/// Loop order: pixel, channel block, tap, channel (NHWC-contiguous inner loop).
// Lengths checked by `conv_i8` against the geometry; `tap` keeps taps in the image.
#[allow(clippy::indexing_slicing)]
fn depthwise(a: &Args<'_, '_>, out: &mut [i8]) {
    let d = &a.d;
    let ch_mult = d.ocg();
    let taps = d.k_h * d.k_w;
    let mut acc_buf = [0i32; DW_BLOCK];
    let mut o = 0usize;
    for b in 0..d.n {
        let in_b = b * d.in_h * d.in_w * d.in_c;
        for oh in 0..d.out_h {
            for ow in 0..d.out_w {
                for c0 in (0..d.out_c).step_by(DW_BLOCK) {
                    let c1 = d.out_c.min(c0 + DW_BLOCK);
                    let acc = &mut acc_buf[..c1 - c0];
                    for (j, v) in acc.iter_mut().enumerate() {
                        *v = a.bias(c0 + j);
                    }
                    for kh in 0..d.k_h {
                        let Some(ih) = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h) else {
                            continue;
                        };
                        for kw in 0..d.k_w {
                            let Some(iw) = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w)
                            else {
                                continue;
                            };
                            let px = in_b + (ih * d.in_w + iw) * d.in_c;
                            let t = kh * d.k_w + kw;
                            if ch_mult == 1 {
                                // Channel `oc` reads input channel `oc`: a run of
                                // the pixel's channels, no division per tap.
                                let mut wi = c0 * taps + t;
                                for (v, &x) in acc.iter_mut().zip(&a.input[px + c0..px + c1]) {
                                    let x = x as i32 + a.input_offset;
                                    let w = a.weights[wi] as i32 + a.weight_offset;
                                    *v = v.wrapping_add(x * w);
                                    wi += taps;
                                }
                                continue;
                            }
                            for (j, v) in acc.iter_mut().enumerate() {
                                let oc = c0 + j;
                                let x = a.input[px + oc / ch_mult] as i32 + a.input_offset;
                                let w = a.weights[oc * taps + t] as i32 + a.weight_offset;
                                *v = v.wrapping_add(x * w);
                            }
                        }
                    }
                    for (j, &v) in acc.iter().enumerate() {
                        out[o] = a.finish(v, c0 + j);
                        o += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::frame::conv::{Case, case, reference};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    trait RunPath {
        fn run_path(&self, path: Path) -> Vec<i8>;
    }

    impl RunPath for Case {
        /// Run one specific path (after the same validation).
        fn run_path(&self, path: Path) -> Vec<i8> {
            let mut out = vec![0i8; conv_lens(&self.g).unwrap().2];
            let rq = self.rq();
            let d = validate(
                &self.g,
                &self.input,
                &self.weights,
                self.bias.as_deref(),
                self.input_offset,
                self.weight_offset,
                &rq,
                &out,
            )
            .unwrap();
            let a = Args {
                d,
                input: &self.input,
                weights: &self.weights,
                bias: self.bias.as_deref(),
                input_offset: self.input_offset,
                weight_offset: self.weight_offset,
                rq: &rq,
            };
            match path {
                Path::Pointwise => pointwise(&a, &mut out),
                Path::Depthwise => depthwise(&a, &mut out),
                Path::General => general(&a, &mut out),
            }
            out
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn general_matches_reference(c in case(0)) {
            let want = reference(&c);
            prop_assert_eq!(c.run().unwrap(), want.clone());
            prop_assert_eq!(c.run_path(Path::General), want);
        }

        #[test]
        fn pointwise_matches_reference(c in case(1)) {
            prop_assert_eq!(choose_path(&validate(
                &c.g, &c.input, &c.weights, c.bias.as_deref(), c.input_offset,
                c.weight_offset, &c.rq(), &vec![0; conv_lens(&c.g).unwrap().2]).unwrap()),
                Path::Pointwise);
            let want = reference(&c);
            prop_assert_eq!(c.run().unwrap(), want.clone());
            prop_assert_eq!(c.run_path(Path::Pointwise), want.clone());
            prop_assert_eq!(c.run_path(Path::General), want);
        }

        #[test]
        fn depthwise_matches_reference(c in case(2)) {
            let want = reference(&c);
            prop_assert_eq!(c.run().unwrap(), want.clone());
            prop_assert_eq!(c.run_path(Path::Depthwise), want.clone());
            prop_assert_eq!(c.run_path(Path::General), want);
        }
    }

    fn unit_rq() -> (Vec<i32>, Vec<i32>) {
        (vec![1 << 30], vec![0]) // multiplier 0.5
    }

    fn geom(ih: u32, iw: u32, oh: u32, ow: u32, k: u32, pad: u32) -> ConvGeom {
        ConvGeom {
            in_h: ih,
            in_w: iw,
            out_h: oh,
            out_w: ow,
            ..crate::kernels::frame::conv::geom(ih.max(k), 1, 1, k, pad)
        }
    }

    /// Hand-worked: input 3x3 (zero point 1, i.e. input_offset -1)
    /// ```text
    /// x = 1 2 3      x - 1 = 0 1 2      w = 1  0
    ///     4 5 6              3 4 5          0 -1
    ///     7 8 9              6 7 8
    /// ```
    /// 2x2 kernel, stride 1, no padding, bias 10, multiplier 0.5, output zero point 3:
    /// - (0,0): 0*1 + 4*(-1) + 10 = 6  -> 0.5*6  = 3    -> 6
    /// - (0,1): 1 - 5 + 10 = 6         -> 3             -> 6
    /// - (1,0): 3 - 7 + 10 = 6         -> 3             -> 6
    /// - (1,1): 4 - 8 + 10 = 6         -> 3             -> 6
    ///
    /// With bias 3 instead: acc = -1 -> 0.5 * -1 = -0.5 rounds half up to 0 -> 3.
    /// With padding 1 (out 4x4), corner (0,0) sees only x[0][0] under w[1][1]:
    /// acc = 0*(-1) + 10 = 10 -> 5 -> 8; (0,1): w[1][0]*x'[0][0] + w[1][1]*x'[0][1]
    /// = 0*0 + (-1)*1 + 10 = 9 -> 4.5 -> 5 -> 8; (3,3): x'[2][2] * w[0][0] = 8 + 10
    /// = 18 -> 9 -> 12.
    #[test]
    fn golden_2x2() {
        let input: Vec<i8> = (1..=9).collect();
        let w = [1i8, 0, 0, -1];
        let (m, s) = unit_rq();
        let rq = RequantParams {
            mult: &m,
            shift: &s,
            output_offset: 3,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 4];
        conv_i8(
            &geom(3, 3, 2, 2, 2, 0),
            &input,
            &w,
            Some(&[10]),
            -1,
            0,
            &rq,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [6, 6, 6, 6]);
        conv_i8(
            &geom(3, 3, 2, 2, 2, 0),
            &input,
            &w,
            Some(&[3]),
            -1,
            0,
            &rq,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3, 3, 3, 3]);
        let mut out = [0i8; 16];
        conv_i8(
            &geom(3, 3, 4, 4, 2, 1),
            &input,
            &w,
            Some(&[10]),
            -1,
            0,
            &rq,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], 8);
        assert_eq!(out[1], 8);
        assert_eq!(out[15], 12);
        // Clamp (fused Relu6-like range).
        let rq = RequantParams {
            act_min: 7,
            act_max: 10,
            ..rq
        };
        conv_i8(
            &geom(3, 3, 4, 4, 2, 1),
            &input,
            &w,
            Some(&[10]),
            -1,
            0,
            &rq,
            &mut out,
        )
        .unwrap();
        assert_eq!((out[0], out[15]), (8, 10));
    }

    /// Hand-worked depthwise with channel multiplier 2 and a weight offset:
    /// one pixel, in_c 2: x = [5, -3] (input_offset 0), 1x1 kernel, out_c 4,
    /// w = [2, -1, 4, 1] with weight_offset 1 -> w' = [3, 0, 5, 2];
    /// oc 0,1 read x[0] = 5, oc 2,3 read x[1] = -3: acc = [15, 0, -15, -6];
    /// multiplier 0.5: [7.5 -> 8, 0, -7.5 -> -7, -3].
    #[test]
    fn golden_depthwise_multiplier() {
        let mut g = geom(1, 1, 1, 1, 1, 0);
        g.in_c = 2;
        g.out_c = 4;
        g.groups = 2;
        let (m, s) = (vec![1 << 30; 4], vec![0; 4]);
        let rq = RequantParams {
            mult: &m,
            shift: &s,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 4];
        conv_i8(&g, &[5, -3], &[2, -1, 4, 1], None, 0, 1, &rq, &mut out).unwrap();
        assert_eq!(out, [8, 0, -7, -3]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let input: Vec<i8> = (1..=9).collect();
        let w = [1i8, 0, 0, -1];
        let (m, s) = unit_rq();
        let rq = RequantParams {
            mult: &m,
            shift: &s,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let g = geom(3, 3, 2, 2, 2, 0);
        let mut out = [0i8; 4];
        let run =
            |inp: &[i8], w: &[i8], b: Option<&[i32]>, rq: &RequantParams<'_>, o: &mut [i8]| {
                conv_i8(&g, inp, w, b, 0, 0, rq, o)
            };
        assert_eq!(
            run(&input[..8], &w, None, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            run(&input, &w[..3], None, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            run(&input, &w, Some(&[1, 2]), &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            run(&input, &w, None, &rq, &mut out[..3]),
            Err(Error::BadGeometry)
        );
        let two = [1 << 30, 1 << 30];
        let bad = RequantParams { mult: &two, ..rq };
        assert_eq!(
            run(&input, &w, None, &bad, &mut out),
            Err(Error::BadGeometry)
        );
        let bad = RequantParams {
            act_min: 5,
            act_max: 4,
            ..rq
        };
        assert_eq!(
            run(&input, &w, None, &bad, &mut out),
            Err(Error::InvalidParameter)
        );
        assert!(run(&input, &w, None, &rq, &mut out).is_ok());

        let mut bad = g;
        bad.stride_h = 0;
        assert_eq!(
            conv_i8(&bad, &input, &w, None, 0, 0, &rq, &mut out),
            Err(Error::InvalidParameter)
        );
        let mut bad = g;
        bad.groups = 2; // does not divide in_c = 1
        assert_eq!(
            conv_i8(&bad, &input, &w, None, 0, 0, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        let mut bad = g;
        bad.out_h = 4; // the last window would start below the input
        assert_eq!(
            conv_i8(&bad, &input, &w, None, 0, 0, &rq, &mut [0; 8]),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            conv_i8(&g, &input, &w, None, 200, 0, &rq, &mut out),
            Err(Error::InvalidParameter)
        );
        // Coordinates that overflow usize.
        let mut bad = g;
        (bad.out_h, bad.stride_h, bad.k_h, bad.dil_h) = (u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(
            conv_i8(&bad, &input, &w, None, 0, 0, &rq, &mut out),
            Err(Error::Overflow)
        );
    }
}
