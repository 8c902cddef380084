//! int8 2-D convolution for x86_64 with AVX2, chosen at run time. Bit-exact twin
//! of [`super::scalar`] (same contract, errors and bytes).
//!
//! Eight output channels per vector (a block), four output pixels of a row by
//! one or two blocks per step:
//! - for each output row, the input rows its windows read are widened once to
//!   `i16` (`x + input_offset`, 0 in the padding): the band;
//! - the weights are `i16` pairs of neighbouring reduction indices for the
//!   eight channels of a block (`[block][pair][8][2]`; each run of contiguous
//!   taps, `k_w * in_c` values or `in_c` when dilated, padded to an even length
//!   with a zero weight): [`super::pack`]'s layouts, packed by the compiler into
//!   the model ([`conv_i8_packed`]), or once per call here when it has none;
//! - per pair, each pixel's two input values are broadcast from the band
//!   (`vpbroadcastd`) and multiplied with the block's 16 weights (`vpmaddwd`:
//!   `|x * w + x' * w'| <= 2 * 255 * 128`, exact) into one `i32` accumulator
//!   per pixel and block, summed with wrapping `vpaddd`: the same sums as the
//!   scalar kernel, in another order, which wrapping addition ignores;
//! - bias, [`Requant8`] (per-channel multipliers, one vector per block,
//!   prepared once per call) and [`Narrow8`] give a block's 8 int8 outputs.
//!
//! The band, the weights packed at run time and the block constants live in a
//! per-thread scratch buffer kept between calls (this module is std-only), so
//! a call allocates only when a layer needs more than any before it on that
//! thread.
//!
//! Depthwise convolutions (channel multiplier 1) take their own loop
//! ([`run_depthwise`]: sixteen channels per step, two taps interleaved per
//! `vpmaddwd`), with the same band, block constants and stores.
//!
//! Convolutions of one input channel (stride and dilation 1 along rows: the
//! first layers of the zoo) have their own weight layout (`[k_h][pair]
//! [out_c][2]`). With whole blocks of channels (`out_c % 8 == 0`, ResNet-8's
//! 16) the block loop above reads it in place (a block's 16 values of a pair
//! are together there too, pairs `2 * out_c` apart); otherwise (LeNet-5's 6
//! channels) a loop with eight pixels per vector runs them ([`single`]).
//!
//! 3x3 convolutions of stride and dilation 1 whose model carries the Winograd
//! loop's pack (`PackKind::Avx2WinogradI16`, chosen by the compiler where
//! `pack::winograd_pays`) take that loop ([`winograd`], [`conv_i8_winograd`]:
//! F(2x2, 3x3) in exact integer arithmetic, 16 multiplications per 2x2
//! pixels instead of 36, the same bytes), which multiplies with the block
//! loop's step.
//!
//! One-group and depthwise convolutions with symmetric weights; everything
//! else (other grouped convolutions, weight zero points), and CPUs without
//! AVX2, run the scalar kernel.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::avx2::{Narrow8, Requant8, available};
use crate::kernels::conv::pack::{self, Avx2Layout};
use crate::kernels::conv::scalar::{self, Dims, tap, validate};
use core::arch::x86_64::*;
use core::cell::RefCell;
use std::vec::Vec;

extern crate std;

mod single;
mod winograd;

/// Output channels per block (one vector of `i32` sums): the block of the
/// packed layout ([`pack::BLOCK`]). A depthwise block is two of them.
const OC: usize = pack::BLOCK;
const _: () = assert!(pack::DW_BLOCK == 2 * OC);
/// Output pixels per step (5 and 6 were no faster here: 16 registers).
const PX: usize = 4;

