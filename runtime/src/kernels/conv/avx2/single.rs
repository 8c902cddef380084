//! The AVX2 convolution of one input channel, stride and dilation 1 along rows:
//! the first layer of an image model (LeNet-5's, ResNet-8's and the detector's).
//!
//! With one channel a window row is only `k_w` values, and the block loop of
//! [`super`] spends a vector of eight channels (of which such a layer may use
//! six) and a broadcast per pixel on each of its tap pairs. Here a vector holds
//! eight neighbouring output pixels of one channel instead:
//! - once per image, every input row is widened (`x + input_offset`, 0 in the
//!   padding) and each value is paired with its right neighbour into one `i32`
//!   (the pair band): the eight pixels' inputs of a tap pair are one load;
//! - the weights are `i16` pairs of neighbouring taps (`[k_h][pair][out_c]`,
//!   an odd row's last tap paired with a zero weight: [`super::pack`]'s
//!   `Single` layout, from the model or packed once per call);
//! - per group of up to eight channels and kernel row, each tap pair's load is
//!   shared by the group: per channel a broadcast of its weight pair and a
//!   `vpmaddwd` (`|x * w + x' * w'| <= 2 * 255 * 128`, exact) into that
//!   channel's sums, added with wrapping `vpaddd`: the scalar kernel's sums;
//! - per channel, bias and [`Requant8`] with that channel's constants (one
//!   vector per channel, prepared once per call), then
//!   [`Narrow8::transpose`] narrows the eight channels together into each
//!   pixel's channel bytes.
//!
//! Stores are eight bytes per pixel and group. A group of fewer than eight
//! channels (at most one per layer, the last) is stored first at each step, so
//! that the bytes its store writes past the pixel's last channel, which belong
//! to the next pixel's first group, are written again later; the output's last
//! bytes are stored one by one.

use super::{Args, Block, OC, Scratch, widen_padded};
use crate::kernels::avx2::Narrow8;
use crate::kernels::conv::scalar::tap;
use core::arch::x86_64::*;

/// Output pixels per vector.
const LANES: usize = 8;

/// The convolution (module docs); `false` (nothing written) when a read would
/// leave the scratch buffers, which their sizes rule out.
#[target_feature(enable = "avx2")]
pub(super) fn run(a: &Args<'_>, out: &mut [i8], s: &mut Scratch) -> bool {
    let d = a.d;
    let out_c = d.out_c;
    let pairs = d.k_w.div_ceil(2);
    let vecs = d.out_w.div_ceil(LANES);
    // Pair-band columns per input row: the last vector's last pair's load
    // (eight from column `LANES * (vecs - 1) + 2 * (pairs - 1)`) ends inside.
    let qw = (LANES * vecs + 2 * pairs).next_multiple_of(LANES);
    let Scratch {
        band: row,
        weights: packed,
        blocks: consts,
        runs: rows,
        pairs: qband,
        ..
    } = s;
    let Some(packed) = a.packed(packed) else {
        return false;
    };
    if packed.len() != d.k_h * pairs * out_c * 2 {
        return false;
    }
    consts.clear();
    consts.extend((0..out_c).map(|oc| Block::channel(oc, a.bias, a.rq)));
    let narrow = Narrow8::new(a.rq);
    // The partial group first (module docs), then the whole ones.
    let whole = out_c / OC;
    let part = out_c % OC;
    let groups = (part > 0)
        .then_some((OC * whole, part))
        .into_iter()
        .chain((0..whole).map(|g| (OC * g, OC)));
    // Every value of both is written below before it is read: resized, not
    // cleared (no zeroing pass per call).
    qband.resize(d.in_h * qw, 0);
    row.resize(qw + LANES + 1, 0);
    let offset = a.input_offset as i16;
    let off = _mm256_set1_epi16(offset);
    for b in 0..d.n {
        for (ih, q) in qband.chunks_exact_mut(qw).enumerate() {
            let at = (b * d.in_h + ih) * d.in_w;
            let src = a.input.get(at..at + d.in_w).unwrap_or_default();
            widen_padded(src, row, d.pad_left, off, offset);
            pair_row(row, q);
        }
        for oh in 0..d.out_h {
            // Per input row the windows read: its pair-band offset and its
            // kernel row's packed weights. Padding rows add nothing.
            rows.clear();
            for kh in 0..d.k_h {
                if let Some(ih) = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h) {
                    rows.extend([ih * qw, kh * pairs * out_c * 2]);
                }
            }
            let first = (b * d.out_h + oh) * d.out_w;
            // Two vectors per step when one group of at most six channels
            // leaves the registers for it (12 sums, 2 inputs, 1 weight).
            let two = out_c <= 6;
            let mut v = 0;
            while v < vecs {
                let nv = if two && v + 1 < vecs { 2 } else { 1 };
                let t = Tile {
                    q: qband,
                    w: packed,
                    rows,
                    pairs,
                    out_c,
                    x: LANES * v,
                };
                let mut o = Out {
                    out: &mut *out,
                    out_c,
                    first: first + LANES * v,
                    n: d.out_w - LANES * v,
                    consts,
                    narrow: &narrow,
                };
                for (oc, g) in groups.clone() {
                    // SAFETY: AVX2 (this function's); `t`'s reads stay inside
                    // the pair band (`qw` above: vector `v + nv - 1 < vecs`)
                    // and the packed weights (length checked above).
                    unsafe {
                        match (nv, g) {
                            (2, 1) => t.group::<2, 1>(oc, &mut o),
                            (2, 2) => t.group::<2, 2>(oc, &mut o),
                            (2, 3) => t.group::<2, 3>(oc, &mut o),
                            (2, 4) => t.group::<2, 4>(oc, &mut o),
                            (2, 5) => t.group::<2, 5>(oc, &mut o),
                            (2, _) => t.group::<2, 6>(oc, &mut o),
                            (_, 1) => t.group::<1, 1>(oc, &mut o),
                            (_, 2) => t.group::<1, 2>(oc, &mut o),
                            (_, 3) => t.group::<1, 3>(oc, &mut o),
                            (_, 4) => t.group::<1, 4>(oc, &mut o),
                            (_, 5) => t.group::<1, 5>(oc, &mut o),
                            (_, 6) => t.group::<1, 6>(oc, &mut o),
                            (_, 7) => t.group::<1, 7>(oc, &mut o),
                            _ => t.group::<1, 8>(oc, &mut o),
                        }
                    }
                }
                v += nv;
            }
        }
    }
    true
}

