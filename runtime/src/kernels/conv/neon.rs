//! int8 2-D convolution for aarch64: the NEON twin (every aarch64 CPU) and the
//! SDOT twin (Armv8.2 dot product, chosen at run time with the `std` feature).
//! Bit-exact twins of [`super::scalar`]: per output pixel the receptive field is
//! copied once as int8 (im2col row, the input zero point in the padding), then
//! four output channels at a time are int8 dot products plus a per-channel
//! constant (see [`crate::kernels::neon`]).
//!
//! One-group convolutions with symmetric weights and windows up to
//! [`ROW_MAX`](crate::kernels::neon::ROW_MAX) values; everything else (depthwise
//! and grouped convolutions too) runs the scalar kernel.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::{self, Dims, im2col_row, validate};
use crate::kernels::neon::{BLOCK, Block, Mac, Neon, ROW_MAX, Row, channels};

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
    if d.groups != 1 || weight_offset != 0 || len == 0 || len > ROW_MAX || d.out_c == 0 {
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
    len: usize,
}

/// Blocks of [`BLOCK`] output channels (one for most layers), each over every
/// pixel: im2col row, then the dot products of the block's channels.
#[inline(always)]
fn run<K: Mac>(k: K, a: &Args<'_, '_>, out: &mut [i8]) {
    let d = &a.d;
    // The input zero point; `input_offset` is in [-127, 128] (validated).
    let zp = (-a.input_offset) as i8;
    let mut row = [0i8; ROW_MAX];
    let row = row.get_mut(..a.len).unwrap_or_default();
    for oc0 in (0..d.out_c).step_by(BLOCK) {
        let n = BLOCK.min(d.out_c - oc0);
        let b = Block::new(a.weights, a.len, a.bias, a.input_offset, a.rq, oc0, n);
        for (p, o) in out.chunks_exact_mut(d.out_c).enumerate() {
            im2col_row(d, a.input, p, row, zp, |x| x);
            channels(k, &Row::new(row), a.weights, &b, a.rq, o);
        }
    }
}