/// int8 convolution with AVX2 when the CPU has it; same contract, errors and
/// results as [`scalar::conv_i8`]. Packs the weights at each call.
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
    conv_i8_packed(
        g,
        input,
        weights,
        None,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// [`conv_i8`] with `weights` also packed ahead of time (`packed`, in the
/// layout [`pack::avx2_layout`] gives for `g`, as [`pack::pack`] writes it):
/// the loops read those and pack nothing. Packed weights of another length
/// than the layout's are not used (the call packs `weights` instead); their
/// values are trusted to be `weights`' (the model's checksum covers them).
#[allow(clippy::too_many_arguments)]
pub fn conv_i8_packed(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    packed: Option<&[i16]>,
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let w = Weights {
        ohwi: weights,
        packed,
        winograd: None,
    };
    conv_i8_with(g, input, w, bias, input_offset, weight_offset, rq, out)
}

/// [`conv_i8`] of a convolution that [`pack::winograd_runs`] accepts, with
/// its weights transformed ahead of time (`winograd`, as
/// [`pack::pack_winograd`] writes them): the Winograd loop ([`winograd`]).
/// Other geometries, or a pack of another length, run the other loops (which
/// pack `weights` at the call). The values of `winograd` are trusted to be
/// `weights`' (the model's checksum covers them).
#[allow(clippy::too_many_arguments)]
pub fn conv_i8_winograd(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    winograd: &[i16],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let w = Weights {
        ohwi: weights,
        packed: None,
        winograd: Some(winograd),
    };
    conv_i8_with(g, input, w, bias, input_offset, weight_offset, rq, out)
}

/// A convolution's weights: the OHWI ones, and those packed ahead of time
/// for the block loops or the Winograd loop.
#[derive(Clone, Copy)]
struct Weights<'a> {
    ohwi: &'a [i8],
    packed: Option<&'a [i16]>,
    winograd: Option<&'a [i16]>,
}

/// [`conv_i8_packed`] and [`conv_i8_winograd`]: the Winograd loop when its
/// pack fits the geometry, else the loop [`pack::avx2_layout`] gives, else
/// (and on CPUs without AVX2) the scalar kernel.
#[allow(clippy::too_many_arguments)]
fn conv_i8_with(
    g: &ConvGeom,
    input: &[i8],
    w: Weights<'_>,
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let d = validate(g, input, w.ohwi, bias, input_offset, weight_offset, rq, out)?;
    let winograd = w.winograd.filter(|u| {
        pack::winograd_runs(g, weight_offset) && Some(u.len()) == pack::winograd_len(g)
    });
    let layout = match winograd {
        Some(_) => Some(Avx2Layout::Blocks),
        None => pack::avx2_layout(g, weight_offset),
    };
    let fast = available()
        && layout.is_some_and(|layout| {
            let a = Args {
                g,
                d: &d,
                layout,
                input,
                weights: w.ohwi,
                packed: w.packed,
                winograd,
                bias,
                input_offset,
                rq,
            };
            // SAFETY: `available()` checked that the CPU has AVX2.
            unsafe { run(&a, out) }
        });
    if fast {
        return Ok(());
    }
    scalar::conv_i8(g, input, w.ohwi, bias, input_offset, weight_offset, rq, out)
}

/// The constants of one block of output channels.
#[derive(Clone, Copy)]
struct Block {
    bias: __m256i,
    rq: Requant8,
}

impl Block {
    /// Bias and requantization of one vector of sums with the block's
    /// constants (every loop's outputs, before [`Narrow8`]).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn requant(&self, sums: __m256i) -> __m256i {
        self.rq.apply(_mm256_add_epi32(sums, self.bias))
    }

    /// Block `k`'s constants. Channels past `out_c` (never stored) get the
    /// constants of the block's first channel, so that they do not keep the
    /// block off [`Requant8`]'s short path.
    #[target_feature(enable = "avx2")]
    fn new(k: usize, bias: Option<&[i32]>, rq: &RequantParams<'_>) -> Self {
        let at = |v: &[i32], j: usize| {
            v.get(OC * k + j)
                .or_else(|| v.get(OC * k))
                .copied()
                .unwrap_or(0)
        };
        let b: [i32; OC] = core::array::from_fn(|j| bias.map_or(0, |b| at(b, j)));
        Block {
            // SAFETY: 32 bytes read unaligned from an array of 8 `i32`.
            bias: unsafe { _mm256_loadu_si256(b.as_ptr().cast()) },
            rq: Requant8::lanes(
                core::array::from_fn(|j| at(rq.mult, j)),
                core::array::from_fn(|j| at(rq.shift, j)),
            ),
        }
    }

    /// The constants of output channel `oc` in all eight lanes.
    #[target_feature(enable = "avx2")]
    fn channel(oc: usize, bias: Option<&[i32]>, rq: &RequantParams<'_>) -> Self {
        let at = |v: &[i32]| v.get(oc).copied().unwrap_or(0);
        Block {
            bias: _mm256_set1_epi32(bias.map_or(0, at)),
            rq: Requant8::new(at(rq.mult), at(rq.shift)),
        }
    }
}

