//! int8 fully connected layer for Armv7E-M (Cortex-M4/M7): each input row is
//! widened once to `i16` (`x + input_offset`), then every pair of outputs is a pair
//! of SMLAD dot products with the int8 weights widened in registers (see
//! [`crate::kernels::dsp`]). Bit-exact twin of [`super::scalar`].
//!
//! Rows longer than [`ROW_MAX`](crate::kernels::dsp::ROW_MAX) or not a multiple of
//! 4, and weights with a zero point, run the scalar kernel. One row runs the 2x2
//! micro-kernel of the conv (its second row's results are dropped): one
//! micro-kernel in the firmware. The widened row lives on the stack.

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::RequantParams;
use crate::kernels::dsp::{DspOps, Kernel, ROW_MAX, ROW_WORDS, Rows, widen_groups};
use crate::kernels::fc::scalar;
use crate::kernels::fc::scalar::validate;

/// int8 fully connected with the DSP instructions; same contract, errors and results
/// as [`super::scalar::fc_i8`].
#[cfg(edgerun_dsp)]
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    fc_i8_with::<crate::kernels::dsp::Native>(p, input, weights, bias, rq, out)
}

/// [`fc_i8`] over any implementation of the DSP instructions.
#[inline(never)]
pub(crate) fn fc_i8_with<D: DspOps>(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (_, k, n) = validate(p, input, weights, bias, rq, out)?;
    if k == 0 || k > ROW_MAX || !k.is_multiple_of(4) || n == 0 || p.weight_offset != 0 {
        return scalar::fc_i8(p, input, weights, bias, rq, out);
    }
    let mut rows: Rows = [0; 2 * ROW_WORDS];
    let kernel = Kernel {
        weights,
        packed: None,
        bias,
        rq,
        len: k,
    };
    for (x, o) in input.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        widen_groups::<D>(&mut rows, x, p.input_offset);
        kernel.rows::<D>(&rows, o, &mut []);
    }
    Ok(())
}
