//! Building blocks of the x86_64 AVX2 kernels, chosen at run time
//! (`is_x86_feature_detected!("avx2")`, so only with the `std` feature; without
//! it the scalar kernels run):
//! - [`Requant8`] and [`Narrow8`], the vector requantization and output stage
//!   of every int8 AVX2 kernel (conv, Add, max pool);
//! - [`row_all_channels`], the fully connected kernel's dot products
//!   (`fc/avx2.rs`): activations widened once per row to `i16` (`x +
//!   input_offset`, in `[-255, 255]`), zero-padded to a multiple of 16; the int8
//!   weights widened in registers (`vpmovsxbw`) and multiplied pairwise into
//!   `i32` lanes (`vpmaddwd`: `|x * w + x' * w'| <= 2 * 255 * 128`, exact), then
//!   summed with wrapping `vpaddd`: the same sums as the scalar kernels, bit for
//!   bit. Four output channels share each row load. Weights with a zero point
//!   run the scalar kernels.

use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::requant_out;
use crate::quant::total_shift;
use core::arch::x86_64::*;

/// Longest reduction the AVX2 kernels widen (a stack row of `i16`); longer ones run
/// the scalar kernels.
pub const ROW_MAX: usize = 4096;

/// Whether this CPU runs the AVX2 kernels.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// [`available`] for a test of the AVX2 twin `twin`; prints a SKIP line when
/// the CPU has no AVX2.
#[cfg(test)]
pub(crate) fn here(twin: &str) -> bool {
    let ok = available();
    if !ok {
        std::eprintln!("SKIP {twin}: this CPU has no AVX2");
    }
    ok
}

extern crate std;

/// The weight rows of a call (`len` int8 values each, back to back), read 16 at
/// a time. A row's last 16 values run past its end into the next row, or past
/// the end of the weights; the activation row is zero there
/// ([`row_all_channels`]), so whatever is read adds nothing, and past the end
/// the reads come from a zero-padded copy of the last 16 weights.
pub(crate) struct Weights<'a> {
    w: &'a [i8],
    len: usize,
    /// `len` rounded up to whole chunks of 16.
    chunks: usize,
    /// The last (up to) 16 weights, then 16 zeros.
    tail: [i8; 32],
    tail_start: usize,
}

impl<'a> Weights<'a> {
    pub(crate) fn new(w: &'a [i8], len: usize) -> Self {
        let tail_start = w.len().saturating_sub(16);
        let mut tail = [0i8; 32];
        let last = w.get(tail_start..).unwrap_or_default();
        if let Some(t) = tail.get_mut(..last.len()) {
            t.copy_from_slice(last);
        }
        Weights {
            w,
            len,
            chunks: len.div_ceil(16),
            tail,
            tail_start,
        }
    }

    /// 16 weights from `at`, widened to `i16`; zeros past the end.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(&self, at: usize) -> __m256i {
        let src = match self.w.get(at..at + 16) {
            Some(s) => s,
            None => at
                .checked_sub(self.tail_start)
                .and_then(|k| self.tail.get(k..k + 16))
                .unwrap_or(&[0; 16]),
        };
        // SAFETY: `src` is 16 bytes, read unaligned; AVX2 is enabled here.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(src.as_ptr().cast()) })
    }
}

/// The four lane sums of `a`, `b`, `c`, `d` (wrapping), in that order.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m128i {
    let s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s))
}

