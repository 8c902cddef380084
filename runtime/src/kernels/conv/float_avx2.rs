//! f32 2-D convolution for x86_64 with AVX2, chosen at run time. Bit-exact
//! twin of [`super::float::conv_f32`].
//!
//! The scalar kernel sums each output's taps one after the other in
//! `(kh, kw, ic)` order (`acc + x * w`, a multiply then an add, never fused),
//! which leaves no room to reorder a sum. This kernel keeps every output's
//! order and computes eight output channels at once instead, one per lane:
//! `vmulps` then `vaddps` (no FMA, which rounds once instead of twice). The
//! output buffer holds the running sums: for each block of eight channels and
//! each kernel row `kh` in order, the block's weights of that row (`(kw, ic)`,
//! up to [`CHUNK`] at a time) are packed channel-innermost into a stack
//! buffer, and every output pixel adds the taps of that row in order; four
//! pixels run side by side for independent add chains. Taps in the padding
//! are skipped, as in the scalar kernel. At the end each output is
//! `act(sum + bias)`.
//!
//! Output channels past the last whole block of eight in a group run the
//! scalar sum ([`Dims::sum`]). Depthwise convolutions (one input and one
//! output channel per group) take eight neighbouring groups per lane instead
//! ([`depthwise`]); other groups of fewer than eight output channels and CPUs
//! without AVX2 run the scalar kernel.

use crate::error::Error;
use crate::format::schema::{ClampF32, ConvGeom};
use crate::kernels::avx2::available;
use crate::kernels::conv::float::{self, Dims, tap};
use core::arch::x86_64::*;

/// Input channels packed per pass (`CHUNK * 8` f32 of stack).
const CHUNK: usize = 256;
/// Output channels per block: the lanes of a `__m256`.
const LANES: usize = 8;
/// Largest depthwise window (`k_h * k_w`) whose weights are packed on the
/// stack; larger ones run the scalar kernel.
const MAX_TAPS: usize = 256;

/// f32 convolution with AVX2 when the CPU has it; same contract, errors and
/// results (bit for bit) as [`float::conv_f32`].
pub fn conv_f32(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: ClampF32,
    out: &mut [f32],
) -> Result<(), Error> {
    float::check(g, input, weights, bias, out)?;
    let d = Dims::of(g);
    if !available() {
        return float::conv_f32(g, input, weights, bias, act, out);
    }
    if d.icg == 1 && d.ocg == 1 && d.out_c >= LANES && d.k_h * d.k_w <= MAX_TAPS {
        // SAFETY: `available()` checked that the CPU has AVX2.
        return unsafe { depthwise(g, &d, input, weights, bias, act, out) };
    }
    if d.ocg < LANES {
        return float::conv_f32(g, input, weights, bias, act, out);
    }
    let groups = g.groups as usize;
    let img_len = input.len() / g.n as usize;
    let out_img_len = out.len() / g.n as usize;
    let w_per_oc = weights.len() / d.out_c;
    for (img, out_img) in input
        .chunks_exact(img_len)
        .zip(out.chunks_exact_mut(out_img_len))
    {
        out_img.fill(0.0);
        for grp in 0..groups {
            let blocks = d.ocg / LANES;
            for b in 0..blocks {
                let oc0 = grp * d.ocg + b * LANES;
                let w_block = weights
                    .get(oc0 * w_per_oc..(oc0 + LANES) * w_per_oc)
                    .ok_or(Error::BadGeometry)?;
                // SAFETY: `available()` checked that the CPU has AVX2.
                unsafe { block(&d, img, w_block, grp * d.icg, oc0, out_img)? };
            }
            // The channels after the last whole block: the scalar sums, side
            // by side.
            let first = grp * d.ocg + blocks * LANES;
            let n = (grp + 1) * d.ocg - first;
            if n > 0 {
                let w_tail = weights
                    .get(first * w_per_oc..(first + n) * w_per_oc)
                    .ok_or(Error::BadGeometry)?;
                for oy in 0..d.out_h {
                    for ox in 0..d.out_w {
                        let sums = d.sums(img, w_tail, n, oy, ox, first)?;
                        let o = (oy * d.out_w + ox) * d.out_c + first;
                        let dst = out_img.get_mut(o..o + n).ok_or(Error::BadGeometry)?;
                        dst.copy_from_slice(sums.get(..n).ok_or(Error::BadGeometry)?);
                    }
                }
            }
        }
        for px in out_img.chunks_exact_mut(d.out_c) {
            for (o, b) in px.iter_mut().zip(float::bias_values(bias)) {
                *o = act.apply(*o + b);
            }
        }
    }
    Ok(())
}

