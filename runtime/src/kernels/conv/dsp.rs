//! int8 2-D convolution for Armv7E-M (Cortex-M4/M7): im2col rows of `i16` and a
//! 2-pixel x 2-channel SMLAD micro-kernel. Bit-exact twin of [`super::scalar`].
//!
//! One group (`groups == 1`: first layers with 1 input channel, 1x1 and every
//! dense kxk conv): for each pair of output pixels, the receptive field of each
//! pixel (`k_h * k_w * in_c` values, OHWI order, the order of a weight row) is
//! widened once into a stack row as `x + input_offset` (padded taps are 0), then
//! every pair of output channels is a pair of dot products with the weights the
//! compiler packed (see [`crate::kernels::dsp`]). Per 4 reduction steps of 2
//! pixels x 2 channels: one `LDM` of the weights, 4 row loads and 8 `SMLAD` for
//! 16 MACs. An odd last pixel or channel reuses the 2x2 kernel and drops the
//! extra results.
//!
//! Convolutions without packed weights ([`pack::pack_dsp`]), and those the
//! packed layout does not cover ([`pack::dsp_runs`]: grouped, depthwise and
//! width-dilated convolutions, weights with a zero point, windows longer than
//! [`ROW_MAX`](crate::kernels::dsp::ROW_MAX)) run the scalar kernel (without its
//! pointwise path, which this one covers).
//!
//! No scratch memory is asked of the caller: the two rows (`2 * ROW_MAX * 2`
//! bytes) and the requantization scratch ([`Scratch`], about 1.3 KiB) are on
//! the stack.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::conv::pack;
use crate::kernels::conv::scalar::{self, Dims, validate};
use crate::kernels::dsp::{
    DspOps, Kernel, ROW_WORDS, Rows, Scratch, finish_row, widen, widen_groups,
};

