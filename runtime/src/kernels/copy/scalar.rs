//! Data movement at the byte level, for any element type: chunk copies (Concat,
//! Reshape-as-copy, slice-like moves, optionally through a 256-byte table), N-d
//! transpose and per-axis gather (nearest Resize, Slice, crops).
//!
//! Transpose and gather move whole elements of 1, 2, 4 or 8 bytes (one
//! monomorphized loop per size); other element sizes are rejected.

use crate::error::Error;
use crate::format::schema::{CopyChunks, Gather, MAX_RANK, Transpose};
use crate::kernels::binary::float::BroadcastRows;
use crate::kernels::{check_len, prod};

/// Byte counts `(input, minimum output)` of a chunk copy: the input is
/// `outer * chunk` bytes; the output must hold at least
/// `dst_start + (outer - 1) * dst_stride + chunk` bytes. `outer` and `chunk` must be
/// nonzero ([`Error::InvalidParameter`]); sizes must fit in `usize`
/// ([`Error::Overflow`]).
pub fn copy_chunks_lens(p: &CopyChunks) -> Result<(usize, usize), Error> {
    if p.outer == 0 || p.chunk == 0 {
        return Err(Error::InvalidParameter);
    }
    let input = prod(&[p.outer, p.chunk])?;
    let min_out = (p.outer as usize - 1)
        .checked_mul(p.dst_stride as usize)
        .and_then(|v| v.checked_add(p.dst_start as usize))
        .and_then(|v| v.checked_add(p.chunk as usize))
        .ok_or(Error::Overflow)?;
    Ok((input, min_out))
}

/// Copies chunk `i` of `input` (`chunk` bytes) to `out[dst_start + i * dst_stride..]`,
/// in order (if chunks overlap in `out`, later ones win). With a `table` (exactly
/// 256 bytes), every byte `b` is written as `table[b]`. `input` must be exactly and
/// `out` at least the lengths [`copy_chunks_lens`] returns ([`Error::BadGeometry`]
/// otherwise); bytes of `out` outside the chunks are left untouched.
pub fn copy_chunks(
    p: &CopyChunks,
    input: &[u8],
    table: Option<&[u8]>,
    out: &mut [u8],
) -> Result<(), Error> {
    let (in_len, min_out) = copy_chunks_lens(p)?;
    check_len(input.len(), in_len)?;
    if out.len() < min_out {
        return Err(Error::BadGeometry);
    }
    let table: Option<&[u8; 256]> = match table {
        Some(t) => Some(t.try_into().map_err(|_| Error::BadGeometry)?),
        None => None,
    };
    let (chunk, start, stride) = (
        p.chunk as usize,
        p.dst_start as usize,
        p.dst_stride as usize,
    );
    for (i, src) in input.chunks_exact(chunk).enumerate() {
        let dst_start = start + i * stride; // <= min_out - chunk
        let dst = out
            .get_mut(dst_start..dst_start + chunk)
            .ok_or(Error::BadGeometry)?;
        match table {
            Some(t) => {
                for (d, &s) in dst.iter_mut().zip(src) {
                    // A byte always indexes a 256-entry table: the fallback is dead.
                    *d = t.get(usize::from(s)).copied().unwrap_or(s);
                }
            }
            None => dst.copy_from_slice(src),
        }
    }
    Ok(())
}

/// Whether an element size is one transpose and gather handle.
fn supported_elem(elem: u32) -> bool {
    matches!(elem, 1 | 2 | 4 | 8)
}

/// Row-major element strides of `shape`; `None` if one does not fit in `u32`.
fn dense_strides(shape: &[u32; MAX_RANK]) -> Option<[u32; MAX_RANK]> {
    let mut strides = [0u32; MAX_RANK];
    let mut acc = 1u32;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.checked_mul(d)?;
    }
    Some(strides)
}

