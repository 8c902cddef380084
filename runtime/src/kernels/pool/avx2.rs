//! int8 max pooling for x86_64 with AVX2, chosen at run time. Bit-exact twin of
//! [`super::scalar::pool_i8`] (same contract, errors and bytes).
//!
//! Per output pixel, the window maximum of 32 channels at a time is `vpmaxsb`
//! over the valid taps' channel runs (a window without any valid tap gets the
//! input zero point, so that `v = max - zero_point` is 0, as in the scalar
//! kernel). A window inside the input reads its taps at precomputed offsets
//! from its first cell, without bounds checks per tap (one check per window);
//! windows that touch the padding go tap by tap. Pixels of at most 16
//! channels (LeNet-5's and the detector's first pools) would leave most of a
//! vector unused: for each output row, the maxima over its window rows are
//! taken once for the whole input row, 32 bytes per step, then each window is
//! the maximum of its columns' 16 bytes (a row whose windows all lie inside
//! the input along columns in one loop, [`row_maxima`], without the per-pixel
//! tap ranges and checks). The maxima of up to [`BUF`]
//! values of whole pixels are collected, then converted at once:
//! - with the identity requantization (`mult = 2^30`, `shift = 1`, which
//!   `requantize` leaves unchanged) and `output_offset == input_zero_point`
//!   (the same scale and zero point in and out), the output is the clamped
//!   maximum, 32 bytes per step;
//! - otherwise `max - zero_point` is widened to `i32` lanes and goes through
//!   [`Requant8`] and [`Narrow8`], 8 values per step.
//!
//! The collected maxima and the column maxima live in a per-thread scratch
//! buffer kept between calls (this module is std-only): 6 KB of stack arrays
//! zeroed at every call were a few percent of LeNet-5's inference.
//!
//! Average pooling, and CPUs without AVX2, run the scalar kernel.

use crate::error::Error;
use crate::format::schema::{PoolGeom, PoolKind};
use crate::kernels::RequantParams;
use crate::kernels::avx2::{Narrow8, Requant8, available};
use crate::kernels::pool::scalar::{self, Dims, validate};
use crate::kernels::pool::taps_in;
use core::arch::x86_64::*;
use core::cell::RefCell;

extern crate std;

/// Taps of the windows that take the direct path (larger windows, e.g. a
/// global pool, walk their taps one by one).
const TAPS: usize = 64;

/// Longest input row (`in_w * c` values) of the narrow-pixel path.
const VROW: usize = 2048;

/// Maxima collected before a conversion (whole pixels; a pixel of more channels
/// runs the scalar kernel).
const BUF: usize = 4096;

/// The buffers of [`max_pool`], kept between the calls on one thread. What a
/// call reads of them, it wrote first.
struct Scratch {
    /// Collected maxima; 32 values of slack: each pixel's last vector is
    /// stored whole.
    buf: [i8; BUF + 32],
    /// The column maxima of an output row's input rows (narrow pixels), for
    /// two rows.
    vrow: [[i8; VROW + 16]; 2],
}

std::thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            buf: [0; BUF + 32],
            vrow: [[0; VROW + 16]; 2],
        })
    };
}

/// int8 pooling with AVX2 for max pooling when the CPU has it; same contract,
/// errors and results as [`scalar::pool_i8`].
pub fn pool_i8(
    g: &PoolGeom,
    input: &[i8],
    input_zero_point: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(g, input, input_zero_point, rq, out)?;
    let (Some(&mult), Some(&shift)) = (rq.mult.first(), rq.shift.first()) else {
        return Err(Error::BadGeometry);
    };
    if g.kind != PoolKind::Max || d.c == 0 || d.c > BUF || !available() {
        return scalar::pool_i8(g, input, input_zero_point, rq, out);
    }
    let done = SCRATCH.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return false;
        };
        // SAFETY: `available()` checked that the CPU has AVX2.
        unsafe { max_pool(&d, input, input_zero_point, mult, shift, rq, out, &mut s) };
        true
    });
    if done {
        return Ok(());
    }
    // A re-entrant call (which the kernels never make).
    scalar::pool_i8(g, input, input_zero_point, rq, out)
}

