//! The conv test frame: random cases (shapes, strides, pads, dilations, groups,
//! depthwise, odd channel counts, zero points, per-channel multipliers), an
//! independent reference, and the property tests every twin of
//! [`crate::kernels::conv::scalar::conv_i8`] must pass bit-exact.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::conv::ConvI8Fn;
use crate::kernels::conv::float::conv_lens;
use crate::kernels::conv::scalar::conv_i8;
use crate::quant::quantize_multiplier;
use proptest::prelude::*;
extern crate std;

use std::vec;
use std::vec::Vec;

/// Exact requantization from the documented formula, in i128:
/// `floor((acc * mult + 2^(30 - shift)) / 2^(31 - shift))`, saturated to i32.
fn rq_exact(acc: i64, mult: i32, shift: i32) -> i64 {
    let den = 1i128 << (31 - shift);
    let v = (acc as i128 * mult as i128 + den / 2).div_euclid(den);
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) g: ConvGeom,
    pub(crate) pad_bottom: u32,
    pub(crate) pad_right: u32,
    pub(crate) input: Vec<i8>,
    pub(crate) weights: Vec<i8>,
    pub(crate) bias: Option<Vec<i32>>,
    pub(crate) input_offset: i32,
    pub(crate) weight_offset: i32,
    pub(crate) mult: Vec<i32>,
    pub(crate) shift: Vec<i32>,
    pub(crate) output_offset: i32,
    pub(crate) act_min: i32,
    pub(crate) act_max: i32,
}

impl Case {
    pub(crate) fn rq(&self) -> RequantParams<'_> {
        RequantParams {
            mult: &self.mult,
            shift: &self.shift,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }
    /// Run the scalar kernel.
    pub(crate) fn run(&self) -> Result<Vec<i8>, Error> {
        self.run_with(conv_i8)
    }
    /// Run one twin.
    pub(crate) fn run_with(&self, f: ConvI8Fn) -> Result<Vec<i8>, Error> {
        let (_, _, o) = conv_lens(&self.g)?;
        let mut out = vec![0i8; o];
        f(
            &self.g,
            &self.input,
            &self.weights,
            self.bias.as_deref(),
            self.input_offset,
            self.weight_offset,
            &self.rq(),
            &mut out,
        )?;
        Ok(out)
    }
}

/// Independent reference: NCHW, an explicitly zero-point-padded input, OIHW
/// weights, i64 sums and exact i128 requantization. Returns NHWC like the kernel.
pub(crate) fn reference(c: &Case) -> Vec<i8> {
    let g = &c.g;
    let (n, ih, iw, ic) = (
        g.n as usize,
        g.in_h as usize,
        g.in_w as usize,
        g.in_c as usize,
    );
    let (oh, ow, oc) = (g.out_h as usize, g.out_w as usize, g.out_c as usize);
    let (kh, kw) = (g.k_h as usize, g.k_w as usize);
    let (sh, sw, dh, dw) = (
        g.stride_h as usize,
        g.stride_w as usize,
        g.dil_h as usize,
        g.dil_w as usize,
    );
    let (pt, pl) = (g.pad_top as usize, g.pad_left as usize);
    let groups = g.groups as usize;
    let (icg, ocg) = (ic / groups, oc / groups);
    let zp = -(c.input_offset as i64);
    // Padded NCHW input; the padded height/width cover every window.
    let ph = (ih + pt + c.pad_bottom as usize).max((oh - 1) * sh + (kh - 1) * dh + 1);
    let pw = (iw + pl + c.pad_right as usize).max((ow - 1) * sw + (kw - 1) * dw + 1);
    let mut xp = vec![zp; n * ic * ph * pw];
    for b in 0..n {
        for ch in 0..ic {
            for y in 0..ih {
                for x in 0..iw {
                    xp[((b * ic + ch) * ph + y + pt) * pw + x + pl] =
                        c.input[((b * ih + y) * iw + x) * ic + ch] as i64;
                }
            }
        }
    }
    // OIHW weights.
    let mut w = vec![0i64; oc * icg * kh * kw];
    for o in 0..oc {
        for y in 0..kh {
            for x in 0..kw {
                for i in 0..icg {
                    w[((o * icg + i) * kh + y) * kw + x] =
                        c.weights[((o * kh + y) * kw + x) * icg + i] as i64;
                }
            }
        }
    }
    let mut out = vec![0i8; n * oh * ow * oc];
    for b in 0..n {
        for o in 0..oc {
            let grp = o / ocg;
            for y in 0..oh {
                for x in 0..ow {
                    let mut acc: i64 = c.bias.as_ref().map_or(0, |bb| bb[o] as i64);
                    for i in 0..icg {
                        let ch = grp * icg + i;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let xv = xp[((b * ic + ch) * ph + y * sh + ky * dh) * pw
                                    + x * sw
                                    + kx * dw];
                                let wv = w[((o * icg + i) * kh + ky) * kw + kx];
                                acc += (xv + c.input_offset as i64) * (wv + c.weight_offset as i64);
                            }
                        }
                    }
                    let v = rq_exact(acc, c.mult[o], c.shift[o]) + c.output_offset as i64;
                    let v = v.clamp(c.act_min as i64, c.act_max as i64);
                    out[((b * oh + y) * ow + x) * oc + o] = v as i8;
                }
            }
        }
    }
    out
}

