//! The one requantization function of edgerun, and the helpers the compiler uses
//! to build its parameters.
//!
//! # Rounding (the one documented rounding)
//!
//! An int32 accumulator `acc` is scaled by a real multiplier `M = mult * 2^(shift - 31)`
//! (`mult` a Q31 value in `[2^30, 2^31)`, or 0) with **one** rounding step:
//!
//! ```text
//! requantize(acc, mult, shift) = floor((acc * mult + 2^(30 - shift)) / 2^(31 - shift))
//! ```
//!
//! computed exactly in 64-bit integers, i.e. *round half toward +infinity* of the
//! exact product `acc * mult * 2^(shift-31)`, saturated to `i32`. This is TFLite's
//! `TFLITE_SINGLE_ROUNDING` and CMSIS-NN's `CMSIS_NN_USE_SINGLE_ROUNDING` variant of
//! `MultiplyByQuantizedMultiplier` / `arm_nn_requantize`, bit for bit.
//!
//! ## Difference from ONNX's float reference
//!
//! ONNX `QLinearConv` / `QLinearMatMul` / `QuantizeLinear` compute `acc * (sx*sw/sy)` in
//! floating point and round half to *even*. Two differences follow, and both are
//! bounded by one quantization step (1 LSB) of the output:
//! 1. ties (`x.5` exactly) round up here, to even there (e.g. `-1.5 -> -1` here, `-2` there);
//! 2. `M` is held in Q31 (relative error <= 2^-31) and ONNX's product is rounded
//!    float arithmetic; for `|acc * M| < 2^22` the results only differ at ties.

/// Scale an int32 accumulator by `mult * 2^(shift - 31)`, rounding half toward +infinity.
///
/// `shift` must be in `[-31, 30]` (the compiler only emits such values; values outside
/// are clamped so that this function can never panic or shift out of range).
// On microcontrollers one out-of-line copy keeps the code small; elsewhere it is
// inlined into the kernels' output loops (a call per output cost a fifth of
// ResNet-8's time on x86_64).
#[cfg_attr(target_os = "none", inline(never))]
#[cfg_attr(not(target_os = "none"), inline)]
pub fn requantize(acc: i32, mult: i32, shift: i32) -> i32 {
    Multiplier::new(mult, shift).apply(acc)
}

/// A multiplier of [`requantize`] with its right shift worked out once: `apply` is
/// [`requantize`] (the same function), always inlined, for the output loops of the
/// microcontroller kernels, where [`requantize`] is one out-of-line copy and a
/// channel's multiplier serves several outputs.
#[derive(Clone, Copy, Debug)]
pub struct Multiplier {
    mult: i32,
    /// `total_shift(shift) - 1`, in `[0, 61]`.
    n: u32,
}

impl Multiplier {
    /// The zero multiplier (every product 0), a placeholder.
    pub const ZERO: Multiplier = Multiplier { mult: 0, n: 30 };

    /// The multiplier `mult * 2^(shift - 31)` (see [`requantize`]).
    #[inline(always)]
    pub fn new(mult: i32, shift: i32) -> Self {
        Multiplier {
            mult,
            n: total_shift(shift) - 1,
        }
    }

    /// `requantize(acc, mult, shift)`. The usual case (a right shift of at least
    /// 33: `shift <= -2`, multipliers below 1/4) is a few instructions; the others
    /// call [`requantize_short`].
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i32 {
        // floor((p + 2^(s-1)) / 2^s) == (floor(p / 2^(s-1)) + 1) >> 1 for integers p and
        // s >= 1 (exact: |p| <= 2^62, no overflow). One 64-bit shift by a variable
        // amount instead of two: on 32-bit targets each is a libcall at small opt-levels.
        let n = self.n;
        if n >= 32 {
            // q = floor(p / 2^n) fits an i32, and floor((q + 1) / 2) = (q >> 1) + (q & 1)
            // cannot overflow.
            let p = (acc as i64) * (self.mult as i64);
            // `n <= 61`: the shift is at most 29 (the mask costs one
            // instruction, a clamp three).
            let q = ((p >> 32) as i32) >> ((n - 32) & 31);
            return (q >> 1) + (q & 1);
        }
        requantize_short(acc, self.mult, n)
    }
}

