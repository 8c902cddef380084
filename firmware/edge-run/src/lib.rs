//! The library half of `edge-run`: frame sources (simulated cameras, image
//! files, V4L2 cameras), the preprocessing that turns a frame into a model
//! input, and the annotated images of `--save`. The
//! binary (`src/main.rs`) is the CLI; the fuzz targets (`fuzz/`) call the
//! image decode path here directly.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod annotate;
pub mod board;
pub mod camera;
pub mod qemu;
pub mod source;

use anyhow::{Result, bail};
use edgerun_compiler::Tensor;
use source::Frame;

/// The largest model input (elements) [`preprocess`] fills from an image.
pub const MAX_INPUT_ELEMS: usize = 1 << 26;

/// Resize a grayscale frame (bilinear) to the model's input `shape` and scale
/// to [0, 1]. A frame whose pixel count disagrees with its size, an empty
/// frame, or an input shape that is not an image (or whose size overflows) is
/// an error; a 1x1 frame is a uniform image.
pub fn preprocess(f: &Frame, shape: &[usize]) -> Result<Tensor> {
    let (c, h, w) = match shape {
        [1, c, h, w] => (*c, *h, *w),
        [1, h, w] => (1, *h, *w),
        [1, n] if *n == 784 => (1, 28, 28),
        _ => bail!("cannot feed images to an input of shape {shape:?}"),
    };
    let total = c.checked_mul(h).and_then(|n| n.checked_mul(w));
    let Some(total) = total.filter(|&n| n <= MAX_INPUT_ELEMS) else {
        bail!("the input shape {shape:?} is too large for an image");
    };
    if f.width.checked_mul(f.height) != Some(f.pixels.len()) || f.width == 0 || f.height == 0 {
        bail!("{}: bad frame", f.name);
    }
    let mut plane = Vec::with_capacity(h * w);
    let (max_x, max_y) = ((f.width - 1) as f32, (f.height - 1) as f32);
    for y in 0..h {
        let sy = ((y as f32 + 0.5) * f.height as f32 / h as f32 - 0.5).clamp(0.0, max_y);
        let y0 = sy.floor() as usize;
        let y1 = (y0 + 1).min(f.height - 1);
        let fy = sy - y0 as f32;
        let (row0, row1) = (row(f, y0)?, row(f, y1)?);
        for x in 0..w {
            let sx = ((x as f32 + 0.5) * f.width as f32 / w as f32 - 0.5).clamp(0.0, max_x);
            let x0 = sx.floor() as usize;
            let x1 = (x0 + 1).min(f.width - 1);
            let fx = sx - x0 as f32;
            let p = |r: &[u8], xx: usize| r.get(xx).map_or(0.0, |&v| v as f32);
            let v = p(row0, x0) * (1.0 - fx) * (1.0 - fy)
                + p(row0, x1) * fx * (1.0 - fy)
                + p(row1, x0) * (1.0 - fx) * fy
                + p(row1, x1) * fx * fy;
            plane.push(v / 255.0);
        }
    }
    let mut data = Vec::with_capacity(total);
    for _ in 0..c {
        data.extend_from_slice(&plane);
    }
    Ok(Tensor::f32(shape.to_vec(), data))
}

/// Row `y` of a frame whose size was checked against its pixels.
fn row(f: &Frame, y: usize) -> Result<&[u8]> {
    let start = y * f.width;
    match f.pixels.get(start..start + f.width) {
        Some(r) => Ok(r),
        None => bail!("{}: row {y} is outside the frame", f.name),
    }
}

/// Latency percentiles in constant memory, for a camera that never stops: a
/// histogram of log-spaced bins, [`Latencies::BINS_PER_DECADE`] per factor of
/// 10 from 1 µs to 100 s (1.2% wide), so a percentile is within 1.2% of the
/// exact one. Keeping every latency instead grows by 8 bytes a frame.
#[derive(Debug, Clone)]
pub struct Latencies {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            counts: vec![0; Self::BINS_PER_DECADE * Self::DECADES],
            n: 0,
        }
    }
}