/// Max pooling (module docs). `d` was validated against `input` and `out`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
fn max_pool(
    d: &Dims,
    input: &[i8],
    zp: i32,
    mult: i32,
    shift: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    s: &mut Scratch,
) {
    let convert = Convert::new(zp, mult, shift, rq);
    let Scratch { buf, vrow } = s;
    let per = BUF / d.c;
    let empty = _mm256_set1_epi8(zp as i8);
    let (mut i, mut done) = (0usize, 0usize);
    // The taps' offsets from a window's first cell, for windows inside the
    // input (all `k_h * k_w` taps valid), when there are at most `TAPS`.
    let mut offsets = [0usize; TAPS];
    let taps_all = d.k_h * d.k_w;
    for (t, o) in offsets.iter_mut().enumerate().take(taps_all) {
        let (kh, kw) = (t / d.k_w, t % d.k_w);
        *o = (kh * d.dil_h * d.in_w + kw * d.dil_w) * d.c;
    }
    let offsets = offsets.get(..taps_all).filter(|_| taps_all <= TAPS);
    // The last vector read of a window, from its first cell.
    let reach = offsets.map_or(0, |o| o.last().copied().unwrap_or(0)) + (d.c - 1) / 32 * 32 + 32;
    let narrow = d.c <= 16 && d.in_w * d.c <= VROW;
    // No window of a row reaches into the left or right padding.
    let whole_cols = d.pad_left == 0 && (d.out_w - 1) * d.stride_w + (d.k_w - 1) * d.dil_w < d.in_w;
    // The column maxima of output row `k` (over all images) into `dst`;
    // `false` when the row takes the other path.
    let column_maxima = |k: usize, dst: &mut [i8; VROW + 16]| {
        let (b, oh) = (k / d.out_h, k % d.out_h);
        let rows = taps(oh * d.stride_h, d.dil_h, d.k_h, d.pad_top, d.in_h);
        narrow && !rows.is_empty() && {
            let row = |kh: usize| {
                let ih = oh * d.stride_h + kh * d.dil_h - d.pad_top;
                (b * d.in_h + ih) * d.in_w * d.c
            };
            column_max(input, rows.map(row), d.in_w * d.c, dst)
        }
    };
    // Output row `k` reads the column maxima written one row earlier (two
    // buffers): its unaligned 16-byte loads right after the 32-byte stores
    // that wrote them could not be forwarded from the store buffer and
    // stalled (a fifth of LeNet-5's pooling time).
    let total = d.n * d.out_h;
    let [v0, v1] = vrow;
    let mut ready = [total > 0 && column_maxima(0, v0), false];
    for (k, (b, oh)) in (0..d.n)
        .flat_map(|b| (0..d.out_h).map(move |oh| (b, oh)))
        .enumerate()
    {
        let rows = taps(oh * d.stride_h, d.dil_h, d.k_h, d.pad_top, d.in_h);
        let (vrow, next) = if k % 2 == 0 {
            (&*v0, &mut *v1)
        } else {
            (&*v1, &mut *v0)
        };
        if let Some(r) = ready.get_mut((k + 1) % 2) {
            *r = k + 1 < total && column_maxima(k + 1, next);
        }
        let vertical = ready.get(k % 2).copied().unwrap_or(false);
        // Every window of the row inside the input along columns, and the
        // whole row fits the buffer: the row's maxima in one loop, offsets
        // and bounds worked out once.
        if vertical && whole_cols && i + d.out_w <= per {
            row_maxima(vrow, d, buf.get_mut(i * d.c..).unwrap_or_default());
            i += d.out_w;
            if i == per {
                convert.flush(buf, out, &mut done, i * d.c);
                i = 0;
            }
            continue;
        }
        for ow in 0..d.out_w {
            let cols = taps(ow * d.stride_w, d.dil_w, d.k_w, d.pad_left, d.in_w);
            if vertical && !cols.is_empty() {
                // Narrow pixels: the maximum over the window's columns of
                // the column maxima, 16 bytes per column.
                let mut m = _mm_set1_epi8(i8::MIN);
                for kw in cols {
                    let at = (ow * d.stride_w + kw * d.dil_w - d.pad_left) * d.c;
                    if let Some(v) = vrow.get(at..at + 16) {
                        // SAFETY: 16 bytes read unaligned from `v`.
                        m = _mm_max_epi8(m, unsafe { _mm_loadu_si128(v.as_ptr().cast()) });
                    }
                }
                if let Some(t) = buf.get_mut(i * d.c..i * d.c + 16) {
                    // SAFETY: 16 bytes written unaligned to `t`, 16 bytes long.
                    unsafe { _mm_storeu_si128(t.as_mut_ptr().cast(), m) };
                }
            } else {
                let none = rows.is_empty() || cols.is_empty();
                let first = |kh: usize, kw: usize| {
                    let ih = oh * d.stride_h + kh * d.dil_h - d.pad_top;
                    let iw = ow * d.stride_w + kw * d.dil_w - d.pad_left;
                    ((b * d.in_h + ih) * d.in_w + iw) * d.c
                };
                // A window inside the input whose every read stays in `input`.
                let inside = offsets
                    .filter(|_| rows.len() == d.k_h && cols.len() == d.k_w)
                    .map(|o| (o, first(0, 0)))
                    .filter(|&(_, at)| at + reach <= input.len());
                for c0 in (0..d.c).step_by(32) {
                    let mut m = if none {
                        empty
                    } else {
                        _mm256_set1_epi8(i8::MIN)
                    };
                    if let Some((offsets, at)) = inside {
                        let p = input.as_ptr();
                        for &o in offsets {
                            // SAFETY: `at + o + c0 + 32 <= at + reach <= input.len()`
                            // (checked above); 32 bytes read unaligned.
                            m = _mm256_max_epi8(m, unsafe {
                                _mm256_loadu_si256(p.add(at + o + c0).cast())
                            });
                        }
                    } else {
                        for kh in rows.clone() {
                            for kw in cols.clone() {
                                m = _mm256_max_epi8(m, load32(input, first(kh, kw) + c0));
                            }
                        }
                    }
                    if let Some(t) = buf.get_mut(i * d.c + c0..i * d.c + c0 + 32) {
                        // SAFETY: 32 bytes written unaligned to `t`, 32 bytes long.
                        unsafe { _mm256_storeu_si256(t.as_mut_ptr().cast(), m) };
                    }
                }
            }
            i += 1;
            if i == per {
                convert.flush(buf, out, &mut done, i * d.c);
                i = 0;
            }
        }
    }
    convert.flush(buf, out, &mut done, i * d.c);
}

