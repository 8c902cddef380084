//! f32 max / average pooling, NHWC, ONNX semantics.
//!
//! - Max ignores padded cells. A window with no cell inside the input gives
//!   `act.apply(-inf)` (i.e. `-inf` without a clamp, `act.min` with one).
//! - Average sums the cells inside the input, in `(kh, kw)` order from `0.0`, and
//!   divides by the number of cells inside the input (`count_include_pad = false`) or
//!   inside the padded input `[-pad_top, in_h + pad_bottom) x [-pad_left, in_w +
//!   pad_right)` (`true`); cells that `ceil_mode` adds past the pads are never
//!   counted. A window with a zero count gives `act.apply(0.0)`.
//! - Dilations apply to both kinds.
//!
//! [`pool_lens`] validates a [`PoolGeom`]; the int8 kernel (`super::scalar`) reuses it.

use crate::error::Error;
use crate::format::schema::{ClampF32, PoolGeom, PoolKind};
use crate::kernels::conv::float::{tap, window_axis};
use crate::kernels::{check_len, prod};

/// Validates a pooling geometry and returns the element counts of `(input, output)`.
///
/// Rules: every dimension, kernel size, stride and dilation is nonzero
/// ([`Error::InvalidParameter`]); the last window starts inside the padded input,
/// `(out_h - 1) * stride_h < pad_top + in_h + pad_bottom` (same for width), else
/// [`Error::BadGeometry`] (so `ceil_mode` outputs are accepted, and every window has
/// a nonzero `count_include_pad` count); sizes fit in `usize` ([`Error::Overflow`]).
pub fn pool_lens(g: &PoolGeom) -> Result<(usize, usize), Error> {
    let must_be_nonzero = [
        g.n, g.in_h, g.in_w, g.c, g.out_h, g.out_w, g.k_h, g.k_w, g.stride_h, g.stride_w, g.dil_h,
        g.dil_w,
    ];
    if must_be_nonzero.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    window_axis(
        g.out_h,
        g.stride_h,
        g.k_h,
        g.dil_h,
        padded_len(g.in_h, g.pad_top, g.pad_bottom)?,
    )?;
    window_axis(
        g.out_w,
        g.stride_w,
        g.k_w,
        g.dil_w,
        padded_len(g.in_w, g.pad_left, g.pad_right)?,
    )?;
    let input = prod(&[g.n, g.in_h, g.in_w, g.c])?;
    let output = prod(&[g.n, g.out_h, g.out_w, g.c])?;
    Ok((input, output))
}

/// `before + len + after`, checked.
fn padded_len(len: u32, before: u32, after: u32) -> Result<usize, Error> {
    (len as usize)
        .checked_add(before as usize)
        .and_then(|v| v.checked_add(after as usize))
        .ok_or(Error::Overflow)
}

/// Number of taps of a window starting at padded coordinate `start` that fall below
/// `end` (padded coordinates).
fn taps_below(start: usize, k: usize, dil: usize, end: usize) -> usize {
    super::taps_in(start, dil, k, 0, end).len()
}

