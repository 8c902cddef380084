//! int8 2-D convolution for aarch64: the NEON twin (every aarch64 CPU) and the
//! SDOT twin (Armv8.2 dot product, chosen at run time with the `std` feature).
//! Bit-exact twins of [`super::scalar`]: per output pixel the receptive field is
//! copied once as int8 (im2col row, the input zero point in the padding), then
//! four output channels at a time are int8 dot products plus a per-channel
//! constant (see [`crate::kernels::neon`]).
//!
//! One-group convolutions with symmetric weights and windows up to
//! [`ROW_MAX`](crate::kernels::neon::ROW_MAX) values, and depthwise ones with
//! channel multiplier 1 (16 channels at a time, `SMLAL` on `i16`-widened
//! values: [`crate::kernels::neon::dw_mac`], the same code in both twins, as
//! `SDOT` does not help there); everything else (grouped convolutions,
//! channel multipliers above 1, weights with a zero point) runs the scalar
//! kernel.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::{self, Dims, im2col_row, tap, validate};
use crate::kernels::neon::{
    BLOCK, Block, Mac, Neon, ROW_MAX, Requant, Row, channels, dw_mac, dw_offset, load_padded, zero,
};

/// int8 convolution with NEON; same contract, errors and results as
/// [`scalar::conv_i8`].
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
    let a = (g, input, weights, bias, input_offset, weight_offset, rq);
    with_args(a, out, |a, out| run(Neon, a, out))
}

/// int8 convolution with `SDOT` when the CPU has it, else [`conv_i8`]; same
/// contract, errors and results as [`scalar::conv_i8`].
#[cfg(any(test, feature = "std"))]
#[allow(clippy::too_many_arguments)]
pub fn conv_i8_sdot(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let a = (g, input, weights, bias, input_offset, weight_offset, rq);
    match crate::kernels::neon::Sdot::detect() {
        // SAFETY: `k` exists, so the CPU has the `dotprod` feature `run_sdot` is
        // compiled with (NEON is part of every aarch64 CPU).
        Some(k) => with_args(a, out, |a, out| unsafe { run_sdot(k, a, out) }),
        None => with_args(a, out, |a, out| run(Neon, a, out)),
    }
}

/// The arguments of `conv_i8`, output excepted.
type Call<'a, 'r> = (
    &'a ConvGeom,
    &'a [i8],
    &'a [i8],
    Option<&'a [i32]>,
    i32,
    i32,
    &'a RequantParams<'r>,
);

/// Validate `c` (the scalar kernel's checks and errors), then run `f` on the
/// geometries the twins compute and the scalar kernel on the others.
fn with_args(
    c: Call<'_, '_>,
    out: &mut [i8],
    f: impl FnOnce(&Args<'_, '_>, &mut [i8]),
) -> Result<(), Error> {
    let (g, input, weights, bias, input_offset, weight_offset, rq) = c;
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
    let dense = d.groups == 1 && len > 0 && len <= ROW_MAX;
    let depthwise =
        !dense && d.groups == d.in_c && d.out_c == d.in_c && d.k_h * d.k_w <= DW_WEIGHTS / 16;
    if !(dense || depthwise) || weight_offset != 0 || d.out_c == 0 {
        return scalar::conv_i8(
            g,
            input,
            weights,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        );
    }
    let a = Args {
        d,
        input,
        weights,
        bias,
        input_offset,
        rq,
        len,
        depthwise,
    };
    f(&a, out);
    Ok(())
}

/// [`run`] compiled with `SDOT` available.
#[cfg(any(test, feature = "std"))]
#[target_feature(enable = "neon,dotprod")]
fn run_sdot(k: crate::kernels::neon::Sdot, a: &Args<'_, '_>, out: &mut [i8]) {
    run(k, a, out);
}

/// A validated call the twins compute.
struct Args<'a, 'r> {
    d: Dims,
    input: &'a [i8],
    weights: &'a [i8],
    bias: Option<&'a [i32]>,
    input_offset: i32,
    rq: &'a RequantParams<'r>,
    /// Window length of a dense (one-group) convolution.
    len: usize,
    /// A depthwise convolution with channel multiplier 1 (`groups == in_c ==
    /// out_c`), which [`depthwise`] computes.
    depthwise: bool,
}

