//! Weight layouts of the SIMD conv kernels, packed ahead of time by the
//! compiler (`ConvI8::packed` in the `.edge` file, format 1.3) so that the
//! runtime never repacks, or once per call by the kernel itself when a model
//! has no packed weights (older files, or files compiled with `--pack none`
//! for a microcontroller, whose kernels read the OHWI weights directly).
//!
//! Portable code (no intrinsics, no allocation): the compiler packs on any
//! host for an x86_64 target, and the kernel's fallback packs with the same
//! functions, so each layout is written in one place.
//!
//! The AVX2 kernel ([`super::avx2`]) has three loops, each with its layout of
//! `i16` weights; [`avx2_layout`] says which loop runs a geometry (the
//! kernel's dispatch uses it too):
//! - [`Avx2Layout::Blocks`], eight output channels per block: `[block][pair]
//!   [8][2]`, pairs of neighbouring reduction indices over the runs of
//!   contiguous taps (`k_w * in_c` values per kernel row, or `in_c` per tap
//!   with horizontal dilation), each run padded to an even length with a zero
//!   weight; zeros for channels past `out_c`;
//! - [`Avx2Layout::Depthwise`], sixteen channels per block: per pair of taps,
//!   the two taps' weights interleaved as `vpunpcklwd`/`vpunpckhwd` of two
//!   16-channel vectors interleave them (per 128-bit lane), 32 values; an odd
//!   last tap is paired with a zero weight;
//! - [`Avx2Layout::Single`], one input channel: `[k_h][pair][out_c][2]`, pairs
//!   of neighbouring taps of a kernel row, an odd row's last tap paired with a
//!   zero weight (with `out_c % 8 == 0` the block loop reads it as it is: per
//!   pair, each block's `[8][2]` values are contiguous).
//!
//! The AVX2 Winograd loop (`super::avx2`'s `winograd`, [`winograd_runs`]:
//! 3x3, stride and dilation 1, one group) reads its own pack
//! ([`PackKind::Avx2WinogradI16`](crate::format::schema::PackKind)):
//! per output channel and input channel, the 3x3 kernel `g` transformed into
//! the 4x4 `U = G g G^T` of Winograd's F(2x2, 3x3) with
//! `G = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]]` (twice the textbook
//! matrix, so that `U` is an integer: `|U| <= 9 * 128`, an `i16`), laid out
//! `[position 16][block][pair][8][2]` (position `4 * row + column` of `U`,
//! pairs of neighbouring input channels, `in_c` rounded up to whole vectors
//! of [`WINOGRAD_CV`] channels with zero weights, zeros for output channels
//! past `out_c`).
//!
//! The Armv7E-M DSP conv and fc kernels ([`super::dsp`],
//! `kernels::fc::dsp`) read [`dsp_rows_len`] values laid out by
//! [`pack_dsp_rows`]: per pair of output channels (an odd last channel paired
//! with zeros), per group of 4 reduction values `w0..w3` (a convolution's
//! window in OHWI order, an fc row, zero-padded to whole groups), the `i16`
//! values
//! `[c0: w0, w2, w1, w3][c1: w0, w2, w1, w3]`: the two `SMLAD` operand words of
//! each channel, in the lane order of the kernel's activation rows, so that
//! one `LDM` loads a group of both channels (16 bytes).
//!
//! A file's packed weights name their kind ([`crate::format::schema::PackKind`]);
//! a runtime whose layout changed would add a kind and ignore the old one.

use crate::error::Error;
use crate::format::schema::{ConvGeom, FcI8};

/// Output channels per block of [`Avx2Layout::Blocks`].
pub const BLOCK: usize = 8;
/// Channels per block of [`Avx2Layout::Depthwise`].
pub const DW_BLOCK: usize = 16;

/// The AVX2 kernel's loops, each with its weight layout (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avx2Layout {
    Blocks,
    Depthwise,
    Single,
}

