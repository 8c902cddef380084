//! ONNX LRN over NHWC `[pixels][channels]`:
//! `y[c] = x[c] / (bias + alpha / size * sum_{c' in window(c)} x[c']^2)^beta`,
//! `window(c) = [c - (size - 1) / 2, c + size / 2]` clipped to `[0, channels)`
//! (ONNX: `floor((size - 1) / 2)` before, `ceil((size - 1) / 2)` after).
//!
//! Each window sum is accumulated from its lowest channel up, and the power is
//! `libm::powf`; the result is within float rounding of ONNX's reference.

use crate::error::Error;
use crate::format::schema::LrnF32;
use crate::kernels::{check_len, prod};

/// Element count `pixels * channels`. `pixels`, `channels` and `size` must be
/// nonzero and `alpha`, `beta`, `bias` finite ([`Error::InvalidParameter`]).
pub fn lrn_len(p: &LrnF32) -> Result<usize, Error> {
    if p.pixels == 0 || p.channels == 0 || p.size == 0 {
        return Err(Error::InvalidParameter);
    }
    if !(p.alpha.is_finite() && p.beta.is_finite() && p.bias.is_finite()) {
        return Err(Error::InvalidParameter);
    }
    prod(&[p.pixels, p.channels])
}

/// f32 LRN; `input` and `out` hold exactly [`lrn_len`] values
/// ([`Error::BadGeometry`] otherwise).
pub fn lrn_f32(p: &LrnF32, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let len = lrn_len(p)?;
    check_len(input.len(), len)?;
    check_len(out.len(), len)?;
    let c = p.channels as usize;
    let size = p.size as usize;
    let (before, after) = ((size - 1) / 2, size / 2);
    let scale = p.alpha / p.size as f32;
    for (x, y) in input.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        for (ch, o) in y.iter_mut().enumerate() {
            let lo = ch.saturating_sub(before);
            let hi = ch.saturating_add(after).saturating_add(1).min(c);
            let window = x.get(lo..hi).unwrap_or(&[]);
            let sum: f32 = window.iter().map(|v| v * v).sum();
            let v = x.get(ch).copied().unwrap_or(0.0);
            *o = v / libm::powf(p.bias + scale * sum, p.beta);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn params(pixels: u32, channels: u32, size: u32) -> LrnF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        LrnF32 {
            pixels,
            channels,
            size,
            alpha: 0.5,
            beta: 0.75,
            bias: 2.0,
            input: buf,
            output: buf,
        }
    }

    /// One pixel, channels [1, 2, 3], size 2 (window [c, c + 1]), alpha 0.5,
    /// beta 0.75, bias 2: the sums are 1+4, 4+9, 9, so
    /// `y = x / (2 + 0.25 * sum)^0.75`.
    #[test]
    fn hand_values() {
        let p = params(1, 3, 2);
        let mut out = [0.0f32; 3];
        lrn_f32(&p, &[1.0, 2.0, 3.0], &mut out).unwrap();
        let want = [
            1.0 / 3.25f32.powf(0.75),
            2.0 / 5.25f32.powf(0.75),
            3.0 / 4.25f32.powf(0.75),
        ];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() <= 1e-6 * w.abs(), "{g} vs {w}");
        }
    }

    #[test]
    fn errors() {
        let p = params(2, 3, 3);
        let (x, mut out) = ([0.0f32; 6], [0.0f32; 6]);
        assert_eq!(lrn_f32(&p, &x[1..], &mut out), Err(Error::BadGeometry));
        assert_eq!(lrn_f32(&p, &x, &mut out[1..]), Err(Error::BadGeometry));
        for bad in [params(0, 3, 3), params(2, 0, 3), params(2, 3, 0)] {
            assert_eq!(lrn_len(&bad), Err(Error::InvalidParameter));
        }
        let nan = LrnF32 {
            beta: f32::NAN,
            ..p
        };
        assert_eq!(lrn_f32(&nan, &x, &mut out), Err(Error::InvalidParameter));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Against ONNX's formula in f64 with signed window bounds
        /// (`floor((size-1)/2)` before, `ceil((size-1)/2)` after).
        #[test]
        fn matches_reference(pixels in 1u32..=4, channels in 1u32..=9, size in 1u32..=7, seed: u64) {
            let p = params(pixels, channels, size);
            let len = lrn_len(&p).unwrap();
            let mut s = seed;
            let mut next = || {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 23) as f32) * 4.0 - 2.0
            };
            let x: Vec<f32> = (0..len).map(|_| next()).collect();
            let mut out = vec![f32::NAN; len];
            lrn_f32(&p, &x, &mut out).unwrap();
            let c = channels as i64;
            let lo_off = ((size as f64 - 1.0) / 2.0).floor() as i64;
            let hi_off = ((size as f64 - 1.0) / 2.0).ceil() as i64;
            for (i, (&g, &v)) in out.iter().zip(&x).enumerate() {
                let (pix, ch) = (i as i64 / c, i as i64 % c);
                let sum: f64 = (ch - lo_off..=ch + hi_off)
                    .filter(|k| (0..c).contains(k))
                    .map(|k| f64::from(x[(pix * c + k) as usize]).powi(2))
                    .sum();
                let want = f64::from(v) / (2.0 + 0.5 / f64::from(size) * sum).powf(0.75);
                prop_assert!((f64::from(g) - want).abs() <= 1e-5 * want.abs() + 1e-7, "{} vs {}", g, want);
            }
        }
    }
}
