//! int8 fully connected layer for Armv7E-M (Cortex-M4/M7): input rows are
//! widened once to `i16` (`x + input_offset`), two at a time, then every pair of
//! outputs is the 2x2 SMLAD micro-kernel of the conv with the weights packed
//! ahead of time (`kernels::conv::pack::pack_dsp_rows`, see
//! [`crate::kernels::dsp`]). Bit-exact twin of [`super::scalar`].
//!
//! Layers the packed layout does not cover (`kernels::conv::pack::dsp_fc_runs`:
//! rows longer than [`ROW_MAX`](crate::kernels::dsp::ROW_MAX) or not a multiple
//! of 4, weights with a zero point) and layers without packed weights run the
//! scalar kernel. An odd last row runs the 2x2 micro-kernel too (its second
//! row's results are dropped): one micro-kernel in the firmware. The widened
//! rows live on the stack.

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::RequantParams;
use crate::kernels::conv::pack;
use crate::kernels::dsp::{DspOps, Kernel, ROW_WORDS, Rows, Scratch, widen_groups};
use crate::kernels::fc::scalar;
use crate::kernels::fc::scalar::validate;

/// int8 fully connected with the DSP instructions; same contract, errors and results
/// as [`super::scalar::fc_i8`]. `packed`: the weights in the DSP layout, 4-byte
/// aligned (without them, the scalar kernel runs).
#[cfg(edgerun_dsp)]
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    packed: Option<&[i16]>,
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    fc_i8_with::<crate::kernels::dsp::Native>(p, input, weights, packed, bias, rq, out)
}

/// [`fc_i8`] over any implementation of the DSP instructions.
#[inline(never)]
pub(crate) fn fc_i8_with<D: DspOps>(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    packed: Option<&[i16]>,
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (_, k, n) = validate(p, input, weights, bias, rq, out)?;
    let packed = packed
        .filter(|w| pack::dsp_fc_runs(p) && Some(w.len()) == pack::dsp_rows_len(n, k))
        .and_then(|w| bytemuck::try_cast_slice::<i16, [u32; 4]>(w).ok());
    let Some(packed) = packed else {
        return scalar::fc_i8(p, input, weights, bias, rq, out);
    };
    let mut rows: Rows = [0; 2 * ROW_WORDS];
    let mut scratch = Scratch::new();
    let kernel = Kernel {
        packed,
        bias,
        rq,
        len: k,
        out_c: n,
    };
    for (x, o) in input.chunks(2 * k).zip(out.chunks_mut(2 * n)) {
        let (x0, x1) = x.split_at(k.min(x.len()));
        let (o0, o1) = o.split_at_mut(n.min(o.len()));
        let (r0, r1) = rows.split_at_mut(ROW_WORDS);
        widen_groups::<D>(r0, x0, p.input_offset);
        widen_groups::<D>(r1, x1, p.input_offset);
        kernel.rows::<D>(&rows, o0, o1, &mut scratch);
    }
    Ok(())
}