impl Latencies {
    pub const BINS_PER_DECADE: usize = 200;
    const DECADES: usize = 8;
    /// The lower edge of bin 0, in milliseconds (1 µs).
    const MIN_MS: f64 = 1e-3;

    /// Record one latency in milliseconds (below 1 µs counts as 1 µs, above
    /// 100 s as 100 s, NaN as 1 µs).
    pub fn add(&mut self, ms: f64) {
        let bin = ((ms / Self::MIN_MS).log10() * Self::BINS_PER_DECADE as f64).floor();
        // `as` saturates: NaN and negatives give 0.
        let bin = (bin as usize).min(self.counts.len() - 1);
        if let Some(c) = self.counts.get_mut(bin) {
            *c += 1;
            self.n += 1;
        }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The `p` quantile (0..=1) in milliseconds: the geometric centre of the
    /// bin holding the sample of rank `round((n - 1) * p)`; 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((self.n - 1) as f64 * p.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0u64;
        for (bin, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                let exp = (bin as f64 + 0.5) / Self::BINS_PER_DECADE as f64;
                return Self::MIN_MS * 10f64.powf(exp);
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_are_within_a_bin_of_exact() {
        let mut h = Latencies::default();
        assert_eq!(h.percentile(0.5), 0.0);
        // 1000 latencies from 0.01 ms to 10 ms, log-uniform.
        let exact: Vec<f64> = (0..1000)
            .map(|i| 10f64.powf(-2.0 + 3.0 * i as f64 / 999.0))
            .collect();
        for &v in exact.iter().rev() {
            h.add(v);
        }
        assert_eq!(h.len(), 1000);
        for p in [0.0_f64, 0.5, 0.95, 1.0] {
            let want = exact[(999.0_f64 * p).round() as usize];
            let got = h.percentile(p);
            assert!((got / want - 1.0).abs() < 0.012, "p{p}: {got} vs {want}");
        }
        // Out of range and NaN land in the end bins instead of panicking.
        for v in [0.0, -1.0, f64::NAN, 1e12, f64::INFINITY] {
            h.add(v);
        }
        assert_eq!(h.len(), 1005);
        assert!(h.percentile(1.0) > 9e4);
    }

    fn frame(width: usize, height: usize, pixels: Vec<u8>) -> Frame {
        Frame {
            name: "t".into(),
            width,
            height,
            pixels,
            label: None,
            boxes: None,
        }
    }

    #[test]
    fn one_pixel_frame_is_uniform() {
        let t = preprocess(&frame(1, 1, vec![51]), &[1, 1, 28, 28]).unwrap();
        let v = t.to_f32();
        assert_eq!(v.len(), 784);
        assert!(v.iter().all(|&x| x == 51.0 / 255.0), "{v:?}");
    }

    #[test]
    fn resize_matches_hand_computed_bilinear() {
        // 2x1 -> 4x1: sample centres at x = -0.25, 0.25, 0.75, 1.25 in source
        // pixels, clamped to [0, 1]: 0, 0.25, 0.75, 1 of the way from 0 to 255.
        let t = preprocess(&frame(2, 1, vec![0, 255]), &[1, 1, 4]).unwrap();
        assert_eq!(t.to_f32(), [0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn bad_frames_and_shapes_are_errors() {
        assert!(preprocess(&frame(0, 0, vec![]), &[1, 1, 28, 28]).is_err());
        assert!(preprocess(&frame(2, 2, vec![0; 3]), &[1, 1, 28, 28]).is_err());
        assert!(preprocess(&frame(usize::MAX, 2, vec![0; 3]), &[1, 1, 28, 28]).is_err());
        let one = frame(1, 1, vec![0]);
        assert!(preprocess(&one, &[1, 10]).is_err());
        assert!(preprocess(&one, &[2, 1, 28, 28]).is_err());
        assert!(preprocess(&one, &[1, usize::MAX, 2, 2]).is_err());
        assert!(preprocess(&one, &[1, 1, 1 << 14, 1 << 14]).is_err());
    }
}