/// Every output channel of one widened row `x` with the weight rows `w`, plus
/// bias, requantized into `out`. `x` holds at least `w.chunks * 16` values (the
/// first are read): the row's `len`, then zeros.
#[target_feature(enable = "avx2")]
pub(crate) fn row_all_channels(
    x: &[i16],
    w: &Weights<'_>,
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) {
    let store = |out: &mut [i8], oc: usize, acc: i32| {
        let b = bias.and_then(|b| b.get(oc)).copied().unwrap_or(0);
        if let (Some(o), Some(&m), Some(&s)) = (out.get_mut(oc), rq.mult.get(oc), rq.shift.get(oc))
        {
            *o = requant_out(acc.wrapping_add(b), m, s, rq);
        }
    };
    let (xs, _) = x.as_chunks::<16>();
    let xs = xs.get(..w.chunks).unwrap_or(xs);
    let span = 16 * w.chunks;
    let out_c = out.len();
    let mut oc = 0usize;
    while oc + 4 <= out_c {
        let base = oc * w.len;
        let mut acc = [_mm256_setzero_si256(); 4];
        // The four rows' whole chunks, when they all lie within the weights
        // (a closure, not `[0, 1, 2, 3].map`, which was an out-of-line call
        // costing a quarter of the fc layers' instructions).
        let row = |i: usize| {
            w.w.get(base + i * w.len..base + i * w.len + span)
                .map(|r| r.as_chunks::<16>().0)
        };
        if let (Some(r0), Some(r1), Some(r2), Some(r3)) = (row(0), row(1), row(2), row(3)) {
            for ((((xv, w0), w1), w2), w3) in xs.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
                // SAFETY: 32 bytes of `xv` and 16 of each weight chunk, read
                // unaligned; AVX2 is enabled here.
                unsafe {
                    let xv = _mm256_loadu_si256(xv.as_ptr().cast());
                    for (a, wv) in acc.iter_mut().zip([w0, w1, w2, w3]) {
                        let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(wv.as_ptr().cast()));
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
                    }
                }
            }
        } else {
            for (c, xv) in xs.iter().enumerate() {
                // SAFETY: 32 bytes of `xv`, read unaligned.
                let xv = unsafe { _mm256_loadu_si256(xv.as_ptr().cast()) };
                for (i, a) in acc.iter_mut().enumerate() {
                    let wv = w.load(base + i * w.len + 16 * c);
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
                }
            }
        }
        let [a, b, c, d] = acc;
        let mut sums = [0i32; 4];
        // SAFETY: 16 bytes written to `sums`, unaligned.
        unsafe { _mm_storeu_si128(sums.as_mut_ptr().cast(), hsum4(a, b, c, d)) };
        for (i, s) in sums.into_iter().enumerate() {
            store(out, oc + i, s);
        }
        oc += 4;
    }
    while oc < out_c {
        let mut acc = _mm256_setzero_si256();
        for (c, xv) in xs.iter().enumerate() {
            // SAFETY: 32 bytes of `xv`, read unaligned.
            let xv = unsafe { _mm256_loadu_si256(xv.as_ptr().cast()) };
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, w.load(oc * w.len + 16 * c)));
        }
        let z = _mm256_setzero_si256();
        store(out, oc, _mm_cvtsi128_si32(hsum4(acc, z, z, z)));
        oc += 1;
    }
}

/// [`crate::quant::requantize`] on 8 `i32` lanes, each with its own multiplier
/// and shift (one for all with [`Requant8::new`]), bit for bit for every `i32`
/// accumulator, multiplier and shift: the exact 64-bit products of the even and
/// of the odd lanes (`vpmuldq`), plus `2^(s-1)`, an arithmetic right shift by
/// `s = total_shift(shift)` (AVX2 has no `vpsraq`: `((p ^ 2^63) >>> s) -
/// 2^(63-s)`, with `vpsrlvq`), saturated to `i32` (`vpcmpgtq`).
///
/// When every lane has `s >= 32` (`shift <= -1`, multipliers below 1/2: every
/// conv and fully connected layer of the zoo), a shorter path gives the same
/// values: `floor(v / 2^s) = floor(floor(v / 2^32) / 2^(s - 32))` for `v = p +
/// 2^(s-1)`, whose high `i32` is `floor(v / 2^32)` (`|v| < 2^63`, and `|v / 2^32|
/// < 2^31`), then one `vpsravd` by `s - 32`; the result fits an `i32`, so
/// nothing saturates.
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    /// The even lanes' constants, in the low `i32` of each `i64` lane.
    even: Half,
    /// The odd lanes' constants.
    odd: Half,
    /// `s - 32` per `i32` lane when every `s >= 32`.
    high: Option<__m256i>,
}

/// The constants of four lanes of [`Requant8`], one per `i64` lane.
#[derive(Clone, Copy)]
struct Half {
    /// The multiplier in the low `i32`.
    mult: __m256i,
    /// `2^(s-1)`, `s = total_shift(shift)` in `[1, 62]`.
    round: __m256i,
    /// `s`.
    count: __m256i,
    /// `2^(63-s)`: `2^63 >>> s`, the bias the arithmetic shift removes.
    bias: __m256i,
}

impl Half {
    /// The constants of the four lanes `mult[i]`, `shift[i]`.
    #[target_feature(enable = "avx2")]
    fn new(mult: [i32; 4], shift: [i32; 4]) -> Self {
        let s = shift.map(|v| i64::from(total_shift(v))); // in [1, 62]
        let v = |f: fn(i64) -> i64| _mm256_setr_epi64x(f(s[0]), f(s[1]), f(s[2]), f(s[3]));
        Half {
            mult: _mm256_setr_epi64x(
                i64::from(mult[0]),
                i64::from(mult[1]),
                i64::from(mult[2]),
                i64::from(mult[3]),
            ),
            round: v(|s| 1i64 << (s - 1)),
            count: v(|s| s),
            bias: v(|s| 1i64 << (63 - s)),
        }
    }

