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

/// Sum of the 8 `i32` lanes (wrapping).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// `x . w` over the first `16 * (len / 16)` values of `x` (a row, zero-padded) and
/// `w` (int8), plus the tail with scalar products.
#[inline]
#[target_feature(enable = "avx2")]
fn dot(x: &[i16], w: &[i8], len: usize) -> __m256i {
    let mut acc = _mm256_setzero_si256();
    let (xs, _) = x.as_chunks::<16>();
    let (ws, _) = w.as_chunks::<16>();
    for (xv, wv) in xs.iter().zip(ws).take(len / 16) {
        // SAFETY: `xv` is 16 `i16` (32 bytes) and `wv` 16 `i8` (16 bytes), read
        // unaligned; AVX2 is enabled on this function.
        let (xv, wv) = unsafe {
            (
                _mm256_loadu_si256(xv.as_ptr().cast()),
                _mm_loadu_si128(wv.as_ptr().cast()),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(wv)));
    }
    acc
}

/// Scalar products of the last `len % 16` values.
#[inline]
fn tail(x: &[i16], w: &[i8], len: usize) -> i32 {
    let start = len - len % 16;
    let mut s = 0i32;
    for (&xv, &wv) in x.iter().zip(w).take(len).skip(start) {
        s = s.wrapping_add(xv as i32 * wv as i32);
    }
    s
}

/// Every output channel of one widened row `x` (`len` values) with weight rows of
/// `len` int8 values, plus bias, requantized into `out`.
#[target_feature(enable = "avx2")]
pub(crate) fn row_all_channels(
    x: &[i16],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    len: usize,
    out: &mut [i8],
) {
    let store = |out: &mut [i8], oc: usize, acc: i32| {
        let b = bias.and_then(|b| b.get(oc)).copied().unwrap_or(0);
        if let (Some(o), Some(&m), Some(&s)) = (out.get_mut(oc), rq.mult.get(oc), rq.shift.get(oc))
        {
            *o = requant_out(acc.wrapping_add(b), m, s, rq);
        }
    };
    let mut quads = weights.chunks_exact(4 * len);
    let mut oc = 0usize;
    for w in quads.by_ref() {
        let (w0, rest) = w.split_at(len);
        let (w1, rest) = rest.split_at(len);
        let (w2, w3) = rest.split_at(len);
        let (xs, _) = x.as_chunks::<16>();
        let ws = [w0, w1, w2, w3].map(|w| w.as_chunks::<16>().0);
        let mut acc = [_mm256_setzero_si256(); 4];
        for (c, xv) in xs.iter().enumerate().take(len / 16) {
            // SAFETY: 32 bytes of `xv`, read unaligned; AVX2 is enabled here.
            let xv = unsafe { _mm256_loadu_si256(xv.as_ptr().cast()) };
            for (a, wr) in acc.iter_mut().zip(&ws) {
                if let Some(wv) = wr.get(c) {
                    // SAFETY: 16 bytes of `wv`, read unaligned.
                    let wv = unsafe { _mm_loadu_si128(wv.as_ptr().cast()) };
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(wv)));
                }
            }
        }
        for (i, (a, w)) in acc.into_iter().zip([w0, w1, w2, w3]).enumerate() {
            store(out, oc + i, hsum(a).wrapping_add(tail(x, w, len)));
        }
        oc += 4;
    }
    for w in quads.remainder().chunks_exact(len) {
        store(out, oc, hsum(dot(x, w, len)).wrapping_add(tail(x, w, len)));
        oc += 1;
    }
}
