//! f32 softmax / log-softmax over the middle axis of `[outer][axis][inner]`.
//!
//! For each `(outer, inner)` lane: `m = max x`, `s = Σ exp(x - m)`, then
//! `out = exp(x - m) / s`, or `out = (x - m) - ln(s)` for log-softmax.
//! Subtracting the maximum keeps `exp` in `(0, 1]`, so finite inputs never
//! overflow. A lane containing `+inf`, or only `-inf`, gives NaN (as ONNX's
//! reference does).
//!
//! `exp` is [`exp_nonpositive`] (f32 arithmetic without branches or calls, so
//! that a contiguous lane's loop vectorizes on every target; the same bits
//! everywhere), and the sum runs in lane order. With `inner == 1` (the usual
//! last-axis softmax, e.g. a detector's class scores) the lanes are
//! contiguous rows and take a plain slice loop.

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

/// `e^x` for a softmax's `x - max` (`x <= 0`, or NaN, which gives NaN):
/// Cephes' `expf` in f32 arithmetic only, without branches or calls (so
/// that loops over it vectorize): `x = n ln 2 + r` with `n = floor(x log2 e
/// + 1/2)` and `|r| <= ln 2 / 2` (`ln 2` in two parts, `n * C1` exact), a
/// degree-6 polynomial for `e^r` (about 1 ulp), times `2^n` made from its
/// exponent bits. Below `-87.33` (`e^x` under `f32::MIN_POSITIVE`) it gives
/// 0, as for `-inf`.
#[inline]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const LOW: f32 = -87.336_55;
    // Clamped so that `n` stays in [-127, 0] (NaN passes: the comparison is false).
    let xc = if x < LOW { LOW } else { x };
    let y = xc * LOG2E + 0.5;
    let t = y as i32;
    let n = t - i32::from(t as f32 > y);
    let nf = n as f32;
    let r = (xc - nf * C1) - nf * C2;
    let p = 1.987_569_2e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, the same f32
    let e = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((n + 127).max(0) as u32) << 23);
    if x < LOW { 0.0 } else { e * scale }
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
    if inner == 1 {
        for (x, out) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (o, &x) in out.iter_mut().zip(x) {
                *o = exp_nonpositive(x - max);
            }
            let sum: f32 = out.iter().sum();
            if p.log {
                let log_sum = libm::logf(sum);
                for (o, &x) in out.iter_mut().zip(x) {
                    *o = (x - max) - log_sum;
                }
            } else {
                for o in out.iter_mut() {
                    *o /= sum;
                }
            }
        }
        return Ok(());
    }
    for (x_block, out_block) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        for i in 0..inner {
            // One lane: elements i, i + inner, i + 2 * inner, ... of the block.
            let lane = || x_block.iter().skip(i).step_by(inner).copied();
            let max = lane().fold(f32::NEG_INFINITY, f32::max);
            if p.log {
                let sum: f32 = lane().map(|x| exp_nonpositive(x - max)).sum();
                let log_sum = libm::logf(sum);
                for (o, x) in out_block.iter_mut().skip(i).step_by(inner).zip(lane()) {
                    *o = (x - max) - log_sum;
                }
            } else {
                let mut sum = 0.0f32;
                for (o, x) in out_block.iter_mut().skip(i).step_by(inner).zip(lane()) {
                    *o = exp_nonpositive(x - max);
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

    /// `exp_nonpositive` against f64 `exp` on a dense sweep of `[-90, 0]`
    /// (relative error under 3e-7, about 2 ulp; 0 below the normal range) and
    /// at the edges: 0 gives exactly 1, `-inf` gives 0, NaN gives NaN.
    #[test]
    fn exp_nonpositive_is_accurate() {
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-1e30), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
        let mut worst = 0.0f64;
        for i in 0..=900_000 {
            let x = -(i as f32) * 1e-4;
            let got = exp_nonpositive(x) as f64;
            let want = (x as f64).exp();
            if want < f32::MIN_POSITIVE as f64 {
                assert!(
                    got <= f32::MIN_POSITIVE as f64 * 1.01,
                    "{x}: {got} vs {want}"
                );
                continue;
            }
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
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