/// A per-channel multiplier from a log-uniform real in [1e-4, 0.9], mostly below
/// 5e-3 so that most outputs land inside the int8 range rather than at the clamp.
fn multiplier() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        3 => (1e-4f64).ln()..(5e-3f64).ln(),
        1 => (1e-4f64).ln()..(0.9f64).ln(),
    ]
    .prop_map(|l| quantize_multiplier(l.exp()).unwrap())
}

/// Output zero point and clamp: the full int8 range half of the time.
fn out_params() -> impl Strategy<Value = (i32, i32, i32)> {
    (
        -128i32..=127,
        prop_oneof![
            Just((-128i32, 127i32)),
            (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
        ],
    )
        .prop_map(|(o, (lo, hi))| (o, lo, hi))
}

/// Output size along one axis from (in, k, stride, dil, pad_begin, pad_end); the end
/// pad is grown so that at least one window fits, and windows that would start
/// inside the end padding are dropped (`conv_lens` rejects them).
fn axis(inp: u32, k: u32, s: u32, d: u32, pb: u32, pe: u32) -> (u32, u32) {
    let eff = (k - 1) * d + 1;
    let pe = pe.max(eff.saturating_sub(inp + pb));
    let mut out = (inp + pb + pe - eff) / s + 1;
    while out > 1 && (out - 1) * s >= inp + pb {
        out -= 1;
    }
    (out, pe)
}

/// `kind`: 0 general, 1 pointwise, 2 depthwise, 3 dense (one group, up to 20 input
/// channels, 5x5 kernels, odd output channel counts), 4 first layer (one input
/// channel, 3x3 to 5x5 kernels, zero to two pixels of padding), 5 wide rows
/// (one group, symmetric weights, rows of 4 to 23 input pixels: every tail of
/// the SIMD kernels' pixel steps, 1 to 40 output channels, odd and even runs),
/// 6 single-channel rows (one input channel, symmetric weights, rows of 1 to
/// 40 input pixels: every tail of the eight- and sixteen-pixel steps of the
/// AVX2 single-channel loop, 1 to 24 output channels: one partial group, whole
/// groups, both), 7 Winograd (3x3, stride and dilation 1, one group, symmetric
/// weights, 8 to 40 input channels, 1 to 24 output channels, rows of 1 to 9
/// input pixels: odd and even output sizes, every tail of the loop's tile
/// steps).
pub(crate) fn case(kind: u8) -> impl Strategy<Value = Case> {
    let dims = (
        1u32..=2, // n
        1u32..=6, // in_h
        1u32..=6, // in_w
        1u32..=3, // groups
        1u32..=3, // in_c per group
        1u32..=3, // out_c per group
        (1u32..=3, 1u32..=3),
        (1u32..=3, 1u32..=3),
        (1u32..=2, 1u32..=2),
        (0u32..=2, 0u32..=2, 0u32..=2, 0u32..=2),
        0u32..=19, // extra entropy for kinds 3 and 4
    );
    dims.prop_flat_map(move |(n, ih, iw, gr, icg, ocg, k, s, d, p, x)| {
        let (mut gr, mut icg, mut ocg, mut k, mut s, mut p) = (gr, icg, ocg, k, s, p);
        let mut d = d;
        let mut iw = iw;
        match kind {
            1 => {
                gr = 1;
                icg += 2 * ocg; // up to 9 channels
                ocg += icg % 3;
                k = (1, 1);
                s = (1, 1);
                p = (0, 0, 0, 0);
            }
            2 => {
                // groups == in_c: 3..=9 channels, or 33..=37 to cross the
                // DW_BLOCK accumulator blocks (up to 74 output channels).
                gr = if gr == 3 { 31 + 2 * icg } else { gr + 2 * icg };
                icg = 1;
                ocg = ocg.min(2); // channel multiplier 1 or 2
            }
            3 => {
                gr = 1;
                icg = 1 + x; // 1..=20: rows of every length modulo 4
                ocg = 2 * ocg + x % 5; // 2..=10, odd and even
                k = (k.0 + x % 3, k.1 + (x / 3) % 3); // up to 5x5
            }
            4 => {
                gr = 1;
                icg = 1;
                ocg = 1 + x % 8;
                k = (3 + x % 3, 3 + x % 3);
            }
            6 => {
                gr = 1;
                icg = 1;
                iw = 1 + (x * 2 + iw) % 40; // 1..=40
                ocg = 1 + (11 * x + 3 * ocg + icg) % 24;
                k = (k.0, 1 + (x + k.1) % 7); // rows of 1 to 7 taps
                if x % 4 != 0 {
                    // Mostly the loop's own geometry: stride and dilation 1
                    // along rows.
                    s.1 = 1;
                    d.1 = 1;
                }
            }
            7 => {
                gr = 1;
                icg = 8 + (7 * x + icg) % 33; // 8..=40
                ocg = 1 + (13 * x + 5 * ocg + icg) % 24;
                iw = 1 + (x + 3 * iw) % 9;
                k = (3, 3);
                s = (1, 1);
                d = (1, 1);
            }
            5 => {
                gr = 1;
                iw = 4 + x; // 4..=23
                icg = 1 + (7 * x + ocg + icg) % 20;
                ocg = 1 + (13 * x + 5 * icg + ocg) % 40;
            }
            _ => {}
        }
        let (oh, pb) = axis(ih, k.0, s.0, d.0, p.0, p.2);
        let (ow, pr) = axis(iw, k.1, s.1, d.1, p.1, p.3);
        let g = ConvGeom {
            n,
            in_h: ih,
            in_w: iw,
            in_c: gr * icg,
            out_h: oh,
            out_w: ow,
            out_c: gr * ocg,
            k_h: k.0,
            k_w: k.1,
            stride_h: s.0,
            stride_w: s.1,
            dil_h: d.0,
            dil_w: d.1,
            pad_top: p.0,
            pad_left: p.1,
            groups: gr,
        };
        let (il, wl, _) = conv_lens(&g).unwrap();
        let oc = g.out_c as usize;
        (
            Just((g, pb, pr)),
            proptest::collection::vec(any::<i8>(), il),
            proptest::collection::vec(any::<i8>(), wl),
            proptest::option::of(proptest::collection::vec(-40_000i32..40_000, oc)),
            (
                -128i32..=127,
                prop_oneof![Just(0i32), -127i32..=128]
                    .prop_map(move |w| if kind >= 5 { 0 } else { w }),
            ),
            proptest::collection::vec(multiplier(), oc),
            out_params(),
        )
    })
    .prop_map(
        |((g, pb, pr), input, weights, bias, (zp, woff), m, (oo, a0, a1))| Case {
            g,
            pad_bottom: pb,
            pad_right: pr,
            input,
            weights,
            bias,
            input_offset: -zp,
            weight_offset: woff,
            mult: m.iter().map(|x| x.0).collect(),
            shift: m.iter().map(|x| x.1).collect(),
            output_offset: oo,
            act_min: a0,
            act_max: a1,
        },
    )
}

/// Run every runnable twin on `c` and compare with the reference.
fn check_twins(c: &Case) -> Result<(), TestCaseError> {
    let want = reference(c);
    for (name, f) in crate::kernels::frame::runnable("conv", crate::kernels::conv::TWINS) {
        let got = c.run_with(f);
        prop_assert_eq!(got.as_ref(), Ok(&want), "conv twin {} on {:?}", name, c.g);
    }
    Ok(())
}

/// `c`'s first image computed in parts of output rows, cut before rows
/// `cuts` (each part through [`crate::kernels::conv::rows_part`], with the
/// fastest twin of the build, as `Interpreter::invoke_threaded` runs them),
/// and the reference's bytes for that image.
fn in_row_parts(c: &Case, cuts: &[u32]) -> Result<(Vec<i8>, Vec<i8>), Error> {
    in_row_parts_packed(c, cuts, None)
}

/// [`in_row_parts`] with every part given `packed` weights (the same for
/// every part: they depend on the kernel and channels only).
fn in_row_parts_packed(
    c: &Case,
    cuts: &[u32],
    packed: Option<crate::kernels::conv::Packed<'_>>,
) -> Result<(Vec<i8>, Vec<i8>), Error> {
    let mut one = c.clone();
    one.g.n = 1;
    one.input
        .truncate((one.g.in_h * one.g.in_w * one.g.in_c) as usize);
    let want = reference(&one);
    let mut out = vec![0i8; want.len()];
    let mut bounds: Vec<u32> = cuts.iter().map(|&r| r % one.g.out_h).collect();
    bounds.extend([0, one.g.out_h]);
    bounds.sort_unstable();
    bounds.dedup();
    for rows in bounds.windows(2) {
        let (part, input, output) =
            crate::kernels::conv::rows_part(&one.g, rows[0]..rows[1]).ok_or(Error::BadGeometry)?;
        crate::kernels::conv::conv_i8(
            &part,
            &one.input[input],
            &one.weights,
            packed,
            one.bias.as_deref(),
            one.input_offset,
            one.weight_offset,
            &one.rq(),
            &mut out[output],
        )?;
    }
    Ok((out, want))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::kernels::frame::cases()))]

    /// Output rows computed in parts give the whole convolution's bytes.
    #[test]
    fn row_parts_give_the_whole(
        c in case(0),
        cuts in proptest::collection::vec(0u32..64, 0..4),
    ) {
        let (got, want) = in_row_parts(&c, &cuts).map_err(|e| TestCaseError::fail(std::format!("{e:?}")))?;
        prop_assert_eq!(got, want, "{:?} cut at {:?}", c.g, cuts);
    }

    #[test]
    fn twins_general(c in case(0)) { check_twins(&c)?; }

    #[test]
    fn twins_pointwise(c in case(1)) { check_twins(&c)?; }

    #[test]
    fn twins_depthwise(c in case(2)) { check_twins(&c)?; }

    #[test]
    fn twins_dense(c in case(3)) { check_twins(&c)?; }

    #[test]
    fn twins_first_layer(c in case(4)) { check_twins(&c)?; }

    #[test]
    fn twins_wide_rows(c in case(5)) { check_twins(&c)?; }

    #[test]
    fn twins_single_channel_rows(c in case(6)) { check_twins(&c)?; }

    #[test]
    fn twins_winograd(c in case(7)) { check_twins(&c)?; }

    /// Output rows computed in parts with the Winograd loop's weights (as
    /// `Interpreter::invoke_threaded` runs a model packed for it) give the
    /// whole convolution's bytes: parts of odd heights end in half tiles.
    #[test]
    fn winograd_row_parts_give_the_whole(
        c in case(7),
        cuts in proptest::collection::vec(0u32..64, 0..4),
    ) {
        let u = crate::kernels::conv::pack::packed_winograd(&c.g, c.weight_offset, &c.weights)
            .map_err(|e| TestCaseError::fail(std::format!("{e:?}")))?
            .ok_or_else(|| TestCaseError::fail("not a Winograd geometry"))?;
        let packed = crate::kernels::conv::Packed {
            kind: crate::format::schema::PackKind::Avx2WinogradI16,
            values: &u,
        };
        let (got, want) = in_row_parts_packed(&c, &cuts, Some(packed))
            .map_err(|e| TestCaseError::fail(std::format!("{e:?}")))?;
        prop_assert_eq!(got, want, "{:?} cut at {:?}", c.g, cuts);
    }
}

