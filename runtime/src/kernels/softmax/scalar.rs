//! int8 softmax over the middle axis of `[outer][axis][inner]`, the portable
//! reference kernel.
//!
//! For every `(outer, inner)` position, with `m = max_j x[j]`:
//! `e[j] = exp_table[m - x[j]]` (the compiler tabulates `exp(-d * in_scale)` for
//! `d = 0..=255`), `sum = e[0] + e[1] + ... + e[axis - 1]` accumulated in `f32` in
//! that fixed order starting from `0.0`, and
//! `out[j] = quantize_f32(e[j] / sum, out_scale, out_zero_point)` into `[-128, 127]`
//! (round half to even, as ONNX `QuantizeLinear`).
//!
//! The summation order is part of the contract: a SIMD twin must reproduce it (or
//! prove its sum identical) to stay bit-exact.

use crate::error::Error;
use crate::format::schema::SoftmaxI8;
use crate::kernels::{check_len, prod};
use crate::quant::quantize_f32;

/// int8 softmax (see the module docs).
///
/// Errors: [`Error::BadGeometry`] when `exp_table` does not have exactly 256 entries
/// or `input`/`out` are not `outer * axis * inner` long; [`Error::Overflow`] when that
/// size overflows; [`Error::InvalidParameter`] when `out_scale` is not a positive
/// finite number or `out_zero_point` is outside the int8 range.
// Lengths checked against outer * axis * inner below; table indices are 0..=255.
#[allow(clippy::indexing_slicing)]
pub fn softmax_i8(
    p: &SoftmaxI8,
    input: &[i8],
    exp_table: &[f32],
    out: &mut [i8],
) -> Result<(), Error> {
    let table: &[f32; 256] = exp_table.try_into().map_err(|_| Error::BadGeometry)?;
    let scale_ok = p.out_scale.is_finite() && p.out_scale > 0.0;
    if !scale_ok || !(-128..=127).contains(&p.out_zero_point) {
        return Err(Error::InvalidParameter);
    }
    let len = prod(&[p.outer, p.axis, p.inner])?;
    check_len(input.len(), len)?;
    check_len(out.len(), len)?;
    let (outer, axis, inner) = (p.outer as usize, p.axis as usize, p.inner as usize);
    // `max - x` of two i8 values is in 0..=255: always a valid index of `table`.
    let e = |max: i8, x: i8| table[(max as i32 - x as i32) as usize];
    for o in 0..outer {
        let block = o * axis * inner;
        for i in 0..inner {
            // Element j of this softmax row is at block + j * inner + i (< len).
            let at = |j: usize| block + j * inner + i;
            let mut max = i8::MIN;
            for j in 0..axis {
                max = max.max(input[at(j)]);
            }
            let mut sum = 0.0f32;
            for j in 0..axis {
                sum += e(max, input[at(j)]);
            }
            for j in 0..axis {
                let q = quantize_f32(
                    e(max, input[at(j)]) / sum,
                    p.out_scale,
                    p.out_zero_point,
                    -128,
                    127,
                );
                out[at(j)] = q as i8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const NO_BUF: Buf = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };

    fn params(outer: u32, axis: u32, inner: u32, out_scale: f32, out_zero_point: i32) -> SoftmaxI8 {
        SoftmaxI8 {
            outer,
            axis,
            inner,
            input: NO_BUF,
            output: NO_BUF,
            exp_table: NO_BUF,
            out_scale,
            out_zero_point,
        }
    }

    fn exp_table(in_scale: f32) -> Vec<f32> {
        (0..256)
            .map(|d| libm::expf(-(d as f32) * in_scale))
            .collect()
    }

    /// Independent reference: transpose to `[outer][inner][axis]` rows, sum with an
    /// iterator fold in index order, round with `f32::round_ties_even`.
    fn reference(p: &SoftmaxI8, input: &[i8], table: &[f32]) -> Vec<i8> {
        let (outer, axis, inner) = (p.outer as usize, p.axis as usize, p.inner as usize);
        let mut out = vec![0i8; input.len()];
        for o in 0..outer {
            for i in 0..inner {
                let row: Vec<i8> = (0..axis)
                    .map(|j| input[(o * axis + j) * inner + i])
                    .collect();
                let m = *row.iter().max().unwrap();
                let e: Vec<f32> = row
                    .iter()
                    .map(|&x| table[(m as i32 - x as i32) as usize])
                    .collect();
                let sum = e.iter().fold(0.0f32, |s, &v| s + v);
                for (j, &ej) in e.iter().enumerate() {
                    let r = (ej / sum / p.out_scale).round_ties_even() + p.out_zero_point as f32;
                    let q = if r.is_nan() {
                        p.out_zero_point as f32
                    } else {
                        r.clamp(-128.0, 127.0)
                    };
                    out[(o * axis + j) * inner + i] = q as i8;
                }
            }
        }
        out
    }

    fn case() -> impl Strategy<Value = (SoftmaxI8, Vec<i8>, Vec<f32>)> {
        (
            1u32..=3,
            1u32..=12,
            1u32..=3,
            0.005f32..0.5,
            any::<bool>(),
            -128i32..=127,
            1e-3f32..0.05,
        )
            .prop_flat_map(|(outer, axis, inner, in_scale, std_out, zp, scale)| {
                // ONNX's usual softmax output quantization is scale 1/256, zero point -128.
                let p = if std_out {
                    params(outer, axis, inner, 1.0 / 256.0, -128)
                } else {
                    params(outer, axis, inner, scale, zp)
                };
                (
                    Just(p),
                    proptest::collection::vec(any::<i8>(), (outer * axis * inner) as usize),
                    Just(exp_table(in_scale)),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference((p, input, table) in case()) {
            let mut out = vec![0i8; input.len()];
            softmax_i8(&p, &input, &table, &mut out).unwrap();
            prop_assert_eq!(out, reference(&p, &input, &table));
        }
    }

    /// Hand-worked with a table of exact powers of two (`table[d] = 2^-d`), scale
    /// 1/256, zero point -128: x = [5, 4, 3] -> d = [0, 1, 2] -> e = [1, 0.5, 0.25],
    /// sum 1.75; e / sum * 256 = [146.29, 73.14, 36.57] -> [146, 73, 37] -> [18, -55, -91].
    /// Uniform x over 4 -> 0.25 * 256 = 64 -> -64.
    #[test]
    fn golden_softmax() {
        let table: Vec<f32> = (0..256).map(|d| libm::exp2f(-(d as f32))).collect();
        let mut out = [0i8; 3];
        softmax_i8(
            &params(1, 3, 1, 1.0 / 256.0, -128),
            &[5, 4, 3],
            &table,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [18, -55, -91]);
        // Same row along the axis of a [1][3][2] tensor (inner 2), the other column uniform.
        let mut out = [0i8; 6];
        softmax_i8(
            &params(1, 3, 2, 1.0 / 256.0, -128),
            &[5, 7, 4, 7, 3, 7],
            &table,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [18, -43, -55, -43, -91, -43]); // 256 / 3 = 85.33 -> 85 -> -43
        let mut out = [0i8; 4];
        softmax_i8(
            &params(1, 4, 1, 1.0 / 256.0, -128),
            &[-9; 4],
            &table,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-64; 4]);
    }

    /// Ties round half to even: e = [5, 3] (table[0] = 5, table[1] = 3), sum 8,
    /// e / sum / 0.25 = [2.5, 1.5] -> [2, 2].
    #[test]
    fn ties_round_half_even() {
        let mut table = vec![0.0f32; 256];
        table[0] = 5.0;
        table[1] = 3.0;
        let mut out = [0i8; 2];
        softmax_i8(&params(1, 2, 1, 0.25, 0), &[1, 0], &table, &mut out).unwrap();
        assert_eq!(out, [2, 2]);
    }

    #[test]
    fn errors() {
        let table = vec![1.0f32; 257];
        let mut out = [0i8; 4];
        let p = params(1, 4, 1, 1.0 / 256.0, -128);
        assert!(softmax_i8(&p, &[0; 4], &table[..256], &mut out).is_ok());
        assert_eq!(
            softmax_i8(&p, &[0; 4], &table[..255], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            softmax_i8(&p, &[0; 4], &table, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            softmax_i8(&p, &[0; 3], &table[..256], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            softmax_i8(&p, &[0; 4], &table[..256], &mut out[..3]),
            Err(Error::BadGeometry)
        );
        for s in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let bad = params(1, 4, 1, s, -128);
            assert_eq!(
                softmax_i8(&bad, &[0; 4], &table[..256], &mut out),
                Err(Error::InvalidParameter)
            );
        }
        let bad = params(1, 4, 1, 1.0, 128);
        assert_eq!(
            softmax_i8(&bad, &[0; 4], &table[..256], &mut out),
            Err(Error::InvalidParameter)
        );
        let huge = params(u32::MAX, u32::MAX, u32::MAX, 1.0, 0);
        assert_eq!(
            softmax_i8(&huge, &[0; 4], &table[..256], &mut out),
            Err(Error::Overflow)
        );
    }
}
