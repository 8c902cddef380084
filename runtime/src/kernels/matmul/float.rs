//! Batched f32 matrix product of two runtime tensors:
//! `out[b][i][j] = Σ_p a[b][i][p] * b[b][p][j]` (sum from `0.0` over `p` in order).
//!
//! Up to four batch dimensions; matrix `b` of `a` starts at element
//! `Σ_d idx[d] * a_stride[d]` (stride 0 on a broadcast dimension), and is dense
//! `[m][k]` from there (`[k][n]` for `b`). The output is dense `[batch..][m][n]`.

use crate::error::Error;
use crate::format::schema::MatMulF32;
use crate::kernels::{check_len, prod};

/// One past the largest element offset of operand matrices starting at
/// `Σ (batch[d] - 1) * stride[d]` and holding `mat` elements.
fn operand_len(batch: &[u32; 4], stride: &[u32; 4], mat: usize) -> Result<usize, Error> {
    batch.iter().zip(stride).try_fold(mat, |acc, (&b, &s)| {
        (b as usize - 1)
            .checked_mul(s as usize)
            .and_then(|v| acc.checked_add(v))
            .ok_or(Error::Overflow)
    })
}

/// Element counts `(a, b, out)`: `a` and `b` are one past the largest offset their
/// strides reach (`Σ (batch[d] - 1) * stride[d] + m * k`, resp. `+ k * n`), `out` is
/// `prod(batch) * m * n`. `m`, `k`, `n` and every batch dimension must be nonzero
/// ([`Error::InvalidParameter`]); sizes must fit in `usize` ([`Error::Overflow`]).
pub fn matmul_lens(p: &MatMulF32) -> Result<(usize, usize, usize), Error> {
    if p.m == 0 || p.k == 0 || p.n == 0 || p.batch.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    let a = operand_len(&p.batch, &p.a_stride, prod(&[p.m, p.k])?)?;
    let b = operand_len(&p.batch, &p.b_stride, prod(&[p.k, p.n])?)?;
    let out = prod(&p.batch)?
        .checked_mul(prod(&[p.m, p.n])?)
        .ok_or(Error::Overflow)?;
    Ok((a, b, out))
}

/// Offsets of the `a` and `b` matrices of flat batch index `index` (row-major over
/// `batch`).
fn batch_offsets(p: &MatMulF32, mut index: usize) -> (usize, usize) {
    let (mut a_off, mut b_off) = (0, 0);
    let dims = p.batch.iter().zip(&p.a_stride).zip(&p.b_stride);
    for ((&dim, &sa), &sb) in dims.rev() {
        let i = index % dim as usize;
        index /= dim as usize;
        a_off += i * sa as usize;
        b_off += i * sb as usize;
    }
    (a_off, b_off)
}