/// The Winograd loop at the ends of its ranges: the most input channels it
/// runs ([`crate::kernels::conv::pack::WINOGRAD_MAX_IN_C`]) with every
/// product at its largest magnitude (`(x + input_offset) * w = -255 * -128`,
/// and `-255 * 127`; a few pixels of 0), so that `4 *` each sum is as close to
/// `2^31` as the loop allows, and the fewest.
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_winograd_extremes() {
    use crate::kernels::conv::pack::{WINOGRAD_MAX_IN_C, WINOGRAD_MIN_IN_C};
    for (in_c, sign) in [
        (WINOGRAD_MAX_IN_C, -128i8),
        (WINOGRAD_MAX_IN_C, 127),
        (WINOGRAD_MIN_IN_C, -128),
    ] {
        let g = geom(4, in_c, 9, 3, 1);
        let mut c = fixed_case(g, -127, 0, -8);
        // -255 after the offset, and four pixels of 0.
        c.input.fill(-128);
        for at in [0, 5, 10, 15] {
            let at = at * in_c as usize;
            c.input[at..at + in_c as usize].fill(127);
        }
        c.weights.fill(sign);
        c.mult.fill(1 << 30);
        c.shift.fill(-24);
        c.bias = None;
        check_twins(&c).unwrap();
        let sum = 9 * i64::from(in_c) * 255 * 128;
        assert!(4 * sum < 1 << 31, "the case is within the loop's range");
    }
}