/// The narrow-pixel maxima of a whole output row whose windows all lie
/// inside the input along columns: pixel `ow`'s `c` values (16 bytes stored,
/// the rest overwritten by the next pixel or slack) are the maximum of its
/// columns' 16 bytes of `vrow`. Nothing is written when a read or write
/// would leave `vrow` or `dst` (the caller's sizes rule that out).
#[target_feature(enable = "avx2")]
fn row_maxima(vrow: &[i8; VROW + 16], d: &Dims, dst: &mut [i8]) {
    let (step, tap) = (d.stride_w * d.c, d.dil_w * d.c);
    let last = (d.out_w - 1) * step + (d.k_w - 1) * tap;
    if last + 16 > vrow.len() || (d.out_w - 1) * d.c + 16 > dst.len() {
        return;
    }
    let (src, out) = (vrow.as_ptr(), dst.as_mut_ptr());
    for ow in 0..d.out_w {
        // SAFETY: `ow * step + kw * tap + 16 <= last + 16 <= vrow.len()` and
        // `ow * c + 16 <= dst.len()` (checked above); 16 bytes each,
        // unaligned.
        unsafe {
            let p = src.add(ow * step);
            let mut m = _mm_loadu_si128(p.cast());
            for kw in 1..d.k_w {
                m = _mm_max_epi8(m, _mm_loadu_si128(p.add(kw * tap).cast()));
            }
            _mm_storeu_si128(out.add(ow * d.c).cast(), m);
        }
    }
}

