//! f32 2-D convolution, NHWC activations and OHWI weights.
//!
//! Every output value is `act(sum + bias[oc])`, where `sum` starts at `0.0` and adds
//! `x * w` over the window taps in `(kh, kw, ic)` order; taps that fall outside the
//! input (zero padding) are skipped. The 1x1 fast path keeps that exact order, so it
//! is bit-identical to the general path.
//!
//! [`conv_lens`] is the one place that validates a [`ConvGeom`]; the int8 kernel
//! (`super::scalar`) reuses it. [`window_axis`] and [`tap`] are the window helpers
//! shared with pooling.

use crate::error::Error;
use crate::format::schema::{ClampF32, ConvGeom};
use crate::kernels::{check_len, prod};

/// Validates one spatial axis of a sliding window and returns the largest padded
/// coordinate a tap can reach, `(out - 1) * stride + (k - 1) * dil`.
///
/// Padded coordinates start at 0 on the first padding cell (input row `r` is padded
/// row `r + pad_before`). `limit` is the end of the region in which a window may
/// *start*: the last window must start below it, else [`Error::BadGeometry`]. All
/// arguments must be nonzero (callers check); the arithmetic is checked, so that
/// every padded coordinate below the returned value is computable without overflow.
pub(crate) fn window_axis(
    out: u32,
    stride: u32,
    k: u32,
    dil: u32,
    limit: usize,
) -> Result<usize, Error> {
    let last_start = (out as usize - 1)
        .checked_mul(stride as usize)
        .ok_or(Error::Overflow)?;
    let span = (k as usize - 1)
        .checked_mul(dil as usize)
        .ok_or(Error::Overflow)?;
    let last_tap = last_start.checked_add(span).ok_or(Error::Overflow)?;
    if last_start >= limit {
        return Err(Error::BadGeometry);
    }
    Ok(last_tap)
}

/// Input index read by output position `o` at kernel tap `k` along one axis, or
/// `None` when the tap falls in the padding (before or after the input).
///
/// `o * stride + k * dil` must be at most the value [`window_axis`] returned.
#[inline(always)]
pub(crate) fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + k * dil).checked_sub(pad).filter(|&i| i < len)
}

/// Validates a convolution geometry and returns the element counts of
/// `(input, weights, output)`.
///
/// Rules:
/// - every dimension, kernel size, stride, dilation and `groups` is nonzero
///   ([`Error::InvalidParameter`]);
/// - `in_c` and `out_c` are multiples of `groups` ([`Error::BadGeometry`]);
/// - the last window starts inside the top/left-padded input:
///   `(out_h - 1) * stride_h < pad_top + in_h` (same for width), else
///   [`Error::BadGeometry`]. `pad_bottom` / `pad_right` are implicit: a window may
///   extend past the input, and those taps read zeros. The rule is the same as
///   "the implied bottom padding is smaller than the dilated kernel extent", which
///   every ONNX convolution with pads smaller than its kernel satisfies;
/// - all sizes fit in `usize` ([`Error::Overflow`]).
pub fn conv_lens(g: &ConvGeom) -> Result<(usize, usize, usize), Error> {
    let must_be_nonzero = [
        g.n, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.out_c, g.k_h, g.k_w, g.stride_h,
        g.stride_w, g.dil_h, g.dil_w, g.groups,
    ];
    if must_be_nonzero.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    if !g.in_c.is_multiple_of(g.groups) || !g.out_c.is_multiple_of(g.groups) {
        return Err(Error::BadGeometry);
    }
    let limit_h = (g.in_h as usize)
        .checked_add(g.pad_top as usize)
        .ok_or(Error::Overflow)?;
    let limit_w = (g.in_w as usize)
        .checked_add(g.pad_left as usize)
        .ok_or(Error::Overflow)?;
    window_axis(g.out_h, g.stride_h, g.k_h, g.dil_h, limit_h)?;
    window_axis(g.out_w, g.stride_w, g.k_w, g.dil_w, limit_w)?;
    let input = prod(&[g.n, g.in_h, g.in_w, g.in_c])?;
    let weights = prod(&[g.out_c, g.k_h, g.k_w, g.in_c / g.groups])?;
    let output = prod(&[g.n, g.out_h, g.out_w, g.out_c])?;
    Ok((input, weights, output))
}