/// Depthwise convolution (one input and one output channel per group):
/// eight neighbouring channels per lane, whose inputs are contiguous in NHWC,
/// each output summing its taps in `(kh, kw)` order as the scalar kernel
/// does; the weights of the eight channels are packed tap by tap on the
/// stack. Channels after the last whole block of eight take the scalar sum.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
unsafe fn depthwise(
    g: &ConvGeom,
    d: &Dims,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: ClampF32,
    out: &mut [f32],
) -> Result<(), Error> {
    let taps = d.k_h * d.k_w;
    let img_len = input.len() / g.n as usize;
    let out_img_len = out.len() / g.n as usize;
    let mut packed = [0f32; MAX_TAPS * LANES];
    let blocks = d.out_c / LANES;
    for (img, out_img) in input
        .chunks_exact(img_len)
        .zip(out.chunks_exact_mut(out_img_len))
    {
        for b in 0..blocks {
            let c0 = b * LANES;
            let w_block = weights
                .get(c0 * taps..(c0 + LANES) * taps)
                .ok_or(Error::BadGeometry)?;
            for (lane, w_c) in w_block.chunks_exact(taps).enumerate() {
                for (t, &w) in w_c.iter().enumerate() {
                    // t < taps <= MAX_TAPS, lane < LANES.
                    if let Some(slot) = packed.get_mut(t * LANES + lane) {
                        *slot = w;
                    }
                }
            }
            let mut bias8 = [0f32; LANES];
            if let Some(src) = bias.and_then(|b| b.get(c0..c0 + LANES)) {
                bias8.copy_from_slice(src);
            }
            for oy in 0..d.out_h {
                for ox in 0..d.out_w {
                    let mut acc = _mm256_setzero_ps();
                    for kh in 0..d.k_h {
                        let Some(iy) = tap(oy, kh, d.s_h, d.d_h, d.pad_t, d.in_h) else {
                            continue;
                        };
                        for kw in 0..d.k_w {
                            let Some(ix) = tap(ox, kw, d.s_w, d.d_w, d.pad_l, d.in_w) else {
                                continue;
                            };
                            let s = (iy * d.in_w + ix) * d.in_c + c0;
                            let x = img.get(s..s + LANES).ok_or(Error::BadGeometry)?;
                            let t = (kh * d.k_w + kw) * LANES;
                            let w = packed.get(t..t + LANES).ok_or(Error::BadGeometry)?;
                            // SAFETY: `x` and `w` hold eight f32 each.
                            unsafe {
                                let prod = _mm256_mul_ps(
                                    _mm256_loadu_ps(x.as_ptr()),
                                    _mm256_loadu_ps(w.as_ptr()),
                                );
                                acc = _mm256_add_ps(acc, prod);
                            }
                        }
                    }
                    let o = (oy * d.out_w + ox) * d.out_c + c0;
                    let dst = out_img.get_mut(o..o + LANES).ok_or(Error::BadGeometry)?;
                    let mut sums = [0f32; LANES];
                    // SAFETY: `sums` holds eight f32.
                    unsafe { _mm256_storeu_ps(sums.as_mut_ptr(), acc) };
                    for ((o, s), b) in dst.iter_mut().zip(sums).zip(bias8) {
                        *o = act.apply(s + b);
                    }
                }
            }
        }
        // The channels after the last whole block, scalar.
        for oc in blocks * LANES..d.out_c {
            let w_oc = weights
                .get(oc * taps..(oc + 1) * taps)
                .ok_or(Error::BadGeometry)?;
            let b = bias.and_then(|b| b.get(oc)).copied().unwrap_or(0.0);
            for oy in 0..d.out_h {
                for ox in 0..d.out_w {
                    let sum = d.sum(img, w_oc, oy, ox, oc)?;
                    let o = out_img
                        .get_mut((oy * d.out_w + ox) * d.out_c + oc)
                        .ok_or(Error::BadGeometry)?;
                    *o = act.apply(sum + b);
                }
            }
        }
    }
    Ok(())
}

