//! int8 2-D convolution for x86_64 with AVX2, chosen at run time. Bit-exact twin
//! of [`super::scalar`]: per output pixel the receptive field is widened once to
//! `i16` (im2col row, `x + input_offset`, 0 in the padding), then four output
//! channels at a time are `vpmaddwd` dot products with the int8 weights widened in
//! registers (see [`crate::kernels::avx2`]).
//!
//! One-group convolutions with symmetric weights and windows up to
//! [`ROW_MAX`](crate::kernels::avx2::ROW_MAX) values; everything else, and CPUs
//! without AVX2, run the scalar kernel.

use crate::error::Error;
use crate::format::schema::ConvGeom;
use crate::kernels::RequantParams;
use crate::kernels::avx2::{ROW_MAX, available, row_all_channels};
use crate::kernels::conv::scalar::{self, Dims, tap, validate};

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
    if !available()
        || d.groups != 1
        || weight_offset != 0
        || len == 0
        || len > ROW_MAX
        || d.out_c == 0
    {
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
    // SAFETY: `available()` checked that the CPU has AVX2.
    unsafe { run(&d, input, weights, bias, input_offset, rq, out, len) };
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
fn run(
    d: &Dims,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    len: usize,
) {
    let mut row = [0i16; ROW_MAX];
    for (p, o) in out.chunks_exact_mut(d.out_c).enumerate() {
        let r = row.get_mut(..len).unwrap_or_default();
        fill(d, input, input_offset, p, r);
        row_all_channels(r, weights, bias, rq, len, o);
    }
}

/// Pixel `p`'s receptive field as `x + input_offset`, 0 for padded taps, in the
/// (kh, kw, ic) order of a weight row.
#[inline]
fn fill(d: &Dims, input: &[i8], input_offset: i32, p: usize, row: &mut [i16]) {
    let ow = p % d.out_w;
    let t = p / d.out_w;
    let oh = t % d.out_h;
    let b = t / d.out_h;
    let mut taps = row.chunks_exact_mut(d.in_c);
    for kh in 0..d.k_h {
        let ih = tap(oh, d.stride_h, kh, d.dil_h, d.pad_top, d.in_h);
        for kw in 0..d.k_w {
            let Some(to) = taps.next() else {
                return;
            };
            let iw = tap(ow, d.stride_w, kw, d.dil_w, d.pad_left, d.in_w);
            let from = match (ih, iw) {
                (Some(ih), Some(iw)) => {
                    let at = ((b * d.in_h + ih) * d.in_w + iw) * d.in_c;
                    input.get(at..at + d.in_c)
                }
                _ => None,
            };
            match from {
                Some(from) => {
                    for (t, &f) in to.iter_mut().zip(from) {
                        *t = (f as i32 + input_offset) as i16;
                    }
                }
                None => to.fill(0),
            }
        }
    }
}
