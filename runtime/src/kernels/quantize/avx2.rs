//! QuantizeLinear for x86_64 with AVX2, chosen at run time. Bit-exact twin of
//! [`super::scalar::quantize`] (same checks, errors and bytes: it is
//! [`scalar::quantize_with`] with a vector plane).
//!
//! Eight values per step, each step the scalar [`crate::quant::quantize_f32`]'s
//! operations in IEEE single precision: `vdivps` (the same correctly rounded
//! quotient as `x / scale`), `vroundps` to nearest, ties to even (what
//! `round_half_even` computes), `vaddps` of the zero point, then the clamp to
//! `[lo, hi]` (`vmaxps`/`vminps`; the value is not NaN there) and an exact
//! conversion of the integral result (`vcvttps2dq`); NaN lanes take the clamped
//! zero point. The last `len % 8` values run the scalar function.

use crate::error::Error;
use crate::format::schema::Quantize;
use crate::kernels::avx2::available;
use crate::kernels::quantize::scalar;
use crate::quant::quantize_f32;
use core::arch::x86_64::*;

/// QuantizeLinear with AVX2 when the CPU has it; same contract, errors and
/// results as [`scalar::quantize`].
pub fn quantize(
    p: &Quantize,
    input: &[f32],
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [u8],
) -> Result<(), Error> {
    if !available() {
        return scalar::quantize(p, input, scales, zero_points, out);
    }
    scalar::quantize_with(p, input, scales, zero_points, out, plane)
}

/// The [`scalar::QuantizePlane`] of this module.
fn plane(scale: f32, zp: i32, bounds: (i32, i32), xs: &[f32], os: &mut [u8]) {
    // SAFETY: `quantize` passes this plane only after `available()`.
    unsafe { plane_avx2(scale, zp, bounds, xs, os) }
}

#[target_feature(enable = "avx2")]
fn plane_avx2(scale: f32, zp: i32, (lo, hi): (i32, i32), xs: &[f32], os: &mut [u8]) {
    let (x8, x_rest) = xs.as_chunks::<8>();
    let (o8, o_rest) = os.as_chunks_mut::<8>();
    let s = _mm256_set1_ps(scale);
    let z = _mm256_set1_ps(zp as f32);
    let (lo_v, hi_v) = (_mm256_set1_ps(lo as f32), _mm256_set1_ps(hi as f32));
    let nan_q = _mm256_set1_epi32(zp.clamp(lo, hi));
    for (x, o) in x8.iter().zip(o8.iter_mut()) {
        // SAFETY: 32 bytes read unaligned from an array of 8 `f32`.
        let x = unsafe { _mm256_loadu_ps(x.as_ptr()) };
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_div_ps(x, s),
        );
        let q = _mm256_add_ps(r, z);
        let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(q, q));
        let c = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(q, lo_v), hi_v));
        let c = _mm256_blendv_epi8(c, nan_q, nan);
        // In [lo, hi] within [-128, 255]: the signed pack to i16 is exact, the
        // pack to bytes keeps the low byte (signed for i8, unsigned for u8).
        let c16 = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c));
        let c8 = if lo < 0 {
            _mm_packs_epi16(c16, c16)
        } else {
            _mm_packus_epi16(c16, c16)
        };
        // SAFETY: 8 bytes written unaligned to an 8-byte array.
        unsafe { _mm_storel_epi64(o.as_mut_ptr().cast(), c8) };
    }
    for (o, &x) in o_rest.iter_mut().zip(x_rest) {
        *o = quantize_f32(x, scale, zp, lo, hi) as u8;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, DType, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Values with ties, signed zeros, infinities, NaN, huge and tiny
    /// magnitudes, and plain ones.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            (-600i32..600).prop_map(|i| i as f32 * 0.5),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            Just(-0.0f32),
            any::<u32>().prop_map(f32::from_bits),
            -400.0f32..400.0,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::kernels::frame::cases()))]

        /// Every byte equals the scalar kernel's, for i8 and u8, per tensor
        /// and per axis, lengths with and without a tail of 8.
        #[test]
        fn matches_scalar(
            u8_out in any::<bool>(),
            (axis, inner) in (1u32..=3, 1u32..=21),
            outer in 1u32..=2,
            per_axis in any::<bool>(),
            scales in proptest::collection::vec(prop_oneof![Just(0.5f32), Just(1.0), 1e-3f32..2.0, Just(1e-30)], 3),
            zps in proptest::collection::vec(0i32..=127, 3),
            xs in proptest::collection::vec(value(), 126),
        ) {
            if !crate::kernels::avx2::here("quantize/avx2") {
                return Ok(());
            }
            let buf = Buf { mem: Mem::Arena, offset: 0, len: 0 };
            let p = Quantize {
                out_dtype: if u8_out { DType::U8 } else { DType::I8 },
                outer,
                axis,
                inner,
                per_axis,
                scales: buf,
                zero_points: buf,
                input: buf,
                output: buf,
            };
            let n = (outer * axis * inner) as usize;
            let k = if per_axis { axis as usize } else { 1 };
            let zps: Vec<i32> = zps.iter().map(|&z| if u8_out { z * 2 } else { z - 64 }).collect();
            let (x, s, z) = (&xs[..n], &scales[..k], &zps[..k]);
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            let ra = quantize(&p, x, s, z, &mut a);
            let rb = scalar::quantize(&p, x, s, z, &mut b);
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(a, b);
        }
    }
}
