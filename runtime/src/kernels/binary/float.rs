//! f32 element-wise binary ops with numpy broadcasting, and the broadcast walker
//! shared with the int8 kernel (`super::scalar`).
//!
//! The output is dense with shape `shape` (rank [`MAX_RANK`], leading 1s); operand
//! element `idx` is read at `Σ_d idx[d] * stride[d]` (stride 0 on a broadcast
//! dimension, any stride otherwise).
//!
//! - [`broadcast_lens`] validates a shape/stride triple and gives the slice lengths;
//! - [`BroadcastRows`] iterates the operand offsets of each innermost output row
//!   (adjacent dimensions that are contiguous in the output and in both operands are
//!   merged first, so that rows are as long as possible);
//! - [`for_each_broadcast`] calls a closure with `(out, a, b)` element indices in
//!   output order, the innermost dimension being a tight loop.

use crate::error::Error;
use crate::format::schema::{BinaryF32, BinaryKind, ClampF32, MAX_RANK};
use crate::kernels::{check_len, prod};

/// One past the largest offset `Σ (shape[d] - 1) * stride[d]` (shape has no zero).
fn reach(shape: &[u32; MAX_RANK], stride: &[u32; MAX_RANK]) -> Result<usize, Error> {
    shape
        .iter()
        .zip(stride)
        .try_fold(1usize, |acc, (&dim, &s)| {
            (dim as usize - 1)
                .checked_mul(s as usize)
                .and_then(|v| acc.checked_add(v))
                .ok_or(Error::Overflow)
        })
}

/// Element counts `(a, b, out)` of a broadcast binary op: `a` and `b` are one past
/// the largest offset their strides reach, `1 + Σ (shape[d] - 1) * stride[d]`; `out`
/// is `prod(shape)`. Every dimension must be nonzero ([`Error::InvalidParameter`]);
/// sizes must fit in `usize` ([`Error::Overflow`]).
pub fn broadcast_lens(
    shape: &[u32; MAX_RANK],
    a_stride: &[u32; MAX_RANK],
    b_stride: &[u32; MAX_RANK],
) -> Result<(usize, usize, usize), Error> {
    if shape.contains(&0) {
        return Err(Error::InvalidParameter);
    }
    Ok((
        reach(shape, a_stride)?,
        reach(shape, b_stride)?,
        prod(shape)?,
    ))
}

/// Iterator over the innermost output rows of a broadcast walk: yields the offsets
/// `(a, b)` of each row's first element, in output order. Element `i` of a row is at
/// `a + i * a_step()` / `b + i * b_step()`, and rows are [`row_len`](Self::row_len)
/// long and consecutive in the (dense) output, so `out.chunks_exact_mut(row_len)`
/// zips with this iterator.
#[derive(Debug, Clone)]
pub struct BroadcastRows {
    /// `(size, a stride, b stride)` of the outer dimensions `0..MAX_RANK - 1`.
    outer: [(usize, usize, usize); MAX_RANK - 1],
    /// Odometer over the outer dimensions.
    idx: [usize; MAX_RANK - 1],
    row_len: usize,
    a_step: usize,
    b_step: usize,
    a_off: usize,
    b_off: usize,
    rows_left: usize,
}

impl BroadcastRows {
    /// Validates the triple with [`broadcast_lens`], then merges the innermost
    /// dimension with the adjacent outer ones while that preserves the element order
    /// of the output and of both operands.
    pub fn new(
        shape: &[u32; MAX_RANK],
        a_stride: &[u32; MAX_RANK],
        b_stride: &[u32; MAX_RANK],
    ) -> Result<Self, Error> {
        const INNER: usize = MAX_RANK - 1;
        let (_, _, out_len) = broadcast_lens(shape, a_stride, b_stride)?;
        let mut row_len = shape[INNER] as usize;
        let (a_step, b_step) = (a_stride[INNER] as usize, b_stride[INNER] as usize);
        let mut outer = [(1, 0, 0); INNER];
        let dims = shape.iter().zip(a_stride).zip(b_stride);
        for (slot, ((&dim, &sa), &sb)) in outer.iter_mut().zip(dims) {
            *slot = (dim as usize, sa as usize, sb as usize);
        }
        for (dim, sa, sb) in outer.iter_mut().rev() {
            let continues_row =
                |step: usize, stride: usize| step.checked_mul(row_len) == Some(stride);
            if *dim != 1 && !(continues_row(a_step, *sa) && continues_row(b_step, *sb)) {
                break;
            }
            // This dimension has size 1, or continues the innermost row in the
            // output and in both operands: fold it into the row.
            row_len *= *dim; // <= prod(shape), checked above
            (*dim, *sa, *sb) = (1, 0, 0);
        }
        Ok(BroadcastRows {
            outer,
            idx: [0; INNER],
            row_len,
            a_step,
            b_step,
            a_off: 0,
            b_off: 0,
            rows_left: out_len / row_len,
        })
    }

