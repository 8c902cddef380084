//! int8 fully connected layer for aarch64: the NEON twin (every aarch64 CPU) and
//! the SDOT twin (Armv8.2 dot product, chosen at run time with the `std`
//! feature). Bit-exact twins of [`super::scalar`]: the int8 input rows are read
//! in place, four outputs at a time are int8 dot products plus a per-output
//! constant (see [`crate::kernels::neon`]). Weights with a zero point run the
//! scalar kernel.

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::RequantParams;
use crate::kernels::fc::scalar::{self, validate};
use crate::kernels::neon::{BLOCK, Block, Mac, Neon, Row, channels};

/// int8 fully connected with NEON; same contract, errors and results as
/// [`scalar::fc_i8`].
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    with_valid(p, input, weights, bias, rq, out, |k, n, out| {
        run(Neon, p.input_offset, input, weights, bias, rq, out, k, n);
    })
}

/// int8 fully connected with `SDOT` when the CPU has it, else [`fc_i8`]; same
/// contract, errors and results as [`scalar::fc_i8`].
#[cfg(any(test, feature = "std"))]
pub fn fc_i8_sdot(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let Some(s) = crate::kernels::neon::Sdot::detect() else {
        return fc_i8(p, input, weights, bias, rq, out);
    };
    with_valid(p, input, weights, bias, rq, out, |k, n, out| {
        // SAFETY: `s` exists, so the CPU has the `dotprod` feature `run_sdot` is
        // compiled with (NEON is part of every aarch64 CPU).
        unsafe { run_sdot(s, p.input_offset, input, weights, bias, rq, out, k, n) };
    })
}

/// Validate (the scalar kernel's checks and errors), then run `f(k, n, out)` on
/// the layers the twins compute and the scalar kernel on the others.
fn with_valid(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    f: impl FnOnce(usize, usize, &mut [i8]),
) -> Result<(), Error> {
    let (_, k, n) = validate(p, input, weights, bias, rq, out)?;
    if k == 0 || n == 0 || p.weight_offset != 0 {
        return scalar::fc_i8(p, input, weights, bias, rq, out);
    }
    f(k, n, out);
    Ok(())
}

/// [`run`] compiled with `SDOT` available.
#[cfg(any(test, feature = "std"))]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon,dotprod")]
fn run_sdot(
    s: crate::kernels::neon::Sdot,
    input_offset: i32,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    k: usize,
    n: usize,
) {
    run(s, input_offset, input, weights, bias, rq, out, k, n);
}

/// Blocks of [`BLOCK`] outputs, each over every input row (validated: `k` and
/// `n` are positive, `input` holds rows of `k` values and `out` rows of `n`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run<K: Mac>(
    m: K,
    input_offset: i32,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
    k: usize,
    n: usize,
) {
    for oc0 in (0..n).step_by(BLOCK) {
        let b = Block::new(weights, k, bias, input_offset, rq, oc0, BLOCK.min(n - oc0));
        for (x, o) in input.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
            channels(m, &Row::new(x), weights, &b, rq, o);
        }
    }
}