/// Scratch memory of the calls on one thread, kept between calls (std only, as
/// this module): the band, the packed weights, the block constants and the
/// runs' band offsets. What a call reads of it, it wrote first.
#[derive(Default)]
struct Scratch {
    band: Vec<i16>,
    weights: Vec<i16>,
    blocks: Vec<Block>,
    runs: Vec<usize>,
    /// The pair band of the single-channel loop ([`single`]).
    pairs: Vec<i32>,
    /// The transformed inputs and the products of the Winograd loop
    /// ([`winograd`]).
    wv: Vec<i16>,
    wm: Vec<i32>,
}

std::thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    /// The band of `d` and the other buffers, with the runs' band offsets
    /// from a window's first cell: one run per kernel row (`k_w * in_c`
    /// values), or, with `per_tap`, one per tap (`in_c` values).
    #[allow(clippy::type_complexity)]
    fn split<'a>(
        &'a mut self,
        d: &'a Dims,
        per_tap: bool,
    ) -> (Band<'a>, &'a mut Vec<i16>, &'a mut Vec<Block>, &'a [usize]) {
        let Scratch {
            band,
            weights,
            blocks,
            runs,
            ..
        } = self;
        let band = Band::new(d, band);
        let (count, k_w) = if per_tap {
            (d.k_h * d.k_w, d.k_w)
        } else {
            (d.k_h, 1)
        };
        runs.clear();
        runs.extend((0..count).map(|r| ((r / k_w) * band.bw + (r % k_w) * d.dil_w) * d.in_c));
        (band, weights, blocks, runs)
    }
}

/// The runs of contiguous taps of a window ([`pack::runs`]): `k_h` runs of
/// `k_w * in_c` values without horizontal dilation, else `k_h * k_w` runs of
/// `in_c`.
#[derive(Clone, Copy)]
struct Runs {
    /// Pairs per run (its values rounded up to even, halved).
    pairs: usize,
    count: usize,
}

impl Runs {
    fn new(g: &ConvGeom) -> Self {
        let (len, count) = pack::runs(g);
        Runs {
            pairs: len.div_ceil(2),
            count,
        }
    }

    /// Pairs of a whole window.
    fn total(&self) -> usize {
        self.pairs * self.count
    }
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

    /// Widen the input rows of output row `oh` of image `b`, adding
    /// `input_offset` (validated: in `[-127, 128]`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fill(&mut self, input: &[i8], b: usize, oh: usize, input_offset: i32) {
        let d = self.d;
        let offset = input_offset as i16;
        let off = _mm256_set1_epi16(offset);
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
            widen_padded(src, dst, left, off, offset);
        }
    }
}

/// The convolution (module docs); `false` (nothing written) when the scratch
/// memory is in use (a re-entrant call, which the kernels never make).
///
/// # Safety
/// The CPU has AVX2 ([`available`]).
unsafe fn run(a: &Args<'_>, out: &mut [i8]) -> bool {
    SCRATCH.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return false;
        };
        // SAFETY: the caller checked that the CPU has AVX2.
        unsafe {
            if let Some(u) = a.winograd {
                return winograd::run(a, u, out, &mut s);
            }
            match a.layout {
                Avx2Layout::Depthwise => run_depthwise(a, out, &mut s),
                // Whole blocks: the block loop reads the layout as it is.
                Avx2Layout::Single if a.d.out_c.is_multiple_of(OC) => run_with(a, out, &mut s),
                Avx2Layout::Single => single::run(a, out, &mut s),
                Avx2Layout::Blocks => run_with(a, out, &mut s),
            }
        }
    })
}

/// The operands of a call, validated.
struct Args<'a> {
    g: &'a ConvGeom,
    d: &'a Dims,
    /// The loop that runs the call ([`pack::avx2_layout`]).
    layout: Avx2Layout,
    input: &'a [i8],
    weights: &'a [i8],
    packed: Option<&'a [i16]>,
    /// The Winograd loop's weights: that loop runs the call ([`winograd`]).
    winograd: Option<&'a [i16]>,
    bias: Option<&'a [i32]>,
    input_offset: i32,
    rq: &'a RequantParams<'a>,
}