/// `q[c] = row[c] | row[c + 1] << 16` (as `i16` halves of an `i32`) for every
/// column of `q`; `row` holds at least `q.len() + LANES + 1` values.
#[target_feature(enable = "avx2")]
fn pair_row(row: &[i16], q: &mut [i32]) {
    for (c, dst) in q.chunks_exact_mut(LANES).enumerate() {
        let (Some(a), Some(b)) = (
            row.get(LANES * c..LANES * (c + 1)),
            row.get(LANES * c + 1..LANES * (c + 1) + 1),
        ) else {
            return;
        };
        // SAFETY: 16 bytes read unaligned from `a` and `b` (8 `i16` each), 32
        // written to `dst` (8 `i32`).
        unsafe {
            let a = _mm_loadu_si128(a.as_ptr().cast());
            let b = _mm_loadu_si128(b.as_ptr().cast());
            let p = _mm256_set_m128i(_mm_unpackhi_epi16(a, b), _mm_unpacklo_epi16(a, b));
            _mm256_storeu_si256(dst.as_mut_ptr().cast(), p);
        }
    }
}

/// The operands of one vector of eight pixels.
struct Tile<'a> {
    q: &'a [i32],
    w: &'a [i16],
    /// Per input row: its pair-band offset, its packed weights' offset.
    rows: &'a [usize],
    pairs: usize,
    out_c: usize,
    /// The first pixel's column.
    x: usize,
}