/// Blocks of [`BLOCK`] output channels (one for most layers), each over every
/// pixel: im2col row, then the dot products of the block's channels. Depthwise
/// convolutions run [`depthwise`] (the same code in both twins).
#[inline(always)]
fn run<K: Mac>(k: K, a: &Args<'_, '_>, out: &mut [i8]) {
    if a.depthwise {
        depthwise(a, out);
        return;
    }
    let d = &a.d;
    // The input zero point; `input_offset` is in [-127, 128] (validated).
    let zp = (-a.input_offset) as i8;
    let mut row = [0i8; ROW_MAX];
    let row = row.get_mut(..a.len).unwrap_or_default();
    for oc0 in (0..d.out_c).step_by(BLOCK) {
        let n = BLOCK.min(d.out_c - oc0);
        let b = Block::new(a.weights, a.len, a.bias, a.input_offset, a.rq, oc0, n);
        for (p, o) in out.chunks_exact_mut(d.out_c).enumerate() {
            im2col_row(d, a.input, p, row, zp, |from, to| {
                for (t, &x) in to.iter_mut().zip(from) {
                    *t = x;
                }
            });
            channels(k, &Row::new(row), a.weights, &b, a.rq, o);
        }
    }
}

/// Stack bytes for one block's depthwise weights, transposed to
/// `[tap][channel]` (5x5 taps for 256 channels).
const DW_WEIGHTS: usize = 6400;

/// Depthwise convolution with channel multiplier 1, 16 channels at a time:
/// for each output pixel and valid tap, the 16 input channels and their 16
/// weights (transposed once per call so that they are contiguous) go through
/// [`dw_mac`]; padded taps are skipped, as in the scalar kernel. Requires
/// `k_h * k_w <= DW_WEIGHTS / 16` (checked by `with_args`).
fn depthwise(a: &Args<'_, '_>, out: &mut [i8]) {
    let d = &a.d;
    let taps = d.k_h * d.k_w;
    // Channels per block: a multiple of 16 whose transposed weights fit.
    let nb = (DW_WEIGHTS / taps.max(1) / 16 * 16).clamp(16, BLOCK);
    let io = dw_offset(a.input_offset);
    let q = Requant::new(a.rq);
    let mut wt = [0i8; DW_WEIGHTS];
    for oc0 in (0..d.out_c).step_by(nb) {
        let n = nb.min(d.out_c - oc0);
        // The bias is the whole per-channel constant here (`input_offset` 0).
        let b = Block::new(a.weights, taps, a.bias, 0, a.rq, oc0, n);
        let w = a.weights.get(oc0 * taps..).unwrap_or_default();
        for (j, row) in w.chunks_exact(taps).take(n).enumerate() {
            for (t, &v) in row.iter().enumerate() {
                if let Some(to) = wt.get_mut(t * n + j) {
                    *to = v;
                }
            }
        }
        for (p, o) in out.chunks_exact_mut(d.out_c).enumerate() {
            let ow = p % d.out_w;
            let oh = (p / d.out_w) % d.out_h;
            let img = p / d.out_w / d.out_h;
            for c0 in (0..n).step_by(16) {
                let mut acc = [zero(); 4];
                for kh in 0..d.k_h {
                    let Some(ih) = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h) else {
                        continue;
                    };
                    for kw in 0..d.k_w {
                        let Some(iw) = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w) else {
                            continue;
                        };
                        let px = ((img * d.in_h + ih) * d.in_w + iw) * d.in_c + oc0 + c0;
                        let x = load_padded(a.input.get(px..).unwrap_or_default());
                        let wi = (kh * d.k_w + kw) * n + c0;
                        let w = load_padded(wt.get(wi..).unwrap_or_default());
                        dw_mac(&mut acc, x, w, io);
                    }
                }
                for (g, acc) in acc.into_iter().enumerate() {
                    if c0 + 4 * g < n {
                        b.store(&q, c0 + 4 * g, acc, a.rq, o);
                    }
                }
            }
        }
    }
}