/// f32 convolution: `out[n][oy][ox][oc] = act(sum + bias[oc])` with
/// `sum = Σ_(kh, kw, ic) in[n][iy][ix][g * in_c/groups + ic] * w[oc][kh][kw][ic]`,
/// `iy = oy * stride_h + kh * dil_h - pad_top` (taps outside the input are skipped).
///
/// `input` is NHWC `[n][in_h][in_w][in_c]`, `weights` OHWI
/// `[out_c][k_h][k_w][in_c / groups]`, `bias` (optional) `[out_c]`, `out` NHWC.
/// Every slice must have exactly the length [`conv_lens`] implies
/// ([`Error::BadGeometry`] otherwise).
pub fn conv_f32(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: ClampF32,
    out: &mut [f32],
) -> Result<(), Error> {
    check(g, input, weights, bias, out)?;
    let pointwise = g.k_h == 1
        && g.k_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && g.groups == 1
        && g.out_h == g.in_h
        && g.out_w == g.in_w;
    if pointwise {
        conv_1x1(g, input, weights, bias, act, out);
        Ok(())
    } else {
        conv_general(g, input, weights, bias, act, out)
    }
}

/// Validates the geometry ([`conv_lens`]) and every slice length against it.
pub(crate) fn check(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &[f32],
) -> Result<(), Error> {
    let (in_len, w_len, out_len) = conv_lens(g)?;
    check_len(input.len(), in_len)?;
    check_len(weights.len(), w_len)?;
    check_len(out.len(), out_len)?;
    if let Some(b) = bias {
        check_len(b.len(), g.out_c as usize)?;
    }
    Ok(())
}

/// A checked geometry as `usize`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub s_h: usize,
    pub s_w: usize,
    pub d_h: usize,
    pub d_w: usize,
    pub pad_t: usize,
    pub pad_l: usize,
    /// Input and output channels per group.
    pub icg: usize,
    pub ocg: usize,
}

impl Dims {
    /// Of a geometry [`conv_lens`] accepted.
    pub(crate) fn of(g: &ConvGeom) -> Dims {
        let u = |v: u32| v as usize;
        Dims {
            in_h: u(g.in_h),
            in_w: u(g.in_w),
            in_c: u(g.in_c),
            out_h: u(g.out_h),
            out_w: u(g.out_w),
            out_c: u(g.out_c),
            k_h: u(g.k_h),
            k_w: u(g.k_w),
            s_h: u(g.stride_h),
            s_w: u(g.stride_w),
            d_h: u(g.dil_h),
            d_w: u(g.dil_w),
            pad_t: u(g.pad_top),
            pad_l: u(g.pad_left),
            icg: u(g.in_c / g.groups),
            ocg: u(g.out_c / g.groups),
        }
    }

    /// The sum of output channel `oc` at `(oy, ox)` of one image, before bias
    /// and activation: the taps in `(kh, kw, ic)` order, padding skipped.
    /// `w_oc` is the channel's `k_h * k_w * icg` weights.
    #[inline(always)]
    pub(crate) fn sum(
        &self,
        img: &[f32],
        w_oc: &[f32],
        oy: usize,
        ox: usize,
        oc: usize,
    ) -> Result<f32, Error> {
        let ic0 = (oc / self.ocg) * self.icg;
        let mut acc = 0.0f32;
        let rows = w_oc.chunks_exact(self.k_w * self.icg).take(self.k_h);
        for (kh, w_row) in rows.enumerate() {
            let Some(iy) = tap(oy, kh, self.s_h, self.d_h, self.pad_t, self.in_h) else {
                continue;
            };
            for (kw, w_tap) in w_row.chunks_exact(self.icg).enumerate() {
                let Some(ix) = tap(ox, kw, self.s_w, self.d_w, self.pad_l, self.in_w) else {
                    continue;
                };
                let start = (iy * self.in_w + ix) * self.in_c + ic0;
                let px = img.get(start..start + self.icg).ok_or(Error::BadGeometry)?;
                acc = dot_from(acc, px, w_tap);
            }
        }
        Ok(acc)
    }

