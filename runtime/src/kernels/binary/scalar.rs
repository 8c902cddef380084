//! int8 element-wise Add and Mul with numpy broadcasting, the portable reference kernel.
//!
//! The output has `p.shape`; `a` and `b` are read at `sum idx[d] * stride[d]`
//! (stride 0 on broadcast dimensions), see [`for_each_broadcast`].
//!
//! - Add (TFLite scheme): `a' = (a + a_offset) << left_shift`,
//!   `s = requantize(a', a_mult, a_shift) + requantize(b', b_mult, b_shift)`,
//!   `out = clamp(requantize(s, mult[0], shift[0]) + output_offset, act_min, act_max)`.
//! - Mul: `out = clamp(requantize((a + a_offset) * (b + b_offset), mult[0], shift[0])
//!   + output_offset, act_min, act_max)`.
//!
//! A contiguous Add of at least [`TABLE_MIN`] elements (the residual add: `a`, `b`
//! and the output in the same dense order) first tabulates each input's rescaling,
//! `requantize((v + offset) << left_shift, mult, shift)` for the 256 int8 values
//! `v` (2 KiB of stack), then reads two tables per element: the same values, with
//! one requantization per element instead of three.
//!
//! Every other [`BinaryKind`] is [`Error::InvalidParameter`] (the compiler lowers Sub
//! to Add with a negated multiplier, and has no int8 Div/Max/Min).
//!
//! # Parameter domain (checked, so that no `i32` step can overflow)
//!
//! Offsets are in `[-127, 128]` (`|a + a_offset| <= 255`). For Add, `left_shift` is
//! in `[0, 23]` (`255 << 23 < 2^31`) and `left_shift + a_shift <= 22`,
//! `left_shift + b_shift <= 22`, so each rescaled input is at most `255 * 2^22 + 1`
//! in magnitude and their sum fits an `i32`. TFLite's parameters (`left_shift = 20`,
//! input multipliers `<= 0.5`, i.e. shifts `<= 0`) are inside this domain.

use crate::error::Error;
use crate::format::schema::{BinaryI8, BinaryKind};
use crate::kernels::binary::float::{BroadcastRows, broadcast_lens, for_each_broadcast};
use crate::kernels::conv::scalar::{check_offset, check_requant, requant_out, requant_out_inline};
use crate::kernels::{RequantParams, check_len};
use crate::quant::{Multiplier, requantize};

/// Largest accepted `left_shift`.
const MAX_LEFT_SHIFT: i32 = 23;
/// Largest accepted `left_shift + input shift`.
const MAX_INPUT_SCALE_LOG2: i32 = 22;

/// Elements from which a contiguous Add tabulates its input rescalings (building
/// the two tables costs 512 requantizations; each element then saves two).
pub const TABLE_MIN: usize = 512;

/// The checks of [`binary_i8`] (shared with its SIMD twin, `super::avx2`);
/// returns the output multiplier and shift.
pub(crate) fn validate(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    rq: &RequantParams<'_>,
    out: &[i8],
) -> Result<(i32, i32), Error> {
    match p.kind {
        BinaryKind::Add => {
            if !(0..=MAX_LEFT_SHIFT).contains(&p.left_shift)
                || p.left_shift + p.a_shift > MAX_INPUT_SCALE_LOG2
                || p.left_shift + p.b_shift > MAX_INPUT_SCALE_LOG2
            {
                return Err(Error::InvalidParameter);
            }
        }
        BinaryKind::Mul => {}
        _ => return Err(Error::InvalidParameter),
    }
    check_offset(p.a_offset)?;
    check_offset(p.b_offset)?;
    let (a_len, b_len, out_len) = broadcast_lens(&p.shape, &p.a_stride, &p.b_stride)?;
    check_len(a.len(), a_len)?;
    check_len(b.len(), b_len)?;
    check_len(out.len(), out_len)?;
    check_requant(rq, 1)?;
    match (rq.mult.first(), rq.shift.first()) {
        (Some(&mult), Some(&shift)) => Ok((mult, shift)),
        _ => Err(Error::BadGeometry),
    }
}