/// [`Multiplier::apply`] for a right shift `n + 1` of at most 32 (`n` in `[0, 31]`).
#[cfg_attr(target_os = "none", inline(never))]
#[cfg_attr(not(target_os = "none"), inline)]
fn requantize_short(acc: i32, mult: i32, n: u32) -> i32 {
    let q = shr64((acc as i64) * (mult as i64), n);
    let v = (q + 1) >> 1;
    #[allow(clippy::manual_clamp)]
    let v = v.max(i32::MIN as i64).min(i32::MAX as i64);
    v as i32
}

/// The right shift of [`requantize`]'s 64-bit product: `31 - shift`, clamped to
/// `[1, 62]` (for every `i32` shift, without overflow). Also used by the SIMD
/// twins of the requantization (`kernels/neon.rs`).
#[inline(always)]
pub(crate) fn total_shift(shift: i32) -> u32 {
    // `max`/`min`, not `clamp`: the bounds are constants, and `clamp`'s assertion
    // is not always inlined away at `opt-level = "z"`.
    #[allow(clippy::manual_clamp)]
    let s = 31i32.saturating_sub(shift).max(1).min(62);
    s as u32
}

/// `p >> n` (arithmetic) for `n` in `[0, 31]`, written with 32-bit shifts so that
/// 32-bit targets do not call `__aeabi_lasr`.
#[inline(always)]
fn shr64(p: i64, n: u32) -> i64 {
    let hi = (p >> 32) as i32;
    let lo = p as u32;
    if n == 0 {
        p
    } else {
        let n = n.min(31);
        let lo = (lo >> n) | ((hi as u32) << (32 - n));
        (((hi >> n) as i64) << 32) | lo as i64
    }
}

/// Split a positive real multiplier into a Q31 `mult` and a `shift` for [`requantize`].
///
/// Returns `None` for a negative, NaN or infinite multiplier, or one too large to
/// represent (`>= 2^30`). Multipliers below `2^-32` become `(0, 0)` (the product is
/// then always 0).
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut e) = libm::frexp(real); // real = q * 2^e, q in [0.5, 1)
    let mut m = libm::round(q * (1u64 << 31) as f64) as i64;
    if m == 1i64 << 31 {
        m /= 2;
        e += 1;
    }
    if e < -31 {
        return Some((0, 0));
    }
    if e > 30 {
        return None;
    }
    Some((m as i32, e))
}

/// The value of a (`mult`, `shift`) pair as a real number.
pub fn multiplier_value(mult: i32, shift: i32) -> f64 {
    mult as f64 * libm::exp2((shift - 31) as f64)
}

/// Clamp to `[lo, hi]` and narrow to `i8` (`lo`/`hi` are always within the i8 range).
#[inline(always)]
pub fn clamp_i8(v: i32, lo: i32, hi: i32) -> i8 {
    // `max`/`min` rather than `clamp`, which asserts `lo <= hi` (callers check it).
    #[allow(clippy::manual_clamp)]
    let v = v.max(lo).min(hi).max(-128).min(127);
    v as i8
}

/// Round half to even, as ONNX `QuantizeLinear` does: the same value as
/// `libm::rintf` (round to nearest, ties to even) for every `f32`, `-0.0`, the
/// infinities and NaN included (a test compares them), without a libm call.
/// Below `2^23` in magnitude, `|x| + 2^23` lies in `[2^23, 2^24)`, where the
/// float spacing is 1, so the IEEE addition itself rounds `|x|` to an integer,
/// ties to even, and subtracting `2^23` is exact; the sign is put back (so
/// that `-0.3` gives `-0.0`). From `2^23` on, every `f32` is an integer.
#[inline(always)]
pub fn round_half_even(x: f32) -> f32 {
    const TWO_23: f32 = 8_388_608.0;
    let a = x.abs();
    if a < TWO_23 {
        ((a + TWO_23) - TWO_23).copysign(x)
    } else {
        x
    }
}

