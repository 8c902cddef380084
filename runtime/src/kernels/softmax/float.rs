//! f32 softmax / log-softmax over the middle axis of `[outer][axis][inner]`.
//!
//! For each `(outer, inner)` lane: `m = max x`, `s = Σ exp(x - m)` (libm `expf`),
//! then `out = exp(x - m) / s`, or `out = (x - m) - ln(s)` for log-softmax.
//! Subtracting the maximum keeps `exp` in `(0, 1]`, so finite inputs never
//! overflow. A lane containing `+inf`, or only `-inf`, gives NaN (as ONNX's
//! reference does).

use crate::error::Error;
use crate::format::schema::SoftmaxF32;
use crate::kernels::{check_len, prod};

/// Element count of the tensor (`outer * axis * inner`), shared by the f32 and
/// int8 kernels. Every dimension must be nonzero ([`Error::InvalidParameter`]).
pub fn softmax_len(outer: u32, axis: u32, inner: u32) -> Result<usize, Error> {
    if outer == 0 || axis == 0 || inner == 0 {
        return Err(Error::InvalidParameter);
    }
    prod(&[outer, axis, inner])
}

/// f32 softmax (`p.log == false`) or log-softmax (see the module docs). `input` and
/// `out` must both hold exactly `outer * axis * inner` elements
/// ([`Error::BadGeometry`] otherwise).
pub fn softmax_f32(p: &SoftmaxF32, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let len = softmax_len(p.outer, p.axis, p.inner)?;
    check_len(input.len(), len)?;
    check_len(out.len(), len)?;
    let inner = p.inner as usize;
    let block = len / p.outer as usize;
    for (x_block, out_block) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        for i in 0..inner {
            // One lane: elements i, i + inner, i + 2 * inner, ... of the block.
            let lane = || x_block.iter().skip(i).step_by(inner).copied();
            let max = lane().fold(f32::NEG_INFINITY, f32::max);
            if p.log {
                let sum: f32 = lane().map(|x| libm::expf(x - max)).sum();
                let log_sum = libm::logf(sum);
                for (o, x) in out_block.iter_mut().skip(i).step_by(inner).zip(lane()) {
                    *o = (x - max) - log_sum;
                }
            } else {
                let mut sum = 0.0f32;
                for (o, x) in out_block.iter_mut().skip(i).step_by(inner).zip(lane()) {
                    *o = libm::expf(x - max);
                    sum += *o;
                }
                out_block
                    .iter_mut()
                    .skip(i)
                    .step_by(inner)
                    .for_each(|o| *o /= sum);
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
    use crate::format::schema::{Buf, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn params(outer: u32, axis: u32, inner: u32, log: bool) -> SoftmaxF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        SoftmaxF32 {
            outer,
            axis,
            inner,
            log,
            input: buf,
            output: buf,
        }
    }

    fn run(p: &SoftmaxF32, x: &[f32]) -> Vec<f32> {
        let mut out = vec![f32::NAN; x.len()];
        softmax_f32(p, x, &mut out).unwrap();
        out
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }

    /// softmax([1, 2, 3]) = e^x / (e + e^2 + e^3) = [0.0900306, 0.2447285, 0.6652410];
    /// log-softmax = x - (3 + ln(1 + e^-1 + e^-2)) = x - 3.4076059.
    #[test]
    fn hand_values() {
        let x = [1.0, 2.0, 3.0];
        assert_close(
            &run(&params(1, 3, 1, false), &x),
            &[0.090_030_6, 0.244_728_5, 0.665_241],
            1e-6,
        );
        assert_close(
            &run(&params(1, 3, 1, true), &x),
            &[-2.407_606, -1.407_606, -0.407_606],
            1e-6,
        );
        // the same values along a strided axis (inner = 2, the other lane constant)
        let x2 = [1.0, 5.0, 2.0, 5.0, 3.0, 5.0];
        let third = 1.0 / 3.0;
        let want = [0.090_030_6, third, 0.244_728_5, third, 0.665_241, third];
        assert_close(&run(&params(1, 3, 2, false), &x2), &want, 1e-6);
        // large inputs do not overflow
        assert_close(
            &run(&params(1, 2, 1, false), &[1000.0, 1000.0]),
            &[0.5, 0.5],
            0.0,
        );
    }

    #[test]
    fn errors() {
        let p = params(2, 3, 2, false);
        let mut out = [0.0f32; 12];
        assert_eq!(
            softmax_f32(&p, &[0.0; 11], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            softmax_f32(&p, &[0.0; 12], &mut out[1..]),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            softmax_f32(&params(2, 0, 2, false), &[], &mut []),
            Err(Error::InvalidParameter)
        );
    }

    /// Reference: transpose `[outer][axis][inner]` to `[outer][inner][axis]`, compute
    /// each contiguous row in f64 with log-sum-exp, transpose back.
    fn reference(p: &SoftmaxF32, x: &[f32]) -> Vec<f32> {
        let (o, a, n) = (p.outer as usize, p.axis as usize, p.inner as usize);
        let mut out = vec![0.0f32; x.len()];
        for oo in 0..o {
            for nn in 0..n {
                let row: Vec<f64> = (0..a).map(|aa| x[(oo * a + aa) * n + nn] as f64).collect();
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                for (aa, v) in row.iter().enumerate() {
                    let log = v - lse;
                    out[(oo * a + aa) * n + nn] = if p.log { log as f32 } else { log.exp() as f32 };
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(outer in 1u32..=3, axis in 1u32..=12, inner in 1u32..=4, log: bool, scale in 0.1f32..50.0, seed: u64) {
            let p = params(outer, axis, inner, log);
            let len = softmax_len(outer, axis, inner).unwrap();
            let mut s = seed;
            let x: Vec<f32> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    (((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0) * scale
                })
                .collect();
            let got = run(&p, &x);
            let want = reference(&p, &x);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{got:?} vs {want:?}");
            }
        }
    }
}