/// Which AVX2 loop runs the convolution `g` with weight offset
/// `weight_offset`, or `None` when the AVX2 kernel hands it to the scalar
/// kernel (grouped convolutions other than depthwise with channel multiplier
/// 1, weights with a zero point, empty windows or outputs).
pub fn avx2_layout(g: &ConvGeom, weight_offset: i32) -> Option<Avx2Layout> {
    let window = (g.k_h as u64) * (g.k_w as u64) * (g.in_c as u64);
    if weight_offset != 0 || window == 0 || g.out_c == 0 {
        return None;
    }
    let depthwise = g.groups > 1 && g.groups == g.in_c && g.out_c == g.in_c;
    if depthwise {
        Some(Avx2Layout::Depthwise)
    } else if g.groups != 1 {
        None
    } else if g.in_c == 1 && g.stride_w == 1 && g.dil_w == 1 {
        Some(Avx2Layout::Single)
    } else {
        Some(Avx2Layout::Blocks)
    }
}

/// The runs of contiguous taps of a window in [`Avx2Layout::Blocks`]:
/// `(values per run, runs)`: `k_h` runs of `k_w * in_c` values without
/// horizontal dilation, else `k_h * k_w` runs of `in_c`.
pub fn runs(g: &ConvGeom) -> (usize, usize) {
    let (k_h, k_w, in_c) = (g.k_h as usize, g.k_w as usize, g.in_c as usize);
    if g.dil_w == 1 {
        (k_w.saturating_mul(in_c), k_h)
    } else {
        (in_c, k_h.saturating_mul(k_w))
    }
}

/// Number of `i16` values of `g`'s weights in `layout`; `None` on overflow.
pub fn packed_len(g: &ConvGeom, layout: Avx2Layout) -> Option<usize> {
    let (k_h, k_w) = (g.k_h as usize, g.k_w as usize);
    match layout {
        Avx2Layout::Blocks => {
            let (len, count) = runs(g);
            let pairs = len.div_ceil(2).checked_mul(count)?;
            (g.out_c as usize)
                .div_ceil(BLOCK)
                .checked_mul(pairs)?
                .checked_mul(2 * BLOCK)
        }
        Avx2Layout::Depthwise => {
            let pairs = k_h.checked_mul(k_w)?.div_ceil(2);
            (g.in_c as usize)
                .div_ceil(DW_BLOCK)
                .checked_mul(pairs)?
                .checked_mul(2 * DW_BLOCK)
        }
        Avx2Layout::Single => k_h
            .checked_mul(k_w.div_ceil(2))?
            .checked_mul(g.out_c as usize)?
            .checked_mul(2),
    }
}

/// Pack `weights` (OHWI, `[out_c][k_h][k_w][in_c / groups]`) of the
/// convolution `g` into `dst` in `layout` (module docs). `dst` holds exactly
/// [`packed_len`] values and `weights` exactly the geometry's weights, else
/// [`Error::BadGeometry`] (nothing written).
pub fn pack(
    g: &ConvGeom,
    layout: Avx2Layout,
    weights: &[i8],
    dst: &mut [i16],
) -> Result<(), Error> {
    let (_, w_len, _) = super::float::conv_lens(g)?;
    if weights.len() != w_len || Some(dst.len()) != packed_len(g, layout) {
        return Err(Error::BadGeometry);
    }
    let w = |at: usize| weights.get(at).map_or(0, |&w| i16::from(w));
    let (k_h, k_w) = (g.k_h as usize, g.k_w as usize);
    let (in_c, out_c) = (g.in_c as usize, g.out_c as usize);
    match layout {
        Avx2Layout::Blocks => {
            let (len, count) = runs(g);
            let pairs = len.div_ceil(2);
            let window = len * count;
            // Value `j` of a block's step: channel `j / 2`, member `j % 2`.
            for (s, step) in dst.chunks_exact_mut(2 * BLOCK).enumerate() {
                let (k, rp) = (s / (pairs * count), s % (pairs * count));
                let (r, p) = (rp / pairs, rp % pairs);
                for (j, v) in step.iter_mut().enumerate() {
                    let (oc, h) = (BLOCK * k + j / 2, 2 * p + j % 2);
                    *v = if oc < out_c && h < len {
                        w(oc * window + r * len + h)
                    } else {
                        0
                    };
                }
            }
        }
        Avx2Layout::Depthwise => {
            let taps = k_h * k_w;
            let pairs = taps.div_ceil(2);
            // Value `j` of a step: half `j / 16` (`vpunpcklwd`, then
            // `vpunpckhwd`), lane `j / 8 % 2`, channel `i = j / 2 % 4` of the
            // lane's half, tap `2 * p + j % 2`.
            for (s, step) in dst.chunks_exact_mut(2 * DW_BLOCK).enumerate() {
                let (k, p) = (s / pairs, s % pairs);
                for (j, v) in step.iter_mut().enumerate() {
                    let (half, lane, i) = (j / 16, j / 8 % 2, j / 2 % 4);
                    let ch = DW_BLOCK * k + 8 * lane + 4 * half + i;
                    let t = 2 * p + j % 2;
                    *v = if ch < in_c && t < taps {
                        w(ch * taps + t)
                    } else {
                        0
                    };
                }
            }
        }
        Avx2Layout::Single => {
            let pairs = k_w.div_ceil(2);
            // Value `j` of kernel row `kh`'s pair `p`: channel `j / 2`, tap
            // `2 * p + j % 2`.
            for (s, step) in dst.chunks_exact_mut(2 * out_c).enumerate() {
                let (kh, p) = (s / pairs, s % pairs);
                for (j, v) in step.iter_mut().enumerate() {
                    let (oc, kw) = (j / 2, 2 * p + j % 2);
                    *v = if kw < k_w {
                        w((oc * k_h + kh) * k_w + kw)
                    } else {
                        0
                    };
                }
            }
        }
    }
    Ok(())
}

