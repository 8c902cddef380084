//! int8 element-wise Add for x86_64 with AVX2, chosen at run time. Bit-exact twin
//! of [`super::scalar::binary_i8`] (same contract, errors and bytes).
//!
//! The fast path is the residual add: kind Add, with `a`, `b` and the output all
//! read in the same dense order (the broadcast walk, [`super::float::BroadcastRows`], merges
//! the whole shape into one row with step 1 in both operands). Everything else
//! (Mul, broadcasting, strided operands, CPUs without AVX2) runs the scalar
//! kernel.
//!
//! Eight elements per step: the int8 values are widened to `i32` lanes
//! (`vpmovsxbd`), offset and left-shifted, and each of the three requantizations
//! is [`Requant8::apply`] (in [`crate::kernels::avx2`]), the vector twin of
//! [`crate::quant::requantize`], bit for bit; the output offset and clamp are
//! [`Narrow8`]. The last
//! `len % 8` elements go through the same step from a zero-padded stack copy.

use crate::error::Error;
use crate::format::schema::{BinaryI8, BinaryKind};
use crate::kernels::RequantParams;
use crate::kernels::avx2::{Narrow8, Requant8, available};
use crate::kernels::binary::scalar::{self, contiguous, validate};
use crate::quant::total_shift;
use core::arch::x86_64::*;

/// Elements per step.
const LANES: usize = 8;

/// int8 Add / Mul with AVX2 for contiguous Adds when the CPU has it; same
/// contract, errors and results as [`scalar::binary_i8`].
pub fn binary_i8(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (mult, shift) = validate(p, a, b, rq, out)?;
    if !matches!(p.kind, BinaryKind::Add) || !contiguous(p, out.len()) || !available() {
        return scalar::binary_i8(p, a, b, rq, out);
    }
    // SAFETY: `available()` checked that the CPU has AVX2.
    unsafe { add(p, a, b, mult, shift, rq, out) };
    Ok(())
}

/// The contiguous Add: `out[i] = requant_out(ra(a[i]) + rb(b[i]))` (module docs).
/// `a`, `b` and `out` have the same length (validated).
#[target_feature(enable = "avx2")]
fn add(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    mult: i32,
    shift: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) {
    let step = AddStep::new(p, mult, shift, rq);
    let (a8, a_tail) = a.as_chunks::<LANES>();
    let (b8, b_tail) = b.as_chunks::<LANES>();
    let (o8, o_tail) = out.as_chunks_mut::<LANES>();
    step.apply(a8, b8, o8);
    if o_tail.is_empty() {
        return;
    }
    let (mut x, mut y, mut o) = ([0i8; LANES], [0i8; LANES], [0i8; LANES]);
    for (d, &s) in x.iter_mut().zip(a_tail) {
        *d = s;
    }
    for (d, &s) in y.iter_mut().zip(b_tail) {
        *d = s;
    }
    step.apply(&[x], &[y], core::slice::from_mut(&mut o));
    for (d, s) in o_tail.iter_mut().zip(o) {
        *d = s;
    }
}

/// One input's `(left shift, shift)` for the rescale `requantize(v <<
/// left_shift, mult, shift)` of `v = x + offset` (`|v| <= 255`): when the
/// total right shift `t = 31 - shift` is below 32, the same value as
/// `requantize(v << (left_shift + 32 - t), mult, -1)`, whose total shift is
/// 32, [`Requant8`]'s short path (without 64-bit shifts and clamps). Both
/// compute `floor((v * 2^l * mult + 2^(t - 1)) / 2^t)`; multiplying
/// numerator and denominator by `2^(32 - t)` changes neither the quotient nor
/// whether it saturates. Only when the new left shift keeps `v << l` inside
/// `i32` (`l <= 23`); otherwise the given pair.
fn rescale(left_shift: i32, shift: i32) -> (i32, i32) {
    let t = total_shift(shift) as i32;
    let l = left_shift + 32 - t;
    if t < 32 && (0..=23).contains(&l) {
        (l, -1)
    } else {
        (left_shift, shift)
    }
}

/// The per-call constants of the Add, in vectors.
#[derive(Clone, Copy)]
struct AddStep {
    a_offset: __m256i,
    b_offset: __m256i,
    /// Each input's left shift (a shift count register), [`rescale`]'s.
    a_left: __m128i,
    b_left: __m128i,
    a: Requant8,
    b: Requant8,
    out: Requant8,
    narrow: Narrow8,
}

