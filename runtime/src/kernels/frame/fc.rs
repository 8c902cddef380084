//! The fc test frame: random cases (rows, reduction lengths 0..=70 and up to 700,
//! output counts, zero points, per-output multipliers, clamps), an independent
//! reference, and the property tests every twin of
//! [`crate::kernels::fc::scalar::fc_i8`] must pass bit-exact.

use crate::format::schema::{Buf, FcI8, Mem, Requant};
use crate::kernels::RequantParams;
use crate::quant::quantize_multiplier;
use proptest::prelude::*;
extern crate std;

use std::vec;
use std::vec::Vec;

/// Exact requantization from the documented formula, in i128.
fn rq_exact(acc: i64, mult: i32, shift: i32) -> i64 {
    let den = 1i128 << (31 - shift);
    let v = (acc as i128 * mult as i128 + den / 2).div_euclid(den);
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

const NO_BUF: Buf = Buf {
    mem: Mem::Arena,
    offset: 0,
    len: 0,
};

pub(crate) fn params(rows: u32, k: u32, n: u32, input_offset: i32, weight_offset: i32) -> FcI8 {
    FcI8 {
        rows,
        k,
        n,
        input: NO_BUF,
        weights: NO_BUF,
        bias: None,
        output: NO_BUF,
        input_offset,
        weight_offset,
        rq: Requant {
            mult: NO_BUF,
            shift: NO_BUF,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        },
        packed: None,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) rows: usize,
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) input: Vec<i8>,
    pub(crate) weights: Vec<i8>,
    pub(crate) bias: Option<Vec<i32>>,
    pub(crate) ioff: i32,
    pub(crate) woff: i32,
    pub(crate) mult: Vec<i32>,
    pub(crate) shift: Vec<i32>,
    pub(crate) oo: i32,
    pub(crate) lo: i32,
    pub(crate) hi: i32,
}

/// Independent reference: the expanded form CMSIS-NN precomputes,
/// `sum x*w + woff * sum x + ioff * sum w + k * ioff * woff`, in i64; i128 requant.
pub(crate) fn reference(c: &Case) -> Vec<i8> {
    let mut out = vec![0i8; c.rows * c.n];
    let (io, wo) = (c.ioff as i64, c.woff as i64);
    for r in 0..c.rows {
        let x: Vec<i64> = (0..c.k).map(|i| c.input[r * c.k + i] as i64).collect();
        let sx: i64 = x.iter().sum();
        for j in 0..c.n {
            let w: Vec<i64> = (0..c.k).map(|i| c.weights[j * c.k + i] as i64).collect();
            let sw: i64 = w.iter().sum();
            let xw: i64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
            let b = c.bias.as_ref().map_or(0, |b| b[j] as i64);
            let acc = b + xw + wo * sx + io * sw + c.k as i64 * io * wo;
            let v = (rq_exact(acc, c.mult[j], c.shift[j]) + c.oo as i64)
                .clamp(c.lo as i64, c.hi as i64);
            out[r * c.n + j] = v as i8;
        }
    }
    out
}

/// Cases with reduction length `k` in `0..=max_k`.
pub(crate) fn case(max_k: usize) -> impl Strategy<Value = Case> {
    (1usize..=4, 0usize..=max_k, 1usize..=9)
        .prop_flat_map(|(rows, k, n)| {
            (
                Just((rows, k, n)),
                proptest::collection::vec(any::<i8>(), rows * k),
                proptest::collection::vec(any::<i8>(), n * k),
                proptest::option::of(proptest::collection::vec(-100_000i32..100_000, n)),
                (-128i32..=127, prop_oneof![Just(0i32), -127i32..=128]),
                proptest::collection::vec(
                    prop_oneof![
                        3 => (1e-4f64).ln()..(5e-3f64).ln(),
                        1 => (1e-4f64).ln()..(0.9f64).ln(),
                    ]
                    .prop_map(|l| quantize_multiplier(l.exp()).unwrap()),
                    n,
                ),
                (
                    -128i32..=127,
                    prop_oneof![
                        Just((-128i32, 127i32)),
                        (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
                    ],
                ),
            )
        })
        .prop_map(
            |((rows, k, n), input, weights, bias, (zp, woff), m, (oo, (lo, hi)))| Case {
                rows,
                k,
                n,
                input,
                weights,
                bias,
                ioff: -zp,
                woff,
                mult: m.iter().map(|v| v.0).collect(),
                shift: m.iter().map(|v| v.1).collect(),
                oo,
                lo,
                hi,
            },
        )
}

/// Run every runnable twin on `c` and compare with the reference.
fn check_twins(c: &Case) -> Result<(), TestCaseError> {
    let want = reference(c);
    let p = params(c.rows as u32, c.k as u32, c.n as u32, c.ioff, c.woff);
    let rq = RequantParams {
        mult: &c.mult,
        shift: &c.shift,
        output_offset: c.oo,
        act_min: c.lo,
        act_max: c.hi,
    };
    for (name, f) in crate::kernels::frame::runnable("fc", crate::kernels::fc::TWINS) {
        let mut out = vec![0i8; c.rows * c.n];
        let r = f(&p, &c.input, &c.weights, c.bias.as_deref(), &rq, &mut out);
        prop_assert_eq!(r, Ok(()), "fc twin {}", name);
        prop_assert_eq!(
            &out,
            &want,
            "fc twin {} rows {} k {} n {}",
            name,
            c.rows,
            c.k,
            c.n
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::kernels::frame::cases()))]

    #[test]
    fn twins(c in case(70)) { check_twins(&c)?; }

    /// Long rows, including some over the DSP row (scalar fallback).
    #[test]
    fn twins_long(c in case(700)) { check_twins(&c)?; }
}

/// More outputs than one NEON block of effective biases (256), long rows, and
/// the extreme input offsets.
#[test]
#[cfg_attr(
    miri,
    ignore = "SIMD blocking sizes: under Miri only the scalar kernel runs (the property tests cover it)"
)]
fn twins_many_outputs() {
    for (k, n, ioff) in [(33, 300, 128), (700, 260, -127), (5000, 3, 7)] {
        let rows = 2;
        let c = Case {
            rows,
            k,
            n,
            input: (0..rows * k).map(|i| (i * 7 % 251) as i8).collect(),
            weights: (0..n * k).map(|i| (i * 13 % 241) as i8).collect(),
            bias: Some((0..n).map(|i| (i as i32 - 100) * 37).collect()),
            ioff,
            woff: 0,
            mult: vec![1 << 30; n],
            shift: vec![-12; n],
            oo: -3,
            lo: -128,
            hi: 127,
        };
        let mut v = reference(&c);
        let all = v.len();
        v.sort_unstable();
        v.dedup();
        assert!(v.len() >= all.min(8), "degenerate case: outputs {v:?}");
        check_twins(&c).unwrap();
    }
}
