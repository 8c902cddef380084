//! int8 element-wise Add for x86_64 with AVX2, chosen at run time. Bit-exact twin
//! of [`super::scalar::binary_i8`] (same contract, errors and bytes).
//!
//! The fast path is the residual add: kind Add, with `a`, `b` and the output all
//! read in the same dense order (the broadcast walk, [`BroadcastRows`], merges
//! the whole shape into one row with step 1 in both operands). Everything else
//! (Mul, broadcasting, strided operands, CPUs without AVX2) runs the scalar
//! kernel.
//!
//! Eight elements per step: the int8 values are widened to `i32` lanes
//! (`vpmovsxbd`), offset and left-shifted, and each of the three requantizations
//! is [`Requant8::apply`], the vector twin of [`crate::quant::requantize`], bit for
//! bit, for every `i32` accumulator, multiplier and shift (a unit test compares
//! them): the exact 64-bit products of the even and of the odd lanes
//! (`vpmuldq`), plus `2^(s-1)`, an arithmetic right shift by `s = total_shift(shift)`
//! (AVX2 has no `vpsraq`: `((p ^ 2^63) >>> s) - 2^(63-s)`), saturated to `i32`
//! (`vpcmpgtq`). The output offset and clamp are
//! `clamp(r, act_min - output_offset, act_max - output_offset) + output_offset`,
//! which equals the scalar `requant_out`'s saturating add then clamp, because
//! the clamp bounds are int8 values far from the `i32` limits. The last
//! `len % 8` elements go through the same step from a zero-padded stack copy.

use crate::error::Error;
use crate::format::schema::{BinaryI8, BinaryKind};
use crate::kernels::RequantParams;
use crate::kernels::avx2::available;
use crate::kernels::binary::float::BroadcastRows;
use crate::kernels::binary::scalar::{self, validate};
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

/// Whether output element `i` reads `a[i]` and `b[i]` for every `i` (one merged
/// row with step 1 in both operands). A one-element output with stride 0 (no
/// different from broadcasting) says no and runs the scalar kernel.
fn contiguous(p: &BinaryI8, out_len: usize) -> bool {
    BroadcastRows::new(&p.shape, &p.a_stride, &p.b_stride)
        .is_ok_and(|r| r.row_len() == out_len && r.a_step() == 1 && r.b_step() == 1)
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
    for ((o, x), y) in o8.iter_mut().zip(a8).zip(b8) {
        *o = step.apply(x, y);
    }
    if o_tail.is_empty() {
        return;
    }
    let (mut x, mut y) = ([0i8; LANES], [0i8; LANES]);
    for (d, &s) in x.iter_mut().zip(a_tail) {
        *d = s;
    }
    for (d, &s) in y.iter_mut().zip(b_tail) {
        *d = s;
    }
    for (d, s) in o_tail.iter_mut().zip(step.apply(&x, &y)) {
        *d = s;
    }
}

/// The per-call constants of the Add, in vectors.
#[derive(Clone, Copy)]
struct AddStep {
    a_offset: __m256i,
    b_offset: __m256i,
    /// `left_shift` (a shift count register).
    left_shift: __m128i,
    a: Requant8,
    b: Requant8,
    out: Requant8,
    /// `act_min - output_offset`, `act_max - output_offset`, `output_offset`.
    lo: __m256i,
    hi: __m256i,
    output_offset: __m256i,
}

impl AddStep {
    /// The constants of `p` with the output multiplier `mult`, `shift`. Offsets
    /// and clamps are in the validated int8 ranges, `left_shift` in `[0, 23]`.
    #[target_feature(enable = "avx2")]
    fn new(p: &BinaryI8, mult: i32, shift: i32, rq: &RequantParams<'_>) -> Self {
        AddStep {
            a_offset: _mm256_set1_epi32(p.a_offset),
            b_offset: _mm256_set1_epi32(p.b_offset),
            left_shift: _mm_cvtsi32_si128(p.left_shift),
            a: Requant8::new(p.a_mult, p.a_shift),
            b: Requant8::new(p.b_mult, p.b_shift),
            out: Requant8::new(mult, shift),
            lo: _mm256_set1_epi32(rq.act_min.saturating_sub(rq.output_offset)),
            hi: _mm256_set1_epi32(rq.act_max.saturating_sub(rq.output_offset)),
            output_offset: _mm256_set1_epi32(rq.output_offset),
        }
    }

    /// Eight outputs of the Add from eight elements of each operand.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply(&self, x: &[i8; LANES], y: &[i8; LANES]) -> [i8; LANES] {
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
        let x = self.a.apply(_mm256_sll_epi32(x, self.left_shift));
        let y = self.b.apply(_mm256_sll_epi32(y, self.left_shift));
        let r = self.out.apply(_mm256_add_epi32(x, y));
        let r = _mm256_min_epi32(_mm256_max_epi32(r, self.lo), self.hi);
        let r = _mm256_add_epi32(r, self.output_offset);
        // In [-128, 127]: the saturating packs are plain narrowings.
        let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256::<1>(r));
        let r8 = _mm_packs_epi16(r16, r16);
        let mut o = [0i8; LANES];
        // SAFETY: 8 bytes written unaligned to an array of 8 bytes.
        unsafe { _mm_storel_epi64(o.as_mut_ptr().cast(), r8) };
        o
    }
}

