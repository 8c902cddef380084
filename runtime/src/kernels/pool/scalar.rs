//! int8 max / average pooling, the portable reference kernel. NHWC.
//!
//! For every output cell, over the window taps `(oh * stride + kh * dil - pad_top,
//! ow * stride + kw * dil - pad_left)` that fall inside the input ("valid" taps):
//! - max: `v = max(x) - input_zero_point`;
//! - avg: `v = round_half_away_from_zero(sum(x - input_zero_point) / count)`, where
//!   `count` is the number of valid taps (`count_include_pad == false`), or the
//!   number of taps inside `[-pad_top, in_h + pad_bottom) x [-pad_left, in_w +
//!   pad_right)` (`count_include_pad == true`, ONNX semantics: cells that only
//!   `ceil_mode` adds beyond the pads are never counted);
//!
//! then `out = clamp(requantize(v, mult[0], shift[0]) + output_offset, act_min, act_max)`.
//!
//! A window without any valid tap (possible only when a pad is at least the
//! dilated kernel extent, or with `ceil_mode` windows past the end) has `v = 0`, so
//! its output is the output zero point (clamped). ONNX leaves that case undefined
//! for integer tensors.
//!
//! The window sum is `i32`: `k_h * k_w <= (2^31 - 1) / 255` is checked, so it
//! cannot overflow.

use crate::error::Error;
use crate::format::schema::{PoolGeom, PoolKind};
use crate::kernels::conv::scalar::{check_requant, requant_out_inline};
use crate::kernels::pool::float::pool_lens;
use crate::kernels::{RequantParams, check_len};
use crate::quant::Multiplier;

/// `num / den` rounded to the nearest integer, ties away from zero (TFLite's and
/// CMSIS-NN's average-pool rounding). Returns 0 when `den <= 0`.
#[inline]
pub(crate) fn div_round_half_away(num: i32, den: i32) -> i32 {
    if den <= 0 {
        return 0;
    }
    let (n, d) = (num as i64, den as i64);
    let q = (n.abs() + d / 2) / d; // |q| <= |n| <= 2^31, so the cast below is exact
    (if n < 0 { -q } else { q }) as i32
}

/// Geometry as `usize`, checked so that every coordinate below fits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) n: usize,
    pub(crate) in_h: usize,
    pub(crate) in_w: usize,
    pub(crate) c: usize,
    pub(crate) out_h: usize,
    pub(crate) out_w: usize,
    pub(crate) k_h: usize,
    pub(crate) k_w: usize,
    pub(crate) stride_h: usize,
    pub(crate) stride_w: usize,
    pub(crate) dil_h: usize,
    pub(crate) dil_w: usize,
    pub(crate) pad_top: usize,
    pub(crate) pad_left: usize,
    /// `pad_top + in_h + pad_bottom`: padded coordinates below it are counted by
    /// `count_include_pad`.
    pub(crate) ext_h: usize,
    pub(crate) ext_w: usize,
}

/// `(out - 1) * stride + (k - 1) * dil` fits a `usize`.
fn check_span(out: usize, stride: usize, k: usize, dil: usize) -> Result<(), Error> {
    out.saturating_sub(1)
        .checked_mul(stride)
        .and_then(|a| k.saturating_sub(1).checked_mul(dil)?.checked_add(a))
        .map(|_| ())
        .ok_or(Error::Overflow)
}