impl Tile<'_> {
    /// The outputs of channels `oc..oc + G` for `V` vectors of eight pixels
    /// into `o`.
    ///
    /// # Safety
    /// AVX2; for every row, `q` holds `8 * V` values from `offset + x + 2 * p`
    /// for each pair `p`, and `w` the pairs of channels `oc..oc + G`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn group<const V: usize, const G: usize>(&self, oc: usize, o: &mut Out<'_, '_>) {
        let mut acc = [[_mm256_setzero_si256(); G]; V];
        let (rows, _) = self.rows.as_chunks::<2>();
        for &[qo, wo] in rows {
            // SAFETY: inside `q` and `w` (the caller).
            let (xp, wp) = unsafe {
                (
                    self.q.as_ptr().add(qo + self.x),
                    self.w.as_ptr().add(wo + 2 * oc),
                )
            };
            for p in 0..self.pairs {
                // SAFETY: `8 * V` values of the row from column `x + 2p`,
                // and the pairs of channels `oc..oc + G` of pair `p` (the
                // caller); read unaligned.
                unsafe {
                    let xv: [__m256i; V] = core::array::from_fn(|v| {
                        _mm256_loadu_si256(xp.add(2 * p + LANES * v).cast())
                    });
                    let wq = wp.add(2 * p * self.out_c).cast::<i32>();
                    for j in 0..G {
                        let w = _mm256_set1_epi32(wq.add(j).read_unaligned());
                        for (a, &x) in acc.iter_mut().zip(&xv) {
                            if let Some(a) = a.get_mut(j) {
                                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, w));
                            }
                        }
                    }
                }
            }
        }
        for (v, sums) in acc.iter().enumerate() {
            o.store(oc, LANES * v, sums);
        }
    }
}

/// Where a step's outputs go: pixels `first..first + n` of the output (`n`
/// may run past the step's vectors: the next row's pixels).
struct Out<'a, 'o> {
    out: &'o mut [i8],
    out_c: usize,
    first: usize,
    n: usize,
    /// One per channel.
    consts: &'a [Block],
    narrow: &'a Narrow8,
}

impl Out<'_, '_> {
    /// Bias, requantize and narrow `sums[j]` (pixels `px..px + 8` of channel
    /// `oc + j`), transpose, store each pixel's `G` bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store<const G: usize>(&mut self, oc: usize, px: usize, sums: &[__m256i; G]) {
        let mut r = [_mm256_setzero_si256(); OC];
        if let Some(consts) = self.consts.get(oc..oc + G) {
            for ((r, &s), c) in r.iter_mut().zip(sums).zip(consts) {
                *r = c.requant(s);
            }
        }
        let t = self.narrow.transpose(r);
        let n = self.n.saturating_sub(px).min(LANES);
        let at = (self.first + px) * self.out_c + oc;
        // All eight pixels' 8 bytes inside the output: stored from the
        // registers, else through a stack copy, the output's last bytes one
        // by one.
        let span = (LANES - 1) * self.out_c + OC;
        if n == LANES
            && let Some(o) = self.out.get_mut(at..at + span)
        {
            let p = o.as_mut_ptr();
            for (k, v) in t.into_iter().enumerate() {
                let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                // SAFETY: pixel `j < 8` of this group writes the 8 bytes at
                // `j * out_c`, inside `o` (`span` bytes).
                unsafe {
                    let q = |j: usize| p.add((4 * k + j) * self.out_c).cast::<__m128i>();
                    _mm_storel_epi64(q(0), lo);
                    _mm_storel_epi64(q(1), _mm_unpackhi_epi64(lo, lo));
                    _mm_storel_epi64(q(2), hi);
                    _mm_storel_epi64(q(3), _mm_unpackhi_epi64(hi, hi));
                }
            }
            return;
        }
        let mut bytes = [0u64; LANES];
        for (d, v) in bytes.chunks_exact_mut(4).zip(t) {
            // SAFETY: 32 bytes written unaligned to four `u64`.
            unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), v) };
        }
        self.store_bytes(at, &bytes, n, G);
    }

    /// The slow end of [`Out::store`] (a row's last vector, the output's
    /// last pixels): pixel `j < n`'s 8 bytes `bytes[j]` at `at + j * out_c`,
    /// or its first `g` bytes one by one where 8 do not fit. Out of line, so
    /// that the store inlines into the loops.
    #[cold]
    #[inline(never)]
    fn store_bytes(&mut self, at: usize, bytes: &[u64; LANES], n: usize, g: usize) {
        for (j, &v) in bytes.iter().take(n).enumerate() {
            let at = at + j * self.out_c;
            if let Some(o) = self.out.get_mut(at..at + 8) {
                // SAFETY: 8 bytes written unaligned to `o`, 8 bytes long.
                unsafe { o.as_mut_ptr().cast::<u64>().write_unaligned(v) };
            } else {
                let o = self.out.get_mut(at..).unwrap_or_default();
                for (o, b) in o.iter_mut().zip(v.to_le_bytes()).take(g) {
                    *o = b as i8;
                }
            }
        }
    }
}