/// ONNX `QuantizeLinear` of one value: `saturate(round_half_even(x / scale) + zero_point)`.
#[inline(always)]
pub fn quantize_f32(x: f32, scale: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    let q = round_half_even(x / scale) + zero_point as f32;
    if q.is_nan() {
        // NaN quantizes to the zero point (ONNX leaves it implementation-defined).
        return zero_point.clamp(lo, hi);
    }
    // Not `f32::clamp`: its `min <= max` assertion formats floats, which links
    // ~15 KB of float formatting into Cortex-M firmware. `q` is not NaN here,
    // so max-then-min is the same saturation.
    q.max(lo as f32).min(hi as f32) as i32
}

/// ONNX `DequantizeLinear` of one value: `(q - zero_point) * scale`.
#[inline(always)]
pub fn dequantize(q: i32, scale: f32, zero_point: i32) -> f32 {
    (q as i64 - zero_point as i64) as f32 * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`round_half_even`] is `libm::rintf` bit for bit: every tie, the values
    /// around the `2^23` switch, signed zeros, infinities, NaN, and a million
    /// pseudo-random bit patterns.
    #[test]
    fn round_half_even_matches_rintf() {
        let same = |x: f32| {
            let (a, b) = (round_half_even(x), libm::rintf(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x:e}: {a:e} vs {b:e}"
            );
        };
        for i in -5000..5000 {
            same(i as f32 + 0.5);
            same(i as f32 * 0.25);
        }
        for e in 20..26 {
            let p = (1u32 << e) as f32;
            for d in -4i32..=4 {
                let v = f32::from_bits((p.to_bits() as i32 + d) as u32);
                same(v);
                same(-v);
                same(v + 0.5);
            }
        }
        for v in [
            0.0,
            -0.0,
            0.49999997,
            -0.49999997,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
        ] {
            same(v);
        }
        let mut x = 0x2545_f491u32;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            same(f32::from_bits(x));
        }
    }

    /// Golden vectors worked by hand from the formula in the module docs.
    /// Shifts outside `[-31, 30]` behave as the nearest end of the range; the
    /// extremes of `i32` used to overflow `31 - shift`.
    #[test]
    fn out_of_range_shifts_are_clamped() {
        for (acc, mult) in [
            (1000, 1 << 30),
            (-77, i32::MAX),
            (i32::MIN, i32::MIN),
            (5, 0),
        ] {
            assert_eq!(requantize(acc, mult, i32::MIN), requantize(acc, mult, -31));
            assert_eq!(requantize(acc, mult, -1000), requantize(acc, mult, -31));
            assert_eq!(requantize(acc, mult, i32::MAX), requantize(acc, mult, 30));
            assert_eq!(requantize(acc, mult, 31), requantize(acc, mult, 30));
        }
    }

    #[test]
    fn requantize_golden() {
        let half = 1 << 30; // 0.5 with shift 0
        let cases: &[(i32, i32, i32, i32)] = &[
            (100, half, 0, 50),
            (3, half, 0, 2),    // 1.5 -> 2 (half up)
            (-3, half, 0, -1),  // -1.5 -> -1 (half toward +inf)
            (5, half, 0, 3),    // 2.5 -> 3
            (-5, half, 0, -2),  // -2.5 -> -2
            (7, half, -1, 2),   // 7 * 0.25 = 1.75 -> 2
            (-7, half, -1, -2), // -1.75 -> -2
            (6, half, -2, 1),   // 6 * 0.125 = 0.75 -> 1
            (1000, half, 1, 1000),
            (i32::MAX, i32::MAX, 30, i32::MAX), // saturates
            (i32::MIN, i32::MAX, 30, i32::MIN),
            (12345, 0, 0, 0),
            // 0.3 = 1288490189 * 2^-32: 1000 * 0.3 = 300.0000000302 -> 300
            (1000, 1_288_490_189, -1, 300),
        ];
        for &(acc, m, s, want) in cases {
            assert_eq!(requantize(acc, m, s), want, "requantize({acc}, {m}, {s})");
        }
    }

    /// Every shift, with accumulators and multipliers at the extremes: the
    /// formula in exact i128 arithmetic.
    #[test]
    fn requantize_every_shift() {
        let accs = [
            i32::MIN,
            i32::MIN + 1,
            -65_536,
            -12_345,
            -3,
            -1,
            0,
            1,
            2,
            3,
            99_999,
            i32::MAX,
        ];
        let mults = [0, 1, 1 << 30, 1_288_490_189, 2_000_000_000, i32::MAX];
        let extreme = [i32::MIN, i32::MIN + 31, i32::MAX];
        for shift in (-40..=40).chain(extreme) {
            let s = (31 - shift as i64).clamp(1, 62);
            let den = 1i128 << s;
            for &acc in &accs {
                for &m in &mults {
                    let want = (acc as i128 * m as i128 + den / 2)
                        .div_euclid(den)
                        .clamp(i32::MIN as i128, i32::MAX as i128);
                    assert_eq!(requantize(acc, m, shift) as i128, want, "{acc} {m} {shift}");
                }
            }
        }
    }

    /// 200,000 pseudo-random (acc, mult, shift) against the exact formula.
    #[test]
    fn requantize_random() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let acc = (x >> 32) as i32 >> (x as u32 % 24);
            let m = (x as u32 >> 1) as i32;
            let shift = (x >> 40) as i32 % 34 - 31;
            let s = (31 - shift).clamp(1, 62);
            let den = 1i128 << s;
            let want = (acc as i128 * m as i128 + den / 2)
                .div_euclid(den)
                .clamp(i32::MIN as i128, i32::MAX as i128);
            assert_eq!(requantize(acc, m, shift) as i128, want, "{acc} {m} {shift}");
        }
    }

    #[test]
    fn multiplier_round_trip() {
        for &r in &[
            0.3f64,
            0.5,
            1.0,
            1.5,
            0.00012,
            3.0e-7,
            123.25,
            0.999_999_999_9,
        ] {
            let (m, s) = quantize_multiplier(r).expect("representable");
            assert!(m >= 1 << 30, "{r}: {m}");
            let back = multiplier_value(m, s);
            assert!(((back - r) / r).abs() < 1e-9, "{r} -> {back}");
        }
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        assert_eq!(quantize_multiplier(1e-20), Some((0, 0)));
        assert_eq!(quantize_multiplier(2e9), None);
    }

    #[test]
    fn requantize_matches_exact_rational() {
        // Exhaustive over a grid: compare with exact i128 arithmetic of the formula.
        for &(m, s) in &[
            (1 << 30, 0),
            (1_288_490_189, -1),
            (2_000_000_000, -7),
            (1_500_000_000, 3),
        ] {
            for acc in (-100_000..100_000).step_by(7) {
                let num = acc as i128 * m as i128;
                let den = 1i128 << (31 - s);
                // floor((num + den/2) / den)
                let want = (num + den / 2).div_euclid(den);
                assert_eq!(requantize(acc, m, s) as i128, want);
            }
        }
    }

    #[test]
    fn onnx_quantize_rounds_half_even() {
        assert_eq!(quantize_f32(2.5, 1.0, 0, -128, 127), 2);
        assert_eq!(quantize_f32(3.5, 1.0, 0, -128, 127), 4);
        assert_eq!(quantize_f32(-2.5, 1.0, 0, -128, 127), -2);
        assert_eq!(quantize_f32(1000.0, 1.0, 0, -128, 127), 127);
        assert_eq!(quantize_f32(f32::NAN, 1.0, 3, -128, 127), 3);
        assert_eq!(quantize_f32(f32::NEG_INFINITY, 1.0, 3, 0, 255), 0);
    }
}