    /// Length of every row (the merged innermost dimension).
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Distance between consecutive elements of a row of `a` (0 when broadcast).
    pub fn a_step(&self) -> usize {
        self.a_step
    }

    /// Distance between consecutive elements of a row of `b` (0 when broadcast).
    pub fn b_step(&self) -> usize {
        self.b_step
    }
}

impl Iterator for BroadcastRows {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        self.rows_left = self.rows_left.checked_sub(1)?;
        let item = (self.a_off, self.b_off);
        // Advance the odometer; offsets stay within the validated reach.
        for (i, &(dim, sa, sb)) in self.idx.iter_mut().zip(&self.outer).rev() {
            if *i + 1 < dim {
                *i += 1;
                self.a_off += sa;
                self.b_off += sb;
                break;
            }
            self.a_off -= *i * sa;
            self.b_off -= *i * sb;
            *i = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rows_left, Some(self.rows_left))
    }
}

impl ExactSizeIterator for BroadcastRows {}

/// Calls `f(out, a, b)` for every output element index `out` (in order) with the
/// element indices it reads in `a` and `b`. The innermost loop is a tight loop over
/// a row; indices passed to `f` are below the lengths [`broadcast_lens`] returns.
///
/// Callers validate the triple with [`broadcast_lens`] first (as every kernel
/// does); for a triple it rejects, `f` is never called.
pub fn for_each_broadcast(
    shape: &[u32; MAX_RANK],
    a_stride: &[u32; MAX_RANK],
    b_stride: &[u32; MAX_RANK],
    mut f: impl FnMut(usize, usize, usize),
) {
    let Ok(rows) = BroadcastRows::new(shape, a_stride, b_stride) else {
        return;
    };
    let (len, a_step, b_step) = (rows.row_len(), rows.a_step(), rows.b_step());
    for (r, (a0, b0)) in rows.enumerate() {
        let o0 = r * len;
        for i in 0..len {
            f(o0 + i, a0 + i * a_step, b0 + i * b_step);
        }
    }
}

/// One operand's view of an output row.
#[derive(Clone, Copy)]
enum Lane<'a> {
    /// The same value for the whole row (step 0).
    Splat(f32),
    /// Every `step`-th element of the slice (`step >= 1`).
    Strided(&'a [f32], usize),
}

impl<'a> Lane<'a> {
    fn new(src: &'a [f32], start: usize, step: usize, len: usize) -> Result<Self, Error> {
        if step == 0 {
            let v = src.get(start).copied().ok_or(Error::BadGeometry)?;
            return Ok(Lane::Splat(v));
        }
        let last = start + (len - 1) * step; // within the validated reach
        let s = src.get(start..=last).ok_or(Error::BadGeometry)?;
        Ok(Lane::Strided(s, step))
    }
}