/// int8 convolution with the DSP instructions; same contract, errors and results as
/// [`scalar::conv_i8`]. `packed`: the weights in the DSP layout
/// ([`pack::pack_dsp`]), read instead of `weights` when they are given, 4-byte
/// aligned and as long as the layout.
#[cfg(edgerun_dsp)]
#[allow(clippy::too_many_arguments)]
pub fn conv_i8(
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
    conv_i8_with::<crate::kernels::dsp::Native>(
        g,
        input,
        weights,
        packed,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// [`conv_i8`] over any implementation of the DSP instructions (the tests run it
/// with [`crate::kernels::dsp::Emulated`] on the host).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn conv_i8_with<D: DspOps>(
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
    // Packed weights of the right length, in whole aligned groups, for a
    // convolution the micro-kernel runs; else the scalar kernel.
    let packed = packed
        .filter(|p| pack::dsp_runs(g, weight_offset) && Some(p.len()) == pack::dsp_packed_len(g))
        .and_then(|p| bytemuck::try_cast_slice::<i16, [u32; 4]>(p).ok());
    let Some(packed) = packed else {
        return scalar::conv_i8_fallback(
            g,
            input,
            weights,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        );
    };
    let len = d.k_h * d.k_w * d.in_c;
    let mut rows: Rows = [0; 2 * ROW_WORDS];
    let pixels = d.n * d.out_h * d.out_w;
    let mut scratch = Scratch::new();
    let k = Kernel {
        packed,
        bias,
        rq,
        len: 4 * len.div_ceil(4),
        out_c: d.out_c,
    };
    let mut p = 0usize;
    for o in out.chunks_mut(2 * d.out_c) {
        let (row0, row1) = rows.split_at_mut(ROW_WORDS);
        fill::<D>(&d, input, input_offset, p, row0, len);
        let (o0, o1) = o.split_at_mut(d.out_c.min(o.len()));
        if p + 1 < pixels {
            fill::<D>(&d, input, input_offset, p + 1, row1, len);
            k.rows::<D>(&rows, o0, o1, &mut scratch);
        } else {
            k.rows::<D>(&rows, o0, &mut [], &mut scratch);
        }
        p += 2;
    }
    Ok(())
}

/// Valid taps `[lo, hi)` along one axis for output position `o`: those with
/// `pad <= o * stride + k * dil < len + pad` (a contiguous range of `k`).
#[inline(always)]
fn valid_taps(
    o: usize,
    stride: usize,
    dil: usize,
    pad: usize,
    len: usize,
    k: usize,
) -> (usize, usize) {
    let start = o * stride;
    // `ceil(x / dil)`, without a division for the usual `dil == 1`.
    let taps = |x: usize| if dil == 1 { x } else { x.div_ceil(dil) };
    let lo = if start >= pad {
        0
    } else {
        taps(pad - start).min(k)
    };
    let hi = if start >= len + pad {
        0
    } else {
        taps(len + pad - start).min(k)
    };
    (lo, hi.max(lo))
}

/// Write pixel `p`'s receptive field, `x + input_offset` with 0 for padded taps,
/// into `row` as a finished row of `len` values ([`finish_row`]; with whole groups
/// of 4 per run of taps, [`widen_groups`]).
fn fill<D: DspOps>(
    d: &Dims,
    input: &[i8],
    input_offset: i32,
    p: usize,
    row: &mut [u32],
    len: usize,
) {
    let ow = p % d.out_w;
    let t = p / d.out_w;
    let oh = t % d.out_h;
    let b = t / d.out_h;
    let krow = d.k_w * d.in_c;
    let (kw_lo, kw_hi) = valid_taps(ow, d.stride_w, d.dil_w, d.pad_left, d.in_w, d.k_w);
    let (kh_lo, kh_hi) = valid_taps(oh, d.stride_h, d.dil_h, d.pad_top, d.in_h, d.k_h);
    let partial = kw_lo > 0 || kw_hi < d.k_w || kh_lo > 0 || kh_hi < d.k_h;
    // First valid tap of the window; `valid_taps` guarantees no underflow here.
    let ih = (oh * d.stride_h + kh_lo * d.dil_h).saturating_sub(d.pad_top);
    let iw = (ow * d.stride_w + kw_lo * d.dil_w).saturating_sub(d.pad_left);
    let src = ((b * d.in_h + ih) * d.in_w + iw) * d.in_c;
    let src_step = d.dil_h * d.in_w * d.in_c;
    let dst = kh_lo * krow + kw_lo * d.in_c;
    let n = (kw_hi - kw_lo) * d.in_c;
    let rows = kh_hi - kh_lo;
    // A window with no valid row (all padding) starts past the end of the row.
    let from = input.get(src..).unwrap_or_default();
    if d.in_c.is_multiple_of(4) {
        // Every run of taps is whole groups of 4 (`krow`, `dst`, `n` and `len` are
        // multiples of `in_c`): widen them straight into finished groups.
        let Some(words) = row.get_mut(..len / 2) else {
            return;
        };
        if partial {
            words.fill(0); // padded taps hold `zero point + input_offset` = 0
        }
        let to = words.get_mut(dst / 2..).unwrap_or_default();
        for (from, to) in from
            .chunks(src_step)
            .zip(to.chunks_mut(krow / 2))
            .take(rows)
        {
            let to = to.get_mut(..n / 2).unwrap_or_default();
            widen_groups::<D>(to, from.get(..n).unwrap_or_default(), input_offset);
        }
        return;
    }
    let vals: &mut [i16] = bytemuck::cast_slice_mut(row);
    let Some(vals) = vals.get_mut(..len) else {
        return;
    };
    if partial {
        vals.fill(0); // padded taps hold `zero point + input_offset` = 0
    }
    let to = vals.get_mut(dst..).unwrap_or_default();
    for (from, to) in from.chunks(src_step).zip(to.chunks_mut(krow)).take(rows) {
        let to = to.get_mut(..n).unwrap_or_default();
        let from = from.get(..n).unwrap_or_default();
        widen::<D>(to, from, input_offset);
    }
    finish_row(row, len);
}