/// int8 Add / Mul with broadcasting (see the module docs).
///
/// Errors: [`Error::BadGeometry`] when `a`, `b` or `out` disagree with the shape and
/// strides, or `rq` does not have exactly one multiplier; [`Error::Overflow`] when a
/// size overflows; [`Error::InvalidParameter`] for another kind than Add/Mul or
/// parameters outside the documented domain.
pub fn binary_i8(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let (mult, shift) = validate(p, a, b, rq, out)?;
    let (a_off, b_off) = (p.a_offset, p.b_offset);
    // The indices come from the same shape/strides broadcast_lens checked; `get` keeps
    // a disagreement between the two helpers an error instead of a panic.
    let mut in_bounds = true;
    match p.kind {
        BinaryKind::Add if out.len() >= TABLE_MIN && contiguous(p, out.len()) => {
            add_tabulated(p, a, b, mult, shift, rq, out);
        }
        BinaryKind::Add => {
            let ls = p.left_shift;
            for_each_broadcast(&p.shape, &p.a_stride, &p.b_stride, |o, ai, bi| {
                let (Some(&x), Some(&y), Some(ov)) = (a.get(ai), b.get(bi), out.get_mut(o)) else {
                    in_bounds = false;
                    return;
                };
                let x = requantize((x as i32 + a_off) << ls, p.a_mult, p.a_shift);
                let y = requantize((y as i32 + b_off) << ls, p.b_mult, p.b_shift);
                *ov = requant_out(x + y, mult, shift, rq);
            });
        }
        _ => {
            // Mul (validate rejected every other kind).
            for_each_broadcast(&p.shape, &p.a_stride, &p.b_stride, |o, ai, bi| {
                let (Some(&x), Some(&y), Some(ov)) = (a.get(ai), b.get(bi), out.get_mut(o)) else {
                    in_bounds = false;
                    return;
                };
                *ov = requant_out((x as i32 + a_off) * (y as i32 + b_off), mult, shift, rq);
            });
        }
    }
    if in_bounds {
        Ok(())
    } else {
        Err(Error::BadGeometry)
    }
}

/// Whether output element `i` reads `a[i]` and `b[i]` for every `i` (one merged
/// row with step 1 in both operands). A one-element output with stride 0 (no
/// different from broadcasting) says no.
pub(crate) fn contiguous(p: &BinaryI8, out_len: usize) -> bool {
    BroadcastRows::new(&p.shape, &p.a_stride, &p.b_stride)
        .is_ok_and(|r| r.row_len() == out_len && r.a_step() == 1 && r.b_step() == 1)
}

/// `table[v as u8] = requantize((v + offset) << left_shift, mult, shift)` for every
/// int8 `v`: one input's rescaling in the Add (module docs).
fn rescale_table(offset: i32, left_shift: i32, mult: i32, shift: i32) -> [i32; 256] {
    let mut t = [0i32; 256];
    for (k, e) in t.iter_mut().enumerate() {
        let v = k as u8 as i8 as i32;
        *e = requantize((v + offset) << left_shift, mult, shift);
    }
    t
}