/// Input channels per vector of the Winograd loop (its pack rounds `in_c` up
/// to whole vectors).
pub const WINOGRAD_CV: usize = 16;

/// Most input channels of a convolution the Winograd loop runs: its sums are
/// `4 *` the convolution's, which must fit an `i32` (`|sum| <= 9 * in_c * 255
/// * 128 < 2^29`).
pub const WINOGRAD_MAX_IN_C: u32 = 1024;
/// Fewest input channels of a convolution the Winograd loop runs (with fewer,
/// more than half of its vector of [`WINOGRAD_CV`] channels is padding).
pub const WINOGRAD_MIN_IN_C: u32 = 8;

/// Whether the AVX2 Winograd loop runs the convolution `g` with weight offset
/// `weight_offset` from [`pack_winograd`]'s weights: one the block loop runs
/// ([`avx2_layout`]: one group, symmetric weights) with a 3x3 kernel, stride
/// and dilation 1 and [`WINOGRAD_MIN_IN_C`] to [`WINOGRAD_MAX_IN_C`] input
/// channels.
pub fn winograd_runs(g: &ConvGeom, weight_offset: i32) -> bool {
    avx2_layout(g, weight_offset) == Some(Avx2Layout::Blocks)
        && winograd_shape(g)
        && (WINOGRAD_MIN_IN_C..=WINOGRAD_MAX_IN_C).contains(&g.in_c)
}

/// The kernel part of [`winograd_runs`]: 3x3, stride and dilation 1 (what a
/// model's Winograd pack must be for, `format::validate`).
pub fn winograd_shape(g: &ConvGeom) -> bool {
    g.k_h == 3 && g.k_w == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1
}

/// Largest Winograd pack ([`winograd_pays`]): 2 MiB, the transformed 3x3
/// kernels of 256 by 256 channels.
pub const WINOGRAD_MAX_PACK_BYTES: u64 = 2 << 20;