/// f32 pooling (see the module docs for the exact semantics). `input` is NHWC
/// `[n][in_h][in_w][c]`, `out` NHWC `[n][out_h][out_w][c]`, both exactly the lengths
/// [`pool_lens`] returns ([`Error::BadGeometry`] otherwise).
pub fn pool_f32(g: &PoolGeom, input: &[f32], act: ClampF32, out: &mut [f32]) -> Result<(), Error> {
    let (in_len, out_len) = pool_lens(g)?;
    check_len(input.len(), in_len)?;
    check_len(out.len(), out_len)?;

    let [in_h, in_w, c, out_w, k_h, k_w] =
        [g.in_h, g.in_w, g.c, g.out_w, g.k_h, g.k_w].map(|v| v as usize);
    let [s_h, s_w, d_h, d_w, pad_t, pad_l] = [
        g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.pad_top, g.pad_left,
    ]
    .map(|v| v as usize);
    // Ends of the padded input in padded coordinates (validated by `pool_lens`).
    let end_h = padded_len(g.in_h, g.pad_top, g.pad_bottom)?;
    let end_w = padded_len(g.in_w, g.pad_left, g.pad_right)?;
    let init = match g.kind {
        PoolKind::Max => f32::NEG_INFINITY,
        PoolKind::Avg => 0.0,
    };
    let img_len = input.len() / g.n as usize;
    let out_img_len = out.len() / g.n as usize;

    for (img, out_img) in input
        .chunks_exact(img_len)
        .zip(out.chunks_exact_mut(out_img_len))
    {
        for (oy, out_row) in out_img.chunks_exact_mut(out_w * c).enumerate() {
            let padded_rows = taps_below(oy * s_h, k_h, d_h, end_h);
            for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
                out_px.fill(init);
                let mut valid = 0usize;
                for kh in super::taps_in(oy * s_h, d_h, k_h, pad_t, pad_t.saturating_add(in_h)) {
                    let Some(iy) = tap(oy, kh, s_h, d_h, pad_t, in_h) else {
                        continue;
                    };
                    for kw in super::taps_in(ox * s_w, d_w, k_w, pad_l, pad_l.saturating_add(in_w))
                    {
                        let Some(ix) = tap(ox, kw, s_w, d_w, pad_l, in_w) else {
                            continue;
                        };
                        valid += 1;
                        let start = (iy * in_w + ix) * c;
                        let px = img.get(start..start + c).ok_or(Error::BadGeometry)?;
                        match g.kind {
                            PoolKind::Max => {
                                out_px.iter_mut().zip(px).for_each(|(o, &x)| *o = o.max(x))
                            }
                            PoolKind::Avg => out_px.iter_mut().zip(px).for_each(|(o, &x)| *o += x),
                        }
                    }
                }
                let count = match (g.kind, g.count_include_pad) {
                    (PoolKind::Max, _) => 1,
                    (PoolKind::Avg, false) => valid,
                    (PoolKind::Avg, true) => padded_rows * taps_below(ox * s_w, k_w, d_w, end_w),
                };
                if count == 0 {
                    out_px.fill(act.apply(0.0));
                } else if g.kind == PoolKind::Max {
                    out_px.iter_mut().for_each(|o| *o = act.apply(*o));
                } else {
                    let count = count as f32;
                    out_px.iter_mut().for_each(|o| *o = act.apply(*o / count));
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

    fn geom(kind: PoolKind, in_hw: (u32, u32), out_hw: (u32, u32), k: u32, s: u32) -> PoolGeom {
        PoolGeom {
            kind,
            n: 1,
            in_h: in_hw.0,
            in_w: in_hw.1,
            c: 1,
            out_h: out_hw.0,
            out_w: out_hw.1,
            k_h: k,
            k_w: k,
            stride_h: s,
            stride_w: s,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
            count_include_pad: false,
        }
    }

    fn ramp(len: usize) -> Vec<f32> {
        (1..=len).map(|v| v as f32).collect()
    }

    fn run(g: &PoolGeom, x: &[f32]) -> Vec<f32> {
        let mut out = vec![f32::NAN; pool_lens(g).unwrap().1];
        pool_f32(g, x, ClampF32::NONE, &mut out).unwrap();
        out
    }

    /// 2x2 / 2 max pool on the 4x4 ramp 1..=16 -> maxima of the quadrants.
    #[test]
    fn max_2x2() {
        let g = geom(PoolKind::Max, (4, 4), (2, 2), 2, 2);
        assert_eq!(run(&g, &ramp(16)), [6.0, 8.0, 14.0, 16.0]);
    }

    /// 3x3 / 1, pads 1 on the 3x3 ramp 1..=9:
    /// corner (0,0) sees 1+2+4+5 = 12 over 4 valid / 9 padded cells; edge (0,1)
    /// sees 1+2+3+4+5+6 = 21 over 6 / 9; the centre sees 45 over 9 / 9.
    #[test]
    fn avg_count_include_pad() {
        let mut g = geom(PoolKind::Avg, (3, 3), (3, 3), 3, 1);
        (g.pad_top, g.pad_left, g.pad_bottom, g.pad_right) = (1, 1, 1, 1);
        let out = run(&g, &ramp(9));
        assert_eq!([out[0], out[1], out[4]], [3.0, 3.5, 5.0]);
        g.count_include_pad = true;
        let out = run(&g, &ramp(9));
        assert_eq!([out[0], out[1], out[4]], [12.0 / 9.0, 21.0 / 9.0, 5.0]);
    }

    /// ceil_mode: 2x2 / 2 on the 3x3 ramp gives 2x2 outputs; the last row/column of
    /// windows hangs past the input and those cells are never counted:
    /// (0,0) = (1+2+4+5)/4, (0,1) = (3+6)/2, (1,0) = (7+8)/2, (1,1) = 9/1.
    #[test]
    fn ceil_mode_windows() {
        for include_pad in [false, true] {
            let mut g = geom(PoolKind::Avg, (3, 3), (2, 2), 2, 2);
            g.count_include_pad = include_pad;
            assert_eq!(run(&g, &ramp(9)), [3.0, 4.5, 7.5, 9.0]);
        }
        let g = geom(PoolKind::Max, (3, 3), (2, 2), 2, 2);
        assert_eq!(run(&g, &ramp(9)), [5.0, 6.0, 8.0, 9.0]);
    }

    /// ceil_mode with pads: 3x3 / 2, pads 1 on the 4x4 ramp -> 3x3 outputs (floor
    /// would give 2). Window (2,2) covers padded rows/cols 4..=6, i.e. input rows 3
    /// (real), 4 (bottom pad), 5 (ceil extra): it holds in(3,3) = 16, counted over
    /// 1 valid cell or 2x2 padded cells. Window (0,0) holds 1+2+5+6 = 14 over 4 or 9.
    #[test]
    fn ceil_mode_with_pads() {
        let mut g = geom(PoolKind::Avg, (4, 4), (3, 3), 3, 2);
        (g.pad_top, g.pad_left, g.pad_bottom, g.pad_right) = (1, 1, 1, 1);
        let out = run(&g, &ramp(16));
        assert_eq!([out[0], out[8]], [3.5, 16.0]);
        g.count_include_pad = true;
        let out = run(&g, &ramp(16));
        assert_eq!([out[0], out[8]], [14.0 / 9.0, 4.0]);
    }

    /// Windows entirely in the padding: max gives act(-inf), average act(0).
    #[test]
    fn window_without_input_cells() {
        let mut g = geom(PoolKind::Max, (1, 1), (3, 1), 1, 1);
        g.pad_top = 2; // rows -2, -1 are padding
        assert_eq!(run(&g, &[5.0]), [f32::NEG_INFINITY, f32::NEG_INFINITY, 5.0]);
        let relu = ClampF32 {
            min: 0.0,
            max: f32::INFINITY,
        };
        let mut out = [1.0f32; 3];
        pool_f32(&g, &[5.0], relu, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 5.0]);
        g.kind = PoolKind::Avg;
        assert_eq!(run(&g, &[5.0]), [0.0, 0.0, 5.0]);
        g.count_include_pad = true;
        assert_eq!(run(&g, &[5.0]), [0.0, 0.0, 5.0]);
    }

    /// Two channels, dilation 2: a 2x2 max window over taps (0,0),(0,2),(2,0),(2,2).
    #[test]
    fn dilated_two_channels() {
        let mut g = geom(PoolKind::Max, (3, 3), (1, 1), 2, 1);
        (g.c, g.dil_h, g.dil_w) = (2, 2, 2);
        // channel 0: ramp 1..=9; channel 1: its negation
        let x: Vec<f32> = (1..=9).flat_map(|v| [v as f32, -(v as f32)]).collect();
        assert_eq!(run(&g, &x), [9.0, -1.0]);
    }

    #[test]
    fn errors() {
        let g = geom(PoolKind::Max, (4, 4), (2, 2), 2, 2);
        let x = ramp(16);
        let mut out = [0.0f32; 4];
        let act = ClampF32::NONE;
        assert_eq!(
            pool_f32(&g, &x[1..], act, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            pool_f32(&g, &x, act, &mut out[1..]),
            Err(Error::BadGeometry)
        );
        type Edit = fn(&mut PoolGeom);
        let cases: [(Edit, Error); 5] = [
            (|g| g.stride_w = 0, Error::InvalidParameter),
            (|g| g.dil_h = 0, Error::InvalidParameter),
            (|g| g.c = 0, Error::InvalidParameter),
            (|g| g.out_h = 3, Error::BadGeometry), // window 3 starts at row 4
            (
                |g| (g.n, g.in_h, g.in_w, g.c) = (u32::MAX, u32::MAX, u32::MAX, 9),
                Error::Overflow,
            ),
        ];
        for (edit, err) in cases {
            let mut bad = g;
            edit(&mut bad);
            assert_eq!(pool_lens(&bad), Err(err), "{bad:?}");
        }
        let mut padded = g;
        (padded.out_h, padded.pad_bottom) = (3, 1);
        assert!(pool_lens(&padded).is_ok());
    }

    #[derive(Clone, Copy)]
    enum Cell {
        Input(f32),
        Pad,
        Outside,
    }

    /// Reference pooling: materializes each (image, channel) plane as a padded grid
    /// of cells (input, explicit pad, or outside the pads), large enough for every
    /// window, then reduces each window over that grid.
    fn reference(g: &PoolGeom, x: &[f32], act: ClampF32) -> Vec<f32> {
        let [n, ih, iw, c, oh, ow, kh, kw] =
            [g.n, g.in_h, g.in_w, g.c, g.out_h, g.out_w, g.k_h, g.k_w].map(|v| v as usize);
        let [sh, sw, dh, dw, pt, pl, pb, pr] = [
            g.stride_h,
            g.stride_w,
            g.dil_h,
            g.dil_w,
            g.pad_top,
            g.pad_left,
            g.pad_bottom,
            g.pad_right,
        ]
        .map(|v| v as usize);
        let gh = (pt + ih + pb).max((oh - 1) * sh + (kh - 1) * dh + 1);
        let gw = (pl + iw + pr).max((ow - 1) * sw + (kw - 1) * dw + 1);
        let mut out = vec![0.0; n * oh * ow * c];
        for b in 0..n {
            for ch in 0..c {
                let mut grid = vec![Cell::Outside; gh * gw];
                for y in 0..gh {
                    for xx in 0..gw {
                        let in_pads = y < pt + ih + pb && xx < pl + iw + pr;
                        let in_input = (pt..pt + ih).contains(&y) && (pl..pl + iw).contains(&xx);
                        grid[y * gw + xx] = if in_input {
                            Cell::Input(x[((b * ih + y - pt) * iw + xx - pl) * c + ch])
                        } else if in_pads {
                            Cell::Pad
                        } else {
                            Cell::Outside
                        };
                    }
                }
                for y in 0..oh {
                    for xx in 0..ow {
                        let (mut max, mut sum, mut n_in, mut n_pad) =
                            (f32::NEG_INFINITY, 0.0f32, 0, 0);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                match grid[(y * sh + ky * dh) * gw + xx * sw + kx * dw] {
                                    Cell::Input(v) => {
                                        max = max.max(v);
                                        sum += v;
                                        n_in += 1;
                                    }
                                    Cell::Pad => n_pad += 1,
                                    Cell::Outside => {}
                                }
                            }
                        }
                        let count = if g.count_include_pad {
                            n_in + n_pad
                        } else {
                            n_in
                        };
                        let v = match g.kind {
                            PoolKind::Max => max,
                            PoolKind::Avg if count == 0 => 0.0,
                            PoolKind::Avg => sum / count as f32,
                        };
                        out[((b * oh + y) * ow + xx) * c + ch] = act.apply(v);
                    }
                }
            }
        }
        out
    }

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

    /// Output count along one axis: the largest valid count (ceil-like) or fewer.
    fn out_size(inp: u32, pads: u32, stride: u32, pick: u32) -> u32 {
        let max = (inp + pads - 1) / stride + 1;
        if pick.is_multiple_of(2) {
            max
        } else {
            1 + pick % max
        }
    }

    fn pool_geom() -> impl Strategy<Value = PoolGeom> {
        (
            (
                any::<bool>(),
                any::<bool>(),
                1u32..=2,
                1u32..=6,
                1u32..=6,
                1u32..=3,
            ),
            (1u32..=3, 1u32..=3, 1u32..=3, 1u32..=3, 1u32..=2, 1u32..=2),
            (0u32..=2, 0u32..=2, 0u32..=2, 0u32..=2, 0u32..8, 0u32..8),
        )
            .prop_map(
                |(
                    (max, include_pad, n, in_h, in_w, c),
                    (k_h, k_w, stride_h, stride_w, dil_h, dil_w),
                    (pt, pl, pb, pr, ph, pw),
                )| {
                    PoolGeom {
                        kind: if max { PoolKind::Max } else { PoolKind::Avg },
                        n,
                        in_h,
                        in_w,
                        c,
                        out_h: out_size(in_h, pt + pb, stride_h, ph),
                        out_w: out_size(in_w, pl + pr, stride_w, pw),
                        k_h,
                        k_w,
                        stride_h,
                        stride_w,
                        dil_h,
                        dil_w,
                        pad_top: pt,
                        pad_left: pl,
                        pad_bottom: pb,
                        pad_right: pr,
                        count_include_pad: include_pad,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Both kinds, strides, asymmetric pads, dilation, ceil-like extra windows:
        /// equal (bit for bit: same summation order) to the materialized reference.
        #[test]
        fn matches_reference(g in pool_geom(), seed: u64, clamp: bool) {
            let (il, ol) = pool_lens(&g).unwrap();
            let x = data(seed, il);
            let act = if clamp { ClampF32 { min: -0.25, max: 0.5 } } else { ClampF32::NONE };
            let mut out = vec![f32::NAN; ol];
            pool_f32(&g, &x, act, &mut out).unwrap();
            let want = reference(&g, &x, act);
            prop_assert_eq!(&out, &want, "{:?}", g);
        }
    }
}