    /// `requantize` of the low `i32` of each `i64` lane, as `i64` lanes (in the
    /// `i32` range).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply(&self, acc: __m256i) -> __m256i {
        // |acc * mult| <= 2^62 and 2^(s-1) <= 2^61: the sum cannot overflow.
        let p = _mm256_add_epi64(_mm256_mul_epi32(acc, self.mult), self.round);
        // floor(p / 2^s): offset p by 2^63 to make it unsigned, shift logically,
        // remove the shifted offset.
        let sign = _mm256_set1_epi64x(i64::MIN);
        let q = _mm256_srlv_epi64(_mm256_xor_si256(p, sign), self.count);
        let q = _mm256_sub_epi64(q, self.bias);
        let max = _mm256_set1_epi64x(i64::from(i32::MAX));
        let min = _mm256_set1_epi64x(i64::from(i32::MIN));
        let q = _mm256_blendv_epi8(q, max, _mm256_cmpgt_epi64(q, max));
        _mm256_blendv_epi8(q, min, _mm256_cmpgt_epi64(min, q))
    }
}

impl Requant8 {
    /// One multiplier and shift for all 8 lanes.
    #[target_feature(enable = "avx2")]
    pub(crate) fn new(mult: i32, shift: i32) -> Self {
        Self::lanes([mult; 8], [shift; 8])
    }

    /// Lane `i` scaled by `mult[i]`, `shift[i]`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn lanes(mult: [i32; 8], shift: [i32; 8]) -> Self {
        let [m0, m1, m2, m3, m4, m5, m6, m7] = mult;
        let [s0, s1, s2, s3, s4, s5, s6, s7] = shift;
        let s = shift.map(|v| total_shift(v) as i32);
        let high = s.iter().all(|&s| s >= 32).then(|| {
            let c = s.map(|s| s - 32);
            // SAFETY: 32 bytes read unaligned from an array of 8 `i32`.
            unsafe { _mm256_loadu_si256(c.as_ptr().cast()) }
        });
        Requant8 {
            even: Half::new([m0, m2, m4, m6], [s0, s2, s4, s6]),
            odd: Half::new([m1, m3, m5, m7], [s1, s3, s5, s7]),
            high,
        }
    }

    /// `requantize(acc[i], mult[i], shift[i])` for each of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn apply(&self, acc: __m256i) -> __m256i {
        if let Some(count) = self.high {
            // p + 2^(s-1) of the even and of the odd lanes (no overflow, see
            // `Half::apply`); the high halves, then the shift by s - 32.
            let e = _mm256_add_epi64(_mm256_mul_epi32(acc, self.even.mult), self.even.round);
            let o = _mm256_srli_epi64::<32>(acc);
            let o = _mm256_add_epi64(_mm256_mul_epi32(o, self.odd.mult), self.odd.round);
            let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(e), o);
            return _mm256_srav_epi32(hi, count);
        }
        let even = self.even.apply(acc);
        let odd = self.odd.apply(_mm256_srli_epi64::<32>(acc));
        _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
    }
}

/// The output stage after [`Requant8`]: `+ output_offset`, clamp, narrow to
/// int8. Computed as `clamp(r, act_min - output_offset, act_max -
/// output_offset) + output_offset`, which equals the scalar `requant_out`'s
/// saturating add then clamp, because the clamp bounds are int8 values far from
/// the `i32` limits.
#[derive(Clone, Copy)]
pub(crate) struct Narrow8 {
    lo: __m256i,
    hi: __m256i,
    output_offset: __m256i,
    /// For [`Narrow8::transpose`]: the zero point in `i16` lanes, the clamp
    /// bounds in `i8` lanes.
    offset16: __m256i,
    min8: __m256i,
    max8: __m256i,
}

impl Narrow8 {
    /// The stage of `rq` (validated: int8 clamp bounds and zero point).
    #[target_feature(enable = "avx2")]
    pub(crate) fn new(rq: &RequantParams<'_>) -> Self {
        Narrow8 {
            lo: _mm256_set1_epi32(rq.act_min.saturating_sub(rq.output_offset)),
            hi: _mm256_set1_epi32(rq.act_max.saturating_sub(rq.output_offset)),
            output_offset: _mm256_set1_epi32(rq.output_offset),
            offset16: _mm256_set1_epi16(rq.output_offset.clamp(-128, 127) as i16),
            min8: _mm256_set1_epi8(rq.act_min.clamp(-128, 127) as i8),
            max8: _mm256_set1_epi8(rq.act_max.clamp(-128, 127) as i8),
        }
    }