/// `vrow[x]` = the maximum of `input[s + x]` over the row starts `s` in
/// `starts`, for `x < len` (and a few values past it), 32 bytes per step; `false` (nothing to use) when a row
/// would leave `input` or `len` exceeds [`VROW`].
#[target_feature(enable = "avx2")]
fn column_max(
    input: &[i8],
    starts: impl Iterator<Item = usize> + Clone,
    len: usize,
    vrow: &mut [i8; VROW + 16],
) -> bool {
    if len > VROW || starts.clone().any(|s| s + len > input.len()) {
        return false;
    }
    let (v32, _) = vrow.as_chunks_mut::<32>();
    for (x, v) in v32.iter_mut().enumerate().take(len.div_ceil(32)) {
        let mut m = _mm256_set1_epi8(i8::MIN);
        for s in starts.clone() {
            m = _mm256_max_epi8(m, load32(input, s + 32 * x));
        }
        // SAFETY: 32 bytes written unaligned to `v`, 32 bytes long.
        unsafe { _mm256_storeu_si256(v.as_mut_ptr().cast(), m) };
    }
    true
}

/// The valid taps of a window starting at padded coordinate `start`: all
/// `0..k` without a division when the window lies inside the input, else
/// [`taps_in`].
#[inline]
fn taps(start: usize, dil: usize, k: usize, pad: usize, len: usize) -> core::ops::Range<usize> {
    if start >= pad && start + (k - 1) * dil < pad + len {
        0..k
    } else {
        taps_in(start, dil, k, pad, pad + len)
    }
}

