//! ONNX QuantizeLinear / DequantizeLinear over `[outer][axis][inner]`, per tensor
//! (one scale and zero point) or per axis (`axis` of each).
//!
//! The arithmetic is [`crate::quant::quantize_f32`] (divide, round half to even,
//! add the zero point, saturate; NaN -> zero point) and
//! [`crate::quant::dequantize`] (`(q - zero_point) * scale`).
//!
//! Zero points must lie in the quantized type's range (`[-128, 127]` for i8,
//! `[0, 255]` for u8, exactly 0 for i32, as ONNX requires); this also guarantees
//! that `q - zero_point` cannot overflow.

use crate::error::Error;
use crate::format::schema::{DType, Dequantize, Quantize};
use crate::kernels::{check_len, prod};
use crate::quant::{dequantize as dequantize_one, quantize_f32};

/// A quantized input tensor of [`dequantize`].
#[derive(Debug, Clone, Copy)]
pub enum QInput<'a> {
    I8(&'a [i8]),
    U8(&'a [u8]),
    I32(&'a [i32]),
}

/// Counts `(elements, parameters)` of a quantize or dequantize op over
/// `[outer][axis][inner]`: the tensor has `outer * axis * inner` elements; `scales`
/// and `zero_points` hold `axis` entries when `per_axis`, else 1. Every dimension must
/// be nonzero ([`Error::InvalidParameter`]); sizes must fit in `usize`
/// ([`Error::Overflow`]).
pub fn quantize_lens(
    outer: u32,
    axis: u32,
    inner: u32,
    per_axis: bool,
) -> Result<(usize, usize), Error> {
    if outer == 0 || axis == 0 || inner == 0 {
        return Err(Error::InvalidParameter);
    }
    let params = if per_axis { axis as usize } else { 1 };
    Ok((prod(&[outer, axis, inner])?, params))
}

/// Inclusive range of zero points (and of values) of a quantized type.
fn zero_point_range(dtype: DType) -> Result<(i32, i32), Error> {
    match dtype {
        DType::I8 => Ok((-128, 127)),
        DType::U8 => Ok((0, 255)),
        DType::I32 => Ok((0, 0)),
        _ => Err(Error::InvalidParameter),
    }
}

/// Checks the parameter slices: lengths, and zero points within `[lo, hi]`.
fn check_params(
    scales: &[f32],
    zero_points: &[i32],
    params: usize,
    lo: i32,
    hi: i32,
) -> Result<(), Error> {
    check_len(scales.len(), params)?;
    check_len(zero_points.len(), params)?;
    if zero_points.iter().any(|z| !(lo..=hi).contains(z)) {
        return Err(Error::InvalidParameter);
    }
    Ok(())
}

/// Runs `f(scale, zero_point, input plane, output plane)` over every `[inner]` plane
/// of `[outer][axis][inner]` tensors, with the plane's parameters.
fn for_each_plane<T, U>(
    (axis, inner, per_axis): (usize, usize, bool),
    scales: &[f32],
    zero_points: &[i32],
    input: &[T],
    out: &mut [U],
    mut f: impl FnMut(f32, i32, &[T], &mut [U]),
) -> Result<(), Error> {
    let block = axis * inner;
    for (x_block, out_block) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        let planes = x_block
            .chunks_exact(inner)
            .zip(out_block.chunks_exact_mut(inner));
        for (a, (x_plane, out_plane)) in planes.enumerate() {
            let i = if per_axis { a } else { 0 };
            let scale = scales.get(i).copied().ok_or(Error::BadGeometry)?;
            let zero_point = zero_points.get(i).copied().ok_or(Error::BadGeometry)?;
            f(scale, zero_point, x_plane, out_plane);
        }
    }
    Ok(())
}

/// QuantizeLinear to `p.out_dtype` (`I8` or `U8`, else [`Error::InvalidParameter`]):
/// `out = saturate(round_half_even(x / scale) + zero_point)`, written as raw bytes
/// (two's complement for i8). `input` and `out` hold exactly `outer * axis * inner`
/// elements, `scales` / `zero_points` exactly [`quantize_lens`]`.1` entries
/// ([`Error::BadGeometry`] otherwise); zero points must be in the output type's range
/// ([`Error::InvalidParameter`]).
pub fn quantize(
    p: &Quantize,
    input: &[f32],
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [u8],
) -> Result<(), Error> {
    quantize_with(p, input, scales, zero_points, out, quantize_plane)
}

/// One plane of [`quantize`]: `out[i]` from `xs[i]` with one scale and zero
/// point, values saturated to `[lo, hi]`.
pub(crate) type QuantizePlane = fn(f32, i32, (i32, i32), &[f32], &mut [u8]);

/// The scalar [`QuantizePlane`].
fn quantize_plane(scale: f32, zp: i32, (lo, hi): (i32, i32), xs: &[f32], os: &mut [u8]) {
    for (o, &x) in os.iter_mut().zip(xs) {
        // q is within [lo, hi]: its low byte is the u8 value, or the i8 value's
        // two's complement byte.
        *o = quantize_f32(x, scale, zp, lo, hi) as u8;
    }
}

/// [`quantize`] with `plane` for each plane (the checks, errors and walk of
/// every quantize kernel).
pub(crate) fn quantize_with(
    p: &Quantize,
    input: &[f32],
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [u8],
    plane: QuantizePlane,
) -> Result<(), Error> {
    let (lo, hi) = match p.out_dtype {
        DType::I8 | DType::U8 => zero_point_range(p.out_dtype)?,
        _ => return Err(Error::InvalidParameter),
    };
    let (len, params) = quantize_lens(p.outer, p.axis, p.inner, p.per_axis)?;
    check_len(input.len(), len)?;
    check_len(out.len(), len)?;
    check_params(scales, zero_points, params, lo, hi)?;
    let dims = (p.axis as usize, p.inner as usize, p.per_axis);
    for_each_plane(
        dims,
        scales,
        zero_points,
        input,
        out,
        |scale, zp, xs, os| plane(scale, zp, (lo, hi), xs, os),
    )
}

/// `(q - zero_point) * scale` over planes of an integer input.
fn dequantize_planes<T: Copy + Into<i32>>(
    p: &Dequantize,
    input: &[T],
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [f32],
) -> Result<(), Error> {
    let dims = (p.axis as usize, p.inner as usize, p.per_axis);
    for_each_plane(
        dims,
        scales,
        zero_points,
        input,
        out,
        |scale, zp, qs, os| {
            for (o, &q) in os.iter_mut().zip(qs) {
                *o = dequantize_one(q.into(), scale, zp);
            }
        },
    )
}

/// DequantizeLinear: `out = (q - zero_point) * scale`. The variant of `input` must
/// match `p.in_dtype` ([`Error::WrongDType`]); zero points must be in the input
/// type's range, 0 for i32 ([`Error::InvalidParameter`]); `input` and `out` hold
/// exactly `outer * axis * inner` elements, `scales` / `zero_points` exactly
/// [`quantize_lens`]`.1` entries ([`Error::BadGeometry`] otherwise).
pub fn dequantize(
    p: &Dequantize,
    input: QInput<'_>,
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [f32],
) -> Result<(), Error> {
    let (in_dtype, in_len) = match input {
        QInput::I8(q) => (DType::I8, q.len()),
        QInput::U8(q) => (DType::U8, q.len()),
        QInput::I32(q) => (DType::I32, q.len()),
    };
    if in_dtype != p.in_dtype {
        return Err(Error::WrongDType);
    }
    let (lo, hi) = zero_point_range(in_dtype)?;
    let (len, params) = quantize_lens(p.outer, p.axis, p.inner, p.per_axis)?;
    check_len(in_len, len)?;
    check_len(out.len(), len)?;
    check_params(scales, zero_points, params, lo, hi)?;
    match input {
        QInput::I8(q) => dequantize_planes(p, q, scales, zero_points, out),
        QInput::U8(q) => dequantize_planes(p, q, scales, zero_points, out),
        QInput::I32(q) => dequantize_planes(p, q, scales, zero_points, out),
    }
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

    fn qparams(
        out_dtype: DType,
        (outer, axis, inner): (u32, u32, u32),
        per_axis: bool,
    ) -> Quantize {
        Quantize {
            out_dtype,
            outer,
            axis,
            inner,
            per_axis,
            scales: BUF,
            zero_points: BUF,
            input: BUF,
            output: BUF,
        }
    }

    fn dqparams(
        in_dtype: DType,
        (outer, axis, inner): (u32, u32, u32),
        per_axis: bool,
    ) -> Dequantize {
        Dequantize {
            in_dtype,
            outer,
            axis,
            inner,
            per_axis,
            scales: BUF,
            zero_points: BUF,
            input: BUF,
            output: BUF,
        }
    }

    /// Scale 0.5, zero point 1, i8: 1.25 / 0.5 = 2.5 -> 2 (half to even) -> 3;
    /// -2.5 -> -2 -> -1; 1.5 -> 2 -> 3; 200 + 1 saturates to 127; -200 + 1 to -128;
    /// NaN -> the zero point.
    #[test]
    fn quantize_i8_hand() {
        let p = qparams(DType::I8, (1, 1, 6), false);
        let x = [1.25, -1.25, 0.75, 100.0, -100.0, f32::NAN];
        let mut out = [0u8; 6];
        quantize(&p, &x, &[0.5], &[1], &mut out).unwrap();
        assert_eq!(out.map(|b| b as i8), [3, -1, 3, 127, -128, 1]);
    }

    #[test]
    fn quantize_u8_and_per_axis() {
        let p = qparams(DType::U8, (1, 1, 4), false);
        let mut out = [0u8; 4];
        quantize(&p, &[0.0, -1.0, 1000.0, -1000.0], &[1.0], &[128], &mut out).unwrap();
        assert_eq!(out, [128, 127, 255, 0]);
        // [outer 1][axis 2][inner 2], scales [1, 0.1], zero points [0, -5]:
        // 1 -> 1, 2 -> 2, 0.3 / 0.1 = 3 (also in f32) -> -2, 0.25 / 0.1 = 2.5 -> 2 -> -3
        let p = qparams(DType::I8, (1, 2, 2), true);
        quantize(&p, &[1.0, 2.0, 0.3, 0.25], &[1.0, 0.1], &[0, -5], &mut out).unwrap();
        assert_eq!(out.map(|b| b as i8), [1, 2, -2, -3]);
    }

    #[test]
    fn dequantize_hand() {
        let mut out = [0.0f32; 3];
        let p = dqparams(DType::I8, (1, 1, 3), false);
        dequantize(&p, QInput::I8(&[-128, 0, 127]), &[0.5], &[-1], &mut out).unwrap();
        assert_eq!(out, [-63.5, 0.5, 64.0]);
        let p = dqparams(DType::U8, (1, 3, 1), true);
        dequantize(
            &p,
            QInput::U8(&[0, 128, 255]),
            &[1.0, 2.0, 0.25],
            &[128, 128, 255],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-128.0, 0.0, 0.0]);
        let p = dqparams(DType::I32, (3, 1, 1), false);
        dequantize(
            &p,
            QInput::I32(&[i32::MIN, -3, i32::MAX]),
            &[0.5],
            &[0],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [i32::MIN as f32 * 0.5, -1.5, i32::MAX as f32 * 0.5]);
    }

    #[test]
    fn errors() {
        let p = qparams(DType::I8, (2, 2, 2), true);
        let (x, mut out) = ([0.0f32; 8], [0u8; 8]);
        let (s, z) = ([1.0f32; 2], [0i32; 2]);
        let bad = Err(Error::BadGeometry);
        assert_eq!(quantize(&p, &x[1..], &s, &z, &mut out), bad);
        assert_eq!(quantize(&p, &x, &s, &z, &mut out[1..]), bad);
        assert_eq!(quantize(&p, &x, &s[..1], &z, &mut out), bad);
        assert_eq!(quantize(&p, &x, &s, &z[..1], &mut out), bad);
        assert_eq!(
            quantize(&p, &x, &s, &[0, 128], &mut out),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            quantize(&qparams(DType::F32, (2, 2, 2), true), &x, &s, &z, &mut out),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            quantize(
                &qparams(DType::U8, (2, 2, 2), true),
                &x,
                &s,
                &[0, -1],
                &mut out
            ),
            Err(Error::InvalidParameter)
        );
        assert_eq!(quantize_lens(2, 0, 2, true), Err(Error::InvalidParameter));

        let p = dqparams(DType::I8, (2, 2, 2), false);
        let mut outf = [0.0f32; 8];
        let q = [0i8; 8];
        assert_eq!(
            dequantize(&p, QInput::U8(&[0; 8]), &[1.0], &[0], &mut outf),
            Err(Error::WrongDType)
        );
        assert_eq!(
            dequantize(&p, QInput::I8(&q[1..]), &[1.0], &[0], &mut outf),
            bad
        );
        assert_eq!(
            dequantize(&p, QInput::I8(&q), &[1.0], &[0], &mut outf[1..]),
            bad
        );
        assert_eq!(dequantize(&p, QInput::I8(&q), &s, &z, &mut outf), bad);
        assert_eq!(
            dequantize(&p, QInput::I8(&q), &[1.0], &[-129], &mut outf),
            Err(Error::InvalidParameter)
        );
        let p32 = dqparams(DType::I32, (2, 2, 2), false);
        // a nonzero i32 zero point could overflow `q - zero_point`: rejected
        assert_eq!(
            dequantize(&p32, QInput::I32(&[i32::MIN; 8]), &[1.0], &[1], &mut outf),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            dequantize(&p, QInput::I8(&q), &[1.0], &[0], &mut outf),
            Ok(())
        );
    }

    /// (outer, axis, inner), per_axis, u8 output, scales, zero points.
    type Case = ((u32, u32, u32), bool, bool, Vec<f32>, Vec<i32>);

    fn case() -> impl Strategy<Value = Case> {
        (1u32..=3, 1u32..=4, 1u32..=5, any::<bool>(), any::<bool>()).prop_flat_map(
            |(o, a, i, per_axis, u8_out)| {
                let params = if per_axis { a as usize } else { 1 };
                let zp = if u8_out { 0i32..=255 } else { -128i32..=127 };
                (
                    Just((o, a, i)),
                    Just(per_axis),
                    Just(u8_out),
                    proptest::collection::vec(0.001f32..2.0, params),
                    proptest::collection::vec(zp, params),
                )
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Quantize against a per-element reference (std's `round_ties_even`,
        /// parameters found from the flat index); dequantize against
        /// `(q - z) * s` in i64/f64; and the round trip stays within half a step
        /// for values inside the representable range.
        #[test]
        fn matches_reference((dims, per_axis, u8_out, scales, zps) in case(), seed: u64) {
            let dtype = if u8_out { DType::U8 } else { DType::I8 };
            let (lo, hi) = if u8_out { (0, 255) } else { (-128, 127) };
            let p = qparams(dtype, dims, per_axis);
            let (len, _) = quantize_lens(dims.0, dims.1, dims.2, per_axis).unwrap();
            let mut s = seed;
            let x: Vec<f32> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 300.0
                })
                .collect();
            let mut q = vec![0u8; len];
            quantize(&p, &x, &scales, &zps, &mut q).unwrap();
            let param = |i: usize| if per_axis { (i / dims.2 as usize) % dims.1 as usize } else { 0 };
            let as_i32 = |b: u8| if u8_out { b as i32 } else { b as i8 as i32 };
            for (i, &v) in x.iter().enumerate() {
                let (sc, z) = (scales[param(i)], zps[param(i)]);
                let want = ((v / sc).round_ties_even() + z as f32).clamp(lo as f32, hi as f32) as i32;
                prop_assert_eq!(as_i32(q[i]), want, "x = {}, scale {}, zp {}", v, sc, z);
            }

            let dp = dqparams(dtype, dims, per_axis);
            let mut back = vec![0.0f32; len];
            let input = if u8_out {
                QInput::U8(&q)
            } else {
                QInput::I8(bytemuck::cast_slice(&q))
            };
            dequantize(&dp, input, &scales, &zps, &mut back).unwrap();
            for (i, (&b, &v)) in back.iter().zip(&x).enumerate() {
                let (sc, z) = (scales[param(i)], zps[param(i)]);
                let want = ((as_i32(q[i]) as i64 - z as i64) as f64 * sc as f64) as f32;
                prop_assert_eq!(b, want);
                let in_range = (lo as f32..=hi as f32).contains(&(v / sc + z as f32));
                if in_range {
                    prop_assert!((b - v).abs() <= sc * 0.5001, "{} -> {}", v, b);
                }
            }
        }
    }
}
