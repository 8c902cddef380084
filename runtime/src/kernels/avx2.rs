//! Building blocks of the x86_64 AVX2 kernels (`conv/avx2.rs`, `fc/avx2.rs`),
//! chosen at run time (`is_x86_feature_detected!("avx2")`, so only with the `std`
//! feature; without it the scalar kernels run).
//!
//! Activations are widened once per row to `i16` (`x + input_offset`, in
//! `[-255, 255]`), zero-padded to a multiple of 16; the int8 weights are widened in
//! registers (`vpmovsxbw`) and multiplied pairwise into `i32` lanes
//! (`vpmaddwd`: `|x * w + x' * w'| <= 2 * 255 * 128`, exact), then summed with
//! wrapping `vpaddd`: the same sums as the scalar kernels, bit for bit. Four output
//! channels share each row load. Weights with a zero point run the scalar kernels.

use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::requant_out;
use core::arch::x86_64::*;

/// Longest reduction the AVX2 kernels widen (a stack row of `i16`); longer ones run
/// the scalar kernels.
pub const ROW_MAX: usize = 4096;

/// Whether this CPU runs the AVX2 kernels.
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
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
        // The four rows' whole chunks, when they all lie within the weights.
        let rows = [0, 1, 2, 3].map(|i| {
            w.w.get(base + i * w.len..base + i * w.len + span)
                .map(|r| r.as_chunks::<16>().0)
        });
        if let [Some(r0), Some(r1), Some(r2), Some(r3)] = rows {
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