/// Whether the Winograd loop is worth its pack for the convolution `g` (which
/// [`winograd_runs`]): the compiler's choice between it and the block loop
/// for the AVX2 family (`format::write::append_packs`), not a condition of
/// validity. Its cost model, in units of one multiply-accumulate of the
/// Winograd loop's product:
///
/// ```text
/// direct   = 0.73 * 9 * out_h * out_w * in_c * out_c'
/// winograd = 16 * T * in_c' * out_c' + 55 * T * (in_c' + out_c')
/// ```
///
/// with `T` tiles of 2x2 output pixels (odd sizes pay for whole tiles),
/// `in_c'` and `out_c'` rounded up to whole vectors of the Winograd loop and
/// blocks of both loops. The second term (the transforms, and the stores and
/// set-up of the short products, per tile and channel) and the block loop's
/// cost per multiply-accumulate are a least-squares fit (of the logarithms of
/// the ratios) to the per-operator minimums of `edge-tools bench --report`,
/// each loop in turn, for the 17 3x3 stride-1 layers of ResNet-8, the
/// detector, VGG and AlexNet on the x86_64 dev machine (AMD EPYC, AVX2); its
/// ratios are within 20% of the measured ones (from 0.63 to 1.29). The loop
/// runs where it is predicted to take at most 90% of the block loop's time:
/// 16 or more channels at 28x28 (0.87), 32 at 14x14 (0.74), 64 at 6x6; not
/// 3x3 outputs, whose tiles are half padding (1.23 and more). Its pack must
/// also fit [`WINOGRAD_MAX_PACK_BYTES`]: the loop reads all of it once per
/// row of tiles (ResNet-50's 512-channel layers at 7x7, 8 MiB, ran 25%
/// slower than the block loop; its 256-channel ones at 14x14, 2 MiB, 35%
/// faster).
pub fn winograd_pays(g: &ConvGeom) -> bool {
    let (oh, ow) = (u64::from(g.out_h), u64::from(g.out_w));
    let ic = u64::from(g.in_c);
    let tiles = oh.div_ceil(2) * ow.div_ceil(2);
    let icp = ic.next_multiple_of(WINOGRAD_CV as u64);
    let ocp = u64::from(g.out_c).next_multiple_of(BLOCK as u64);
    if 16 * icp * ocp * 2 > WINOGRAD_MAX_PACK_BYTES {
        return false;
    }
    let direct = 9 * oh * ow * ic * ocp;
    let winograd = 16 * tiles * icp * ocp + 55 * tiles * (icp + ocp);
    // winograd <= 0.9 * 0.73 * direct
    1000 * winograd <= 657 * direct
}

/// Number of `i16` values of `g`'s weights in the Winograd layout (module
/// docs); `None` on overflow.
pub fn winograd_len(g: &ConvGeom) -> Option<usize> {
    (g.out_c as usize)
        .div_ceil(BLOCK)
        .checked_mul((g.in_c as usize).div_ceil(WINOGRAD_CV))?
        .checked_mul(16 * WINOGRAD_CV * BLOCK)
}

/// Pack `weights` (OHWI) of the 3x3 convolution `g` into `dst` in the
/// Winograd layout (module docs). `dst` holds exactly [`winograd_len`] values,
/// `weights` exactly the geometry's and the kernel is 3x3 with one group, else
/// [`Error::BadGeometry`] (nothing written).
pub fn pack_winograd(g: &ConvGeom, weights: &[i8], dst: &mut [i16]) -> Result<(), Error> {
    let (_, w_len, _) = super::float::conv_lens(g)?;
    if weights.len() != w_len
        || (g.k_h, g.k_w, g.groups) != (3, 3, 1)
        || Some(dst.len()) != winograd_len(g)
    {
        return Err(Error::BadGeometry);
    }
    const G: [[i32; 3]; 4] = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];
    let (in_c, out_c) = (g.in_c as usize, g.out_c as usize);
    let (blocks, pairs) = (
        out_c.div_ceil(BLOCK),
        in_c.div_ceil(WINOGRAD_CV) * WINOGRAD_CV / 2,
    );
    let w = |oc: usize, t: usize, ic: usize| {
        weights
            .get((oc * 9 + t) * in_c + ic)
            .map_or(0, |&w| i32::from(w))
    };
    dst.fill(0);
    for oc in 0..out_c {
        for ic in 0..in_c {
            // `G g G^T`, row `a`, column `b`.
            for (a, ga) in G.iter().enumerate() {
                for (b, gb) in G.iter().enumerate() {
                    let mut u = 0;
                    for (kh, &x) in ga.iter().enumerate() {
                        for (kw, &y) in gb.iter().enumerate() {
                            u += x * y * w(oc, 3 * kh + kw, ic);
                        }
                    }
                    let pos = 4 * a + b;
                    let at = ((pos * blocks + oc / BLOCK) * pairs + ic / 2) * 2 * BLOCK
                        + (oc % BLOCK) * 2
                        + ic % 2;
                    // |u| <= 9 * 128: an `i16`.
                    if let Some(v) = dst.get_mut(at) {
                        *v = u as i16;
                    }
                }
            }
        }
    }
    Ok(())
}