impl<'a> Args<'a> {
    /// The weights in the call's layout: the packed ones it was given when
    /// their length fits, else `weights` packed into `buf`; `None` when the
    /// geometry's length overflows (validation rules that out).
    fn packed<'x>(&self, buf: &'x mut Vec<i16>) -> Option<&'x [i16]>
    where
        'a: 'x,
    {
        let len = pack::packed_len(self.g, self.layout)?;
        if let Some(p) = self.packed.filter(|p| p.len() == len) {
            return Some(p);
        }
        // `pack` writes every value: resized, not cleared.
        buf.resize(len, 0);
        pack::pack(self.g, self.layout, self.weights, buf).ok()?;
        Some(buf)
    }
}

/// A depthwise convolution (channel multiplier 1): per output pixel, sixteen
/// channels per step; two taps at a time, their band values interleaved
/// (`vpunpcklwd`/`vpunpckhwd`) and multiplied with the two taps' weights,
/// interleaved the same way once per call (`vpmaddwd`); an odd last tap is
/// paired with itself and a zero weight. The sums are put back in channel
/// order (`vperm2i128`) and requantized eight channels at a time. `false`
/// (nothing written) when a read would leave the band, which its slack rules
/// out.
#[target_feature(enable = "avx2")]
fn run_depthwise(a: &Args<'_>, out: &mut [i8], s: &mut Scratch) -> bool {
    let d = a.d;
    let c = d.in_c;
    let taps = d.k_h * d.k_w;
    let pairs = taps.div_ceil(2);
    let cblocks = c.div_ceil(2 * OC);
    let (mut band, packed, consts, offsets) = s.split(d, true);
    let last = (d.out_w - 1) * d.stride_w * c;
    let reach = offsets.last().map_or(0, |&o| last + o) + cblocks * 2 * OC;
    if reach > band.v.len() {
        return false;
    }
    // Per block of 16 channels and pair of taps, the two taps' weights
    // interleaved as `vpunpcklwd`/`vpunpckhwd` interleave the band values.
    let Some(packed) = a.packed(packed) else {
        return false;
    };
    if packed.len() != cblocks * pairs * 4 * OC {
        return false;
    }
    let blocks = c.div_ceil(OC);
    consts.clear();
    consts.extend((0..blocks).map(|k| Block::new(k, a.bias, a.rq)));
    let narrow = Narrow8::new(a.rq);
    let wp = packed.as_ptr();
    for (b, oh) in (0..d.n).flat_map(|b| (0..d.out_h).map(move |oh| (b, oh))) {
        band.fill(a.input, b, oh, a.input_offset);
        let bp = band.v.as_ptr();
        for ow in 0..d.out_w {
            let base = ow * d.stride_w * c;
            for k in 0..cblocks {
                let c0 = 2 * OC * k;
                let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for p in 0..pairs {
                    let o0 = offsets.get(2 * p).copied().unwrap_or(0);
                    let o1 = offsets.get(2 * p + 1).copied().unwrap_or(o0);
                    // SAFETY: `base + o + c0 + 16 <= reach <= band.len()` for
                    // every tap offset `o` (checked above), and the packed
                    // weights hold `cblocks * pairs` steps of 32 values.
                    unsafe {
                        let x0 = _mm256_loadu_si256(bp.add(base + o0 + c0).cast());
                        let x1 = _mm256_loadu_si256(bp.add(base + o1 + c0).cast());
                        let w = wp.add((k * pairs + p) * 4 * OC);
                        let wl = _mm256_loadu_si256(w.cast());
                        let wh = _mm256_loadu_si256(w.add(2 * OC).cast());
                        lo = _mm256_add_epi32(
                            lo,
                            _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl),
                        );
                        hi = _mm256_add_epi32(
                            hi,
                            _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh),
                        );
                    }
                }
                let sums = [
                    _mm256_permute2x128_si256::<0x20>(lo, hi),
                    _mm256_permute2x128_si256::<0x31>(lo, hi),
                ];
                let o = Out {
                    out: &mut *out,
                    out_c: c,
                    first: (b * d.out_h + oh) * d.out_w + ow,
                    block: 2 * k,
                    consts: consts
                        .get(2 * k..(2 * k + 2).min(blocks))
                        .unwrap_or_default(),
                    narrow: &narrow,
                    spill: true,
                };
                o.store([sums]);
            }
        }
    }
    true
}