/// The contiguous Add through two rescaling tables: the values of the general
/// loop, element for element. `a`, `b` and `out` have the same length (checked by
/// [`contiguous`] against the validated lengths).
fn add_tabulated(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    mult: i32,
    shift: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) {
    let ta = rescale_table(p.a_offset, p.left_shift, p.a_mult, p.a_shift);
    let tb = rescale_table(p.b_offset, p.left_shift, p.b_mult, p.b_shift);
    let m = Multiplier::new(mult, shift);
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        // A `u8` index is below 256, the tables' length: `get` never misses.
        let x = ta.get(x as u8 as usize).copied().unwrap_or_default();
        let y = tb.get(y as u8 as usize).copied().unwrap_or_default();
        *o = requant_out_inline(x + y, m, rq);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
pub(crate) mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, MAX_RANK, Mem, Requant};
    use crate::quant::quantize_multiplier;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Exact requantization from the documented formula, in i128.
    fn rq_exact(acc: i64, mult: i32, shift: i32) -> i64 {
        let den = 1i128 << (31 - shift);
        let v = (acc as i128 * mult as i128 + den / 2).div_euclid(den);
        v.clamp(i32::MIN as i128, i32::MAX as i128) as i64
    }

    const NO_BUF: Buf = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };

    #[derive(Debug, Clone)]
    struct Case {
        /// Output shape (rank MAX_RANK, leading 1s) and the two input shapes
        /// (numpy-broadcastable: each dim is the output's or 1).
        out_shape: [u32; MAX_RANK],
        a_shape: [u32; MAX_RANK],
        b_shape: [u32; MAX_RANK],
        a: Vec<i8>,
        b: Vec<i8>,
        p: BinaryI8,
        mult: i32,
        shift: i32,
        oo: i32,
        lo: i32,
        hi: i32,
    }

    /// Dense row-major strides of `shape`, 0 on size-1 dimensions (broadcast).
    fn strides(shape: &[u32; MAX_RANK]) -> [u32; MAX_RANK] {
        let mut s = [0u32; MAX_RANK];
        let mut acc = 1u32;
        for d in (0..MAX_RANK).rev() {
            s[d] = if shape[d] == 1 { 0 } else { acc };
            acc *= shape[d];
        }
        s
    }

    impl Case {
        fn rq(&self) -> RequantParams<'_> {
            RequantParams {
                mult: core::slice::from_ref(&self.mult),
                shift: core::slice::from_ref(&self.shift),
                output_offset: self.oo,
                act_min: self.lo,
                act_max: self.hi,
            }
        }
        fn run(&self) -> Result<Vec<i8>, Error> {
            let n: u32 = self.out_shape.iter().product();
            let mut out = vec![0i8; n as usize];
            binary_i8(&self.p, &self.a, &self.b, &self.rq(), &mut out)?;
            Ok(out)
        }
    }

    /// Independent reference: numpy broadcasting by `index mod dim` on the inputs'
    /// own shapes, an odometer over the output, i64 math and exact i128 requant.
    fn reference(c: &Case) -> Vec<i8> {
        let n: u32 = c.out_shape.iter().product();
        let flat = |shape: &[u32; MAX_RANK], idx: &[u32; MAX_RANK]| {
            (0..MAX_RANK).fold(0usize, |acc, d| {
                acc * shape[d] as usize + (idx[d] % shape[d]) as usize
            })
        };
        let mut out = Vec::new();
        for lin in 0..n {
            let mut idx = [0u32; MAX_RANK];
            let mut rest = lin;
            for d in (0..MAX_RANK).rev() {
                idx[d] = rest % c.out_shape[d];
                rest /= c.out_shape[d];
            }
            let x = c.a[flat(&c.a_shape, &idx)] as i64 + c.p.a_offset as i64;
            let y = c.b[flat(&c.b_shape, &idx)] as i64 + c.p.b_offset as i64;
            let acc = match c.p.kind {
                BinaryKind::Add => {
                    let scale = 1i64 << c.p.left_shift;
                    rq_exact(x * scale, c.p.a_mult, c.p.a_shift)
                        + rq_exact(y * scale, c.p.b_mult, c.p.b_shift)
                }
                _ => x * y,
            };
            let v = (rq_exact(acc, c.mult, c.shift) + c.oo as i64).clamp(c.lo as i64, c.hi as i64);
            out.push(v as i8);
        }
        out
    }

    /// Quantized Add / Mul parameters as TFLite derives them from real scales.
    fn tflite_params(kind: BinaryKind, sa: f64, sb: f64, so: f64) -> (i32, [(i32, i32); 3]) {
        match kind {
            BinaryKind::Add => {
                let ls = 20;
                let twice_max = 2.0 * sa.max(sb);
                let qa = quantize_multiplier(sa / twice_max).unwrap();
                let qb = quantize_multiplier(sb / twice_max).unwrap();
                let qo = quantize_multiplier(twice_max / ((1u64 << ls) as f64 * so)).unwrap();
                (ls, [qa, qb, qo])
            }
            _ => (
                0,
                [(0, 0), (0, 0), quantize_multiplier(sa * sb / so).unwrap()],
            ),
        }
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            proptest::collection::vec(1u32..=4, 1..=MAX_RANK),
            proptest::collection::vec((any::<bool>(), any::<bool>()), MAX_RANK),
            0usize..=MAX_RANK,
            0usize..=MAX_RANK,
        )
            .prop_flat_map(|(dims, bc, a_rank, b_rank)| {
                // Output shape with leading 1s; each input drops leading dims (lower
                // rank, numpy style) and broadcasts random size-1 dims.
                let mut out_shape = [1u32; MAX_RANK];
                out_shape[MAX_RANK - dims.len()..].copy_from_slice(&dims);
                let mut a_shape = out_shape;
                let mut b_shape = out_shape;
                for d in 0..MAX_RANK {
                    if bc[d].0 || d < MAX_RANK - a_rank {
                        a_shape[d] = 1;
                    }
                    if bc[d].1 || d < MAX_RANK - b_rank {
                        b_shape[d] = 1;
                    }
                }
                let na: u32 = a_shape.iter().product();
                let nb: u32 = b_shape.iter().product();
                (
                    Just((out_shape, a_shape, b_shape)),
                    proptest::collection::vec(any::<i8>(), na as usize),
                    proptest::collection::vec(any::<i8>(), nb as usize),
                    any::<bool>(),
                    (-128i32..=127, -128i32..=127),
                    (1e-3f64..1.0, 1e-3f64..1.0, 1e-3f64..1.0),
                    (
                        -128i32..=127,
                        prop_oneof![
                            Just((-128i32, 127i32)),
                            (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
                        ],
                    ),
                )
            })
            .prop_map(
                |(
                    (out_shape, a_shape, b_shape),
                    a,
                    b,
                    add,
                    (za, zb),
                    (sa, sb, so),
                    (oo, (lo, hi)),
                )| {
                    let kind = if add {
                        BinaryKind::Add
                    } else {
                        BinaryKind::Mul
                    };
                    let (ls, [qa, qb, qo]) = tflite_params(kind, sa, sb, so);
                    let p = BinaryI8 {
                        kind,
                        shape: out_shape,
                        a_stride: strides(&a_shape),
                        b_stride: strides(&b_shape),
                        a: NO_BUF,
                        b: NO_BUF,
                        output: NO_BUF,
                        a_offset: -za,
                        b_offset: -zb,
                        left_shift: ls,
                        a_mult: qa.0,
                        a_shift: qa.1,
                        b_mult: qb.0,
                        b_shift: qb.1,
                        rq: Requant {
                            mult: NO_BUF,
                            shift: NO_BUF,
                            output_offset: oo,
                            act_min: lo,
                            act_max: hi,
                        },
                    };
                    Case {
                        out_shape,
                        a_shape,
                        b_shape,
                        a,
                        b,
                        p,
                        mult: qo.0,
                        shift: qo.1,
                        oo,
                        lo,
                        hi,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(c in case()) {
            prop_assert_eq!(c.run().unwrap(), reference(&c));
        }

        /// Extremes of the checked Add domain: no overflow, still exact.
        #[test]
        fn add_domain_edges(
            x in any::<i8>(), y in any::<i8>(),
            offs in (-127i32..=128, -127i32..=128),
            ls in 0i32..=MAX_LEFT_SHIFT,
            ma in any::<i32>(), mb in any::<i32>(),
            (mo, so) in (any::<i32>(), -31i32..=30),
        ) {
            let mut c = case_1x1(BinaryKind::Add, x, y);
            c.p.a_offset = offs.0;
            c.p.b_offset = offs.1;
            c.p.left_shift = ls;
            (c.p.a_mult, c.p.a_shift) = (ma, MAX_INPUT_SCALE_LOG2 - ls);
            (c.p.b_mult, c.p.b_shift) = (mb, MAX_INPUT_SCALE_LOG2 - ls);
            (c.mult, c.shift) = (mo, so);
            prop_assert_eq!(c.run().unwrap(), reference(&c));
        }
    }

    /// A contiguous Add of `a.len()` elements (the residual add) with `p`'s
    /// offsets and multipliers.
    fn contiguous_case(a: Vec<i8>, b: Vec<i8>, mut p: BinaryI8, out: (i32, i32)) -> Case {
        let mut shape = [1u32; MAX_RANK];
        shape[MAX_RANK - 1] = a.len() as u32;
        p.shape = shape;
        p.a_stride = strides(&shape);
        p.b_stride = strides(&shape);
        let rq = p.rq;
        Case {
            out_shape: shape,
            a_shape: shape,
            b_shape: shape,
            a,
            b,
            p,
            mult: out.0,
            shift: out.1,
            oo: rq.output_offset,
            lo: rq.act_min,
            hi: rq.act_max,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(32)))]

        /// Adds long enough for the rescaling tables, with TFLite's parameters and
        /// with the extremes of the checked domain: the exact reference's bytes.
        #[test]
        fn tabulated_add_matches_reference(
            len in TABLE_MIN..TABLE_MIN + 700,
            seed in any::<u64>(),
            offs in (-127i32..=128, -127i32..=128),
            scales in (1e-3f64..1.0, 1e-3f64..1.0, 1e-3f64..1.0),
            edge in any::<bool>(),
            (ls_edge, ma, mb) in (0i32..=MAX_LEFT_SHIFT, any::<i32>(), any::<i32>()),
            (oo, lo, hi) in (-128i32..=127, -128i32..=-1, 0i32..=127),
        ) {
            let mut s = seed | 1;
            let mut next = || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as i8
            };
            let a: Vec<i8> = (0..len).map(|_| next()).collect();
            let b: Vec<i8> = (0..len).map(|_| next()).collect();
            let mut p = neutral_params(BinaryKind::Add, [1; MAX_RANK], [0; MAX_RANK]);
            (p.a_offset, p.b_offset) = offs;
            (p.rq.output_offset, p.rq.act_min, p.rq.act_max) = (oo, lo, hi);
            let (ls, [qa, qb, qo]) = tflite_params(BinaryKind::Add, scales.0, scales.1, scales.2);
            let (ls, qa, qb) = if edge {
                let s = MAX_INPUT_SCALE_LOG2 - ls_edge;
                (ls_edge, (ma, s), (mb, s))
            } else {
                (ls, qa, qb)
            };
            p.left_shift = ls;
            (p.a_mult, p.a_shift) = qa;
            (p.b_mult, p.b_shift) = qb;
            let c = contiguous_case(a, b, p, qo);
            prop_assert!(contiguous(&c.p, len));
            prop_assert_eq!(c.run().unwrap(), reference(&c));
        }
    }

    /// Add (or `kind`) parameters over `shape` with the given operand strides,
    /// neutral multipliers, offsets and clamp (shared with the SIMD twin's tests).
    pub(crate) fn neutral_params(
        kind: BinaryKind,
        shape: [u32; MAX_RANK],
        stride: [u32; MAX_RANK],
    ) -> BinaryI8 {
        BinaryI8 {
            kind,
            shape,
            a_stride: stride,
            b_stride: stride,
            a: NO_BUF,
            b: NO_BUF,
            output: NO_BUF,
            a_offset: 0,
            b_offset: 0,
            left_shift: 0,
            a_mult: 1 << 30,
            a_shift: 1,
            b_mult: 1 << 30,
            b_shift: 1,
            rq: Requant {
                mult: NO_BUF,
                shift: NO_BUF,
                output_offset: 0,
                act_min: -128,
                act_max: 127,
            },
        }
    }

    /// One element each, identity-ish parameters.
    fn case_1x1(kind: BinaryKind, x: i8, y: i8) -> Case {
        let shape = [1u32; MAX_RANK];
        Case {
            out_shape: shape,
            a_shape: shape,
            b_shape: shape,
            a: vec![x],
            b: vec![y],
            p: neutral_params(kind, shape, [0; MAX_RANK]),
            mult: 1 << 30,
            shift: 1,
            oo: 0,
            lo: -128,
            hi: 127,
        }
    }

    /// Hand-worked Add with TFLite's scheme:
    /// ```text
    /// scales sa = 0.5, sb = 0.25, so = 1; zero points a: 2, b: -4, out: 3.
    /// twice_max = 1; a multiplier 0.5 (2^30, 0), b multiplier 0.25 (2^30, -1),
    /// left_shift 20, out multiplier 1 / 2^20 (2^30, -19).
    /// a = 12 -> 12 - 2 = 10 (real 5.0); b = 6 -> 6 + 4 = 10 (real 2.5); real sum 7.5.
    /// 10 << 20 = 10485760; times 0.5 = 5242880; times 0.25 = 2621440; sum 7864320;
    /// times 2^-20 = 7.5, rounds half up to 8; plus 3 = 11.
    /// b = -14 -> -10 (real -2.5): 5242880 - 2621440 = 2621440 -> 2.5 -> 3 -> 6.
    /// a = -8 -> -10 (real -5), b = 6 (real 2.5): -2.5 -> -2 (half up) -> 1.
    /// ```
    #[test]
    fn golden_add() {
        let mut c = case_1x1(BinaryKind::Add, 12, 6);
        c.p.a_offset = -2;
        c.p.b_offset = 4;
        c.p.left_shift = 20;
        (c.p.a_mult, c.p.a_shift) = (1 << 30, 0);
        (c.p.b_mult, c.p.b_shift) = (1 << 30, -1);
        (c.mult, c.shift, c.oo) = (1 << 30, -19, 3);
        assert_eq!(
            tflite_params(BinaryKind::Add, 0.5, 0.25, 1.0),
            (20, [(1 << 30, 0), (1 << 30, -1), (1 << 30, -19)])
        );
        assert_eq!(c.run().unwrap(), [11]);
        c.b = vec![-14];
        assert_eq!(c.run().unwrap(), [6]);
        c.a = vec![-8];
        c.b = vec![6];
        assert_eq!(c.run().unwrap(), [1]);
    }

    /// Hand-worked Mul: (a + 3) * (b - 2) with a = 4, b = 10 -> 7 * 8 = 56; multiplier
    /// 0.125 (2^30, -2) -> 7; output zero point -10 -> -3; clamp [-5, 5] keeps -3.
    /// a = -3 -> 0 -> 0 -> -10 -> clamped to -5.
    /// Broadcast [2] x [1]: a = [4, -3], b = [10]: [-3, -5].
    #[test]
    fn golden_mul_broadcast() {
        let mut c = case_1x1(BinaryKind::Mul, 4, 10);
        c.out_shape[MAX_RANK - 1] = 2;
        c.a_shape[MAX_RANK - 1] = 2;
        c.p.shape = c.out_shape;
        c.p.a_stride[MAX_RANK - 1] = 1;
        c.a = vec![4, -3];
        c.p.a_offset = 3;
        c.p.b_offset = -2;
        (c.mult, c.shift, c.oo, c.lo, c.hi) = (1 << 30, -2, -10, -5, 5);
        assert_eq!(c.run().unwrap(), [-3, -5]);
        assert_eq!(reference(&c), [-3, -5]);
    }

    #[test]
    fn errors() {
        let c = case_1x1(BinaryKind::Add, 1, 2);
        assert!(c.run().is_ok());
        for kind in [
            BinaryKind::Sub,
            BinaryKind::Div,
            BinaryKind::Max,
            BinaryKind::Min,
        ] {
            let mut k = c.clone();
            k.p.kind = kind;
            assert_eq!(k.run(), Err(Error::InvalidParameter));
        }
        let rq = c.rq();
        let mut out = [0i8; 1];
        assert_eq!(
            binary_i8(&c.p, &[], &[2], &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            binary_i8(&c.p, &[1], &[2, 3], &rq, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            binary_i8(&c.p, &[1], &[2], &rq, &mut []),
            Err(Error::BadGeometry)
        );
        let two = RequantParams {
            mult: &[1, 2],
            shift: &[0, 0],
            ..rq
        };
        assert_eq!(
            binary_i8(&c.p, &[1], &[2], &two, &mut out),
            Err(Error::BadGeometry)
        );
        let mut bad = c.clone();
        bad.p.left_shift = 24;
        assert_eq!(bad.run(), Err(Error::InvalidParameter));
        let mut bad = c.clone();
        bad.p.left_shift = 20;
        bad.p.b_shift = 3;
        assert_eq!(bad.run(), Err(Error::InvalidParameter));
        let mut bad = c.clone();
        bad.p.a_offset = -128;
        assert_eq!(bad.run(), Err(Error::InvalidParameter));
        // Mul ignores left_shift and the input multipliers.
        let mut mul = bad.clone();
        mul.p.kind = BinaryKind::Mul;
        mul.p.a_offset = 0;
        mul.p.left_shift = 99;
        assert!(mul.run().is_ok());
    }
}