impl AddStep {
    /// The constants of `p` with the output multiplier `mult`, `shift`. Offsets
    /// and clamps are in the validated int8 ranges, `left_shift` in `[0, 23]`.
    #[target_feature(enable = "avx2")]
    fn new(p: &BinaryI8, mult: i32, shift: i32, rq: &RequantParams<'_>) -> Self {
        let (a_left, a_shift) = rescale(p.left_shift, p.a_shift);
        let (b_left, b_shift) = rescale(p.left_shift, p.b_shift);
        AddStep {
            a_offset: _mm256_set1_epi32(p.a_offset),
            b_offset: _mm256_set1_epi32(p.b_offset),
            a_left: _mm_cvtsi32_si128(a_left),
            b_left: _mm_cvtsi32_si128(b_left),
            a: Requant8::new(p.a_mult, a_shift),
            b: Requant8::new(p.b_mult, b_shift),
            out: Requant8::new(mult, shift),
            narrow: Narrow8::new(rq),
        }
    }

    /// The outputs of the Add, eight per step, from eight elements of each
    /// operand (one loop here: a call per step cost a tenth of the Add).
    #[target_feature(enable = "avx2")]
    fn apply(&self, a: &[[i8; LANES]], b: &[[i8; LANES]], out: &mut [[i8; LANES]]) {
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            // SAFETY: 8 bytes read unaligned from each array of 8 bytes.
            let (x, y) = unsafe {
                (
                    _mm_loadl_epi64(x.as_ptr().cast()),
                    _mm_loadl_epi64(y.as_ptr().cast()),
                )
            };
            // (v + offset) << left_shift: no i32 overflow in the validated domain.
            let x = _mm256_add_epi32(_mm256_cvtepi8_epi32(x), self.a_offset);
            let y = _mm256_add_epi32(_mm256_cvtepi8_epi32(y), self.b_offset);
            let x = self.a.apply(_mm256_sll_epi32(x, self.a_left));
            let y = self.b.apply(_mm256_sll_epi32(y, self.b_left));
            let r8 = self.narrow.apply(self.out.apply(_mm256_add_epi32(x, y)));
            // SAFETY: 8 bytes written unaligned to an array of 8 bytes.
            unsafe { _mm_storel_epi64(o.as_mut_ptr().cast(), r8) };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::MAX_RANK;
    use crate::quant::quantize_multiplier;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn avx2_here() -> bool {
        crate::kernels::avx2::here("binary/avx2")
    }

    /// A dense Add of `shape` (rank `MAX_RANK`) with every parameter neutral.
    fn params(shape: [u32; MAX_RANK]) -> BinaryI8 {
        let mut stride = [0u32; MAX_RANK];
        let mut acc = 1u32;
        for d in (0..MAX_RANK).rev() {
            stride[d] = acc;
            acc *= shape[d];
        }
        scalar::tests::neutral_params(BinaryKind::Add, shape, stride)
    }

    /// `(mult, shift)` with `shift <= max_shift`: from a real multiplier
    /// `2^e * f` (`quantize_multiplier`), a raw Q31 value in `[2^30, 2^31)` or any
    /// `i32` with a shift in `[-31, max_shift]`, or a power of two `2^(s-1)`
    /// with `s` in `[tie_shift - 3, tie_shift]`, where exact ties (`x.5`) are
    /// frequent and the rounding direction shows.
    fn multiplier(max_shift: i32, tie_shift: i32) -> impl Strategy<Value = (i32, i32)> {
        prop_oneof![
            (tie_shift - 3..=tie_shift).prop_map(|s| (1 << 30, s)),
            (1.0f64..1.99, -31i32..=max_shift - 1)
                .prop_map(|(f, e)| { quantize_multiplier(f * libm::exp2(e as f64)).unwrap() }),
            ((1i32 << 30)..=i32::MAX, -31i32..=max_shift),
            (any::<i32>(), -31i32..=max_shift),
        ]
    }

    #[derive(Debug, Clone)]
    struct Case {
        p: BinaryI8,
        a: Vec<i8>,
        b: Vec<i8>,
        mult: i32,
        shift: i32,
    }

    impl Case {
        fn rq(&self) -> RequantParams<'_> {
            RequantParams {
                mult: core::slice::from_ref(&self.mult),
                shift: core::slice::from_ref(&self.shift),
                output_offset: self.p.rq.output_offset,
                act_min: self.p.rq.act_min,
                act_max: self.p.rq.act_max,
            }
        }

        /// `f`'s output (or error) on this case.
        fn run(&self, f: super::super::BinaryI8Fn) -> Result<Vec<i8>, Error> {
            let n = crate::kernels::prod(&self.p.shape).unwrap_or(0);
            let mut out = vec![0i8; n];
            f(&self.p, &self.a, &self.b, &self.rq(), &mut out)?;
            Ok(out)
        }
    }

