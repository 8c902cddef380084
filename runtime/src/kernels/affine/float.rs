//! Per-channel affine over `[outer][channels][inner]`:
//! `y = act(x * scale[c] + shift[c])` (a multiply then an add, no fused multiply-add).

use crate::error::Error;
use crate::format::schema::ChannelAffineF32;
use crate::kernels::{check_len, prod};

/// Element counts `(channels, tensor)` = `(channels, outer * channels * inner)`.
/// Every dimension must be nonzero ([`Error::InvalidParameter`]).
pub fn channel_affine_lens(p: &ChannelAffineF32) -> Result<(usize, usize), Error> {
    if p.outer == 0 || p.channels == 0 || p.inner == 0 {
        return Err(Error::InvalidParameter);
    }
    Ok((p.channels as usize, prod(&[p.outer, p.channels, p.inner])?))
}

/// f32 per-channel affine (standalone BatchNormalization folded by the compiler).
/// `scale` and `shift` hold `channels` values, `input` and `out` the whole tensor,
/// exactly ([`Error::BadGeometry`] otherwise).
pub fn channel_affine_f32(
    p: &ChannelAffineF32,
    scale: &[f32],
    shift: &[f32],
    input: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    let (channels, len) = channel_affine_lens(p)?;
    check_len(scale.len(), channels)?;
    check_len(shift.len(), channels)?;
    check_len(input.len(), len)?;
    check_len(out.len(), len)?;
    let inner = p.inner as usize;
    let block = len / p.outer as usize;
    for (x_block, out_block) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        let planes = x_block
            .chunks_exact(inner)
            .zip(out_block.chunks_exact_mut(inner));
        for ((x_plane, out_plane), (&s, &t)) in planes.zip(scale.iter().zip(shift)) {
            for (o, &x) in out_plane.iter_mut().zip(x_plane) {
                *o = p.act.apply(x * s + t);
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

    fn params(outer: u32, channels: u32, inner: u32, act: ClampF32) -> ChannelAffineF32 {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        ChannelAffineF32 {
            outer,
            channels,
            inner,
            scale: buf,
            shift: buf,
            input: buf,
            output: buf,
            act,
        }
    }

    /// [outer 2][c 2][inner 2], scale [2, -1], shift [1, 0.5], clamp [-10, 10]:
    /// channel 0: 2x + 1, channel 1: -x + 0.5.
    #[test]
    fn hand_values() {
        let p = params(
            2,
            2,
            2,
            ClampF32 {
                min: -10.0,
                max: 10.0,
            },
        );
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 20.0];
        let mut out = [0.0f32; 8];
        channel_affine_f32(&p, &[2.0, -1.0], &[1.0, 0.5], &x, &mut out).unwrap();
        assert_eq!(out, [3.0, 5.0, -2.5, -3.5, 10.0, 10.0, -6.5, -10.0]);
    }

    #[test]
    fn errors() {
        let p = params(2, 2, 2, ClampF32::NONE);
        let (x, mut out) = ([0.0f32; 8], [0.0f32; 8]);
        let bad = Err(Error::BadGeometry);
        assert_eq!(channel_affine_f32(&p, &[1.0], &[0.0; 2], &x, &mut out), bad);
        assert_eq!(
            channel_affine_f32(&p, &[1.0; 2], &[0.0; 3], &x, &mut out),
            bad
        );
        assert_eq!(
            channel_affine_f32(&p, &[1.0; 2], &[0.0; 2], &x[1..], &mut out),
            bad
        );
        assert_eq!(
            channel_affine_f32(&p, &[1.0; 2], &[0.0; 2], &x, &mut out[1..]),
            bad
        );
        assert_eq!(
            channel_affine_lens(&params(1, 0, 1, ClampF32::NONE)),
            Err(Error::InvalidParameter)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Against a per-element reference that recovers the channel of flat index
        /// `i` as `(i / inner) % channels`.
        #[test]
        fn matches_reference(outer in 1u32..=3, channels in 1u32..=5, inner in 1u32..=7, seed: u64) {
            let p = params(outer, channels, inner, ClampF32 { min: -0.5, max: f32::INFINITY });
            let (c, len) = channel_affine_lens(&p).unwrap();
            let mut s = seed;
            let mut next = || {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            };
            let scale: Vec<f32> = (0..c).map(|_| next()).collect();
            let shift: Vec<f32> = (0..c).map(|_| next()).collect();
            let x: Vec<f32> = (0..len).map(|_| next()).collect();
            let mut out = vec![f32::NAN; len];
            channel_affine_f32(&p, &scale, &shift, &x, &mut out).unwrap();
            let want: Vec<f32> = x
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ch = (i / inner as usize) % c;
                    p.act.apply(v * scale[ch] + shift[ch])
                })
                .collect();
            prop_assert_eq!(out, want);
        }
    }
}