/// [`pack_winograd`] into a new vector, for the compiler (`None` when
/// [`winograd_runs`] says the Winograd loop does not run `g`).
#[cfg(any(test, feature = "alloc"))]
pub fn packed_winograd(
    g: &ConvGeom,
    weight_offset: i32,
    weights: &[i8],
) -> Result<Option<alloc::vec::Vec<i16>>, Error> {
    if !winograd_runs(g, weight_offset) {
        return Ok(None);
    }
    let len = winograd_len(g).ok_or(Error::Overflow)?;
    let mut v = alloc::vec![0; len];
    pack_winograd(g, weights, &mut v)?;
    Ok(Some(v))
}

/// Longest window (`k_h * k_w * in_c`) the DSP conv kernel widens into its stack
/// rows (`kernels::dsp::ROW_MAX`); longer ones run the scalar kernel.
pub const DSP_ROW_MAX: usize = 640;

/// Whether the DSP conv kernel runs `g` with weight offset `weight_offset`
/// from packed weights ([`pack_dsp`]): one group, no horizontal dilation,
/// symmetric weights, a window of 1 to [`DSP_ROW_MAX`] values and at least one
/// output channel. Other convolutions, and convolutions without packs, run the
/// scalar kernel.
pub fn dsp_runs(g: &ConvGeom, weight_offset: i32) -> bool {
    let window = (g.k_h as u64) * (g.k_w as u64) * (g.in_c as u64);
    g.groups == 1
        && g.dil_w == 1
        && weight_offset == 0
        && window >= 1
        && window <= DSP_ROW_MAX as u64
        && g.out_c > 0
}

/// Whether the DSP fc kernel runs `p` from packed weights ([`pack_dsp_rows`]
/// of its `n` rows of `k`): symmetric weights, `k` a multiple of 4 from 4 to
/// [`DSP_ROW_MAX`], at least one output. Others run the scalar kernel.
pub fn dsp_fc_runs(p: &FcI8) -> bool {
    p.weight_offset == 0
        && p.k > 0
        && p.k.is_multiple_of(4)
        && p.k as usize <= DSP_ROW_MAX
        && p.n > 0
}

/// Number of `i16` values of `channels` weight rows of `len` values in the DSP
/// layout (module docs): `2 * ceil(channels / 2)` rows of `len` rounded up to
/// whole groups of 4; `None` on overflow.
pub fn dsp_rows_len(channels: usize, len: usize) -> Option<usize> {
    (len.div_ceil(4) * 4).checked_mul(channels.div_ceil(2) * 2)
}

/// [`dsp_rows_len`] for the convolution `g` (a row per output channel, the
/// window `k_h * k_w * in_c` long).
pub fn dsp_packed_len(g: &ConvGeom) -> Option<usize> {
    let window = (g.k_h as usize)
        .checked_mul(g.k_w as usize)?
        .checked_mul(g.in_c as usize)?;
    dsp_rows_len(g.out_c as usize, window)
}