/// A fixed case with deterministic pseudo-random data: the SIMD twins' fallbacks
/// and blocking (long windows, many output channels).
fn fixed_case(g: ConvGeom, input_offset: i32, weight_offset: i32, shift: i32) -> Case {
    let (il, wl, _) = conv_lens(&g).unwrap();
    let oc = g.out_c as usize;
    Case {
        g,
        pad_bottom: 0,
        pad_right: 0,
        input: (0..il).map(|i| (i * 7 % 251) as i8).collect(),
        weights: (0..wl).map(|i| (i * 13 % 241) as i8).collect(),
        bias: Some((0..oc).map(|i| (i as i32 - 100) * 37).collect()),
        input_offset,
        weight_offset,
        mult: vec![1 << 30; oc],
        shift: vec![shift; oc],
        output_offset: 1,
        act_min: -128,
        act_max: 127,
    }
}

/// [`check_twins`] on a case whose reference output has at least 8 distinct
/// values, or only distinct ones (so that it tells kernels apart).
fn check_fixed(c: &Case) {
    let mut v = reference(c);
    let all = v.len();
    v.sort_unstable();
    v.dedup();
    assert!(v.len() >= all.min(8), "degenerate case: outputs {v:?}");
    check_twins(c).unwrap();
}

/// A square one-group convolution, stride 1, the output size its padding gives
/// (`hw + 2 * pad >= k`).
pub(crate) fn geom(hw: u32, in_c: u32, out_c: u32, k: u32, pad: u32) -> ConvGeom {
    ConvGeom {
        n: 1,
        in_h: hw,
        in_w: hw,
        in_c,
        out_h: hw + 2 * pad + 1 - k,
        out_w: hw + 2 * pad + 1 - k,
        out_c,
        k_h: k,
        k_w: k,
        stride_h: 1,
        stride_w: 1,
        dil_h: 1,
        dil_w: 1,
        pad_top: pad,
        pad_left: pad,
        groups: 1,
    }
}