/// The 32 bytes of `v` from `at` (the bytes past its end are `i8::MIN`).
#[inline]
#[target_feature(enable = "avx2")]
fn load32(v: &[i8], at: usize) -> __m256i {
    if let Some(s) = v.get(at..at + 32) {
        // SAFETY: 32 bytes read unaligned from `s`.
        return unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
    }
    let mut b = [i8::MIN; 32];
    for (d, &s) in b.iter_mut().zip(v.get(at..).unwrap_or_default()) {
        *d = s;
    }
    // SAFETY: 32 bytes read unaligned from a 32-byte array.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// The conversion of window maxima into outputs (module docs).
struct Convert {
    /// `Some((act_min, act_max))` in every byte for the identity case.
    identity: Option<(__m256i, __m256i)>,
    /// `(act_min, act_max)`, validated int8 values.
    lo_hi: (i8, i8),
    zp: __m256i,
    rq: Requant8,
    narrow: Narrow8,
}

impl Convert {
    #[target_feature(enable = "avx2")]
    fn new(zp: i32, mult: i32, shift: i32, rq: &RequantParams<'_>) -> Self {
        let identity = (mult == 1 << 30 && shift == 1 && rq.output_offset == zp).then(|| {
            (
                _mm256_set1_epi8(rq.act_min as i8),
                _mm256_set1_epi8(rq.act_max as i8),
            )
        });
        Convert {
            identity,
            lo_hi: (rq.act_min as i8, rq.act_max as i8),
            zp: _mm256_set1_epi32(zp),
            rq: Requant8::new(mult, shift),
            narrow: Narrow8::new(rq),
        }
    }

    /// The `len` collected values at the start of `buf` converted into `out`
    /// from `*done` on (nothing when that would leave `out`, which the
    /// caller's sizes rule out), and `*done` moved past them.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn flush(&self, buf: &[i8], out: &mut [i8], done: &mut usize, len: usize) {
        let o = out.get_mut(*done..*done + len).unwrap_or_default();
        self.apply(buf.get(..o.len()).unwrap_or_default(), o);
        *done += len;
    }

    /// `out[i]` from the maximum `max[i]` (same lengths).
    #[target_feature(enable = "avx2")]
    fn apply(&self, max: &[i8], out: &mut [i8]) {
        match self.identity {
            Some((lo, hi)) => {
                let (m32, m_rest) = max.as_chunks::<32>();
                let (o32, o_rest) = out.as_chunks_mut::<32>();
                for (m, o) in m32.iter().zip(o32.iter_mut()) {
                    // SAFETY: 32 bytes read from `m` and written to `o`, unaligned.
                    unsafe {
                        let v = _mm256_loadu_si256(m.as_ptr().cast());
                        let r = _mm256_min_epi8(_mm256_max_epi8(v, lo), hi);
                        _mm256_storeu_si256(o.as_mut_ptr().cast(), r);
                    }
                }
                let (lo, hi) = (self.lo_hi.0, self.lo_hi.1);
                for (o, &m) in o_rest.iter_mut().zip(m_rest) {
                    *o = m.clamp(lo, hi);
                }
            }
            None => {
                let (m8, m_rest) = max.as_chunks::<8>();
                let (o8, o_rest) = out.as_chunks_mut::<8>();
                for (m, o) in m8.iter().zip(o8.iter_mut()) {
                    *o = self.requant8(m);
                }
                let mut m = [0i8; 8];
                for (d, &s) in m.iter_mut().zip(m_rest) {
                    *d = s;
                }
                for (o, r) in o_rest.iter_mut().zip(self.requant8(&m)) {
                    *o = r;
                }
            }
        }
    }

    /// Eight outputs from eight maxima, requantized.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn requant8(&self, m: &[i8; 8]) -> [i8; 8] {
        // SAFETY: 8 bytes read unaligned from an 8-byte array.
        let x = _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(m.as_ptr().cast()) });
        let r = self
            .narrow
            .apply(self.rq.apply(_mm256_sub_epi32(x, self.zp)));
        let mut o = [0i8; 8];
        // SAFETY: 8 bytes written unaligned to an 8-byte array.
        unsafe { _mm_storel_epi64(o.as_mut_ptr().cast(), r) };
        o
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::pool::scalar::tests::{Case, case_with};
    use proptest::prelude::*;

    fn avx2_here() -> bool {
        crate::kernels::avx2::here("pool/avx2")
    }

    /// Random cases with up to 70 channels (tails of 32-channel blocks), half
    /// of them with the identity requantization of same-scale max pooling.
    fn case() -> impl Strategy<Value = Case> {
        (case_with(70), any::<bool>()).prop_map(|(mut c, identity)| {
            if identity {
                (c.mult, c.shift, c.output_offset) = (1 << 30, 1, c.zp);
            }
            c
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::kernels::frame::cases()))]

        #[test]
        fn matches_scalar(c in case()) {
            if avx2_here() {
                prop_assert_eq!(c.run_with(pool_i8), c.run_with(scalar::pool_i8));
            }
        }

        /// Pixels of at most 16 channels: the column-maxima path.
        #[test]
        fn narrow_pixels_match_scalar(c in case_with(16)) {
            if avx2_here() {
                prop_assert_eq!(c.run_with(pool_i8), c.run_with(scalar::pool_i8));
            }
        }
    }

    /// `quantize_multiplier(1.0)` is the identity the fast path looks for, and
    /// `requantize` leaves every value unchanged with it.
    #[test]
    fn identity_multiplier() {
        assert_eq!(crate::quant::quantize_multiplier(1.0), Some((1 << 30, 1)));
        for v in [-255, -128, -1, 0, 1, 127, 255] {
            assert_eq!(crate::quant::requantize(v, 1 << 30, 1), v);
        }
    }
}
