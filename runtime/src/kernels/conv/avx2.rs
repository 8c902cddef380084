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
use crate::kernels::avx2::{ROW_MAX, Weights, available, row_all_channels};
use crate::kernels::conv::scalar::{self, Dims, im2col_row, validate};

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
    // Zero past `len`: whole chunks of 16 (`Weights`).
    let mut row = [0i16; ROW_MAX];
    let w = Weights::new(weights, len);
    for (p, o) in out.chunks_exact_mut(d.out_c).enumerate() {
        let r = row.get_mut(..len).unwrap_or_default();
        im2col_row(d, input, p, r, 0, |x| (x as i32 + input_offset) as i16);
        row_all_channels(&row, &w, bias, rq, o);
    }
}