pub(crate) fn validate(
    g: &PoolGeom,
    input: &[i8],
    input_zero_point: i32,
    rq: &RequantParams<'_>,
    out: &[i8],
) -> Result<Dims, Error> {
    // pool_lens is the one validator of a PoolGeom (the model validator uses it too):
    // it runs first and its error wins; the checks after it re-state what the loops
    // below rely on, so that the kernel stays panic-free on its own.
    let (in_len, out_len) = pool_lens(g)?;
    if g.stride_h == 0
        || g.stride_w == 0
        || g.dil_h == 0
        || g.dil_w == 0
        || g.k_h == 0
        || g.k_w == 0
        || !(-128..=127).contains(&input_zero_point)
    {
        return Err(Error::InvalidParameter);
    }
    check_len(input.len(), in_len)?;
    check_len(out.len(), out_len)?;
    check_requant(rq, 1)?;
    let taps = (g.k_h as u64) * (g.k_w as u64);
    if taps > (i32::MAX / 255) as u64 {
        return Err(Error::Overflow);
    }
    let ext = |p0: u32, len: u32, p1: u32| {
        (p0 as usize)
            .checked_add(len as usize)
            .and_then(|v| v.checked_add(p1 as usize))
            .ok_or(Error::Overflow)
    };
    let d = Dims {
        n: g.n as usize,
        in_h: g.in_h as usize,
        in_w: g.in_w as usize,
        c: g.c as usize,
        out_h: g.out_h as usize,
        out_w: g.out_w as usize,
        k_h: g.k_h as usize,
        k_w: g.k_w as usize,
        stride_h: g.stride_h as usize,
        stride_w: g.stride_w as usize,
        dil_h: g.dil_h as usize,
        dil_w: g.dil_w as usize,
        pad_top: g.pad_top as usize,
        pad_left: g.pad_left as usize,
        ext_h: ext(g.pad_top, g.in_h, g.pad_bottom)?,
        ext_w: ext(g.pad_left, g.in_w, g.pad_right)?,
    };
    check_span(d.out_h, d.stride_h, d.k_h, d.dil_h)?;
    check_span(d.out_w, d.stride_w, d.k_w, d.dil_w)?;
    Ok(d)
}

/// Input index of tap `k` of output position `o` along one axis, or `None` when the
/// tap is in the padding: `p = o * stride + k * dil` is the padded coordinate, valid
/// when `pad <= p < pad + len`. No overflow: `check_span` bounded `p`.
#[inline(always)]
fn tap(o: usize, stride: usize, k: usize, dil: usize, pad: usize, len: usize) -> Option<usize> {
    (o * stride + k * dil).checked_sub(pad).filter(|&i| i < len)
}

/// Number of taps `k` in `0..k_len` whose padded coordinate is below `ext` and the
/// number that are valid input positions.
#[inline]
fn axis_counts(
    o: usize,
    stride: usize,
    k_len: usize,
    dil: usize,
    pad: usize,
    len: usize,
    ext: usize,
) -> (usize, usize) {
    let start = o * stride;
    let counted = super::taps_in(start, dil, k_len, 0, ext).len();
    let valid = super::taps_in(start, dil, k_len, pad, pad.saturating_add(len)).len();
    (counted, valid)
}

/// Channels pooled together (a stack block of running maxima and sums).
const BLOCK: usize = 64;