/// [`run`] with the scratch memory; `false` (nothing written) when the band
/// would be read out of bounds, which the band's slack rules out.
#[target_feature(enable = "avx2")]
fn run_with(a: &Args<'_>, out: &mut [i8], s: &mut Scratch) -> bool {
    let d = a.d;
    let out_c = d.out_c;
    let blocks = out_c.div_ceil(OC);
    let runs = Runs::new(a.g);
    let (mut band, packed, consts, offsets) = s.split(d, d.dil_w != 1);
    // The last pixel's last pair ends inside the band (its slack holds the
    // value after an odd run).
    let last = (d.out_w - 1) * d.stride_w * d.in_c;
    let reach = offsets.last().map_or(0, |&o| last + o + 2 * runs.pairs);
    if reach > band.v.len() {
        return false;
    }
    let Some(packed) = a.packed(packed) else {
        return false;
    };
    let block_len = runs.total() * 2 * OC;
    if packed.len() != blocks * block_len {
        return false;
    }
    // Where block `n` of pair `p` starts: `n * block + p * pair` (relative to
    // the step's first block). The `Single` layout (`[k_h][pair][out_c][2]`,
    // whole blocks only: `out_c % 8 == 0`, [`run`]) holds a block's 16
    // values of a pair together too, pairs `2 * out_c` apart.
    let single = a.layout == Avx2Layout::Single;
    let (block, pair) = if single {
        (2 * OC, 2 * out_c)
    } else {
        (block_len, 2 * OC)
    };
    if single && !out_c.is_multiple_of(OC) {
        return false;
    }
    consts.clear();
    consts.extend((0..blocks).map(|k| Block::new(k, a.bias, a.rq)));
    let narrow = Narrow8::new(a.rq);
    let step = d.stride_w * d.in_c;
    for (b, oh) in (0..d.n).flat_map(|b| (0..d.out_h).map(move |oh| (b, oh))) {
        band.fill(a.input, b, oh, a.input_offset);
        let row = (b * d.out_h + oh) * d.out_w;
        for ow in (0..d.out_w).step_by(PX) {
            let mut k = 0;
            while k < blocks {
                let nb = if k + 1 < blocks { 2 } else { 1 };
                let w = if single {
                    packed.get(k * block..)
                } else {
                    packed.get(k * block_len..(k + nb) * block_len)
                };
                let t = Tile {
                    band: band.v,
                    offsets,
                    pairs: runs.pairs,
                    w: w.unwrap_or_default(),
                    block,
                    pair,
                };
                let o = Out {
                    out: &mut *out,
                    out_c,
                    first: row + ow,
                    block: k,
                    consts: consts.get(k..k + nb).unwrap_or_default(),
                    narrow: &narrow,
                    spill: blocks <= 2,
                };
                let first = ow * step;
                // SAFETY: AVX2 (the caller); every pixel `ow + i < out_w` of
                // the tile reads at most `reach` values into the band, and
                // `w` holds the `nb` blocks of every pair (both checked
                // above: `nb` whole packed blocks, or with `single`
                // everything from block `k` on, `k + nb <= blocks`).
                unsafe {
                    if nb == 2 {
                        t.steps::<2>(d.out_w - ow, first, step, o);
                    } else {
                        t.steps::<1>(d.out_w - ow, first, step, o);
                    }
                }
                k += nb;
            }
        }
    }
    true
}

/// The operands of one step: the band, the runs' offsets in it, the packed
/// weights of one or two blocks.
struct Tile<'a> {
    band: &'a [i16],
    offsets: &'a [usize],
    pairs: usize,
    w: &'a [i16],
    /// From a pair's block to the next block of the same pair, and from a
    /// pair to the next (in `i16` values).
    block: usize,
    pair: usize,
}

