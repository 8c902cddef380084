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
// `validate` checked every length against rows, k and n (see the comment below).
#[allow(clippy::indexing_slicing)]
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (rows, k, n) = validate(p, input, weights, bias, rq, out)?;
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

/// Check everything [`fc_i8`] relies on; returns `(rows, k, n)`.
pub(crate) fn validate(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &[i8],
) -> Result<(usize, usize, usize), Error> {
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
    Ok((p.rows as usize, p.k as usize, n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::frame::fc::{case, params, reference};
    use proptest::prelude::*;
    use std::vec;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(c in case(70)) {
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