/// [`crate::quant::requantize`] with one multiplier and shift, on 8 `i32` lanes.
#[derive(Clone, Copy)]
struct Requant8 {
    /// The multiplier in every `i32` lane.
    mult: __m256i,
    /// `2^(s-1)` in every `i64` lane, `s = total_shift(shift)` in `[1, 62]`.
    round: __m256i,
    /// `s`, as a shift count register.
    count: __m128i,
    /// `2^(63-s)`: `2^63 >>> s`, the bias the arithmetic shift removes.
    bias: __m256i,
}

impl Requant8 {
    #[target_feature(enable = "avx2")]
    fn new(mult: i32, shift: i32) -> Self {
        let s = total_shift(shift); // in [1, 62]
        Requant8 {
            mult: _mm256_set1_epi32(mult),
            round: _mm256_set1_epi64x(1i64 << (s - 1)),
            count: _mm_cvtsi64_si128(i64::from(s)),
            bias: _mm256_set1_epi64x(1i64 << (63 - s)),
        }
    }

    /// `requantize(acc[i], mult, shift)` for each of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply(&self, acc: __m256i) -> __m256i {
        let even = self.low_halves(acc);
        let odd = self.low_halves(_mm256_srli_epi64::<32>(acc));
        _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
    }

    /// `requantize` of the low `i32` of each `i64` lane, as `i64` lanes (in the
    /// `i32` range).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn low_halves(&self, acc: __m256i) -> __m256i {
        // |acc * mult| <= 2^62 and 2^(s-1) <= 2^61: the sum cannot overflow.
        let p = _mm256_add_epi64(_mm256_mul_epi32(acc, self.mult), self.round);
        // floor(p / 2^s): offset p by 2^63 to make it unsigned, shift logically,
        // remove the shifted offset.
        let sign = _mm256_set1_epi64x(i64::MIN);
        let q = _mm256_srl_epi64(_mm256_xor_si256(p, sign), self.count);
        let q = _mm256_sub_epi64(q, self.bias);
        let max = _mm256_set1_epi64x(i64::from(i32::MAX));
        let min = _mm256_set1_epi64x(i64::from(i32::MIN));
        let q = _mm256_blendv_epi8(q, max, _mm256_cmpgt_epi64(q, max));
        _mm256_blendv_epi8(q, min, _mm256_cmpgt_epi64(min, q))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::MAX_RANK;
    use crate::quant::{quantize_multiplier, requantize};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Whether the AVX2 twin can run here; prints a SKIP line when not.
    fn avx2_here() -> bool {
        let ok = available();
        if !ok {
            std::eprintln!("SKIP binary/avx2: this CPU has no AVX2");
        }
        ok
    }

    /// [`Requant8::apply`] on 8 lanes, for the tests.
    fn requant8(acc: [i32; 8], mult: i32, shift: i32) -> [i32; 8] {
        let mut out = [0i32; 8];
        // SAFETY: called only after `available()`; 32 bytes read from and
        // written to local arrays of 8 `i32`.
        unsafe {
            let r = Requant8::new(mult, shift);
            let v = r.apply(_mm256_loadu_si256(acc.as_ptr().cast()));
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
        }
        out
    }

    /// The vector requantization against `quant::requantize` on extreme and
    /// pseudo-random accumulators and multipliers, for every shift the compiler
    /// emits (and a few beyond, which both clamp).
    #[test]
    fn requant8_matches_requantize() {
        if !avx2_here() {
            return;
        }
        let mut accs = vec![
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
            i32::MAX - 1,
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            255 << 23,
            -(255 << 23),
            (255 << 22) + 1,
        ];
        let mut mults = vec![0, 1, -1, 1 << 30, i32::MAX, i32::MIN, 1_288_490_189];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..64 {
            let r = next();
            accs.push((r >> 32) as i32 >> (r as u32 % 31));
            mults.push(r as i32);
            mults.push((1 << 30) | (r as i32 & ((1 << 30) - 1)));
        }
        let shifts = (-31..=30).chain([-40, 31, 40, i32::MIN, i32::MAX]);
        for shift in shifts {
            for &m in &mults {
                for chunk in accs.chunks(8) {
                    let acc: [i32; 8] =
                        core::array::from_fn(|i| chunk.get(i).copied().unwrap_or(7));
                    let want = acc.map(|a| requantize(a, m, shift));
                    assert_eq!(requant8(acc, m, shift), want, "mult {m} shift {shift}");
                }
            }
        }
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