    /// The 8 requantized lanes `r` as int8, in the low 8 bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn apply(&self, r: __m256i) -> __m128i {
        let r = _mm256_min_epi32(_mm256_max_epi32(r, self.lo), self.hi);
        let r = _mm256_add_epi32(r, self.output_offset);
        // In [-128, 127]: the saturating packs are plain narrowings.
        let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256::<1>(r));
        _mm_packs_epi16(r16, r16)
    }

    /// Four requantized vectors as int8, clamped, in the order the packs
    /// leave them: dword `l` of lane `h` (of 4 per 128-bit lane) is lanes
    /// `4h..4h + 4` of `r[l]`. Saturating narrowings first (`i32 -> i16`, the
    /// zero point added with saturation, `i16 -> i8`), the clamp last, on
    /// bytes: each step is monotonic and saturates only values outside
    /// `[-128, 127]`, which the clamp maps to its bounds anyway, so every byte
    /// equals [`Narrow8::apply`]'s (and the scalar `requant_out`'s). The
    /// common step of [`Narrow8::interleave4`] and [`Narrow8::transpose`].
    #[inline]
    #[target_feature(enable = "avx2")]
    fn packed4(&self, r: [__m256i; 4]) -> __m256i {
        let [r0, r1, r2, r3] = r;
        let w = |a, b| _mm256_adds_epi16(_mm256_packs_epi32(a, b), self.offset16);
        let b = _mm256_packs_epi16(w(r0, r1), w(r2, r3));
        _mm256_min_epi8(_mm256_max_epi8(b, self.min8), self.max8)
    }

    /// Four requantized vectors as int8, back to back: bytes `8i..8i + 8` are
    /// `r[i]`'s eight lanes, in order ([`Narrow8::packed4`], then one `vpermd`
    /// puts each vector's two halves together).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn interleave4(&self, r: [__m256i; 4]) -> __m256i {
        let b = self.packed4(r);
        _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    /// Eight requantized vectors `r[c]` (lane `p`: pixel `p` of channel `c`)
    /// as int8, transposed: `[pixels 0..4, pixels 4..8]`, each pixel's eight
    /// channel bytes in order ([`Narrow8::packed4`] of each four channels,
    /// then byte shuffles).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn transpose(&self, r: [__m256i; 8]) -> [__m256i; 2] {
        let [r0, r1, r2, r3, r4, r5, r6, r7] = r;
        // Per 128-bit lane `l`: channels 0..4 (4..8) of pixels `4l..4l + 4`,
        // channel-major.
        let lo = self.packed4([r0, r1, r2, r3]);
        let hi = self.packed4([r4, r5, r6, r7]);
        // Per lane: pixel-major (a 4x4 byte transpose).
        let t = _mm256_setr_epi8(
            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, //
            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
        );
        let (lo, hi) = (_mm256_shuffle_epi8(lo, t), _mm256_shuffle_epi8(hi, t));
        // Per lane: pixels 4l, 4l + 1 (and 4l + 2, 4l + 3), channels 0..8.
        let a = _mm256_unpacklo_epi32(lo, hi);
        let b = _mm256_unpackhi_epi32(lo, hi);
        [
            _mm256_permute2x128_si256::<0x20>(a, b),
            _mm256_permute2x128_si256::<0x31>(a, b),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // in tests a panic is a failure report
mod tests {
    use super::*;
    use crate::quant::requantize;
    use std::vec;

    fn avx2_here() -> bool {
        here("kernels/avx2")
    }

    /// [`Requant8::apply`] with per-lane constants, for the tests.
    fn requant8_lanes(acc: [i32; 8], mult: [i32; 8], shift: [i32; 8]) -> [i32; 8] {
        let mut out = [0i32; 8];
        // SAFETY: called only after `available()`; 32 bytes read from and
        // written to local arrays of 8 `i32`.
        unsafe {
            let r = Requant8::lanes(mult, shift);
            let v = r.apply(_mm256_loadu_si256(acc.as_ptr().cast()));
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
        }
        out
    }

    /// [`Requant8::new`] on 8 lanes, for the tests.
    fn requant8(acc: [i32; 8], mult: i32, shift: i32) -> [i32; 8] {
        let mut out = [0i32; 8];
        // SAFETY: as in `requant8_lanes`.
        unsafe {
            let r = Requant8::new(mult, shift);
            let v = r.apply(_mm256_loadu_si256(acc.as_ptr().cast()));
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
        }
        out
    }

    /// Extreme and pseudo-random accumulators and multipliers.
    fn samples() -> (std::vec::Vec<i32>, std::vec::Vec<i32>) {
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
        (accs, mults)
    }

    /// Every shift the compiler emits, and a few beyond (both clamp them).
    fn shifts() -> impl Iterator<Item = i32> + Clone {
        (-31..=30).chain([-40, 31, 40, i32::MIN, i32::MAX])
    }

    /// The vector requantization with one multiplier against
    /// `quant::requantize`.
    #[test]
    fn requant8_matches_requantize() {
        if !avx2_here() {
            return;
        }
        let (accs, mults) = samples();
        for shift in shifts() {
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

    /// `Narrow8::transpose` against `requant_out`'s last step lane by lane,
    /// on values around the `i16` and `i8` limits and the clamp bounds, with
    /// zero points and clamps across their range (a wrong lane order, a
    /// missing saturation or an unclamped byte changes some byte).
    #[test]
    fn narrow8_transpose_and_interleave_match_scalar() {
        if !avx2_here() {
            return;
        }
        let edges = [
            i32::MIN,
            -40_000,
            -32_769,
            -32_768,
            -32_767,
            -300,
            -256,
            -255,
            -200,
            -129,
            -128,
            -127,
            -100,
            -1,
            0,
            1,
            100,
            126,
            127,
            128,
            129,
            200,
            255,
            256,
            300,
            32_767,
            32_768,
            40_000,
            i32::MAX,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (offset, min, max) in [
            (0, -128, 127),
            (-128, -128, 127),
            (127, -128, 127),
            (5, -3, 90),
            (-77, 0, 0),
            (33, -128, -100),
        ] {
            let rq = RequantParams {
                mult: &[],
                shift: &[],
                output_offset: offset,
                act_min: min,
                act_max: max,
            };
            for _ in 0..200 {
                let v: [[i32; 8]; 8] = core::array::from_fn(|_| {
                    core::array::from_fn(|_| {
                        let r = next();
                        if r % 3 == 0 {
                            edges[(r >> 8) as usize % edges.len()]
                        } else {
                            (r >> 32) as i32 >> (r as u32 % 32)
                        }
                    })
                });
                let mut got = [[0i8; 8]; 8];
                let mut inter = [[0i8; 8]; 8];
                unsafe {
                    let n = Narrow8::new(&rq);
                    let r = v.map(|c| _mm256_loadu_si256(c.as_ptr().cast()));
                    let [p0, p1] = n.transpose(r);
                    _mm256_storeu_si256(got.as_mut_ptr().cast(), p0);
                    _mm256_storeu_si256(got[4..].as_mut_ptr().cast(), p1);
                    let [r0, r1, r2, r3, r4, r5, r6, r7] = r;
                    let i0 = n.interleave4([r0, r1, r2, r3]);
                    let i1 = n.interleave4([r4, r5, r6, r7]);
                    _mm256_storeu_si256(inter.as_mut_ptr().cast(), i0);
                    _mm256_storeu_si256(inter[4..].as_mut_ptr().cast(), i1);
                }
                for p in 0..8 {
                    for c in 0..8 {
                        let want = crate::kernels::conv::scalar::offset_clamp(v[c][p], &rq);
                        let at = std::format!(
                            "pixel {p} channel {c} value {} rq {offset} {min} {max}",
                            v[c][p]
                        );
                        assert_eq!(got[p][c], want, "transpose: {at}");
                        assert_eq!(inter[c][p], want, "interleave4: {at}");
                    }
                }
            }
        }
    }

    /// Per-lane multipliers and shifts: each lane against `quant::requantize`
    /// with its own constants (a lane mix-up between even and odd, or between
    /// the two halves, changes some lane).
    #[test]
    fn requant8_lanes_match_requantize() {
        if !avx2_here() {
            return;
        }
        let (accs, mults) = samples();
        let shifts: std::vec::Vec<i32> = shifts().collect();
        let mut k = 0usize;
        for chunk in accs.chunks(8) {
            for _ in 0..64 {
                let acc: [i32; 8] = core::array::from_fn(|i| chunk[(i + k) % chunk.len()]);
                let mult: [i32; 8] =
                    core::array::from_fn(|i| mults[(k * 7 + i * 13) % mults.len()]);
                let shift: [i32; 8] =
                    core::array::from_fn(|i| shifts[(k * 5 + i * 11) % shifts.len()]);
                let want: [i32; 8] =
                    core::array::from_fn(|i| requantize(acc[i], mult[i], shift[i]));
                assert_eq!(requant8_lanes(acc, mult, shift), want, "{mult:?} {shift:?}");
                k += 1;
            }
        }
    }
}