impl Tile<'_> {
    /// [`Tile::step`] for `min(n, PX)` pixels, the first at band offset
    /// `first`, the next ones `step` values apart.
    ///
    /// # Safety
    /// As [`Tile::step`] for those pixels.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn steps<const NB: usize>(&self, n: usize, first: usize, step: usize, o: Out<'_, '_>) {
        let x = |i: usize| first + i * step;
        // SAFETY: forwarded.
        unsafe {
            match n {
                PX.. => self.step::<PX, NB>(core::array::from_fn(x), o),
                3 => self.step::<3, NB>(core::array::from_fn(x), o),
                2 => self.step::<2, NB>(core::array::from_fn(x), o),
                _ => self.step::<1, NB>(core::array::from_fn(x), o),
            }
        }
    }

    /// The outputs of `P` pixels (band offsets `x`) by `NB` blocks into `o`
    /// (one function, so that the sums stay in registers).
    ///
    /// # Safety
    /// AVX2; `x[i] + offset + 2 * pairs <= band.len()` for every pixel and
    /// run offset, and `w` holds the `NB` blocks of every pair (at `n * block
    /// + p * pair`).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn step<const P: usize, const NB: usize>(&self, x: [usize; P], o: Out<'_, '_>) {
        // SAFETY: forwarded.
        o.store(unsafe { self.sums::<P, NB>(x) });
    }

    /// The sums of `P` pixels (band offsets `x`) by `NB` blocks, in registers
    /// (inlined into the caller, which stores them).
    ///
    /// # Safety
    /// As [`Tile::step`].
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sums<const P: usize, const NB: usize>(&self, x: [usize; P]) -> [[__m256i; NB]; P] {
        let mut acc = [[_mm256_setzero_si256(); NB]; P];
        let bp = self.band.as_ptr();
        let mut wp = self.w.as_ptr();
        for &ro in self.offsets {
            for j in 0..self.pairs {
                let mut wv = [_mm256_setzero_si256(); NB];
                for (n, v) in wv.iter_mut().enumerate() {
                    // SAFETY: pair `j` of run `ro` of block `n` is inside `w`
                    // (the caller); 32 bytes read unaligned.
                    *v = unsafe { _mm256_loadu_si256(wp.add(n * self.block).cast()) };
                }
                for (a, &xi) in acc.iter_mut().zip(&x) {
                    // SAFETY: the pair at `xi + ro + 2j` is inside the band
                    // (the caller); 4 bytes read unaligned.
                    let pair = unsafe { bp.add(xi + ro + 2 * j).cast::<i32>().read_unaligned() };
                    let xv = _mm256_set1_epi32(pair);
                    for (s, &v) in a.iter_mut().zip(&wv) {
                        *s = _mm256_add_epi32(*s, _mm256_madd_epi16(xv, v));
                    }
                }
                // The next pair of block 0 (past the end after the last
                // pair, never read).
                wp = wp.wrapping_add(self.pair);
            }
        }
        acc
    }
}

/// Where a step's sums go: pixels `first..` of the output, blocks `block..`.
struct Out<'a, 'o> {
    out: &'o mut [i8],
    out_c: usize,
    first: usize,
    block: usize,
    consts: &'a [Block],
    narrow: &'a Narrow8,
    /// Whether a last, partial block may be stored as 8 bytes, its extra
    /// bytes landing on the next pixel's first channels: only when every
    /// block of a pixel is stored before the next pixel's (one step holds at
    /// most two blocks, or the depthwise loop, pixel by pixel), so that the
    /// next pixel's own stores come later and overwrite them. The output's
    /// last bytes are never overrun.
    spill: bool,
}