/// Pack `channels` weight rows of `len` int8 values (`weights`, row after row:
/// OHWI for a convolution, `[n][k]` for fc) into `dst` in the DSP layout
/// (module docs). `dst` holds exactly [`dsp_rows_len`] values and `weights`
/// exactly `channels * len`, else [`Error::BadGeometry`] (nothing written).
pub fn pack_dsp_rows(
    weights: &[i8],
    channels: usize,
    len: usize,
    dst: &mut [i16],
) -> Result<(), Error> {
    if Some(weights.len()) != channels.checked_mul(len)
        || Some(dst.len()) != dsp_rows_len(channels, len)
    {
        return Err(Error::BadGeometry);
    }
    let groups = len.div_ceil(4);
    // Value `j` of a group's 8: channel `j / 4` of the pair, reduction value
    // `[0, 2, 1, 3][j % 4]` of the group (bit 0 and bit 1 of `j` swapped).
    for (s, step) in dst.chunks_exact_mut(8).enumerate() {
        let (pair, q) = (s / groups, s % groups);
        for (j, v) in step.iter_mut().enumerate() {
            let oc = 2 * pair + j / 4;
            let h = 4 * q + ((j & 1) << 1 | (j >> 1) & 1);
            *v = if oc < channels && h < len {
                weights.get(oc * len + h).map_or(0, |&w| i16::from(w))
            } else {
                0
            };
        }
    }
    Ok(())
}

/// [`pack_dsp_rows`] for the convolution `g` (OHWI weights; `weights` must be
/// exactly the geometry's, else [`Error::BadGeometry`]).
pub fn pack_dsp(g: &ConvGeom, weights: &[i8], dst: &mut [i16]) -> Result<(), Error> {
    let (_, w_len, _) = super::float::conv_lens(g)?;
    if weights.len() != w_len || g.groups != 1 {
        return Err(Error::BadGeometry);
    }
    let window = w_len / (g.out_c as usize).max(1);
    pack_dsp_rows(weights, g.out_c as usize, window, dst)
}

/// [`pack_dsp`] into a new vector, for the compiler (`None` when [`dsp_runs`]
/// says the DSP kernel hands `g` to the scalar kernel).
#[cfg(any(test, feature = "alloc"))]
pub fn packed_dsp(
    g: &ConvGeom,
    weight_offset: i32,
    weights: &[i8],
) -> Result<Option<alloc::vec::Vec<i16>>, Error> {
    if !dsp_runs(g, weight_offset) {
        return Ok(None);
    }
    let len = dsp_packed_len(g).ok_or(Error::Overflow)?;
    let mut v = alloc::vec![0; len];
    pack_dsp(g, weights, &mut v)?;
    Ok(Some(v))
}

/// `values` copied to 16-byte words, as packs are aligned in a model's blob
/// (the DSP kernels read packs that are at least 4-byte aligned): the tests'
/// prepacked twins use it, so that the packed path runs whatever the allocator.
#[cfg(test)]
pub(crate) fn aligned_words(values: &[i16]) -> alloc::vec::Vec<[u32; 4]> {
    let mut words = alloc::vec![[0u32; 4]; values.len().div_ceil(8)];
    let dst: &mut [i16] = bytemuck::cast_slice_mut(&mut words);
    if let Some(dst) = dst.get_mut(..values.len()) {
        dst.copy_from_slice(values);
    }
    words
}

/// [`pack_dsp_rows`] of the fully connected layer `p` into a new vector, for
/// the compiler (`None` when [`dsp_fc_runs`] says no).
#[cfg(any(test, feature = "alloc"))]
pub fn packed_dsp_fc(p: &FcI8, weights: &[i8]) -> Result<Option<alloc::vec::Vec<i16>>, Error> {
    if !dsp_fc_runs(p) {
        return Ok(None);
    }
    let (n, k) = (p.n as usize, p.k as usize);
    let len = dsp_rows_len(n, k).ok_or(Error::Overflow)?;
    let mut v = alloc::vec![0; len];
    pack_dsp_rows(weights, n, k, &mut v)?;
    Ok(Some(v))
}

/// [`pack`] into a new vector, for the compiler (`None` when
/// [`avx2_layout`] hands `g` to the scalar kernel).
#[cfg(any(test, feature = "alloc"))]
pub fn packed_avx2(
    g: &ConvGeom,
    weight_offset: i32,
    weights: &[i8],
) -> Result<Option<alloc::vec::Vec<i16>>, Error> {
    let Some(layout) = avx2_layout(g, weight_offset) else {
        return Ok(None);
    };
    let len = packed_len(g, layout).ok_or(Error::Overflow)?;
    let mut v = alloc::vec![0; len];
    pack(g, layout, weights, &mut v)?;
    Ok(Some(v))
}