    /// [`Dims::sum`] for the `n <= 8` consecutive output channels of one group
    /// starting at `oc` (`w`: their weight rows, back to back), side by side:
    /// each the same sum in the same order, with independent add chains.
    #[inline(always)]
    #[cfg_attr(
        not(all(target_arch = "x86_64", any(test, feature = "std"))),
        allow(dead_code)
    )]
    pub(crate) fn sums(
        &self,
        img: &[f32],
        w: &[f32],
        n: usize,
        oy: usize,
        ox: usize,
        oc: usize,
    ) -> Result<[f32; 8], Error> {
        let per_oc = self.k_h * self.k_w * self.icg;
        let ic0 = (oc / self.ocg) * self.icg;
        let mut acc = [0.0f32; 8];
        let n = n.min(8);
        for kh in 0..self.k_h {
            let Some(iy) = tap(oy, kh, self.s_h, self.d_h, self.pad_t, self.in_h) else {
                continue;
            };
            for kw in 0..self.k_w {
                let Some(ix) = tap(ox, kw, self.s_w, self.d_w, self.pad_l, self.in_w) else {
                    continue;
                };
                let start = (iy * self.in_w + ix) * self.in_c + ic0;
                let px = img.get(start..start + self.icg).ok_or(Error::BadGeometry)?;
                let t = (kh * self.k_w + kw) * self.icg;
                for (i, &x) in px.iter().enumerate() {
                    for (j, a) in acc.iter_mut().enumerate().take(n) {
                        let wv = w.get(j * per_oc + t + i).ok_or(Error::BadGeometry)?;
                        *a += x * wv;
                    }
                }
            }
        }
        Ok(acc)
    }
}

/// `acc + Σ x[i] * w[i]`, summed left to right (the one accumulation order of
/// this module).
#[inline(always)]
fn dot_from(acc: f32, x: &[f32], w: &[f32]) -> f32 {
    x.iter().zip(w).fold(acc, |a, (&x, &w)| a + x * w)
}

/// The bias values followed by zeros (or only zeros without a bias).
pub(crate) fn bias_values(bias: Option<&[f32]>) -> impl Iterator<Item = f32> + '_ {
    bias.unwrap_or(&[])
        .iter()
        .copied()
        .chain(core::iter::repeat(0.0))
}

/// 1x1, stride 1, no padding, one group: a GEMM over pixels. Lengths are checked
/// by the caller.
fn conv_1x1(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: ClampF32,
    out: &mut [f32],
) {
    let in_c = g.in_c as usize;
    let out_c = g.out_c as usize;
    for (px, out_px) in input.chunks_exact(in_c).zip(out.chunks_exact_mut(out_c)) {
        let w_rows = weights.chunks_exact(in_c);
        for ((o, w), b) in out_px.iter_mut().zip(w_rows).zip(bias_values(bias)) {
            *o = act.apply(dot_from(0.0, px, w) + b);
        }
    }
}