/// Add the taps of the eight output channels `oc0..oc0 + 8` (weights
/// `w_block`, OHWI) to their running sums in `out_img`, for every pixel.
///
/// The taps of one kernel row, `(kw, ic)`, are one run of `k_w * icg`
/// weights. With one group and no horizontal dilation they also read one run
/// of `k_w * in_c` inputs, for every pixel whose window row lies inside the
/// input: those pixels take the row in one go (four at a time when they
/// can). The others take it tap by tap, skipping the padding.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
unsafe fn block(
    d: &Dims,
    img: &[f32],
    w_block: &[f32],
    ic0: usize,
    oc0: usize,
    out_img: &mut [f32],
) -> Result<(), Error> {
    let row_len = d.k_w * d.icg;
    let w_per_oc = d.k_h * row_len;
    let contiguous_rows = d.icg == d.in_c && d.d_w == 1;
    let mut packed = [0f32; CHUNK * LANES];
    for kh in 0..d.k_h {
        for c0 in (0..row_len).step_by(CHUNK) {
            let len = CHUNK.min(row_len - c0);
            let first = kh * row_len + c0;
            for (lane, w_oc) in w_block.chunks_exact(w_per_oc).enumerate() {
                let src = w_oc.get(first..first + len).ok_or(Error::BadGeometry)?;
                for (i, &w) in src.iter().enumerate() {
                    // i < len <= CHUNK, lane < LANES.
                    if let Some(slot) = packed.get_mut(i * LANES + lane) {
                        *slot = w;
                    }
                }
            }
            let w = packed.get(..len * LANES).ok_or(Error::BadGeometry)?;
            for oy in 0..d.out_h {
                let Some(iy) = tap(oy, kh, d.s_h, d.d_h, d.pad_t, d.in_h) else {
                    continue;
                };
                // Where pixel `ox`'s inputs for this chunk start, when they are
                // one run.
                let run = |ox: usize| -> Option<usize> {
                    let ix0 = (ox * d.s_w).checked_sub(d.pad_l)?;
                    (contiguous_rows && ix0 + d.k_w <= d.in_w)
                        .then_some((iy * d.in_w + ix0) * d.in_c + c0)
                };
                let mut ox = 0;
                while ox < d.out_w {
                    let o = (oy * d.out_w + ox) * d.out_c + oc0;
                    if ox + 4 <= d.out_w
                        && let (Some(a), Some(b), Some(c), Some(e)) =
                            (run(ox), run(ox + 1), run(ox + 2), run(ox + 3))
                    {
                        let x = [a, b, c, e].map(|s| img.get(s..s + len));
                        let [Some(x0), Some(x1), Some(x2), Some(x3)] = x else {
                            return Err(Error::BadGeometry);
                        };
                        let step = d.out_c;
                        let acc = out_img
                            .get_mut(o..o + 3 * step + LANES)
                            .ok_or(Error::BadGeometry)?;
                        // SAFETY: AVX2 is enabled on this function; the slices
                        // hold `len` inputs each and `len * 8` weights, `acc`
                        // four pixels' eight sums.
                        unsafe { four(acc, step, [x0, x1, x2, x3], w) };
                        ox += 4;
                        continue;
                    }
                    let acc = out_img.get_mut(o..o + LANES).ok_or(Error::BadGeometry)?;
                    if let Some(s) = run(ox) {
                        let x = img.get(s..s + len).ok_or(Error::BadGeometry)?;
                        // SAFETY: as above, for one pixel.
                        unsafe { one(acc, x, w) };
                    } else {
                        // Tap by tap: the part of each `kw`'s channels in this chunk.
                        for kw in c0 / d.icg..(c0 + len).div_ceil(d.icg) {
                            let Some(ix) = tap(ox, kw, d.s_w, d.d_w, d.pad_l, d.in_w) else {
                                continue;
                            };
                            let from = c0.max(kw * d.icg);
                            let to = (c0 + len).min((kw + 1) * d.icg);
                            let s = (iy * d.in_w + ix) * d.in_c + ic0 + from - kw * d.icg;
                            let x = img.get(s..s + to - from).ok_or(Error::BadGeometry)?;
                            let wt = w.get((from - c0) * LANES..).ok_or(Error::BadGeometry)?;
                            // SAFETY: as above; `wt` holds `8 * (to - from)`
                            // weights or more.
                            unsafe { one(acc, x, wt) };
                        }
                    }
                    ox += 1;
                }
            }
        }
    }
    Ok(())
}

