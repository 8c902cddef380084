//! f32 element-wise unary ops: `out[i] = act(f(in[i]))`.

use crate::error::Error;
use crate::format::schema::{ClampF32, UnaryF32, UnaryKind};
use crate::kernels::check_len;

/// Logistic sigmoid `1 / (1 + e^-x)`, computed without overflow: for `x < 0` as
/// `e^x / (1 + e^x)`, so `exp` only ever sees non-positive arguments (no `inf / inf`).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

fn map(input: &[f32], out: &mut [f32], act: ClampF32, f: impl Fn(f32) -> f32) {
    for (o, &x) in out.iter_mut().zip(input) {
        *o = act.apply(f(x));
    }
}

/// f32 unary op: `Clamp` (only `act`: Relu, Clip, Identity), `Sigmoid` (see
/// [`sigmoid`]), `Tanh`, `Exp` (libm), `Neg`, `Abs`; then `act`. `input` and `out`
/// must both hold exactly `p.len` elements ([`Error::BadGeometry`] otherwise).
pub fn unary_f32(p: &UnaryF32, input: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check_len(input.len(), p.len as usize)?;
    check_len(out.len(), p.len as usize)?;
    match p.kind {
        UnaryKind::Clamp => map(input, out, p.act, |x| x),
        UnaryKind::Sigmoid => map(input, out, p.act, sigmoid),
        UnaryKind::Tanh => map(input, out, p.act, libm::tanhf),
        UnaryKind::Exp => map(input, out, p.act, libm::expf),
        UnaryKind::Neg => map(input, out, p.act, |x| -x),
        UnaryKind::Abs => map(input, out, p.act, f32::abs),
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

    fn params(kind: UnaryKind, len: u32, act: ClampF32) -> UnaryF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        UnaryF32 {
            kind,
            len,
            input: buf,
            output: buf,
            act,
        }
    }

    fn run(kind: UnaryKind, act: ClampF32, x: &[f32]) -> Vec<f32> {
        let mut out = vec![f32::NAN; x.len()];
        unary_f32(&params(kind, x.len() as u32, act), x, &mut out).unwrap();
        out
    }

    #[test]
    fn hand_values() {
        let x = [-2.0, -0.5, 0.0, 1.5];
        let none = ClampF32::NONE;
        let relu6 = ClampF32 { min: 0.0, max: 6.0 };
        assert_eq!(
            run(UnaryKind::Clamp, relu6, &[-1.0, 3.0, 7.0]),
            [0.0, 3.0, 6.0]
        );
        assert_eq!(run(UnaryKind::Neg, none, &x), [2.0, 0.5, -0.0, -1.5]);
        assert_eq!(run(UnaryKind::Abs, relu6, &x), [2.0, 0.5, 0.0, 1.5]);
        assert_eq!(
            run(UnaryKind::Exp, none, &[0.0, 1.0]),
            [1.0, core::f32::consts::E]
        );
        assert_eq!(run(UnaryKind::Sigmoid, none, &[0.0]), [0.5]);
        let t = run(UnaryKind::Tanh, none, &[0.5, -0.5]);
        assert!((t[0] - 0.462_117_16).abs() < 1e-7 && t[1] == -t[0]);
        // sigmoid(2) = 0.880797, sigmoid(-2) = 0.119203
        let s = run(UnaryKind::Sigmoid, none, &[2.0, -2.0]);
        assert!((s[0] - 0.880_797_1).abs() < 1e-7 && (s[1] - 0.119_202_92).abs() < 1e-7);
    }

    /// No inf/inf or overflow at the extremes.
    #[test]
    fn sigmoid_is_stable() {
        let s = run(
            UnaryKind::Sigmoid,
            ClampF32::NONE,
            &[
                -1000.0,
                -100.0,
                100.0,
                1000.0,
                f32::NEG_INFINITY,
                f32::INFINITY,
            ],
        );
        assert_eq!(s[0], 0.0);
        assert!(s[1] > 0.0 && s[1] < 1e-40); // e^-100 ~ 3.7e-44 (subnormal), not 0/NaN
        assert_eq!([s[2], s[3], s[4], s[5]], [1.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn errors() {
        let p = params(UnaryKind::Abs, 3, ClampF32::NONE);
        let mut out = [0.0f32; 3];
        assert_eq!(unary_f32(&p, &[0.0; 2], &mut out), Err(Error::BadGeometry));
        assert_eq!(
            unary_f32(&p, &[0.0; 3], &mut out[1..]),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            unary_f32(&params(UnaryKind::Abs, 0, ClampF32::NONE), &[], &mut []),
            Ok(())
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Against f64 formulas (sigmoid via tanh: `(1 + tanh(x / 2)) / 2`).
        #[test]
        fn matches_f64(x in proptest::collection::vec(-60.0f32..60.0, 1..40)) {
            let none = ClampF32::NONE;
            let sig = run(UnaryKind::Sigmoid, none, &x);
            let tanh = run(UnaryKind::Tanh, none, &x);
            let exp = run(UnaryKind::Exp, none, &x);
            for (i, &v) in x.iter().enumerate() {
                let v = v as f64;
                let want_sig = (1.0 + (v / 2.0).tanh()) / 2.0;
                prop_assert!((sig[i] as f64 - want_sig).abs() <= 1e-7 + 1e-6 * want_sig, "sigmoid({v})");
                prop_assert!((tanh[i] as f64 - v.tanh()).abs() <= 1e-6, "tanh({v})");
                prop_assert!((exp[i] as f64 - v.exp()).abs() <= 1e-6 * v.exp(), "exp({v})");
            }
        }
    }
}