/// A window longer than the DSP rows (`5 * 5 * 30 = 750` values) takes the scalar
/// fallback of the DSP kernel, with the same result; with a weight zero point
/// every SIMD twin falls back.
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_long_window() {
    let mut g = geom(5, 30, 3, 5, 0);
    (g.in_h, g.out_h) = (6, 2);
    check_fixed(&fixed_case(g, 3, -2, -12));
    check_fixed(&fixed_case(g, 3, 0, -12));
}

/// Windows longer than the AVX2 and NEON rows (`3 * 3 * 456 = 4104` values), and
/// just within them (`3 * 3 * 455 = 4095`).
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_longer_than_simd_rows() {
    check_fixed(&fixed_case(geom(3, 456, 5, 3, 1), -127, 0, -12));
    check_fixed(&fixed_case(geom(3, 455, 5, 3, 1), 128, 0, -12));
}

/// Depthwise convolutions over several NEON channel blocks (128 channels of
/// 7x7 taps, 256 of 5x5), partial groups of 16 channels, and strides.
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_depthwise_blocks() {
    for (c, k, pad, stride, io) in [(300, 7, 3, 1, 128), (261, 5, 2, 2, -127), (19, 3, 1, 1, 5)] {
        let mut g = geom(5, c, c, k, pad);
        g.groups = c;
        g.stride_h = stride;
        g.stride_w = stride;
        g.out_h = (5 + 2 * pad - k) / stride + 1;
        g.out_w = g.out_h;
        check_fixed(&fixed_case(g, io, 0, -6));
    }
}

/// More output channels than one NEON block of effective biases (256), with
/// padding and the extreme input offsets.
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_many_channels() {
    check_fixed(&fixed_case(geom(4, 5, 261, 3, 1), 128, 0, -8));
    check_fixed(&fixed_case(geom(4, 5, 261, 3, 1), -127, 0, -8));
}