/// int8 pooling (see the module docs).
///
/// Errors: [`Error::BadGeometry`] when `input`/`out` disagree with `g` or `rq` does not
/// have exactly one multiplier; [`Error::Overflow`] for sizes that overflow or a
/// window of more than `(2^31 - 1) / 255` taps; [`Error::InvalidParameter`] for zero
/// strides/dilations/kernel sizes, a zero point outside the int8 range or a bad clamp.
// `validate` checked input/out against the geometry; `tap` keeps taps in the image.
#[allow(clippy::indexing_slicing)]
pub fn pool_i8(
    g: &PoolGeom,
    input: &[i8],
    input_zero_point: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(g, input, input_zero_point, rq, out)?;
    let (Some(&mult), Some(&shift)) = (rq.mult.first(), rq.shift.first()) else {
        return Err(Error::BadGeometry);
    };
    let m = Multiplier::new(mult, shift);
    // One block's running max and sum; each block resets only its `bc` entries.
    let mut max = [i32::MIN; BLOCK];
    let mut sum = [0i32; BLOCK];
    let mut o = 0usize;
    for b in 0..d.n {
        let in_b = b * d.in_h * d.in_w * d.c;
        for oh in 0..d.out_h {
            let (cnt_h, val_h) =
                axis_counts(oh, d.stride_h, d.k_h, d.dil_h, d.pad_top, d.in_h, d.ext_h);
            let rows = super::taps_in(
                oh * d.stride_h,
                d.dil_h,
                d.k_h,
                d.pad_top,
                d.pad_top.saturating_add(d.in_h),
            );
            for ow in 0..d.out_w {
                let (cnt_w, val_w) =
                    axis_counts(ow, d.stride_w, d.k_w, d.dil_w, d.pad_left, d.in_w, d.ext_w);
                let cols = super::taps_in(
                    ow * d.stride_w,
                    d.dil_w,
                    d.k_w,
                    d.pad_left,
                    d.pad_left.saturating_add(d.in_w),
                );
                // Both products are <= k_h * k_w, checked to fit an i32.
                let count = if g.count_include_pad {
                    cnt_h * cnt_w
                } else {
                    val_h * val_w
                } as i32;
                // Channels in blocks, innermost: each valid tap is one
                // contiguous run of the input (vectorized max / sum).
                for c0 in (0..d.c).step_by(BLOCK) {
                    let bc = BLOCK.min(d.c - c0);
                    let (max, sum) = (&mut max[..bc], &mut sum[..bc]);
                    max.fill(i32::MIN);
                    sum.fill(0);
                    for kh in rows.clone() {
                        let Some(ih) = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h) else {
                            continue;
                        };
                        for kw in cols.clone() {
                            let Some(iw) = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w)
                            else {
                                continue;
                            };
                            let at = in_b + (ih * d.in_w + iw) * d.c + c0;
                            let xs = &input[at..at + bc];
                            for ((m, s), &x) in max.iter_mut().zip(sum.iter_mut()).zip(xs) {
                                *m = (*m).max(x as i32);
                                *s += x as i32 - input_zero_point;
                            }
                        }
                    }
                    for (&mx, &s) in max.iter().zip(sum.iter()) {
                        let v = match g.kind {
                            PoolKind::Max if val_h * val_w == 0 => 0,
                            PoolKind::Max => mx - input_zero_point,
                            PoolKind::Avg => div_round_half_away(s, count),
                        };
                        out[o] = requant_out_inline(v, m, rq);
                        o += 1;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
pub(crate) mod tests {
    extern crate std;

    use super::*;
    use crate::quant::quantize_multiplier;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Exact requantization from the documented formula, in i128.
    fn rq_exact(acc: i64, mult: i32, shift: i32) -> i64 {
        let den = 1i128 << (31 - shift);
        let v = (acc as i128 * mult as i128 + den / 2).div_euclid(den);
        v.clamp(i32::MIN as i128, i32::MAX as i128) as i64
    }

    /// Round half away from zero of `s / c` as `sign(s) * floor((2|s| + c) / (2c))`.
    fn round_away(s: i64, c: i64) -> i64 {
        let q = (2 * s.abs() + c).div_euclid(2 * c);
        if s < 0 { -q } else { q }
    }

    #[derive(Debug, Clone)]
    pub(crate) struct Case {
        pub(crate) g: PoolGeom,
        pub(crate) input: Vec<i8>,
        pub(crate) zp: i32,
        pub(crate) mult: i32,
        pub(crate) shift: i32,
        pub(crate) output_offset: i32,
        pub(crate) act_min: i32,
        pub(crate) act_max: i32,
    }

    impl Case {
        pub(crate) fn rq(&self) -> RequantParams<'_> {
            RequantParams {
                mult: core::slice::from_ref(&self.mult),
                shift: core::slice::from_ref(&self.shift),
                output_offset: self.output_offset,
                act_min: self.act_min,
                act_max: self.act_max,
            }
        }
        fn run(&self) -> Result<Vec<i8>, Error> {
            self.run_with(pool_i8)
        }

        /// `f`'s output (or error) on this case.
        pub(crate) fn run_with(&self, f: super::super::PoolI8Fn) -> Result<Vec<i8>, Error> {
            let mut out = vec![0i8; pool_lens(&self.g)?.1];
            f(&self.g, &self.input, self.zp, &self.rq(), &mut out)?;
            Ok(out)
        }
    }

    #[derive(Clone, Copy)]
    enum Cell {
        Valid(i64),
        /// Inside the explicit pads.
        Pad,
        /// Beyond the end pads (only reachable through ceil_mode rows/columns).
        Beyond,
    }

    /// Independent reference: NCHW planes materialized over the whole padded extent
    /// (explicit pads and the extra ceil-mode cells), i64 sums, exact i128 requant.
    fn reference(c: &Case) -> Vec<i8> {
        let g = &c.g;
        let (n, ih, iw, ch) = (g.n as usize, g.in_h as usize, g.in_w as usize, g.c as usize);
        let (oh, ow) = (g.out_h as usize, g.out_w as usize);
        let (kh, kw) = (g.k_h as usize, g.k_w as usize);
        let (sh, sw, dh, dw) = (
            g.stride_h as usize,
            g.stride_w as usize,
            g.dil_h as usize,
            g.dil_w as usize,
        );
        let (pt, pl, pb, pr) = (
            g.pad_top as usize,
            g.pad_left as usize,
            g.pad_bottom as usize,
            g.pad_right as usize,
        );
        let ph = (pt + ih + pb).max((oh - 1) * sh + (kh - 1) * dh + 1);
        let pw = (pl + iw + pr).max((ow - 1) * sw + (kw - 1) * dw + 1);
        let mut out = vec![0i8; n * oh * ow * ch];
        for b in 0..n {
            for k in 0..ch {
                // Padded plane of channel k.
                let mut plane = vec![Cell::Beyond; ph * pw];
                for y in 0..ph {
                    for x in 0..pw {
                        plane[y * pw + x] = if y < pt + ih + pb && x < pl + iw + pr {
                            Cell::Pad
                        } else {
                            Cell::Beyond
                        };
                    }
                }
                for y in 0..ih {
                    for x in 0..iw {
                        plane[(y + pt) * pw + x + pl] =
                            Cell::Valid(c.input[((b * ih + y) * iw + x) * ch + k] as i64);
                    }
                }
                for y in 0..oh {
                    for x in 0..ow {
                        let cells = (0..kh).flat_map(|ky| {
                            let plane = &plane;
                            (0..kw).map(move |kx| plane[(y * sh + ky * dh) * pw + x * sw + kx * dw])
                        });
                        let vals: Vec<i64> = cells
                            .clone()
                            .filter_map(|cell| match cell {
                                Cell::Valid(v) => Some(v),
                                _ => None,
                            })
                            .collect();
                        let v = match g.kind {
                            PoolKind::Max => vals.iter().max().map_or(0, |m| m - c.zp as i64),
                            PoolKind::Avg => {
                                let count = if g.count_include_pad {
                                    cells.filter(|cell| !matches!(cell, Cell::Beyond)).count()
                                } else {
                                    vals.len()
                                } as i64;
                                let s: i64 = vals.iter().map(|v| v - c.zp as i64).sum();
                                if count == 0 { 0 } else { round_away(s, count) }
                            }
                        };
                        let q = (rq_exact(v, c.mult, c.shift) + c.output_offset as i64)
                            .clamp(c.act_min as i64, c.act_max as i64);
                        out[((b * oh + y) * ow + x) * ch + k] = q as i8;
                    }
                }
            }
        }
        out
    }

    /// (out, pad_end) along one axis: floor or ceil mode; in ceil mode the ONNX /
    /// PyTorch rule (drop a last window starting past `in + pad_begin`) is applied
    /// only when `drop_last`, so that windows in the end padding are exercised too.
    fn axis(
        inp: u32,
        (k, s, d): (u32, u32, u32),
        (p0, p1): (u32, u32),
        ceil: bool,
        drop_last: bool,
    ) -> (u32, u32) {
        let eff = (k - 1) * d + 1;
        let p1 = p1.max(eff.saturating_sub(inp + p0));
        let span = inp + p0 + p1 - eff;
        let mut out = if ceil {
            span.div_ceil(s) + 1
        } else {
            span / s + 1
        };
        if ceil && drop_last && out > 1 && (out - 1) * s >= inp + p0 {
            out -= 1;
        }
        (out, p1)
    }

    fn case() -> impl Strategy<Value = Case> {
        case_with(5)
    }

    /// Random pooling cases with 1 to `max_c` channels.
    pub(crate) fn case_with(max_c: u32) -> impl Strategy<Value = Case> {
        (
            (1u32..=2, 1u32..=7, 1u32..=7, 1u32..=max_c),
            (1u32..=3, 1u32..=3, 1u32..=3, 1u32..=3, 1u32..=2, 1u32..=2),
            (0u32..=2, 0u32..=2, 0u32..=2, 0u32..=2),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        )
            .prop_flat_map(
                |(
                    (n, ih, iw, c),
                    (kh, kw, sh, sw, dh, dw),
                    (pt, pl, pb, pr),
                    (max, cip, ceil, drop),
                )| {
                    let (oh, pb2) = axis(ih, (kh, sh, dh), (pt, pb), ceil, drop);
                    let (ow, pr2) = axis(iw, (kw, sw, dw), (pl, pr), ceil, drop);
                    let mut g = PoolGeom {
                        kind: if max { PoolKind::Max } else { PoolKind::Avg },
                        n,
                        in_h: ih,
                        in_w: iw,
                        c,
                        out_h: oh,
                        out_w: ow,
                        k_h: kh,
                        k_w: kw,
                        stride_h: sh,
                        stride_w: sw,
                        dil_h: dh,
                        dil_w: dw,
                        pad_top: pt,
                        pad_left: pl,
                        pad_bottom: pb2,
                        pad_right: pr2,
                        count_include_pad: cip,
                    };
                    if pool_lens(&g).is_err() {
                        // A last window starting too far past the input: keep to the
                        // geometries pool_lens accepts by applying the drop rule.
                        (g.out_h, g.pad_bottom) = axis(ih, (kh, sh, dh), (pt, pb), ceil, true);
                        (g.out_w, g.pad_right) = axis(iw, (kw, sw, dw), (pl, pr), ceil, true);
                    }
                    let len = (n * ih * iw * c) as usize;
                    (
                        Just(g),
                        proptest::collection::vec(any::<i8>(), len),
                        -128i32..=127,
                        // Pooling rescales by in_scale / out_scale, typically near 1.
                        (0.05f64..3.0).prop_map(|r| quantize_multiplier(r).unwrap()),
                        -128i32..=127,
                        prop_oneof![
                            Just((-128i32, 127i32)),
                            (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
                        ],
                    )
                },
            )
            .prop_map(
                |(g, input, zp, (mult, shift), output_offset, (act_min, act_max))| Case {
                    g,
                    input,
                    zp,
                    mult,
                    shift,
                    output_offset,
                    act_min,
                    act_max,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(c in case()) {
            prop_assert_eq!(c.run().unwrap(), reference(&c));
        }

        #[test]
        fn rounding_matches_exact_rational(num in -100_000i32..100_000, den in 1i32..300) {
            prop_assert_eq!(div_round_half_away(num, den) as i64, round_away(num as i64, den as i64));
        }
    }

    #[test]
    fn rounding_golden() {
        let cases = [
            (3, 2, 2),
            (-3, 2, -2),
            (5, 2, 3),
            (-5, 2, -3),
            (7, 4, 2), // 1.75
            (5, 4, 1), // 1.25
            (-5, 4, -1),
            (-6, 4, -2), // -1.5
            (0, 9, 0),
            (8, 3, 3),
            (7, 3, 2),
            (i32::MIN, 1, i32::MIN),
            (i32::MAX, 1, i32::MAX),
            (i32::MIN, 2, -(1 << 30)),
            (5, 0, 0),
        ];
        for (n, d, want) in cases {
            assert_eq!(div_round_half_away(n, d), want, "{n}/{d}");
        }
    }

    fn geom(kind: PoolKind, pad: u32, cip: bool) -> PoolGeom {
        // 3x3 input, 2x2 kernel, stride 2, pads `pad` on all sides.
        let out = (3 + 2 * pad - 2) / 2 + 1;
        PoolGeom {
            kind,
            n: 1,
            in_h: 3,
            in_w: 3,
            c: 1,
            out_h: out,
            out_w: out,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: pad,
            pad_left: pad,
            pad_bottom: pad,
            pad_right: pad,
            count_include_pad: cip,
        }
    }

    /// Hand-worked, input zero point 1, identity requantization (mult 2^30, shift 1
    /// = 1.0), output zero point -1:
    /// ```text
    /// x = 1 2 3      x - zp = 0 1 2
    ///     4 5 6               3 4 5
    ///     7 8 9               6 7 8
    /// ```
    /// No pad, 2x2 stride 2: one window {0,1,3,4}: avg 8/4 = 2 -> 1; max 4 -> 3.
    /// Pad 1: out 2x2, windows (0,0) = {0}, (0,1) = {1,2}, (1,0) = {3,6}, (1,1) = {4,5,7,8}.
    /// count_include_pad = 0: 0, 1.5 -> 2, 4.5 -> 5, 6   => out -1, 1, 4, 5.
    /// count_include_pad = 1 (4 cells each): 0, 0.75 -> 1, 2.25 -> 2, 6 => -1, 0, 1, 5.
    /// With input_zero_point 9 (x - zp = -8..0), pad 1, cip = 0: -8, -6.5 -> -7 (away
    /// from zero), -3.5 -> -4, -2 => -9, -8, -5, -3.
    #[test]
    fn golden_small() {
        let x: Vec<i8> = (1..=9).collect();
        let (m, s) = ([1 << 30], [1]);
        let rq = RequantParams {
            mult: &m,
            shift: &s,
            output_offset: -1,
            act_min: -128,
            act_max: 127,
        };
        let run = |g: PoolGeom, zp: i32| {
            let mut out = vec![0i8; pool_lens(&g).unwrap().1];
            pool_i8(&g, &x, zp, &rq, &mut out).unwrap();
            out
        };
        assert_eq!(run(geom(PoolKind::Avg, 0, false), 1), [1]);
        assert_eq!(run(geom(PoolKind::Max, 0, false), 1), [3]);
        assert_eq!(run(geom(PoolKind::Avg, 1, false), 1), [-1, 1, 4, 5]);
        assert_eq!(run(geom(PoolKind::Avg, 1, true), 1), [-1, 0, 1, 5]);
        assert_eq!(run(geom(PoolKind::Max, 1, true), 1), [-1, 1, 5, 7]);
        assert_eq!(run(geom(PoolKind::Avg, 1, false), 9), [-9, -8, -5, -3]);
    }

    /// ceil_mode: input 1x3, kernel 1x2, stride 2, no pads -> out 1x2 (ceil); the
    /// second window covers column 2 and a column past the input that no pad covers,
    /// so it is not counted even with count_include_pad = 1.
    /// x - zp = [1, 2, 3]: windows {1,2} -> 1.5 -> 2 and {3} -> 3 in both modes.
    #[test]
    fn ceil_mode_extra_cells_not_counted() {
        for cip in [false, true] {
            let g = PoolGeom {
                kind: PoolKind::Avg,
                n: 1,
                in_h: 1,
                in_w: 3,
                c: 1,
                out_h: 1,
                out_w: 2,
                k_h: 1,
                k_w: 2,
                stride_h: 1,
                stride_w: 2,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 0,
                pad_bottom: 0,
                pad_right: 0,
                count_include_pad: cip,
            };
            let (m, s) = ([1 << 30], [1]);
            let rq = RequantParams {
                mult: &m,
                shift: &s,
                output_offset: 0,
                act_min: -128,
                act_max: 127,
            };
            let mut out = [0i8; 2];
            pool_i8(&g, &[1, 2, 3], 0, &rq, &mut out).unwrap();
            assert_eq!(out, [2, 3]);
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let x = [0i8; 9];
        let (m, s) = ([1 << 30, 1 << 30], [1, 1]);
        let rq = RequantParams {
            mult: &m[..1],
            shift: &s[..1],
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let g = geom(PoolKind::Avg, 0, false);
        let mut out = [0i8; 1];
        assert!(pool_i8(&g, &x, 0, &rq, &mut out).is_ok());
        assert_eq!(
            pool_i8(&g, &x[..8], 0, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(pool_i8(&g, &x, 0, &rq, &mut []), Err(Error::BadGeometry));
        let two = RequantParams {
            mult: &m,
            shift: &s,
            ..rq
        };
        assert_eq!(pool_i8(&g, &x, 0, &two, &mut out), Err(Error::BadGeometry));
        assert_eq!(
            pool_i8(&g, &x, 128, &rq, &mut out),
            Err(Error::InvalidParameter)
        );
        let mut bad = g;
        bad.dil_w = 0;
        assert_eq!(
            pool_i8(&bad, &x, 0, &rq, &mut out),
            Err(Error::InvalidParameter)
        );
        let mut huge = g;
        (huge.k_h, huge.k_w) = (100_000, 100_000);
        assert_eq!(pool_i8(&huge, &x, 0, &rq, &mut out), Err(Error::Overflow));
    }
}
