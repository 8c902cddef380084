//! int8 2-D convolution for x86_64 with AVX2, chosen at run time. Bit-exact twin
//! of [`super::scalar`] (same contract, errors and bytes).
//!
//! Two output pixels by four output channels per step (a tile of 8 sums):
//! - for each output row, the input rows its windows read are widened once to
//!   `i16` (`x + input_offset`, 0 in the padding: the band), and each pixel's
//!   receptive field is copied out of it, in whole vectors, as an im2col row
//!   (`len = k_h * k_w * in_c` values, then zeros up to a whole number of
//!   16-value chunks);
//! - the four channels' OHWI weight rows are read in place, 16 int8 values at a
//!   time, widened in registers (`vpmovsxbw`), and each is multiplied with both
//!   pixels' rows (`vpmaddwd`: `|x * w + x' * w'| <= 2 * 255 * 128`, exact) into
//!   eight `i32` accumulators, summed with wrapping `vpaddd`: the same sums as
//!   the scalar kernel, in another order, which wrapping addition ignores;
//! - the eight accumulators are reduced into one vector (`vphaddd`), and bias,
//!   [`Requant8`] (per-channel multipliers, one vector per quad of channels,
//!   prepared once per call) and [`Narrow8`] give the 8 int8 outputs at once.
//!
//! A weight row's last chunk reads past the row's end into the next row (times
//! zeros in the pixel rows, so it adds nothing); the last rows, whose chunks
//! would read past the end of the weights, run from a zero-padded copy.
//! The band, the pixel rows and that copy live in a per-thread scratch buffer
//! kept between calls (this module is std-only), so a call allocates only when
//! a layer needs more than any before it on that thread.
//!
//! One-group convolutions with symmetric weights; everything else, and CPUs
//! without AVX2, run the scalar kernel.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::avx2::{Narrow8, Requant8, available};
use crate::kernels::conv::scalar::{self, Dims, tap, validate};
use core::arch::x86_64::*;
use core::cell::RefCell;
use std::vec::Vec;

extern crate std;

/// Output channels per tile.
const OC: usize = 4;
/// Output channels whose constants are prepared at once.
const BLOCK: usize = 64;
/// int8 convolution with AVX2 when the CPU has it; same contract, errors and
/// results as [`scalar::conv_i8`].
#[allow(clippy::too_many_arguments)]
pub fn conv_i8(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(
        g,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )?;
    let len = d.k_h * d.k_w * d.in_c;
    let fast = available()
        && d.groups == 1
        && weight_offset == 0
        && len > 0
        && d.out_c > 0
        // SAFETY: `available()` checked that the CPU has AVX2.
        && unsafe { run(&d, input, weights, bias, input_offset, rq, out, len) };
    if fast {
        return Ok(());
    }
    scalar::conv_i8(
        g,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// The constants of one quad of output channels, for the lanes
/// `[pixel 0: oc..oc + 4 | pixel 1: oc..oc + 4]`.
#[derive(Clone, Copy)]
struct Quad {
    bias: __m256i,
    rq: Requant8,
}

impl Quad {
    /// Quad `q`'s constants; channels past `out_c` get zeros (never stored).
    #[target_feature(enable = "avx2")]
    fn new(q: usize, bias: Option<&[i32]>, rq: &RequantParams<'_>) -> Self {
        let at = |v: Option<&[i32]>, j: usize| {
            v.and_then(|v| v.get(OC * q + j % OC)).copied().unwrap_or(0)
        };
        let b: [i32; 8] = core::array::from_fn(|j| at(bias, j));
        Quad {
            // SAFETY: 32 bytes read unaligned from an array of 8 `i32`.
            bias: unsafe { _mm256_loadu_si256(b.as_ptr().cast()) },
            rq: Requant8::lanes(
                core::array::from_fn(|j| at(Some(rq.mult), j)),
                core::array::from_fn(|j| at(Some(rq.shift), j)),
            ),
        }
    }
}

/// Scratch memory of the calls on one thread, kept between calls (std only, as
/// this module): the widened input rows of one output row (the band), the two
/// pixel rows and the widened weights. What a call reads of it, it wrote first.
#[derive(Default)]
struct Scratch {
    band: Vec<i16>,
    rows: [Vec<i16>; 2],
    weights: Vec<i16>,
}

std::thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Where pixel rows come from: for output row `oh` of image `b`, the `k_h`
/// input rows its windows read (`ih = oh * stride_h + kh * dil_h - pad_top`),
/// each as `bw` padded columns (`bw` covers every window of the row, from the
/// left padding on) of `in_c` values widened to `i16` with the input offset, 0
/// in the padding, then 16 values of slack.
struct Band<'a> {
    d: &'a Dims,
    /// Padded columns per band row.
    bw: usize,
    v: &'a mut [i16],
}

impl<'a> Band<'a> {
    /// The band of `d` in `buf` (resized).
    fn new(d: &'a Dims, buf: &'a mut Vec<i16>) -> Self {
        let bw = (d.out_w - 1) * d.stride_w + (d.k_w - 1) * d.dil_w + 1;
        buf.resize(d.k_h * bw * d.in_c + 16, 0);
        Band { d, bw, v: buf }
    }

    /// Widen the input rows of output row `oh` of image `b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fill(&mut self, input: &[i8], b: usize, oh: usize, off: __m256i, offset: i16) {
        let d = self.d;
        let row = self.bw * d.in_c;
        let left = (d.pad_left * d.in_c).min(row);
        let cols = d.in_w.min(self.bw.saturating_sub(d.pad_left));
        for (kh, dst) in self.v.chunks_exact_mut(row).take(d.k_h).enumerate() {
            let ih = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h);
            let at = ih.map(|ih| (b * d.in_h + ih) * d.in_w * d.in_c);
            let Some(src) = at.and_then(|at| input.get(at..at + cols * d.in_c)) else {
                dst.fill(0);
                continue;
            };
            let (pad, rest) = dst.split_at_mut(left);
            pad.fill(0);
            let (mid, right) = rest.split_at_mut(src.len().min(rest.len()));
            widen(src, mid, off, offset);
            right.fill(0);
        }
    }

    /// Pixel `ow`'s receptive field as an im2col row into `row` (`len` values,
    /// then 16 zeros): whole 16-value vectors are copied, each run's last one
    /// reaching past the run; the next run, or the zeros, overwrite that.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pixel_row(&self, ow: usize, row: &mut [i16], len: usize) {
        let d = self.d;
        let (run, runs, gap) = if d.dil_w == 1 {
            (d.k_w * d.in_c, 1, 0)
        } else {
            (d.in_c, d.k_w, d.dil_w * d.in_c)
        };
        let mut to = 0;
        for kh in 0..d.k_h {
            let start = (kh * self.bw + ow * d.stride_w) * d.in_c;
            for r in 0..runs {
                copy_run(self.v, start + r * gap, row, to, run);
                to += run;
            }
        }
        if let Some(z) = row.get_mut(len..len + 16) {
            // SAFETY: 32 bytes written to `z`, 16 `i16`, unaligned.
            unsafe { _mm256_storeu_si256(z.as_mut_ptr().cast(), _mm256_setzero_si256()) };
        }
    }
}