/// `out[i] = act(f(a[i], b[i]))` over one row, with a loop specialized for each
/// combination of lanes (contiguous rows as a plain zip).
#[inline(always)]
fn apply_row(
    out: &mut [f32],
    a: Lane<'_>,
    b: Lane<'_>,
    act: ClampF32,
    f: impl Fn(f32, f32) -> f32,
) {
    match (a, b) {
        (Lane::Strided(a, 1), Lane::Strided(b, 1)) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = act.apply(f(x, y));
            }
        }
        (Lane::Strided(a, sa), Lane::Strided(b, sb)) => {
            for ((o, &x), &y) in out
                .iter_mut()
                .zip(a.iter().step_by(sa))
                .zip(b.iter().step_by(sb))
            {
                *o = act.apply(f(x, y));
            }
        }
        (Lane::Strided(a, sa), Lane::Splat(y)) => {
            for (o, &x) in out.iter_mut().zip(a.iter().step_by(sa)) {
                *o = act.apply(f(x, y));
            }
        }
        (Lane::Splat(x), Lane::Strided(b, sb)) => {
            for (o, &y) in out.iter_mut().zip(b.iter().step_by(sb)) {
                *o = act.apply(f(x, y));
            }
        }
        (Lane::Splat(x), Lane::Splat(y)) => out.fill(act.apply(f(x, y))),
    }
}