/// Byte counts `(input, output)` of a transpose (the two are equal). `elem`
/// must be 1, 2, 4 or 8, `perm` a permutation of `0..MAX_RANK` and every dimension
/// nonzero ([`Error::InvalidParameter`]); the element count must fit in `u32` and
/// the byte count in `usize` ([`Error::Overflow`]).
pub fn transpose_lens(p: &Transpose) -> Result<(usize, usize), Error> {
    if !supported_elem(p.elem) || p.shape.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    let mut seen = [false; MAX_RANK];
    for &axis in &p.perm {
        match seen.get_mut(axis as usize) {
            Some(s) if !*s => *s = true,
            _ => return Err(Error::InvalidParameter),
        }
    }
    // The walk uses u32 strides: the element count must fit in u32.
    dense_strides(&p.shape).ok_or(Error::Overflow)?;
    let bytes = prod(&p.shape)?
        .checked_mul(p.elem as usize)
        .ok_or(Error::Overflow)?;
    Ok((bytes, bytes))
}

/// N-d transpose, `out = input.permute(perm)`: output axis `d` is input axis
/// `perm[d]`, i.e. `out[j0..j5] = in[i]` with `i[perm[d]] = j[d]`. `input` and `out`
/// must hold exactly the byte counts [`transpose_lens`] returns
/// ([`Error::BadGeometry`] otherwise).
pub fn transpose(p: &Transpose, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let (in_len, out_len) = transpose_lens(p)?;
    check_len(input.len(), in_len)?;
    check_len(out.len(), out_len)?;
    let in_strides = dense_strides(&p.shape).ok_or(Error::Overflow)?;
    // Walk the output in order; the input is read through permuted strides.
    let mut out_shape = [1u32; MAX_RANK];
    let mut src_strides = [0u32; MAX_RANK];
    for ((&axis, shape), stride) in p.perm.iter().zip(&mut out_shape).zip(&mut src_strides) {
        let axis = axis as usize;
        *shape = p.shape.get(axis).copied().ok_or(Error::InvalidParameter)?;
        *stride = in_strides
            .get(axis)
            .copied()
            .ok_or(Error::InvalidParameter)?;
    }
    let rows = BroadcastRows::new(&out_shape, &src_strides, &[0; MAX_RANK])?;
    match p.elem {
        1 => permute_rows::<1>(rows, input, out),
        2 => permute_rows::<2>(rows, input, out),
        4 => permute_rows::<4>(rows, input, out),
        8 => permute_rows::<8>(rows, input, out),
        _ => Err(Error::InvalidParameter),
    }
}

/// Fills the output row by row from the input offsets `rows` yields (elements of
/// `N` bytes).
fn permute_rows<const N: usize>(
    rows: BroadcastRows,
    input: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let (src, _) = input.as_chunks::<N>();
    let (dst, _) = out.as_chunks_mut::<N>();
    let (len, step) = (rows.row_len(), rows.a_step());
    for (dst_row, (start, _)) in dst.chunks_exact_mut(len).zip(rows) {
        let src_row = src.get(start..).ok_or(Error::BadGeometry)?;
        if step == 1 {
            dst_row.copy_from_slice(src_row.get(..len).ok_or(Error::BadGeometry)?);
        } else {
            // Dense strides are nonzero, so `step >= 1`; `max` only guards `step_by`.
            let src_iter = src_row.iter().step_by(step.max(1));
            dst_row.iter_mut().zip(src_iter).for_each(|(d, s)| *d = *s);
        }
    }
    Ok(())
}

/// Counts `(input bytes, map entries, output bytes)` of a gather:
/// `prod(in_shape) * elem`, `Σ out_shape`, `prod(out_shape) * elem`. `elem` must be
/// 1, 2, 4 or 8 and every dimension nonzero ([`Error::InvalidParameter`]); sizes
/// must fit in `usize` ([`Error::Overflow`]).
pub fn gather_lens(p: &Gather) -> Result<(usize, usize, usize), Error> {
    if !supported_elem(p.elem) || p.in_shape.contains(&0) || p.out_shape.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    let maps = p
        .out_shape
        .iter()
        .try_fold(0usize, |acc, &d| acc.checked_add(d as usize))
        .ok_or(Error::Overflow)?;
    let bytes = |shape: &[u32; MAX_RANK]| {
        prod(shape)?
            .checked_mul(p.elem as usize)
            .ok_or(Error::Overflow)
    };
    Ok((bytes(&p.in_shape)?, maps, bytes(&p.out_shape)?))
}