/// Any geometry. Lengths are checked by the caller; the input pixel slices are
/// taken with `get` so that a geometry bug returns an error instead of panicking.
fn conv_general(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: ClampF32,
    out: &mut [f32],
) -> Result<(), Error> {
    let d = Dims::of(g);
    let w_per_oc = weights.len() / d.out_c;
    let img_len = input.len() / g.n as usize;
    let out_img_len = out.len() / g.n as usize;

    for (img, out_img) in input
        .chunks_exact(img_len)
        .zip(out.chunks_exact_mut(out_img_len))
    {
        let rows = out_img.chunks_exact_mut(d.out_w * d.out_c).take(d.out_h);
        for (oy, out_row) in rows.enumerate() {
            for (ox, out_px) in out_row.chunks_exact_mut(d.out_c).enumerate() {
                let per_oc = out_px
                    .iter_mut()
                    .zip(weights.chunks_exact(w_per_oc))
                    .zip(bias_values(bias))
                    .enumerate();
                for (oc, ((o, w_oc), b)) in per_oc {
                    *o = act.apply(d.sum(img, w_oc, oy, ox, oc)? + b);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn geom(in_hw: (u32, u32), in_c: u32, out_hw: (u32, u32), out_c: u32) -> ConvGeom {
        ConvGeom {
            n: 1,
            in_h: in_hw.0,
            in_w: in_hw.1,
            in_c,
            out_h: out_hw.0,
            out_w: out_hw.1,
            out_c,
            k_h: 1,
            k_w: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
        }
    }

    /// Deterministic values in [-1, 1) (a 64-bit LCG), so that a geometry alone
    /// drives a property case.
    fn data(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    /// 1..=16 on a 4x4 single-channel input:
    /// ```text
    ///  1  2  3  4
    ///  5  6  7  8
    ///  9 10 11 12
    /// 13 14 15 16
    /// ```
    fn ramp_4x4() -> Vec<f32> {
        (1..=16).map(|v| v as f32).collect()
    }

    /// 3x3 all-ones kernel, pad 1 (implicit bottom/right pad 1), stride 1: each
    /// output is the sum of the 3x3 neighbourhood inside the input. E.g. (0,0) =
    /// 1+2+5+6 = 14, (1,1) = 1+2+3+5+6+7+9+10+11 = 54, (3,3) = 11+12+15+16 = 54.
    #[test]
    fn same_3x3_on_4x4() {
        let mut g = geom((4, 4), 1, (4, 4), 1);
        (g.k_h, g.k_w, g.pad_top, g.pad_left) = (3, 3, 1, 1);
        let mut out = [0.0f32; 16];
        conv_f32(&g, &ramp_4x4(), &[1.0; 9], None, ClampF32::NONE, &mut out).unwrap();
        #[rustfmt::skip]
        let want = [
            14.0, 24.0, 30.0, 22.0,
            33.0, 54.0, 63.0, 45.0,
            57.0, 90.0, 99.0, 69.0,
            46.0, 72.0, 78.0, 54.0,
        ];
        assert_eq!(out, want);
    }

    /// 2x2 kernel [[1, 2], [3, 4]], stride 2, pad_top = pad_left = 1 on the 4x4 ramp,
    /// bias 0.5, clamp max 50. Windows start at padded rows/cols -1, 1, 3 (the last
    /// one reads an implicit bottom/right pad):
    /// - (0,0): only in(0,0)=1 under w(1,1)=4 -> 4
    /// - (0,1): in(0,1)=2 * 3 + in(0,2)=3 * 4 -> 18
    /// - (0,2): in(0,3)=4 * 3 -> 12
    /// - (1,0): in(1,0)=5 * 2 + in(2,0)=9 * 4 -> 46
    /// - (1,1): 6*1 + 7*2 + 10*3 + 11*4 -> 94 (clamped to 50)
    /// - (1,2): in(1,3)=8 * 1 + in(2,3)=12 * 3 -> 44
    /// - (2,0): in(3,0)=13 * 2 -> 26; (2,1): 14*1 + 15*2 -> 44; (2,2): 16*1 -> 16
    #[test]
    fn strided_asymmetric_pad_bias_clamp() {
        let mut g = geom((4, 4), 1, (3, 3), 1);
        (g.k_h, g.k_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left) = (2, 2, 2, 2, 1, 1);
        let act = ClampF32 {
            min: f32::NEG_INFINITY,
            max: 50.0,
        };
        let mut out = [0.0f32; 9];
        conv_f32(
            &g,
            &ramp_4x4(),
            &[1.0, 2.0, 3.0, 4.0],
            Some(&[0.5]),
            act,
            &mut out,
        )
        .unwrap();
        let want = [4.5, 18.5, 12.5, 46.5, 50.0, 44.5, 26.5, 44.5, 16.5];
        assert_eq!(out, want);
    }

    /// Depthwise (groups = channels = 2), 1x2 kernel, dilation 2 along width on a
    /// 1x3 input: out[c] = x[0][c] * w[c][0] + x[2][c] * w[c][1].
    /// x = [(1, 10), (2, 20), (3, 30)], w = [[1, 2], [3, 4]] -> [1 + 6, 30 + 120].
    #[test]
    fn depthwise_dilated() {
        let mut g = geom((1, 3), 2, (1, 1), 2);
        (g.k_w, g.dil_w, g.groups) = (2, 2, 2);
        let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        let mut out = [0.0f32; 2];
        conv_f32(
            &g,
            &x,
            &[1.0, 2.0, 3.0, 4.0],
            None,
            ClampF32::NONE,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [7.0, 150.0]);
    }

    /// 1x1 with two output channels and a ReLU: the pointwise fast path.
    #[test]
    fn pointwise_relu() {
        let g = geom((1, 2), 2, (1, 2), 2);
        let x = [1.0, 2.0, -3.0, 4.0];
        let w = [1.0, 1.0, 2.0, -1.0];
        let relu = ClampF32 {
            min: 0.0,
            max: f32::INFINITY,
        };
        let mut out = [0.0f32; 4];
        conv_f32(&g, &x, &w, Some(&[0.0, 1.0]), relu, &mut out).unwrap();
        // pixel 0: [1+2, 2-2+1] ; pixel 1: [-3+4, -6-4+1 -> 0]
        assert_eq!(out, [3.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut g = geom((4, 4), 2, (2, 2), 4);
        (g.k_h, g.k_w, g.stride_h, g.stride_w) = (3, 3, 2, 2);
        g.pad_top = 1;
        g.pad_left = 1;
        let (i, w, o) = conv_lens(&g).unwrap();
        assert_eq!((i, w, o), (32, 72, 16));
        let (x, wt, b) = (vec![0.0; i], vec![0.0; w], [0.0f32; 4]);
        let mut out = vec![0.0; o];
        let act = ClampF32::NONE;
        let bad = Err(Error::BadGeometry);
        assert_eq!(conv_f32(&g, &x[1..], &wt, None, act, &mut out), bad);
        assert_eq!(conv_f32(&g, &x, &wt[1..], None, act, &mut out), bad);
        assert_eq!(conv_f32(&g, &x, &wt, Some(&b[1..]), act, &mut out), bad);
        assert_eq!(conv_f32(&g, &x, &wt, None, act, &mut out[1..]), bad);
        assert_eq!(conv_f32(&g, &x, &wt, Some(&b), act, &mut out), Ok(()));
    }

    #[test]
    fn invalid_geometries_are_errors() {
        let ok = geom((4, 4), 4, (4, 4), 4);
        assert!(conv_lens(&ok).is_ok());
        type Edit = fn(&mut ConvGeom);
        let cases: [(Edit, Error); 8] = [
            (|g| g.stride_h = 0, Error::InvalidParameter),
            (|g| g.dil_w = 0, Error::InvalidParameter),
            (|g| g.groups = 0, Error::InvalidParameter),
            (|g| g.k_w = 0, Error::InvalidParameter),
            (|g| g.in_c = 0, Error::InvalidParameter),
            (|g| g.groups = 3, Error::BadGeometry),
            // the 5th output row would start past the input (no pad_top)
            (|g| g.out_h = 5, Error::BadGeometry),
            (
                |g| (g.n, g.in_h, g.in_w, g.in_c) = (u32::MAX, u32::MAX, u32::MAX, 4),
                Error::Overflow,
            ),
        ];
        for (edit, err) in cases {
            let mut g = ok;
            edit(&mut g);
            assert_eq!(conv_lens(&g), Err(err), "{g:?}");
        }
        // with one row of top padding, 5 output rows are fine
        let mut g = ok;
        (g.out_h, g.pad_top) = (5, 1);
        assert!(conv_lens(&g).is_ok());
    }

    /// Reference convolution in a different formulation: NCHW tensors, an explicitly
    /// zero-padded input (large enough for every tap), OIHW weights, sum in
    /// (ic, kh, kw) order starting from the bias; result transposed back to NHWC.
    fn reference(
        g: &ConvGeom,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        act: ClampF32,
    ) -> Vec<f32> {
        let [n, ih, iw, ic, oh, ow, oc, kh, kw] = [
            g.n, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.out_c, g.k_h, g.k_w,
        ]
        .map(|v| v as usize);
        let [sh, sw, dh, dw, pt, pl] = [
            g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.pad_top, g.pad_left,
        ]
        .map(|v| v as usize);
        let (icg, ocg) = (ic / g.groups as usize, oc / g.groups as usize);
        let ph = (pt + ih).max((oh - 1) * sh + (kh - 1) * dh + 1);
        let pw = (pl + iw).max((ow - 1) * sw + (kw - 1) * dw + 1);
        // padded[b][c][y][x]
        let mut padded = vec![0.0f32; n * ic * ph * pw];
        for b in 0..n {
            for y in 0..ih {
                for xx in 0..iw {
                    for c in 0..ic {
                        padded[((b * ic + c) * ph + y + pt) * pw + xx + pl] =
                            x[((b * ih + y) * iw + xx) * ic + c];
                    }
                }
            }
        }
        // w_oihw[o][i][y][x]
        let mut w_oihw = vec![0.0f32; w.len()];
        for o in 0..oc {
            for y in 0..kh {
                for xx in 0..kw {
                    for i in 0..icg {
                        w_oihw[((o * icg + i) * kh + y) * kw + xx] =
                            w[((o * kh + y) * kw + xx) * icg + i];
                    }
                }
            }
        }
        let mut out_nchw = vec![0.0f32; n * oc * oh * ow];
        for b in 0..n {
            for o in 0..oc {
                let grp = o / ocg;
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = bias.map_or(0.0, |bb| bb[o]);
                        for i in 0..icg {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let c = grp * icg + i;
                                    let py = y * sh + ky * dh;
                                    let px = xx * sw + kx * dw;
                                    acc += padded[((b * ic + c) * ph + py) * pw + px]
                                        * w_oihw[((o * icg + i) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        out_nchw[((b * oc + o) * oh + y) * ow + xx] = acc;
                    }
                }
            }
        }
        let mut out = vec![0.0f32; out_nchw.len()];
        for b in 0..n {
            for o in 0..oc {
                for y in 0..oh {
                    for xx in 0..ow {
                        out[((b * oh + y) * ow + xx) * oc + o] =
                            act.apply(out_nchw[((b * oc + o) * oh + y) * ow + xx]);
                    }
                }
            }
        }
        out
    }

    /// Output size along one axis: the full ONNX-like count, or fewer rows.
    fn out_size(inp: u32, pad: u32, stride: u32, pick: u32) -> u32 {
        let max = (inp + pad - 1) / stride + 1; // largest count with a valid last window
        if pick.is_multiple_of(2) {
            max
        } else {
            1 + pick % max
        }
    }

    fn conv_geom() -> impl Strategy<Value = ConvGeom> {
        (
            (1u32..=2, 1u32..=7, 1u32..=7, 1u32..=3, 1u32..=3, 1u32..=3),
            (1u32..=3, 1u32..=3, 1u32..=3, 1u32..=3, 1u32..=2, 1u32..=2),
            (0u32..=2, 0u32..=2, 0u32..8, 0u32..8),
        )
            .prop_map(
                |(
                    (n, in_h, in_w, groups, icg, ocg),
                    (k_h, k_w, stride_h, stride_w, dil_h, dil_w),
                    (pad_top, pad_left, ph, pw),
                )| {
                    ConvGeom {
                        n,
                        in_h,
                        in_w,
                        in_c: groups * icg,
                        out_h: out_size(in_h, pad_top, stride_h, ph),
                        out_w: out_size(in_w, pad_left, stride_w, pw),
                        out_c: groups * ocg,
                        k_h,
                        k_w,
                        stride_h,
                        stride_w,
                        dil_h,
                        dil_w,
                        pad_top,
                        pad_left,
                        groups,
                    }
                },
            )
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Any geometry (strides, asymmetric pads, dilation, groups incl.
        /// depthwise, extra ceil-like output rows) against the NCHW reference.
        #[test]
        fn matches_reference(g in conv_geom(), seed: u64, with_bias: bool, relu: bool) {
            let (il, wl, ol) = conv_lens(&g).unwrap();
            let x = data(seed, il);
            let w = data(seed ^ 1, wl);
            let b = data(seed ^ 2, g.out_c as usize);
            let bias = with_bias.then_some(&b[..]);
            let act = if relu { ClampF32 { min: 0.0, max: 0.5 } } else { ClampF32::NONE };
            let mut out = vec![f32::NAN; ol];
            conv_f32(&g, &x, &w, bias, act, &mut out).unwrap();
            let want = reference(&g, &x, &w, bias, act);
            prop_assert!(close(&out, &want), "{:?}\n{:?}\n{:?}", g, out, want);
        }

        /// The 1x1 fast path is bit-identical to the general path.
        #[test]
        fn pointwise_path_is_bit_identical(n in 1u32..=2, h in 1u32..=5, w in 1u32..=5, ic in 1u32..=9, oc in 1u32..=9, seed: u64) {
            let g = ConvGeom { n, ..geom((h, w), ic, (h, w), oc) };
            let (il, wl, ol) = conv_lens(&g).unwrap();
            let x = data(seed, il);
            let wt = data(seed ^ 1, wl);
            let b = data(seed ^ 2, oc as usize);
            let mut fast = vec![0.0; ol];
            let mut general = vec![0.0; ol];
            conv_f32(&g, &x, &wt, Some(&b), ClampF32::NONE, &mut fast).unwrap();
            conv_general(&g, &x, &wt, Some(&b), ClampF32::NONE, &mut general).unwrap();
            prop_assert_eq!(
                fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                general.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