/// `n` values of `src` from `from` to `dst` at `to`, in whole vectors of 16
/// (both have 16 values of slack after every run).
#[inline]
#[target_feature(enable = "avx2")]
fn copy_run(src: &[i16], from: usize, dst: &mut [i16], to: usize, n: usize) {
    for i in (0..n).step_by(16) {
        if let (Some(s), Some(t)) = (
            src.get(from + i..from + i + 16),
            dst.get_mut(to + i..to + i + 16),
        ) {
            // SAFETY: 32 bytes read from `s` and written to `t`, 16 `i16`
            // each, unaligned.
            unsafe {
                _mm256_storeu_si256(
                    t.as_mut_ptr().cast(),
                    _mm256_loadu_si256(s.as_ptr().cast()),
                );
            }
        }
    }
}

/// The convolution (module docs); `false` (nothing written) when the scratch
/// memory is in use (a re-entrant call, which the kernels never make).
///
/// # Safety
/// The CPU has AVX2 ([`available`]).
#[allow(clippy::too_many_arguments)]
unsafe fn run(
    d: &Dims,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    len: usize,
) -> bool {
    SCRATCH.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return false;
        };
        // SAFETY: the caller checked that the CPU has AVX2.
        unsafe { run_with(d, input, weights, bias, input_offset, rq, out, len, &mut s) };
        true
    })
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
fn run_with(
    d: &Dims,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    len: usize,
    s: &mut Scratch,
) {
    let span = len.div_ceil(16) * 16;
    let out_c = d.out_c;
    let quads = out_c.div_ceil(OC);
    let Scratch { band, rows, weights: w16 } = s;
    // Each weight row widened once, `span` values (zeros after `len`); whole
    // quads (zero rows after `out_c`).
    w16.clear();
    w16.resize(quads * OC * span, 0);
    let zero = _mm256_setzero_si256();
    for (to, from) in w16.chunks_exact_mut(span).zip(weights.chunks_exact(len)) {
        if let Some(to) = to.get_mut(..len) {
            widen(from, to, zero, 0);
        }
    }
    let w16: &[i16] = w16;
    let narrow = Narrow8::new(rq);
    let [r0, r1] = rows;
    r0.resize(span + 16, 0);
    r1.resize(span + 16, 0);
    let off = _mm256_set1_epi16(input_offset as i16);
    let mut band = Band::new(d, band);
    for b0 in (0..quads).step_by(BLOCK / OC) {
        let nq = (quads - b0).min(BLOCK / OC);
        let consts: [Quad; BLOCK / OC] = core::array::from_fn(|i| Quad::new(b0 + i, bias, rq));
        let consts = consts.get(..nq).unwrap_or_default();
        for (b, oh) in (0..d.n).flat_map(|b| (0..d.out_h).map(move |oh| (b, oh))) {
            band.fill(input, b, oh, off, input_offset as i16);
            for ow in (0..d.out_w).step_by(2) {
                // An odd last pixel of a row is computed twice and stored once.
                let ow1 = if ow + 1 < d.out_w { ow + 1 } else { ow };
                band.pixel_row(ow, r0, len);
                band.pixel_row(ow1, r1, len);
                let (x0, x1) = (
                    r0.get(..span).unwrap_or_default(),
                    r1.get(..span).unwrap_or_default(),
                );
                let p = (b * d.out_h + oh) * d.out_w + ow;
                for (i, c) in consts.iter().enumerate() {
                    let q = b0 + i;
                    let w = w16.get(OC * q * span..OC * (q + 1) * span);
                    let acc = dot(x0, x1, w.unwrap_or_default(), span);
                    let r = narrow.apply(c.rq.apply(_mm256_add_epi32(acc, c.bias)));
                    let bytes = (_mm_cvtsi128_si64(r) as u64).to_le_bytes().map(|v| v as i8);
                    let n = (out_c - OC * q).min(OC);
                    let (lo, hi) = bytes.split_at(OC);
                    for (px, v) in [(p, lo), (p + 1, hi)].into_iter().take(1 + ow1 - ow) {
                        let o = px * out_c + OC * q;
                        for (o, &v) in out.get_mut(o..o + n).unwrap_or_default().iter_mut().zip(v) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// The sums of pixel rows `x0`, `x1` (`span` values, a multiple of 16) with the
/// four widened weight rows of `w` (`span` values each), as
/// `[x0 . w_0..4 | x1 . w_0..4]`.
#[inline]
#[target_feature(enable = "avx2")]
fn dot(x0: &[i16], x1: &[i16], w: &[i16], span: usize) -> __m256i {
    let row = |r: usize| {
        w.get(r * span..(r + 1) * span).unwrap_or_default().as_chunks::<16>().0
    };
    let (w0, w1, w2, w3) = (row(0), row(1), row(2), row(3));
    let (x0, _) = x0.as_chunks::<16>();
    let (x1, _) = x1.as_chunks::<16>();
    let z = _mm256_setzero_si256();
    let (mut a, mut b) = ([z; OC], [z; OC]);
    for (((((xa, xb), c0), c1), c2), c3) in x0.iter().zip(x1).zip(w0).zip(w1).zip(w2).zip(w3) {
        // SAFETY: 32 bytes of each pixel and weight chunk, read unaligned;
        // AVX2 is enabled here.
        unsafe {
            let xa = _mm256_loadu_si256(xa.as_ptr().cast());
            let xb = _mm256_loadu_si256(xb.as_ptr().cast());
            for ((a, b), c) in a.iter_mut().zip(b.iter_mut()).zip([c0, c1, c2, c3]) {
                let wv = _mm256_loadu_si256(c.as_ptr().cast());
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xa, wv));
                *b = _mm256_add_epi32(*b, _mm256_madd_epi16(xb, wv));
            }
        }
    }
    // [a_j: sum of lanes 0..4 | a_j: sum of lanes 4..8] for j in 0..4, then
    // the same for b, and the two halves added.
    let ha = _mm256_hadd_epi32(
        _mm256_hadd_epi32(a[0], a[1]),
        _mm256_hadd_epi32(a[2], a[3]),
    );
    let hb = _mm256_hadd_epi32(
        _mm256_hadd_epi32(b[0], b[1]),
        _mm256_hadd_epi32(b[2], b[3]),
    );
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(ha, hb),
        _mm256_permute2x128_si256::<0x31>(ha, hb),
    )
}

/// `to[i] = from[i] + offset` widened to `i16` (`offset` in every lane of
/// `off`), 16 values per step; both have the same length. The offset is in
/// `[-127, 128]`: the sums fit an `i16`.
#[inline]
#[target_feature(enable = "avx2")]
fn widen(from: &[i8], to: &mut [i16], off: __m256i, offset: i16) {
    let (f16, f_rest) = from.as_chunks::<16>();
    let (t16, t_rest) = to.as_chunks_mut::<16>();
    for (f, t) in f16.iter().zip(t16.iter_mut()) {
        // SAFETY: 16 bytes read from `f` and 32 written to `t`, unaligned.
        unsafe {
            let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(f.as_ptr().cast()));
            _mm256_storeu_si256(t.as_mut_ptr().cast(), _mm256_add_epi16(v, off));
        }
    }
    for (t, &x) in t_rest.iter_mut().zip(f_rest) {
        *t = x as i16 + offset;
    }
}