/// Per-axis gather: `out[j0..j5] = in[maps[0][j0]]..[maps[5][j5]]`, where `maps` is
/// the concatenation of one `u32` table per axis (`out_shape[d]` entries each).
/// Every entry is checked to be below `in_shape[d]` before anything is written
/// ([`Error::BadGeometry`] otherwise, `out` untouched); `maps`, `input` and `out`
/// must have exactly the lengths [`gather_lens`] returns.
pub fn gather(p: &Gather, maps: &[u32], input: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let (in_len, maps_len, out_len) = gather_lens(p)?;
    check_len(maps.len(), maps_len)?;
    check_len(input.len(), in_len)?;
    check_len(out.len(), out_len)?;
    let mut axis_maps: [&[u32]; MAX_RANK] = [&[]; MAX_RANK];
    let mut rest = maps;
    for ((slot, &n), &limit) in axis_maps.iter_mut().zip(&p.out_shape).zip(&p.in_shape) {
        let (head, tail) = rest
            .split_at_checked(n as usize)
            .ok_or(Error::BadGeometry)?;
        if head.iter().any(|&m| m >= limit) {
            return Err(Error::BadGeometry);
        }
        *slot = head;
        rest = tail;
    }
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for (stride, &d) in in_strides.iter_mut().zip(&p.in_shape).rev() {
        *stride = acc;
        acc *= d as usize; // <= prod(in_shape), checked by `gather_lens`
    }
    match p.elem {
        1 => gather_rows::<1>(&axis_maps, &in_strides, input, out),
        2 => gather_rows::<2>(&axis_maps, &in_strides, input, out),
        4 => gather_rows::<4>(&axis_maps, &in_strides, input, out),
        8 => gather_rows::<8>(&axis_maps, &in_strides, input, out),
        _ => Err(Error::InvalidParameter),
    }
}