/// `acc[0..8] += x[i] * w[i * 8..][..8]` for each `i` in order.
///
/// # Safety
/// AVX2; `w.len() >= 8 * x.len()`, `acc.len() >= 8`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn one(acc: &mut [f32], x: &[f32], w: &[f32]) {
    debug_assert!(w.len() >= LANES * x.len() && acc.len() >= LANES);
    // SAFETY: the caller guarantees the lengths read and written here.
    unsafe {
        let mut a = _mm256_loadu_ps(acc.as_ptr());
        let wp = w.as_ptr();
        for (i, &v) in x.iter().enumerate() {
            let wv = _mm256_loadu_ps(wp.add(i * LANES));
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(v), wv));
        }
        _mm256_storeu_ps(acc.as_mut_ptr(), a);
    }
}

/// [`one`] for four pixels whose sums start `step` apart in `acc`, sharing
/// the weight loads: four independent add chains.
///
/// # Safety
/// AVX2; every `x[p].len() == n` with `w.len() >= 8 * n`, and
/// `acc.len() >= 3 * step + 8`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn four(acc: &mut [f32], step: usize, x: [&[f32]; 4], w: &[f32]) {
    let n = x[0].len();
    debug_assert!(x.iter().all(|v| v.len() == n) && w.len() >= LANES * n);
    debug_assert!(acc.len() >= 3 * step + LANES);
    // SAFETY: the caller guarantees the lengths read and written here.
    unsafe {
        let p = acc.as_mut_ptr();
        let mut a0 = _mm256_loadu_ps(p);
        let mut a1 = _mm256_loadu_ps(p.add(step));
        let mut a2 = _mm256_loadu_ps(p.add(2 * step));
        let mut a3 = _mm256_loadu_ps(p.add(3 * step));
        let (x0, x1, x2, x3) = (x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr());
        let wp = w.as_ptr();
        for i in 0..n {
            let wv = _mm256_loadu_ps(wp.add(i * LANES));
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(*x0.add(i)), wv));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_set1_ps(*x1.add(i)), wv));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_set1_ps(*x2.add(i)), wv));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_set1_ps(*x3.add(i)), wv));
        }
        _mm256_storeu_ps(p, a0);
        _mm256_storeu_ps(p.add(step), a1);
        _mm256_storeu_ps(p.add(2 * step), a2);
        _mm256_storeu_ps(p.add(3 * step), a3);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Values with both signs, zeros (and negative zeros) among them, and a
    /// spread of magnitudes, so that rounding differences would show.
    fn data(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match s % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    k => ((s >> 20) as f32 / (1u64 << 44) as f32 - 0.5) * (k as f32).powi(3),
                }
            })
            .collect()
    }

    fn out_size(inp: u32, pad: u32, k: u32, stride: u32, dil: u32) -> u32 {
        // Floor of the ONNX formula with symmetric padding, at least 1.
        let span = (k - 1) * dil + 1;
        ((inp + 2 * pad).saturating_sub(span) / stride + 1).max(1)
    }

    /// A geometry with symmetric padding (clamped below the kernel) and the
    /// output size ONNX gives it.
    #[allow(clippy::too_many_arguments)]
    fn conv_geom(
        n: u32,
        (in_h, in_w): (u32, u32),
        (in_c, out_c, groups): (u32, u32, u32),
        (k_h, k_w): (u32, u32),
        (s_h, s_w): (u32, u32),
        (d_h, d_w): (u32, u32),
        (pad_t, pad_l): (u32, u32),
    ) -> ConvGeom {
        let (pad_t, pad_l) = (pad_t.min(k_h - 1), pad_l.min(k_w - 1));
        ConvGeom {
            n,
            in_h,
            in_w,
            in_c,
            out_h: out_size(in_h, pad_t, k_h, s_h, d_h),
            out_w: out_size(in_w, pad_l, k_w, s_w, d_w),
            out_c,
            k_h,
            k_w,
            stride_h: s_h,
            stride_w: s_w,
            dil_h: d_h,
            dil_w: d_w,
            pad_top: pad_t,
            pad_left: pad_l,
            groups,
        }
    }

    prop_compose! {
        /// Any grouping, channel counts on both sides of a block of eight
        /// output channels per group.
        fn geom()(n in 1u32..=2, hw in (1u32..=9, 1u32..=11),
                  groups in 1u32..=3, icg in 1u32..=20, ocg in prop_oneof![1u32..=7, 8u32..=40],
                  k in (1u32..=4, 1u32..=4), s in (1u32..=3, 1u32..=3),
                  d in (1u32..=2, 1u32..=2), pad in (0u32..=2, 0u32..=2)) -> ConvGeom {
            conv_geom(n, hw, (groups * icg, groups * ocg, groups), k, s, d, pad)
        }
    }

    prop_compose! {
        /// Depthwise: one input and one output channel per group, on both
        /// sides of a block of eight channels.
        fn depthwise_geom()(n in 1u32..=2, hw in (1u32..=9, 1u32..=11), c in 1u32..=40,
                  k in (1u32..=5, 1u32..=5), s in (1u32..=3, 1u32..=3),
                  d in (1u32..=2, 1u32..=2), pad in (0u32..=4, 0u32..=4)) -> ConvGeom {
            conv_geom(n, hw, (c, c, c), k, s, d, pad)
        }
    }

    fn run(
        f: crate::kernels::conv::ConvF32Fn,
        g: &ConvGeom,
        seed: u64,
        with_bias: bool,
        act: ClampF32,
    ) -> Result<Vec<u32>, Error> {
        let (i, w, o) = float::conv_lens(g)?;
        let (x, wt, b) = (
            data(seed, i),
            data(seed ^ 0x5555, w),
            data(seed ^ 0xaaaa, g.out_c as usize),
        );
        let mut out = std::vec![f32::NAN; o];
        f(g, &x, &wt, with_bias.then_some(&b[..]), act, &mut out)?;
        Ok(out.iter().map(|v| v.to_bits()).collect())
    }

    /// The twin's output bits against the scalar kernel's.
    fn same_as_scalar(
        g: &ConvGeom,
        seed: u64,
        with_bias: bool,
        relu: bool,
    ) -> Result<(), TestCaseError> {
        if float::conv_lens(g).is_err() {
            return Ok(());
        }
        let act = if relu {
            ClampF32 {
                min: 0.0,
                max: f32::INFINITY,
            }
        } else {
            ClampF32::NONE
        };
        let want = run(float::conv_f32, g, seed, with_bias, act);
        prop_assert_eq!(run(conv_f32, g, seed, with_bias, act), want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Bit for bit the scalar kernel, over strides, dilations, paddings,
        /// groups and channel counts on both sides of a block of eight.
        #[test]
        fn bit_exact_with_scalar(g in geom(), seed: u64, with_bias: bool, relu: bool) {
            same_as_scalar(&g, seed, with_bias, relu)?;
        }

        #[test]
        fn depthwise_is_bit_exact_with_scalar(g in depthwise_geom(), seed: u64, with_bias: bool, relu: bool) {
            same_as_scalar(&g, seed, with_bias, relu)?;
        }
    }

    /// Long reductions (more input channels than one packed chunk) and wide
    /// rows, where the four-pixel path runs.
    #[test]
    fn long_reductions_are_bit_exact() {
        let channels = CHUNK as u32 + 37;
        let g = conv_geom(1, (5, 9), (channels, 19, 1), (3, 3), (1, 1), (1, 1), (1, 1));
        let want = run(float::conv_f32, &g, 7, true, ClampF32::NONE).unwrap();
        assert_eq!(run(conv_f32, &g, 7, true, ClampF32::NONE).unwrap(), want);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let g = conv_geom(1, (2, 2), (1, 8, 1), (1, 1), (1, 1), (1, 1), (0, 0));
        let mut out = [0f32; 32];
        assert_eq!(
            conv_f32(&g, &[0.0; 3], &[0.0; 8], None, ClampF32::NONE, &mut out),
            Err(Error::BadGeometry)
        );
    }
}