/// f32 broadcast binary op, `out = act(a <op> b)`: Add, Sub, Mul, Div (IEEE: `x / 0`
/// is ±inf or NaN), Max, Min (`f32::max` / `f32::min`: a NaN operand yields the
/// other operand). Reads the kind, shape, strides and `act` of `p`; `a`, `b` and
/// `out` must have exactly the lengths [`broadcast_lens`] returns
/// ([`Error::BadGeometry`] otherwise).
pub fn binary_f32(p: &BinaryF32, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), Error> {
    let (a_len, b_len, out_len) = broadcast_lens(&p.shape, &p.a_stride, &p.b_stride)?;
    check_len(a.len(), a_len)?;
    check_len(b.len(), b_len)?;
    check_len(out.len(), out_len)?;
    let rows = BroadcastRows::new(&p.shape, &p.a_stride, &p.b_stride)?;
    let (len, a_step, b_step) = (rows.row_len(), rows.a_step(), rows.b_step());
    let act = p.act;
    for (out_row, (a0, b0)) in out.chunks_exact_mut(len).zip(rows) {
        let x = Lane::new(a, a0, a_step, len)?;
        let y = Lane::new(b, b0, b_step, len)?;
        match p.kind {
            BinaryKind::Add => apply_row(out_row, x, y, act, |x, y| x + y),
            BinaryKind::Sub => apply_row(out_row, x, y, act, |x, y| x - y),
            BinaryKind::Mul => apply_row(out_row, x, y, act, |x, y| x * y),
            BinaryKind::Div => apply_row(out_row, x, y, act, |x, y| x / y),
            BinaryKind::Max => apply_row(out_row, x, y, act, f32::max),
            BinaryKind::Min => apply_row(out_row, x, y, act, f32::min),
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

    const KINDS: [BinaryKind; 6] = [
        BinaryKind::Add,
        BinaryKind::Sub,
        BinaryKind::Mul,
        BinaryKind::Div,
        BinaryKind::Max,
        BinaryKind::Min,
    ];

    fn params(
        kind: BinaryKind,
        shape: [u32; 6],
        a_stride: [u32; 6],
        b_stride: [u32; 6],
        act: ClampF32,
    ) -> BinaryF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        BinaryF32 {
            kind,
            shape,
            a_stride,
            b_stride,
            a: buf,
            b: buf,
            output: buf,
            act,
        }
    }

    fn run(p: &BinaryF32, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![
            f32::NAN;
            broadcast_lens(&p.shape, &p.a_stride, &p.b_stride)
                .unwrap()
                .2
        ];
        binary_f32(p, a, b, &mut out).unwrap();
        out
    }

    /// a = [[1, 2, 3], [4, 5, 6]] (2x3), b = [10, 20, 30] broadcast over rows.
    #[test]
    fn row_broadcast_all_kinds() {
        let shape = [1, 1, 1, 1, 2, 3];
        let (sa, sb) = ([0, 0, 0, 0, 3, 1], [0, 0, 0, 0, 0, 1]);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [10.0, 20.0, 30.0];
        let want: [[f32; 6]; 6] = [
            [11.0, 22.0, 33.0, 14.0, 25.0, 36.0],
            [-9.0, -18.0, -27.0, -6.0, -15.0, -24.0],
            [10.0, 40.0, 90.0, 40.0, 100.0, 180.0],
            [0.1, 0.1, 0.1, 0.4, 0.25, 0.2],
            [10.0, 20.0, 30.0, 10.0, 20.0, 30.0],
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        ];
        for (kind, want) in KINDS.into_iter().zip(want) {
            let out = run(&params(kind, shape, sa, sb, ClampF32::NONE), &a, &b);
            assert_eq!(out, want, "{kind:?}");
        }
    }

    /// Column broadcast ([2,1] x [1,3] -> [2,3]) with a clamp, and a scalar operand.
    #[test]
    fn outer_product_and_scalar() {
        let shape = [1, 1, 1, 1, 2, 3];
        let relu6 = ClampF32 { min: 0.0, max: 6.0 };
        let p = params(
            BinaryKind::Mul,
            shape,
            [0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1],
            relu6,
        );
        assert_eq!(
            run(&p, &[1.0, -2.0], &[1.0, 2.0, 3.0]),
            [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]
        );
        let p = params(
            BinaryKind::Sub,
            shape,
            [0, 0, 0, 0, 3, 1],
            [0; 6],
            ClampF32::NONE,
        );
        assert_eq!(
            run(&p, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1.0]),
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        let p = params(BinaryKind::Add, shape, [0; 6], [0; 6], ClampF32::NONE);
        assert_eq!(run(&p, &[1.0], &[2.0]), [3.0; 6]);
    }

    /// `a` read through transposed strides: out[i][j] = a[j][i] + b[i][j].
    #[test]
    fn transposed_operand() {
        let shape = [1, 1, 1, 1, 2, 3];
        let p = params(
            BinaryKind::Add,
            shape,
            [0, 0, 0, 0, 1, 2],
            [0, 0, 0, 0, 3, 1],
            ClampF32::NONE,
        );
        // a is 3x2: [[1, 2], [3, 4], [5, 6]]
        let out = run(&p, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0; 6]);
        assert_eq!(out, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn errors() {
        let shape = [1, 1, 1, 1, 2, 3];
        let p = params(
            BinaryKind::Add,
            shape,
            [0, 0, 0, 0, 3, 1],
            [0, 0, 0, 0, 0, 1],
            ClampF32::NONE,
        );
        let (a, b, mut out) = ([0.0f32; 6], [0.0f32; 3], [0.0f32; 6]);
        let bad = Err(Error::BadGeometry);
        assert_eq!(binary_f32(&p, &a[1..], &b, &mut out), bad);
        assert_eq!(binary_f32(&p, &a, &b[1..], &mut out), bad);
        assert_eq!(binary_f32(&p, &a, &b, &mut out[1..]), bad);
        assert_eq!(binary_f32(&p, &a, &b, &mut out), Ok(()));
        let zero = [1, 1, 1, 1, 0, 3];
        assert_eq!(
            broadcast_lens(&zero, &[0; 6], &[0; 6]),
            Err(Error::InvalidParameter)
        );
        let mut calls = 0;
        for_each_broadcast(&zero, &[0; 6], &[0; 6], |_, _, _| calls += 1);
        assert_eq!(calls, 0);
        let huge = [u32::MAX; 6];
        assert_eq!(
            broadcast_lens(&huge, &[0; 6], &[0; 6]),
            Err(Error::Overflow)
        );
        assert_eq!(
            broadcast_lens(&[1, 1, 1, 1, 1, 2], &[0; 6], &[0, 0, 0, 0, 0, u32::MAX]),
            Ok((1, u32::MAX as usize + 1, 2))
        );
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

    /// An operand's own shape (1 on its broadcast dims) and its dense strides with 0
    /// on those dims.
    fn operand(shape: [u32; 6], bcast: [bool; 6]) -> ([u32; 6], [u32; 6]) {
        let dims: [u32; 6] = core::array::from_fn(|d| if bcast[d] { 1 } else { shape[d] });
        let mut strides = [0u32; 6];
        let mut acc = 1;
        for d in (0..6).rev() {
            strides[d] = if dims[d] == 1 { 0 } else { acc };
            acc *= dims[d];
        }
        (dims, strides)
    }

    /// Reference walk in another formulation: unravel each flat output index and
    /// take it modulo each operand's own shape (numpy broadcasting).
    fn reference_indices(
        shape: [u32; 6],
        a_dims: [u32; 6],
        b_dims: [u32; 6],
    ) -> Vec<(usize, usize, usize)> {
        let total: usize = shape.iter().map(|&d| d as usize).product();
        (0..total)
            .map(|flat| {
                let mut idx = [0usize; 6];
                let mut rem = flat;
                for d in (0..6).rev() {
                    idx[d] = rem % shape[d] as usize;
                    rem /= shape[d] as usize;
                }
                let linear = |dims: [u32; 6]| {
                    (0..6).fold(0, |acc, d| {
                        acc * dims[d] as usize + idx[d] % dims[d] as usize
                    })
                };
                (flat, linear(a_dims), linear(b_dims))
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Random rank-6 shapes with size-1 broadcasting on either side: every kind
        /// equals the per-element reference exactly.
        #[test]
        fn matches_reference(
            shape in proptest::array::uniform6(1u32..=3),
            a_bcast in proptest::array::uniform6(any::<bool>()),
            b_bcast in proptest::array::uniform6(any::<bool>()),
            kind in 0usize..6,
            clamp: bool,
            seed: u64,
        ) {
            let (a_dims, a_stride) = operand(shape, a_bcast);
            let (b_dims, b_stride) = operand(shape, b_bcast);
            let (al, bl, _) = broadcast_lens(&shape, &a_stride, &b_stride).unwrap();
            prop_assert_eq!(al, a_dims.iter().product::<u32>() as usize);
            prop_assert_eq!(bl, b_dims.iter().product::<u32>() as usize);
            let act = if clamp { ClampF32 { min: -0.5, max: 0.75 } } else { ClampF32::NONE };
            let p = params(KINDS[kind], shape, a_stride, b_stride, act);
            let a = data(seed, al);
            let b = data(seed ^ 1, bl);
            let out = run(&p, &a, &b);
            let op = |x: f32, y: f32| match KINDS[kind] {
                BinaryKind::Add => x + y,
                BinaryKind::Sub => x - y,
                BinaryKind::Mul => x * y,
                BinaryKind::Div => x / y,
                BinaryKind::Max => x.max(y),
                BinaryKind::Min => x.min(y),
            };
            let want: Vec<f32> = reference_indices(shape, a_dims, b_dims)
                .into_iter()
                .map(|(_, ai, bi)| act.apply(op(a[ai], b[bi])))
                .collect();
            prop_assert_eq!(out, want);
        }

        /// The walker visits exactly the reference's (out, a, b) triples, in order,
        /// and the rows cover the output.
        #[test]
        fn walker_matches_reference(
            shape in proptest::array::uniform6(1u32..=3),
            a_bcast in proptest::array::uniform6(any::<bool>()),
            b_bcast in proptest::array::uniform6(any::<bool>()),
        ) {
            let (a_dims, a_stride) = operand(shape, a_bcast);
            let (b_dims, b_stride) = operand(shape, b_bcast);
            let mut seen = Vec::new();
            for_each_broadcast(&shape, &a_stride, &b_stride, |o, a, b| seen.push((o, a, b)));
            prop_assert_eq!(seen, reference_indices(shape, a_dims, b_dims));
            let rows = BroadcastRows::new(&shape, &a_stride, &b_stride).unwrap();
            prop_assert_eq!(rows.len() * rows.row_len(), shape.iter().product::<u32>() as usize);
        }
    }

    /// Same-shape operands collapse into a single row.
    #[test]
    fn contiguous_dims_merge() {
        let shape = [1, 2, 3, 1, 4, 5];
        let dense = [0, 60, 20, 20, 5, 1];
        let rows = BroadcastRows::new(&shape, &dense, &dense).unwrap();
        assert_eq!((rows.len(), rows.row_len(), rows.a_step()), (1, 120, 1));
        // broadcasting `b` along dim 4 stops the merge there
        let rows = BroadcastRows::new(&shape, &dense, &[0, 15, 5, 5, 0, 1]).unwrap();
        assert_eq!((rows.len(), rows.row_len()), (24, 5));
    }
}
