//! Data augmentation for 28x28 digits: a random affine warp (shift, small
//! rotation, scale: a "random resized crop" at MNIST scale) and brightness /
//! contrast jitter, deterministic by seed. Never flips: a mirrored digit is
//! another glyph (or none), so flips would teach wrong labels.

use crate::mnist::PIXELS;
use crate::rng::SplitMix64;

/// Augmentation strengths. `Augment::none()` is the identity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Largest shift in pixels, each axis.
    pub max_shift: f32,
    /// Largest rotation in degrees, either way.
    pub max_rotate_deg: f32,
    /// Largest relative zoom in or out (0.1 = 90%..110%).
    pub max_scale: f32,
    /// Largest brightness offset as a fraction of full scale.
    pub brightness: f32,
    /// Largest relative contrast change.
    pub contrast: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            max_shift: 2.0,
            max_rotate_deg: 10.0,
            max_scale: 0.1,
            brightness: 0.1,
            contrast: 0.2,
        }
    }
}

impl Augment {
    pub fn none() -> Self {
        Augment {
            max_shift: 0.0,
            max_rotate_deg: 0.0,
            max_scale: 0.0,
            brightness: 0.0,
            contrast: 0.0,
        }
    }

    /// Augment one 28x28 image (`img` must hold at least 784 bytes; missing
    /// pixels read as background).
    pub fn apply(&self, img: &[u8], rng: &mut SplitMix64) -> [u8; PIXELS] {
        let angle = rng
            .range_f32(-self.max_rotate_deg, self.max_rotate_deg)
            .to_radians();
        let scale = 1.0 + rng.range_f32(-self.max_scale, self.max_scale);
        let (dx, dy) = (
            rng.range_f32(-self.max_shift, self.max_shift),
            rng.range_f32(-self.max_shift, self.max_shift),
        );
        let bright = rng.range_f32(-self.brightness, self.brightness) * 255.0;
        let contrast = 1.0 + rng.range_f32(-self.contrast, self.contrast);
        let (sin, cos) = angle.sin_cos();
        let c = 13.5f32;
        let mut out = [0u8; PIXELS];
        for (i, o) in out.iter_mut().enumerate() {
            let (ox, oy) = ((i % 28) as f32 - c - dx, (i / 28) as f32 - c - dy);
            // Inverse warp: output pixel -> source position.
            let sx = (cos * ox + sin * oy) / scale + c;
            let sy = (-sin * ox + cos * oy) / scale + c;
            let v = bilinear(img, 28, 28, sx, sy);
            let v = v * contrast + bright;
            *o = v.round().clamp(0.0, 255.0) as u8;
        }
        out
    }
}

/// Bilinear sample of a `width` x `height` row-major image at `(x, y)`, where
/// pixel `(i, j)` has its centre at `(i, j)`. Pixels outside the image (or
/// missing from a short slice) read as background (0). Shared by the
/// augmentation warp and the scene generator's digit scaling.
pub(crate) fn bilinear(img: &[u8], width: usize, height: usize, x: f32, y: f32) -> f32 {
    let px = |x: i32, y: i32| -> f32 {
        if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
            img.get(y as usize * width + x as usize)
                .copied()
                .unwrap_or(0) as f32
        } else {
            0.0
        }
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i32, y0 as i32);
    px(x0, y0) * (1.0 - fx) * (1.0 - fy)
        + px(x0 + 1, y0) * fx * (1.0 - fy)
        + px(x0, y0 + 1) * (1.0 - fx) * fy
        + px(x0 + 1, y0 + 1) * fx * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::vendored_subset;

    #[test]
    fn none_is_identity() {
        let s = vendored_subset().unwrap();
        let mut rng = SplitMix64::new(1);
        for i in 0..20 {
            let img = s.image(i).unwrap();
            let a = Augment::none().apply(img, &mut rng);
            // Contrast 1 and brightness 0 map every pixel to itself.
            assert_eq!(&a[..], img);
        }
    }

    #[test]
    fn deterministic_by_seed_and_keeps_the_digit() {
        let s = vendored_subset().unwrap();
        let aug = Augment::default();
        for i in 0..50 {
            let img = s.image(i).unwrap();
            let a = aug.apply(img, &mut SplitMix64::new(i as u64));
            let b = aug.apply(img, &mut SplitMix64::new(i as u64));
            assert_eq!(a, b);
            // The digit stays mostly in frame: ink mass changes by less than half.
            let ink = |v: &[u8]| v.iter().map(|&p| p as f32).sum::<f32>();
            let (before, after) = (ink(img), ink(&a));
            assert!(
                after > 0.5 * before && after < 1.5 * before + 0.1 * 255.0 * 784.0,
                "{i}: {before} -> {after}"
            );
            // And its centre of mass moves by at most the shift plus a little.
            let com = |v: &[u8]| {
                let m = ink(v).max(1.0);
                let x: f32 = v
                    .iter()
                    .enumerate()
                    .map(|(k, &p)| (k % 28) as f32 * p as f32)
                    .sum();
                x / m
            };
            assert!((com(img) - com(&a)).abs() < aug.max_shift + 3.0);
        }
    }
}
