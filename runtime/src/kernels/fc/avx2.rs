//! int8 fully connected layer for x86_64 with AVX2, chosen at run time: each input
//! row is widened once to `i16`, then four outputs at a time are `vpmaddwd` dot
//! products (see [`crate::kernels::avx2`]). Bit-exact twin of [`super::scalar`];
//! weights with a zero point, rows over [`ROW_MAX`] and CPUs without AVX2 run the
//! scalar kernel.

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::RequantParams;
use crate::kernels::avx2::{ROW_MAX, Weights, available, row_all_channels};
use crate::kernels::fc::scalar::{self, validate};

/// int8 fully connected with AVX2 when the CPU has it; same contract, errors and
/// results as [`scalar::fc_i8`].
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (_, k, n) = validate(p, input, weights, bias, rq, out)?;
    if !available() || k == 0 || k > ROW_MAX || n == 0 || p.weight_offset != 0 {
        return scalar::fc_i8(p, input, weights, bias, rq, out);
    }
    // SAFETY: `available()` checked that the CPU has AVX2.
    unsafe { run(input, weights, bias, p.input_offset, rq, out, k, n) };
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
fn run(
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    k: usize,
    n: usize,
) {
    // Zero past `k`: whole chunks of 16 (`Weights`).
    let mut row = [0i16; ROW_MAX];
    let w = Weights::new(weights, k);
    for (x, o) in input.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        let r = row.get_mut(..k).unwrap_or_default();
        for (t, &f) in r.iter_mut().zip(x) {
            *t = (f as i32 + input_offset) as i16;
        }
        row_all_channels(&row, &w, bias, rq, o);
    }
}
