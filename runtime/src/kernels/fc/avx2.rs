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
use core::mem::MaybeUninit;

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
    if unsafe { run(input, weights, bias, p.input_offset, rq, out, k, n) } {
        return Ok(());
    }
    scalar::fc_i8(p, input, weights, bias, rq, out)
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
) -> bool {
    // A widened row: `k` values, then zeros to whole chunks of 16
    // (`Weights`). Only those are written (zeroing the whole array at each
    // call was about 9% of LeNet-5's instructions); `false` (nothing
    // written) if they do not fit, which the caller's `k <= ROW_MAX` rules out.
    let mut buf = [const { MaybeUninit::<i16>::uninit() }; ROW_MAX];
    let Some(row) = buf.get_mut(..k.next_multiple_of(16)) else {
        return false;
    };
    for t in row.iter_mut().skip(k) {
        t.write(0);
    }
    let w = Weights::new(weights, k);
    for (x, o) in input.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for (t, &f) in row.iter_mut().zip(x) {
            t.write((f as i32 + input_offset) as i16);
        }
        // SAFETY: every value of `row` was written: the first `k` just above
        // (`x` holds `k`), the rest before the loop.
        let r = unsafe { core::slice::from_raw_parts(row.as_ptr().cast::<i16>(), row.len()) };
        row_all_channels(r, &w, bias, rq, o);
    }
    true
}