/// Batched f32 matrix product (see the module docs). `a`, `b` and `out` must have
/// exactly the lengths [`matmul_lens`] returns ([`Error::BadGeometry`] otherwise).
pub fn matmul_f32(p: &MatMulF32, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let (a_len, b_len, out_len) = matmul_lens(p)?;
    check_len(a.len(), a_len)?;
    check_len(b.len(), b_len)?;
    check_len(out.len(), out_len)?;
    let (m, k, n) = (p.m as usize, p.k as usize, p.n as usize);
    for (index, out_mat) in out.chunks_exact_mut(m * n).enumerate() {
        let (a_off, b_off) = batch_offsets(p, index);
        let a_mat = a.get(a_off..a_off + m * k).ok_or(Error::BadGeometry)?;
        let b_mat = b.get(b_off..b_off + k * n).ok_or(Error::BadGeometry)?;
        for (a_row, out_row) in a_mat.chunks_exact(k).zip(out_mat.chunks_exact_mut(n)) {
            out_row.fill(0.0);
            // out_row += a[i][p] * b[p][:], p in order: per element, the same sum as
            // a left-to-right dot product, but vectorizable across the row.
            for (&a_ip, b_row) in a_row.iter().zip(b_mat.chunks_exact(n)) {
                for (o, &b_pj) in out_row.iter_mut().zip(b_row) {
                    *o += a_ip * b_pj;
                }
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
    use crate::format::schema::{Buf, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn params(
        m: u32,
        k: u32,
        n: u32,
        batch: [u32; 4],
        a_stride: [u32; 4],
        b_stride: [u32; 4],
    ) -> MatMulF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        MatMulF32 {
            m,
            k,
            n,
            batch,
            a_stride,
            b_stride,
            a: buf,
            b: buf,
            output: buf,
        }
    }

    /// [[1, 2, 3], [4, 5, 6]] x [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]].
    #[test]
    fn single_matrix() {
        let p = params(2, 3, 2, [1; 4], [0; 4], [0; 4]);
        let mut out = [0.0f32; 4];
        matmul_f32(
            &p,
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
    }

    /// Batch 2 on `a` (stride 2 = 1x2 matrices), broadcast `b` (stride 0):
    /// [1, 2] x [[1], [10]] = 21, [3, 4] x [[1], [10]] = 43.
    #[test]
    fn broadcast_b() {
        let p = params(1, 2, 1, [1, 1, 1, 2], [0, 0, 0, 2], [0; 4]);
        assert_eq!(matmul_lens(&p), Ok((4, 2, 2)));
        let mut out = [0.0f32; 2];
        matmul_f32(&p, &[1.0, 2.0, 3.0, 4.0], &[1.0, 10.0], &mut out).unwrap();
        assert_eq!(out, [21.0, 43.0]);
    }

    #[test]
    fn errors() {
        let p = params(2, 3, 2, [1, 1, 2, 1], [0, 0, 6, 0], [0; 4]);
        assert_eq!(matmul_lens(&p), Ok((12, 6, 8)));
        let (a, b, mut out) = ([0.0f32; 12], [0.0f32; 6], [0.0f32; 8]);
        let bad = Err(Error::BadGeometry);
        assert_eq!(matmul_f32(&p, &a[1..], &b, &mut out), bad);
        assert_eq!(matmul_f32(&p, &a, &b[1..], &mut out), bad);
        assert_eq!(matmul_f32(&p, &a, &b, &mut out[1..]), bad);
        assert_eq!(matmul_f32(&p, &a, &b, &mut out), Ok(()));
        let zero = params(2, 0, 2, [1; 4], [0; 4], [0; 4]);
        assert_eq!(matmul_lens(&zero), Err(Error::InvalidParameter));
        let zero_batch = params(2, 1, 2, [1, 0, 1, 1], [0; 4], [0; 4]);
        assert_eq!(matmul_lens(&zero_batch), Err(Error::InvalidParameter));
        let huge = params(u32::MAX, u32::MAX, 1, [u32::MAX; 4], [u32::MAX; 4], [0; 4]);
        assert_eq!(matmul_lens(&huge), Err(Error::Overflow));
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

    /// Dense strides of a tensor `[dims..][mat]`, 0 where `dims[d] == 1` (numpy
    /// broadcasting of a size-1 dimension).
    fn strides(dims: [u32; 4], mat: u32) -> [u32; 4] {
        let mut s = [0; 4];
        let mut acc = mat;
        for d in (0..4).rev() {
            s[d] = if dims[d] == 1 { 0 } else { acc };
            acc *= dims[d];
        }
        s
    }

    /// Reference in another formulation: numpy broadcasting by index modulo each
    /// operand's own shape, and `out[i][j]` as an f64 dot product.
    fn reference(
        p: &MatMulF32,
        a_dims: [u32; 4],
        b_dims: [u32; 4],
        a: &[f32],
        b: &[f32],
    ) -> Vec<f32> {
        let (m, k, n, batch) = (p.m as usize, p.k as usize, p.n as usize, p.batch);
        let total: usize = batch.iter().map(|&d| d as usize).product();
        let mut out = Vec::new();
        for flat in 0..total {
            let mut idx = [0usize; 4];
            let mut rem = flat;
            for d in (0..4).rev() {
                idx[d] = rem % batch[d] as usize;
                rem /= batch[d] as usize;
            }
            let linear = |dims: [u32; 4]| {
                (0..4).fold(0usize, |acc, d| {
                    acc * dims[d] as usize + idx[d] % dims[d] as usize
                })
            };
            let (am, bm) = (linear(a_dims) * m * k, linear(b_dims) * k * n);
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k)
                        .map(|p| a[am + i * k + p] as f64 * b[bm + p * n + j] as f64)
                        .sum();
                    out.push(dot as f32);
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(
            m in 1u32..=5, k in 1u32..=12, n in 1u32..=5,
            batch in proptest::array::uniform4(1u32..=3),
            a_bcast in proptest::array::uniform4(any::<bool>()),
            b_bcast in proptest::array::uniform4(any::<bool>()),
            seed: u64,
        ) {
            let a_dims: [u32; 4] = core::array::from_fn(|d| if a_bcast[d] { 1 } else { batch[d] });
            let b_dims: [u32; 4] = core::array::from_fn(|d| if b_bcast[d] { 1 } else { batch[d] });
            let p = params(m, k, n, batch, strides(a_dims, m * k), strides(b_dims, k * n));
            let (al, bl, ol) = matmul_lens(&p).unwrap();
            prop_assert_eq!(al, (a_dims.iter().product::<u32>() * m * k) as usize);
            prop_assert_eq!(bl, (b_dims.iter().product::<u32>() * k * n) as usize);
            let a = data(seed, al);
            let b = data(seed ^ 1, bl);
            let mut out = vec![f32::NAN; ol];
            matmul_f32(&p, &a, &b, &mut out).unwrap();
            let want = reference(&p, a_dims, b_dims, &a, &b);
            prop_assert_eq!(out.len(), want.len());
            for (o, w) in out.iter().zip(&want) {
                prop_assert!((o - w).abs() <= 1e-5, "{out:?} vs {want:?}");
            }
        }
    }
}
