//! int8 fully connected layer, the portable reference kernel.
//!
//! ```text
//! acc[r][j] = bias[j] + sum_k (in[r][k] + input_offset) * (w[j][k] + weight_offset)
//! out[r][j] = clamp(requantize(acc, mult[j], shift[j]) + output_offset, act_min, act_max)
//! ```
//!
//! Weights are `[n][k]` (ONNX Gemm `transB = 1`). Accumulation is plain `i32`
//! arithmetic (as in CMSIS-NN); offsets are checked to lie in `[-127, 128]`, and the
//! compiler must guarantee `|bias| + k * 255 * 255 < 2^31` (see the conv kernel).

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::conv::scalar::{check_offset, check_requant, requant_out};
use crate::kernels::fc::float::fc_lens;
use crate::kernels::{RequantParams, check_len};

/// int8 fully connected (see the module docs).
///
/// Errors: [`Error::BadGeometry`] when `input` (`rows * k`), `weights` (`n * k`),
/// `bias` (`n`), `out` (`rows * n`) or `rq` (`n` multipliers) have another length;
/// [`Error::Overflow`] when a size overflows; [`Error::InvalidParameter`] for offsets
/// outside `[-127, 128]` or a bad clamp / output zero point.
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    check_offset(p.input_offset)?;
    check_offset(p.weight_offset)?;
    let (in_len, w_len, out_len) = fc_lens(p.rows, p.k, p.n)?;
    check_len(input.len(), in_len)?;
    check_len(weights.len(), w_len)?;
    check_len(out.len(), out_len)?;
    let n = p.n as usize;
    if let Some(b) = bias {
        check_len(b.len(), n)?;
    }
    check_requant(rq, n)?;
    let (k, rows) = (p.k as usize, p.rows as usize);
    let (ioff, woff) = (p.input_offset, p.weight_offset);
    // rows * k, n * k and rows * n were checked by fc_lens, so every range is in bounds.
    for r in 0..rows {
        let x = &input[r * k..(r + 1) * k];
        let o = &mut out[r * n..(r + 1) * n];
        for (j, ov) in o.iter_mut().enumerate() {
            let w = &weights[j * k..(j + 1) * k];
            let mut acc = bias.map_or(0, |b| b[j]);
            for (&xv, &wv) in x.iter().zip(w) {
                acc = acc.wrapping_add((xv as i32 + ioff) * (wv as i32 + woff));
            }
            *ov = requant_out(acc, rq.mult[j], rq.shift[j], rq);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, Mem, Requant};
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

    const NO_BUF: Buf = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };

    fn params(rows: u32, k: u32, n: u32, input_offset: i32, weight_offset: i32) -> FcI8 {
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
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        rows: usize,
        k: usize,
        n: usize,
        input: Vec<i8>,
        weights: Vec<i8>,
        bias: Option<Vec<i32>>,
        ioff: i32,
        woff: i32,
        mult: Vec<i32>,
        shift: Vec<i32>,
        oo: i32,
        lo: i32,
        hi: i32,
    }

    /// Independent reference: the expanded form CMSIS-NN precomputes,
    /// `sum x*w + woff * sum x + ioff * sum w + k * ioff * woff`, in i64; i128 requant.
    fn reference(c: &Case) -> Vec<i8> {
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

    fn case() -> impl Strategy<Value = Case> {
        (1usize..=4, 0usize..=70, 1usize..=9)
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_reference(c in case()) {
            let p = params(c.rows as u32, c.k as u32, c.n as u32, c.ioff, c.woff);
            let rq = RequantParams {
                mult: &c.mult,
                shift: &c.shift,
                output_offset: c.oo,
                act_min: c.lo,
                act_max: c.hi,
            };
            let mut out = vec![0i8; c.rows * c.n];
            fc_i8(&p, &c.input, &c.weights, c.bias.as_deref(), &rq, &mut out).unwrap();
            prop_assert_eq!(out, reference(&c));
        }
    }

    /// Hand-worked: x = [[1, 2, 3], [-1, 0, 4]] with input_offset 1 -> [[2,3,4],[0,1,5]];
    /// w = [[1, 0, -1], [2, 2, 2]], weight_offset 0; bias [5, -1];
    /// multipliers 0.5 (2^30, 0) and 0.25 (2^30, -1); output zero point 0.
    /// row 0: 2 - 4 + 5 = 3 -> 1.5 -> 2;  2*(2+3+4) - 1 = 17 -> 4.25 -> 4
    /// row 1: 0 - 5 + 5 = 0 -> 0;         2*(0+1+5) - 1 = 11 -> 2.75 -> 3
    #[test]
    fn golden_small() {
        let p = params(2, 3, 2, 1, 0);
        let rq = RequantParams {
            mult: &[1 << 30, 1 << 30],
            shift: &[0, -1],
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 4];
        fc_i8(
            &p,
            &[1, 2, 3, -1, 0, 4],
            &[1, 0, -1, 2, 2, 2],
            Some(&[5, -1]),
            &rq,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [2, 4, 0, 3]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let p = params(2, 3, 2, 0, 0);
        let rq = RequantParams {
            mult: &[1 << 30, 1 << 30],
            shift: &[0, 0],
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let x = [0i8; 6];
        let w = [0i8; 6];
        let mut out = [0i8; 4];
        assert!(fc_i8(&p, &x, &w, None, &rq, &mut out).is_ok());
        assert_eq!(
            fc_i8(&p, &x[..5], &w, None, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            fc_i8(&p, &x, &w[..5], None, &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            fc_i8(&p, &x, &w, Some(&[0]), &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            fc_i8(&p, &x, &w, None, &rq, &mut out[..3]),
            Err(Error::BadGeometry)
        );
        let one = RequantParams {
            mult: &[1 << 30],
            shift: &[0],
            ..rq
        };
        assert_eq!(
            fc_i8(&p, &x, &w, None, &one, &mut out),
            Err(Error::BadGeometry)
        );
        let bad = params(2, 3, 2, 0, -200);
        assert_eq!(
            fc_i8(&bad, &x, &w, None, &rq, &mut out),
            Err(Error::InvalidParameter)
        );
        let huge = params(u32::MAX, u32::MAX, u32::MAX, 0, 0);
        assert!(fc_i8(&huge, &x, &w, None, &rq, &mut out).is_err());
    }
}