impl Out<'_, '_> {
    /// Bias, requantize, narrow and store `sums[pixel][block]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store<const P: usize, const NB: usize>(mut self, sums: [[__m256i; NB]; P]) {
        if self.store_whole(&sums) {
            return;
        }
        for (i, px) in sums.iter().enumerate() {
            for (n, (&s, c)) in px.iter().zip(self.consts).enumerate() {
                let r = self.narrow.apply(c.requant(s));
                let oc = OC * (self.block + n);
                let at = (self.first + i) * self.out_c + oc;
                if let Some(o) = self
                    .out
                    .get_mut(at..at + OC)
                    .filter(|_| self.spill || oc + OC <= self.out_c)
                {
                    // SAFETY: 8 bytes written unaligned to `o`, 8 bytes long.
                    unsafe { _mm_storel_epi64(o.as_mut_ptr().cast(), r) };
                } else {
                    let v = (_mm_cvtsi128_si64(r) as u64).to_le_bytes();
                    let n = self.out_c.saturating_sub(oc);
                    for (o, &v) in self
                        .out
                        .get_mut(at..at + n)
                        .unwrap_or_default()
                        .iter_mut()
                        .zip(&v)
                    {
                        *o = v as i8;
                    }
                }
            }
        }
    }

    /// [`Out::store`] of whole blocks (`NB` of them, at most two, all inside
    /// `out_c`), all of whose bytes lie inside the output: requantized, then
    /// narrowed four vectors at a time ([`Narrow8::interleave4`]: each
    /// vector's 8 bytes in order) and stored 32 bytes at a time where the
    /// pixels' blocks are contiguous (`out_c == 8 * NB`), else per pixel.
    /// `false` (nothing written) otherwise.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store_whole<const P: usize, const NB: usize>(&mut self, sums: &[[__m256i; NB]; P]) -> bool {
        let oc0 = OC * self.block;
        let at = self.first * self.out_c + oc0;
        let span = (P.saturating_sub(1)) * self.out_c + NB * OC;
        if NB > 2 || P > PX || self.consts.len() != NB || oc0 + NB * OC > self.out_c {
            return false;
        }
        let Some(o) = self.out.get_mut(at..at + span) else {
            return false;
        };
        // The requantized vectors, pixel by pixel, block by block.
        let mut v = [_mm256_setzero_si256(); 2 * PX];
        for n in 0..NB {
            let Some(c) = self.consts.get(n) else {
                return false;
            };
            for (i, px) in sums.iter().enumerate() {
                if let (Some(v), Some(&s)) = (v.get_mut(i * NB + n), px.get(n)) {
                    *v = c.requant(s);
                }
            }
        }
        let units = P * NB;
        let dense = self.out_c == NB * OC;
        let p = o.as_mut_ptr();
        let (quads, _) = v.as_chunks::<4>();
        for (q, &quad) in quads.iter().enumerate().take(units.div_ceil(4)) {
            let b = self.narrow.interleave4(quad);
            // Every store below: unit `u < units` is pixel `u / NB`
            // (< P), block `u % NB` (< NB); its 8 bytes start at
            // `(u / NB) * out_c + 8 * (u % NB)` and end inside `o` (`span`
            // bytes); when `dense`, that offset is `8 * u`.
            if dense && 4 * q + 4 <= units {
                // SAFETY: units `4q..4q + 4`, bytes `32q..32q + 32` of `o`.
                unsafe { _mm256_storeu_si256(p.add(32 * q).cast(), b) };
                continue;
            }
            let halves = [_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b)];
            for (h, half) in halves.into_iter().enumerate() {
                let u = 4 * q + 2 * h;
                if NB == 2 && u + 2 <= units {
                    // Both blocks of pixel `u / 2`: 16 contiguous bytes.
                    // SAFETY: units `u`, `u + 1` (above), inside `o`.
                    unsafe { _mm_storeu_si128(p.add((u / 2) * self.out_c).cast(), half) };
                    continue;
                }
                for (k, val) in [half, _mm_unpackhi_epi64(half, half)]
                    .into_iter()
                    .enumerate()
                {
                    let u = u + k;
                    if u < units {
                        let at = (u / NB) * self.out_c + OC * (u % NB);
                        // SAFETY: unit `u` (above), inside `o`.
                        unsafe { _mm_storel_epi64(p.add(at).cast(), val) };
                    }
                }
            }
        }
        true
    }
}

/// `dst` = `left` zeros, then `src` widened with [`widen`] (as much of it as
/// fits), then zeros: one padded row of a band.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_padded(src: &[i8], dst: &mut [i16], left: usize, off: __m256i, offset: i16) {
    let (pad, rest) = dst.split_at_mut(left.min(dst.len()));
    pad.fill(0);
    let n = src.len().min(rest.len());
    let (mid, right) = rest.split_at_mut(n);
    widen(src.get(..n).unwrap_or_default(), mid, off, offset);
    right.fill(0);
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