/// Gathers elements of `N` bytes; `maps` are validated and non-empty.
fn gather_rows<const N: usize>(
    maps: &[&[u32]; MAX_RANK],
    in_strides: &[usize; MAX_RANK],
    input: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    const INNER: usize = MAX_RANK - 1;
    let (src, _) = input.as_chunks::<N>();
    let (dst, _) = out.as_chunks_mut::<N>();
    let inner = maps[INNER];
    // A run of consecutive indices (a crop, or an identity) is a slice copy.
    let run = inner
        .iter()
        .zip(inner.iter().skip(1))
        .all(|(&a, &b)| b == a.wrapping_add(1));
    let first = inner.first().copied().ok_or(Error::BadGeometry)? as usize;
    let mut j = [0usize; INNER];
    for dst_row in dst.chunks_exact_mut(inner.len()) {
        // Input offset of this row: Σ maps[d][j[d]] * stride[d] over the outer axes.
        let mut base = 0usize;
        for ((m, &jd), &stride) in maps.iter().zip(&j).zip(in_strides) {
            base += *m.get(jd).ok_or(Error::BadGeometry)? as usize * stride;
        }
        let src_row = src
            .get(base..base + in_strides[INNER - 1])
            .ok_or(Error::BadGeometry)?;
        if run {
            let run_src = src_row
                .get(first..first + inner.len())
                .ok_or(Error::BadGeometry)?;
            dst_row.copy_from_slice(run_src);
        } else {
            for (d, &m) in dst_row.iter_mut().zip(inner) {
                *d = *src_row.get(m as usize).ok_or(Error::BadGeometry)?;
            }
        }
        // Advance the odometer over the outer axes.
        for (jd, m) in j.iter_mut().zip(maps).rev() {
            *jd += 1;
            if *jd < m.len() {
                break;
            }
            *jd = 0;
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

    const BUF: Buf = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };

    fn chunks(outer: u32, chunk: u32, dst_start: u32, dst_stride: u32) -> CopyChunks {
        CopyChunks {
            outer,
            chunk,
            dst_start,
            dst_stride,
            input: BUF,
            output: BUF,
            table: None,
        }
    }

    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 56) as u8
            })
            .collect()
    }

    /// Concat along the last axis: a [2][2] input placed at columns 3..5 of a [2][5]
    /// output (dst_start 3, dst_stride 5); other bytes untouched.
    #[test]
    fn concat_last_axis() {
        let p = chunks(2, 2, 3, 5);
        assert_eq!(copy_chunks_lens(&p), Ok((4, 10)));
        let mut out = [0u8; 10];
        copy_chunks(&p, &[1, 2, 3, 4], None, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 2, 0, 0, 0, 3, 4]);
        // through a table (here: i8 <-> u8 by flipping the sign bit)
        let table: Vec<u8> = (0..=255u8).map(|b| b ^ 0x80).collect();
        copy_chunks(&p, &[0x00, 0x7f, 0x80, 0xff], Some(&table), &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0x80, 0xff, 0, 0, 0, 0x00, 0x7f]);
    }

    #[test]
    fn copy_errors() {
        let p = chunks(2, 2, 3, 5);
        let mut out = [0u8; 12];
        let bad = Err(Error::BadGeometry);
        assert_eq!(copy_chunks(&p, &[0; 3], None, &mut out), bad);
        assert_eq!(copy_chunks(&p, &[0; 4], None, &mut out[..9]), bad);
        assert_eq!(copy_chunks(&p, &[0; 4], Some(&[0; 255]), &mut out), bad);
        assert_eq!(copy_chunks(&p, &[0; 4], None, &mut out), Ok(())); // a longer output is fine
        assert_eq!(
            copy_chunks_lens(&chunks(0, 2, 0, 2)),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            copy_chunks_lens(&chunks(2, 2, u32::MAX, u32::MAX)).map(|l| l.1),
            Ok(2 * u32::MAX as usize + 2)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Against a reference that, for every output byte, finds the last chunk
        /// covering it (or none).
        #[test]
        fn copy_matches_reference(outer in 1u32..=5, chunk in 1u32..=6, start in 0u32..=4, stride in 0u32..=9, slack in 0usize..=3, with_table: bool, seed: u64) {
            let p = chunks(outer, chunk, start, stride);
            let (il, min_out) = copy_chunks_lens(&p).unwrap();
            let input = bytes(seed, il);
            let table = bytes(seed ^ 1, 256);
            let table = with_table.then_some(&table[..]);
            let mut out = vec![0xAAu8; min_out + slack];
            copy_chunks(&p, &input, table, &mut out).unwrap();
            let (c, s0, st) = (chunk as usize, start as usize, stride as usize);
            for (pos, &got) in out.iter().enumerate() {
                let covering = (0..outer as usize).rev().find(|&i| (s0 + i * st..s0 + i * st + c).contains(&pos));
                let want = match covering {
                    Some(i) => {
                        let b = input[i * c + pos - (s0 + i * st)];
                        table.map_or(b, |t| t[b as usize])
                    }
                    None => 0xAA,
                };
                prop_assert_eq!(got, want, "byte {}", pos);
            }
        }
    }

    fn transpose_params(elem: u32, shape: [u32; 6], perm: [u8; 6]) -> Transpose {
        Transpose {
            elem,
            shape,
            perm,
            input: BUF,
            output: BUF,
        }
    }

    /// A 2x3 matrix of u32 transposed to 3x2.
    #[test]
    fn transpose_matrix() {
        let p = transpose_params(4, [1, 1, 1, 1, 2, 3], [0, 1, 2, 3, 5, 4]);
        let x: Vec<u8> = [1u32, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = vec![0u8; 24];
        transpose(&p, &x, &mut out).unwrap();
        let want: Vec<u8> = [1u32, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(out, want);
    }

    /// NHWC -> NCHW of a [1][2][2][3] byte tensor: channel planes come out in order.
    #[test]
    fn transpose_nhwc_to_nchw() {
        let p = transpose_params(1, [1, 1, 1, 2, 2, 3], [0, 1, 2, 5, 3, 4]);
        let x: Vec<u8> = (0..12).collect(); // x[h][w][c] = (h * 2 + w) * 3 + c
        let mut out = vec![0u8; 12];
        transpose(&p, &x, &mut out).unwrap();
        assert_eq!(out, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    }

    #[test]
    fn transpose_errors() {
        let ok = transpose_params(2, [1, 1, 1, 1, 2, 3], [0, 1, 2, 3, 5, 4]);
        assert_eq!(transpose_lens(&ok), Ok((12, 12)));
        let bad_params = [
            transpose_params(3, ok.shape, ok.perm),
            transpose_params(0, ok.shape, ok.perm),
            transpose_params(2, ok.shape, [0, 1, 2, 3, 4, 4]),
            transpose_params(2, ok.shape, [0, 1, 2, 3, 4, 6]),
            transpose_params(2, [1, 1, 1, 0, 2, 3], ok.perm),
        ];
        for p in bad_params {
            assert_eq!(transpose_lens(&p), Err(Error::InvalidParameter), "{p:?}");
        }
        let huge = transpose_params(1, [1, 1, 1, 1, 1 << 16, 1 << 16], ok.perm);
        assert_eq!(transpose_lens(&huge), Err(Error::Overflow));
        let mut out = [0u8; 12];
        assert_eq!(transpose(&ok, &[0; 11], &mut out), Err(Error::BadGeometry));
        assert_eq!(
            transpose(&ok, &[0; 12], &mut out[1..]),
            Err(Error::BadGeometry)
        );
    }

    /// Reference transpose: iterate the *input* in order and scatter each element to
    /// its output position.
    fn transpose_reference(p: &Transpose, x: &[u8]) -> Vec<u8> {
        let shape = p.shape.map(|d| d as usize);
        let out_shape: [usize; 6] = core::array::from_fn(|d| shape[p.perm[d] as usize]);
        let e = p.elem as usize;
        let mut out = vec![0u8; x.len()];
        for flat in 0..x.len() / e {
            let mut i = [0usize; 6];
            let mut rem = flat;
            for d in (0..6).rev() {
                i[d] = rem % shape[d];
                rem /= shape[d];
            }
            let o = (0..6).fold(0, |acc, d| acc * out_shape[d] + i[p.perm[d] as usize]);
            out[o * e..(o + 1) * e].copy_from_slice(&x[flat * e..(flat + 1) * e]);
        }
        out
    }

    fn perm6() -> impl Strategy<Value = [u8; 6]> {
        Just(vec![0u8, 1, 2, 3, 4, 5])
            .prop_shuffle()
            .prop_map(|v| core::array::from_fn(|i| v[i]))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Random shapes and perms: equals the scatter reference, and transposing
        /// back with the inverse perm gives the input.
        #[test]
        fn transpose_matches_reference(shape in proptest::array::uniform6(1u32..=3), perm in perm6(), elem_pick in 0usize..4, seed: u64) {
            let elem = [1u32, 2, 4, 8][elem_pick];
            let p = transpose_params(elem, shape, perm);
            let (len, _) = transpose_lens(&p).unwrap();
            let x = bytes(seed, len);
            let mut out = vec![0u8; len];
            transpose(&p, &x, &mut out).unwrap();
            prop_assert_eq!(&out, &transpose_reference(&p, &x));
            let mut inverse = [0u8; 6];
            for (d, &axis) in perm.iter().enumerate() {
                inverse[axis as usize] = d as u8;
            }
            let out_shape: [u32; 6] = core::array::from_fn(|d| shape[perm[d] as usize]);
            let mut back = vec![0u8; len];
            transpose(&transpose_params(elem, out_shape, inverse), &out, &mut back).unwrap();
            prop_assert_eq!(back, x);
        }
    }

    fn gather_params(elem: u32, in_shape: [u32; 6], out_shape: [u32; 6]) -> Gather {
        Gather {
            elem,
            in_shape,
            out_shape,
            maps: BUF,
            input: BUF,
            output: BUF,
        }
    }

    /// Nearest-neighbour 2x upsampling of a 2x2 u16 image: maps [0, 0, 1, 1] on H
    /// and W, [0] on the leading axes.
    #[test]
    fn gather_upsample() {
        let p = gather_params(2, [1, 1, 1, 1, 2, 2], [1, 1, 1, 1, 4, 4]);
        let maps = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1];
        assert_eq!(gather_lens(&p), Ok((8, 12, 32)));
        let x: Vec<u8> = [1u16, 2, 3, 4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = vec![0u8; 32];
        gather(&p, &maps, &x, &mut out).unwrap();
        let want: Vec<u8> = [1u16, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(out, want);
    }

    /// A crop (slice [1..3] on the last axis, reversed rows): the run fast path on
    /// the inner axis, an arbitrary map on the outer one.
    #[test]
    fn gather_crop() {
        let p = gather_params(1, [1, 1, 1, 1, 2, 4], [1, 1, 1, 1, 2, 2]);
        let maps = [0, 0, 0, 0, 1, 0, 1, 2];
        let mut out = [0u8; 4];
        gather(&p, &maps, &[0, 1, 2, 3, 4, 5, 6, 7], &mut out).unwrap();
        assert_eq!(out, [5, 6, 1, 2]);
    }

    #[test]
    fn gather_errors() {
        let p = gather_params(1, [1, 1, 1, 1, 2, 4], [1, 1, 1, 1, 2, 2]);
        let x = [0u8; 8];
        let mut out = [9u8; 4];
        let bad = Err(Error::BadGeometry);
        // an index out of range on axis 4 (in_shape 2): nothing is written
        assert_eq!(gather(&p, &[0, 0, 0, 0, 1, 2, 1, 2], &x, &mut out), bad);
        assert_eq!(out, [9; 4]);
        // ... and on the last axis (in_shape 4)
        assert_eq!(gather(&p, &[0, 0, 0, 0, 1, 0, 1, 4], &x, &mut out), bad);
        let maps = [0, 0, 0, 0, 1, 0, 1, 2];
        assert_eq!(gather(&p, &maps[1..], &x, &mut out), bad);
        assert_eq!(gather(&p, &maps, &x[1..], &mut out), bad);
        assert_eq!(gather(&p, &maps, &x, &mut out[1..]), bad);
        let zero = gather_params(1, [1, 1, 1, 1, 2, 4], [1, 1, 1, 1, 0, 2]);
        assert_eq!(gather_lens(&zero), Err(Error::InvalidParameter));
        let odd_elem = gather_params(3, [1, 1, 1, 1, 2, 4], [1, 1, 1, 1, 2, 2]);
        assert_eq!(gather_lens(&odd_elem), Err(Error::InvalidParameter));
    }

    /// Reference gather: for every output multi-index, look up each axis' map and
    /// compute the input offset from scratch.
    fn gather_reference(p: &Gather, maps: &[u32], x: &[u8]) -> Vec<u8> {
        let (ins, outs) = (
            p.in_shape.map(|d| d as usize),
            p.out_shape.map(|d| d as usize),
        );
        let e = p.elem as usize;
        let offsets: Vec<usize> = (0..6).map(|d| outs[..d].iter().sum()).collect();
        let total: usize = outs.iter().product();
        let mut out = Vec::new();
        for flat in 0..total {
            let mut j = [0usize; 6];
            let mut rem = flat;
            for d in (0..6).rev() {
                j[d] = rem % outs[d];
                rem /= outs[d];
            }
            let src = (0..6).fold(0, |acc, d| acc * ins[d] + maps[offsets[d] + j[d]] as usize);
            out.extend_from_slice(&x[src * e..(src + 1) * e]);
        }
        out
    }

    fn gather_case() -> impl Strategy<Value = (Gather, Vec<u32>)> {
        (
            proptest::array::uniform6(1u32..=3),
            proptest::array::uniform6(1u32..=4),
            0usize..4,
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(in_shape, out_shape, elem_pick, seed, inner_run)| {
                let p = gather_params([1u32, 2, 4, 8][elem_pick], in_shape, out_shape);
                let mut s = seed;
                let mut maps = Vec::new();
                for d in 0..6 {
                    let start = (seed % in_shape[d] as u64) as u32;
                    for j in 0..out_shape[d] {
                        s = s
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        // on the last axis, sometimes a consecutive run (crop) when it fits
                        let m = if d == 5 && inner_run && start + out_shape[d] <= in_shape[d] {
                            start + j
                        } else {
                            ((s >> 33) % in_shape[d] as u64) as u32
                        };
                        maps.push(m);
                    }
                }
                (p, maps)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn gather_matches_reference((p, maps) in gather_case(), seed: u64) {
            let (il, ml, ol) = gather_lens(&p).unwrap();
            prop_assert_eq!(ml, maps.len());
            let x = bytes(seed, il);
            let mut out = vec![0u8; ol];
            gather(&p, &maps, &x, &mut out).unwrap();
            prop_assert_eq!(out, gather_reference(&p, &maps, &x));
        }
    }
}
