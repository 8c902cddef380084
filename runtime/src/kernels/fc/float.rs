//! f32 fully connected layer (ONNX Gemm with `transB = 1`):
//! `out[r][j] = act(Σ_k in[r][k] * w[j][k] + bias[j])` (or `bias[r][j]` when the bias
//! is per row). The sum starts at `0.0` and runs over `k` in order; the bias is added
//! last.

use crate::error::Error;
use crate::format::schema::FcF32;
use crate::kernels::{check_len, prod};

/// Outputs computed side by side.
const BLOCK: usize = 8;

/// Element counts `(input, weights, output)` = `(rows * k, n * k, rows * n)` of a
/// fully connected layer; sizes must fit in `usize` ([`Error::Overflow`]). Zero
/// sizes are accepted (`k == 0` gives `out = act(bias)`). Shared with the int8
/// kernel.
pub fn fc_lens(rows: u32, k: u32, n: u32) -> Result<(usize, usize, usize), Error> {
    Ok((prod(&[rows, k])?, prod(&[n, k])?, prod(&[rows, n])?))
}

/// f32 fully connected layer. Reads only the geometry (`rows`, `k`, `n`), `act` and
/// `bias_per_row` of `p`; the caller resolves its buffers. `input` is `[rows][k]`,
/// `weights` `[n][k]`, `bias` `[n]` (or `[rows][n]` when `p.bias_per_row`), `out`
/// `[rows][n]`, all exactly those lengths ([`Error::BadGeometry`] otherwise).
pub fn fc_f32(
    p: &FcF32,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), Error> {
    let (in_len, w_len, out_len) = fc_lens(p.rows, p.k, p.n)?;
    check_len(input.len(), in_len)?;
    check_len(weights.len(), w_len)?;
    check_len(out.len(), out_len)?;
    let n = p.n as usize;
    if let Some(b) = bias {
        check_len(b.len(), if p.bias_per_row { out_len } else { n })?;
    }
    if out_len == 0 {
        return Ok(());
    }
    let k = p.k as usize;
    // Rows and weight rows are sliced with `get` (not `chunks_exact`) so that `k == 0`
    // needs no special case.
    for (r, out_row) in out.chunks_exact_mut(n).enumerate() {
        let x = input.get(r * k..(r + 1) * k).ok_or(Error::BadGeometry)?;
        // This row's bias: the shared vector, its own row, or none (empty).
        let row_bias = match bias {
            Some(b) if p.bias_per_row => b.get(r * n..(r + 1) * n).ok_or(Error::BadGeometry)?,
            Some(b) => b,
            None => &[],
        };
        let mut biases = row_bias.iter().copied().chain(core::iter::repeat(0.0));
        // BLOCK outputs at a time, each its own sum in `k` order: independent
        // add chains instead of one (the same results, several times faster).
        for (jb, out_block) in out_row.chunks_mut(BLOCK).enumerate() {
            let j0 = jb * BLOCK;
            let w = weights
                .get(j0 * k..(j0 + out_block.len()) * k)
                .ok_or(Error::BadGeometry)?;
            let mut sums = [0.0f32; BLOCK];
            if k > 0 {
                let mut w_rows = w.chunks_exact(k);
                let mut rows: [core::slice::Iter<'_, f32>; BLOCK] =
                    core::array::from_fn(|_| w_rows.next().unwrap_or(&[]).iter());
                for &xv in x {
                    for (s, r) in sums.iter_mut().zip(rows.iter_mut()) {
                        if let Some(&wv) = r.next() {
                            *s += xv * wv;
                        }
                    }
                }
            }
            for ((o, s), b) in out_block.iter_mut().zip(sums).zip(&mut biases) {
                *o = p.act.apply(s + b);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, ClampF32, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn params(rows: u32, k: u32, n: u32, bias_per_row: bool, act: ClampF32) -> FcF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        FcF32 {
            rows,
            k,
            n,
            input: buf,
            weights: buf,
            bias: None,
            bias_per_row,
            output: buf,
            act,
        }
    }

    /// x = [[1, 2, 3], [-1, 0, 1]], w = [[1, 0, -1], [2, 2, 2]], bias [10, 0.5]:
    /// row 0: [1 - 3 + 10, 12 + 0.5] = [8, 12.5]; row 1: [-1 - 1 + 10, 0 + 0.5] = [8, 0.5].
    /// With a clamp to [0, 10]: [8, 10, 8, 0.5].
    #[test]
    fn hand_computed() {
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1.0];
        let w = [1.0, 0.0, -1.0, 2.0, 2.0, 2.0];
        let mut out = [0.0f32; 4];
        let p = params(
            2,
            3,
            2,
            false,
            ClampF32 {
                min: 0.0,
                max: 10.0,
            },
        );
        fc_f32(&p, &x, &w, Some(&[10.0, 0.5]), &mut out).unwrap();
        assert_eq!(out, [8.0, 10.0, 8.0, 0.5]);
        // bias per row: [[1, 2], [3, 4]] -> [-2 + 1, 12 + 2, -2 + 3, 0 + 4]
        let p = params(2, 3, 2, true, ClampF32::NONE);
        fc_f32(&p, &x, &w, Some(&[1.0, 2.0, 3.0, 4.0]), &mut out).unwrap();
        assert_eq!(out, [-1.0, 14.0, 1.0, 4.0]);
        fc_f32(&p, &x, &w, None, &mut out).unwrap();
        assert_eq!(out, [-2.0, 12.0, -2.0, 0.0]);
    }

    #[test]
    fn errors() {
        let p = params(2, 3, 2, false, ClampF32::NONE);
        let (x, w, mut out) = ([0.0f32; 6], [0.0f32; 6], [0.0f32; 4]);
        let bad = Err(Error::BadGeometry);
        assert_eq!(fc_f32(&p, &x[1..], &w, None, &mut out), bad);
        assert_eq!(fc_f32(&p, &x, &w[1..], None, &mut out), bad);
        assert_eq!(fc_f32(&p, &x, &w, None, &mut out[1..]), bad);
        assert_eq!(fc_f32(&p, &x, &w, Some(&[0.0; 4]), &mut out), bad);
        let per_row = params(2, 3, 2, true, ClampF32::NONE);
        assert_eq!(fc_f32(&per_row, &x, &w, Some(&[0.0; 2]), &mut out), bad);
        assert_eq!(fc_lens(0, 3, 2), Ok((0, 6, 0)));
        // A product of two u32 only overflows a 32-bit usize.
        let big = fc_lens(u32::MAX, u32::MAX, 1);
        if usize::BITS == 32 {
            assert_eq!(big, Err(Error::Overflow));
        } else {
            assert!(big.is_ok());
        }
    }

    /// `k == 0`: the output is the clamped bias (or 0); empty outputs are fine.
    #[test]
    fn zero_sizes() {
        let p = params(
            2,
            0,
            2,
            true,
            ClampF32 {
                min: 0.0,
                max: 10.0,
            },
        );
        let mut out = [f32::NAN; 4];
        fc_f32(&p, &[], &[], Some(&[1.0, -2.0, 30.0, 4.0]), &mut out).unwrap();
        assert_eq!(out, [1.0, 0.0, 10.0, 4.0]);
        fc_f32(&p, &[], &[], None, &mut out).unwrap();
        assert_eq!(out, [0.0; 4]);
        let empty = params(0, 3, 2, false, ClampF32::NONE);
        assert_eq!(
            fc_f32(&empty, &[], &[0.0; 6], Some(&[0.0; 2]), &mut []),
            Ok(())
        );
        let no_outputs = params(2, 3, 0, false, ClampF32::NONE);
        assert_eq!(fc_f32(&no_outputs, &[0.0; 6], &[], None, &mut []), Ok(()));
    }

    fn data(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    /// Reference in another formulation: transpose the weights to `[k][n]`, then
    /// accumulate rank-1 updates `out += x[:, k] * wt[k, :]` over an output that
    /// starts at the bias, in f64.
    fn reference(p: &FcF32, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (rows, k, n) = (p.rows as usize, p.k as usize, p.n as usize);
        let mut wt = vec![0.0f64; k * n];
        for j in 0..n {
            for kk in 0..k {
                wt[kk * n + j] = w[j * k + kk] as f64;
            }
        }
        let mut acc: Vec<f64> = (0..rows * n)
            .map(|i| match bias {
                Some(b) if p.bias_per_row => b[i] as f64,
                Some(b) => b[i % n] as f64,
                None => 0.0,
            })
            .collect();
        for kk in 0..k {
            for r in 0..rows {
                for j in 0..n {
                    acc[r * n + j] += x[r * k + kk] as f64 * wt[kk * n + j];
                }
            }
        }
        acc.iter().map(|&v| p.act.apply(v as f32)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(rows in 1u32..=4, k in 0u32..=40, n in 1u32..=9, bias_kind in 0u8..3, clamp: bool, seed: u64) {
            let act = if clamp { ClampF32 { min: -1.0, max: 1.0 } } else { ClampF32::NONE };
            let p = params(rows, k, n, bias_kind == 2, act);
            let (il, wl, ol) = fc_lens(rows, k, n).unwrap();
            let x = data(seed, il);
            let w = data(seed ^ 1, wl);
            let b = data(seed ^ 2, if p.bias_per_row { ol } else { n as usize });
            let bias = (bias_kind > 0).then_some(&b[..]);
            let mut out = vec![f32::NAN; ol];
            fc_f32(&p, &x, &w, bias, &mut out).unwrap();
            let want = reference(&p, &x, &w, bias);
            for (o, w) in out.iter().zip(&want) {
                prop_assert!((o - w).abs() <= 1e-4, "{out:?} vs {want:?}");
            }
        }
    }
}