    /// Dense Adds over the whole validated domain: lengths 1..40 and a few
    /// thousand (as `c` x `n`, merged into one row), every offset, left shift and
    /// input scale with `left_shift + shift <= 22`, any output multiplier and
    /// shift, any clamp.
    fn case() -> impl Strategy<Value = Case> {
        (
            prop_oneof![1usize..40, 2000usize..4000],
            1u32..=4,
            0i32..=23,
        )
            .prop_flat_map(|(n, c, ls)| {
                let len = n * c as usize;
                (
                    Just((n, c, ls)),
                    proptest::collection::vec(any::<i8>(), len),
                    proptest::collection::vec(any::<i8>(), len),
                    (-127i32..=128, -127i32..=128),
                    (multiplier(22 - ls, -ls), multiplier(22 - ls, -ls)),
                    (multiplier(30, 0), -128i32..=127),
                    (-128i32..=127, -128i32..=127),
                )
            })
            .prop_map(
                |((n, c, ls), a, b, (za, zb), (qa, qb), ((m, s), oo), (l, h))| {
                    let mut shape = [1u32; MAX_RANK];
                    shape[MAX_RANK - 2] = c;
                    shape[MAX_RANK - 1] = n as u32;
                    let mut p = params(shape);
                    (p.a_offset, p.b_offset, p.left_shift) = (za, zb, ls);
                    (p.a_mult, p.a_shift) = qa;
                    (p.b_mult, p.b_shift) = qb;
                    p.rq.output_offset = oo;
                    (p.rq.act_min, p.rq.act_max) = (l.min(h), l.max(h));
                    Case {
                        p,
                        a,
                        b,
                        mult: m,
                        shift: s,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::kernels::frame::cases()))]

        #[test]
        fn add_matches_scalar(c in case()) {
            if avx2_here() {
                prop_assert!(c.p.shape.iter().product::<u32>() < 2 || contiguous(&c.p, c.a.len()));
                prop_assert_eq!(c.run(binary_i8), c.run(scalar::binary_i8));
            }
        }
    }

    /// Broadcast and strided operands, Mul, one element, errors: the scalar path,
    /// same results.
    #[test]
    fn other_cases_match_scalar() {
        if !avx2_here() {
            return;
        }
        let mut c = Case {
            p: params([1, 1, 1, 1, 49, 16]),
            a: (0..49 * 16).map(|i| (i * 37 % 256) as u8 as i8).collect(),
            b: (0..16).map(|i| (i * 91 % 256) as u8 as i8).collect(),
            mult: 1_500_000_000,
            shift: -3,
        };
        (c.p.a_offset, c.p.b_offset, c.p.left_shift) = (5, -7, 20);
        (c.p.a_mult, c.p.a_shift, c.p.b_mult, c.p.b_shift) = (1 << 30, 0, 1_288_490_189, -1);
        c.p.b_stride = [0, 0, 0, 0, 0, 1]; // b is one row of 16, broadcast
        assert!(!contiguous(&c.p, 49 * 16));
        let want = c.run(scalar::binary_i8).unwrap();
        assert_eq!(c.run(binary_i8).unwrap(), want);
        // Not all-equal: the broadcast case exercises the values.
        assert!(want.iter().any(|&v| v != want[0]));

        // b transposed (16 x 49 read with strides (1, 16)): strided, not broadcast.
        c.b = (0..49 * 16).map(|i| (i * 53 % 256) as u8 as i8).collect();
        c.p.b_stride = [0, 0, 0, 0, 1, 49];
        assert!(!contiguous(&c.p, 49 * 16));
        assert_eq!(c.run(binary_i8), c.run(scalar::binary_i8));

        // Mul, contiguous.
        let mut m = c.clone();
        m.p.b_stride = m.p.a_stride;
        m.p.kind = BinaryKind::Mul;
        assert!(contiguous(&m.p, 49 * 16));
        assert_eq!(m.run(binary_i8), m.run(scalar::binary_i8));

        // One element.
        let one = Case {
            p: params([1; MAX_RANK]),
            a: vec![-100],
            b: vec![77],
            ..c.clone()
        };
        assert_eq!(one.run(binary_i8), one.run(scalar::binary_i8));

        // Errors: a zero dimension, short input, bad kind, out-of-domain shift.
        let mut zero = c.clone();
        zero.p.shape[MAX_RANK - 1] = 0;
        assert_eq!(zero.run(binary_i8), Err(Error::InvalidParameter));
        let mut short = c.clone();
        short.p.b_stride = short.p.a_stride;
        short.b.pop();
        assert_eq!(short.run(binary_i8), Err(Error::BadGeometry));
        let mut sub = c.clone();
        sub.p.kind = BinaryKind::Sub;
        assert_eq!(sub.run(binary_i8), Err(Error::InvalidParameter));
        let mut bad = c.clone();
        bad.p.b_stride = bad.p.a_stride;
        bad.p.a_shift = 3;
        assert_eq!(bad.run(binary_i8), Err(Error::InvalidParameter));
    }
}
