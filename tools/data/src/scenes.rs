//! Detection scenes made of real MNIST digits: square grayscale canvases with
//! a few digits at random scales and positions (partial overlap allowed) on a
//! cluttered background, with a tight box and the MNIST label for each digit.
//!
//! Every scene is a pure function of `(seed, index)` ([`render_scene`]), so a
//! trainer can draw scene `i` again every epoch instead of keeping a data set in
//! memory, and `scenes(.., count)` gives the same first scenes for any `count`.
//!
//! # Digits
//!
//! Each digit's ink box (pixels above [`INK_THRESHOLD`]) is cropped from its
//! 28x28 MNIST image with a 1-pixel margin and scaled bilinearly, keeping the
//! aspect ratio, so that its ink height lands in
//! `[min_digit_px, max_digit_px]`. It goes at a random position with its ink
//! fully inside the canvas. A digit whose box overlaps an earlier one by more
//! than `max_iou` (IoU), or that would cover more than `2 * max_iou` of the
//! smaller box's area (so a small digit is never hidden inside a large one),
//! is drawn again (another digit, size and position), at most
//! [`PLACEMENT_TRIES`] times, then dropped. Digits are composited with `max()`.
//!
//! # Boxes
//!
//! [`GtBox`] is the ink extent of the pasted digit: the smallest pixel
//! rectangle holding every pixel of that digit above [`INK_THRESHOLD`].
//!
//! # Clutter (`clutter: true`)
//!
//! So that the background is not trivially black, a scene gets, in this order:
//! - low-amplitude noise everywhere: a per-scene level plus per-pixel noise,
//!   at most [`NOISE_MAX`] (below the ink threshold, so it never changes what
//!   counts as ink);
//! - 1-3 thin straight strokes of 6-20 px at brightness 64-160;
//! - 1-3 fragments of other digits of the same split: crops of at most
//!   [`MAX_FRAGMENT_PX`] x [`MAX_FRAGMENT_PX`] px at MNIST's own scale (smaller
//!   than the smallest digit).
//!
//! Strokes and fragments are drawn only **outside** every digit box grown by
//! [`CLUTTER_MARGIN`] pixels: inside the boxes only the sub-threshold noise
//! differs from a clutter-free scene, so clutter never changes a box. The
//! digits, their boxes and their pixels come from a random stream separate
//! from the clutter's: turning clutter off gives the same digits and boxes.

use crate::DataError;
use crate::augment::bilinear;
use crate::mnist::{Mnist, PIXELS, Split};
use crate::rng::SplitMix64;
use edgerun::detect::{Box as Rect, iou};

/// A pixel is ink when its value is above this (on 0..=255).
pub const INK_THRESHOLD: u8 = 32;
/// The largest value of the background noise (below [`INK_THRESHOLD`]).
pub const NOISE_MAX: u8 = 24;
/// How many times a digit is redrawn before it is dropped.
pub const PLACEMENT_TRIES: u32 = 50;
/// Strokes and fragments keep this many pixels away from every digit box.
pub const CLUTTER_MARGIN: usize = 2;
/// The largest side of a digit fragment in the clutter.
pub const MAX_FRAGMENT_PX: usize = 8;

const MNIST_SIDE: usize = 28;

/// What scenes look like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneConfig {
    /// Canvas side in pixels.
    pub size: u32,
    /// Digits per scene (a digit that finds no place is dropped, see the
    /// module docs, so a crowded scene can hold fewer than `min_digits`).
    pub min_digits: u32,
    pub max_digits: u32,
    /// Range of the digits' ink heights in pixels.
    pub min_digit_px: f32,
    pub max_digit_px: f32,
    /// Largest IoU allowed between two digit boxes.
    pub max_iou: f32,
    /// Background noise, strokes and digit fragments (see the module docs).
    pub clutter: bool,
}

impl Default for SceneConfig {
    fn default() -> Self {
        SceneConfig {
            size: 96,
            min_digits: 1,
            max_digits: 5,
            min_digit_px: 12.0,
            max_digit_px: 56.0,
            max_iou: 0.2,
            clutter: true,
        }
    }
}

impl SceneConfig {
    /// Check that scenes can be drawn with this configuration.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::SceneConfig(m));
        if !(16..=4096).contains(&self.size) {
            return bad(format!("size {} is not in 16..=4096", self.size));
        }
        if self.min_digits == 0 || self.min_digits > self.max_digits || self.max_digits > 100 {
            return bad(format!(
                "digits per scene {}..={} (need 1 <= min <= max <= 100)",
                self.min_digits, self.max_digits
            ));
        }
        let (lo, hi) = (self.min_digit_px, self.max_digit_px);
        if !(lo >= 4.0 && lo <= hi && hi <= self.size as f32) {
            return bad(format!(
                "digit heights {lo}..={hi} px (need 4 <= min <= max <= size {})",
                self.size
            ));
        }
        if !(0.0..=1.0).contains(&self.max_iou) {
            return bad(format!("max_iou {} is not in [0, 1]", self.max_iou));
        }
        Ok(())
    }
}

/// Pixel coordinates on the canvas; the box covers columns `x0..x1` and rows
/// `y0..y1` (`x1`, `y1` exclusive), tight around the digit's ink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    pub class: u8,
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl GtBox {
    fn rect(&self) -> Rect {
        Rect::new(self.x0, self.y0, self.x1, self.y1)
    }
}

/// Seed of the detection test scenes (MNIST-test digits): `edge-tools eval
/// DETECTOR --data scenes-test` and `edge-run ... sim:scenes` replay scenes
/// `0..N` of this stream.
pub const TEST_SEED: u64 = 20_261_128;

/// `size * size` grayscale, row-major, MNIST polarity (ink bright on dark).
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub pixels: Vec<u8>,
    pub boxes: Vec<GtBox>,
}

/// The split scenes of a data split take their digits from: MNIST-train for
/// training scenes, MNIST-test for test scenes.
pub fn scenes_split(mnist: &Mnist, train: bool) -> &Split {
    if train { &mnist.train } else { &mnist.test }
}

/// The ink extent `[x0, y0, x1, y1]` (exclusive ends) of the pixels above
/// [`INK_THRESHOLD`] inside `region` (`[x0, y0, x1, y1]`, clipped to the image)
/// of a row-major image `width` pixels wide; `None` if there is no ink.
pub fn ink_extent(pixels: &[u8], width: usize, region: [usize; 4]) -> Option<[usize; 4]> {
    let height = pixels.len().checked_div(width)?;
    let [rx0, ry0, rx1, ry1] = region;
    let (rx1, ry1) = (rx1.min(width), ry1.min(height));
    let mut ext: Option<[usize; 4]> = None;
    for y in ry0..ry1 {
        let row = pixels.get(y * width + rx0..y * width + rx1.max(rx0))?;
        for (dx, _) in row.iter().enumerate().filter(|(_, p)| **p > INK_THRESHOLD) {
            let x = rx0 + dx;
            ext = Some(match ext {
                None => [x, y, x + 1, y + 1],
                Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)],
            });
        }
    }
    ext
}

/// A scaled digit: `w * h` pixels and the ink extent in them.
struct Patch {
    w: usize,
    h: usize,
    px: Vec<u8>,
    ink: [usize; 4],
}

/// Scale a 28x28 digit so that its ink is about `ink_height` px high.
fn scaled_digit(img: &[u8], ink_height: f32) -> Option<Patch> {
    let [sx0, sy0, sx1, sy1] = ink_extent(img, MNIST_SIDE, [0, 0, MNIST_SIDE, MNIST_SIDE])?;
    let s = ink_height / (sy1 - sy0) as f32;
    // The crop: the ink box plus a 1-pixel margin for the anti-aliased edge.
    let (cx0, cy0) = (sx0 as f32 - 1.0, sy0 as f32 - 1.0);
    let w = ((sx1 - sx0 + 2) as f32 * s).ceil() as usize;
    let h = ((sy1 - sy0 + 2) as f32 * s).ceil() as usize;
    let mut px = vec![0u8; w * h];
    for (k, p) in px.iter_mut().enumerate() {
        // Output pixel centre (u + 0.5) in edge coordinates -> source edge
        // coordinate -> source pixel-centre coordinate (minus 0.5).
        let (u, v) = ((k % w) as f32, (k / w) as f32);
        let x = cx0 + (u + 0.5) / s - 0.5;
        let y = cy0 + (v + 0.5) / s - 0.5;
        *p = bilinear(img, MNIST_SIDE, MNIST_SIDE, x, y)
            .round()
            .clamp(0.0, 255.0) as u8;
    }
    let ink = ink_extent(&px, w, [0, 0, w, h])?;
    Some(Patch { w, h, px, ink })
}

/// The random stream of scene `index`: independent of every other index.
fn scene_rng(seed: u64, index: u64) -> SplitMix64 {
    let k = SplitMix64::new(index ^ 0x5ce4_e5ce_4e5c_e4e5).next_u64();
    SplitMix64::new(SplitMix64::new(seed ^ k).next_u64())
}

fn too_close(a: &Rect, b: &Rect, max_iou: f32) -> bool {
    let (ix, iy) = (
        a.x1.min(b.x1) - a.x0.max(b.x0),
        a.y1.min(b.y1) - a.y0.max(b.y0),
    );
    let inter = ix.max(0.0) * iy.max(0.0);
    let smaller = a.area().min(b.area());
    iou(a, b) > max_iou || inter > (2.0 * max_iou).min(1.0) * smaller
}

fn check_split(digits: &Split) -> Result<(), DataError> {
    if digits.n == 0 {
        return Err(DataError::EmptySplit);
    }
    if digits.images.len() < digits.n * PIXELS || digits.labels.len() < digits.n {
        return Err(DataError::CountMismatch {
            images: digits.images.len() / PIXELS,
            labels: digits.labels.len(),
        });
    }
    Ok(())
}

/// A random digit of the split: its image and label.
fn random_digit<'a>(digits: &'a Split, rng: &mut SplitMix64) -> Option<(&'a [u8], u8)> {
    let i = (rng.next_u64() % digits.n as u64) as usize;
    Some((digits.image(i)?, *digits.labels.get(i)?))
}

/// Render scene `index` of the stream `seed`. Deterministic in `(seed, index)`
/// alone, independent of how many scenes are generated.
pub fn render_scene(
    digits: &Split,
    cfg: &SceneConfig,
    seed: u64,
    index: u64,
) -> Result<Scene, DataError> {
    cfg.validate()?;
    check_split(digits)?;
    let mut root = scene_rng(seed, index);
    let mut rng = SplitMix64::new(root.next_u64());
    let mut clutter_rng = SplitMix64::new(root.next_u64());
    let size = cfg.size as usize;
    let mut pixels = vec![0u8; size * size];
    let mut boxes: Vec<GtBox> = Vec::new();
    let count = rng.range_i32(cfg.min_digits as i32, cfg.max_digits as i32);
    for _ in 0..count {
        for _ in 0..PLACEMENT_TRIES {
            let Some((img, class)) = random_digit(digits, &mut rng) else {
                continue;
            };
            let target = rng.range_f32(cfg.min_digit_px, cfg.max_digit_px);
            let Some(p) = scaled_digit(img, target) else {
                continue; // no ink at all
            };
            let [ix0, iy0, ix1, iy1] = p.ink;
            let ink_h = (iy1 - iy0) as f32;
            if ink_h < cfg.min_digit_px || ink_h > cfg.max_digit_px || ix1 - ix0 > size {
                continue;
            }
            // Offset of the patch on the canvas, with the ink fully inside.
            let (ix0, iy0, ix1, iy1) = (ix0 as i32, iy0 as i32, ix1 as i32, iy1 as i32);
            let ox = rng.range_i32(-ix0, size as i32 - ix1);
            let oy = rng.range_i32(-iy0, size as i32 - iy1);
            let b = GtBox {
                class,
                x0: (ox + ix0) as f32,
                y0: (oy + iy0) as f32,
                x1: (ox + ix1) as f32,
                y1: (oy + iy1) as f32,
            };
            if boxes
                .iter()
                .any(|o| too_close(&o.rect(), &b.rect(), cfg.max_iou))
            {
                continue;
            }
            paste_max(&mut pixels, size, &p, ox, oy);
            boxes.push(b);
            break;
        }
    }
    if cfg.clutter {
        add_clutter(&mut pixels, size, &boxes, digits, &mut clutter_rng);
    }
    Ok(Scene { pixels, boxes })
}

/// `canvas = max(canvas, patch)` with the patch's top left at `(ox, oy)`;
/// whatever falls outside the canvas is cut.
fn paste_max(canvas: &mut [u8], size: usize, p: &Patch, ox: i32, oy: i32) {
    for v in 0..p.h {
        for u in 0..p.w {
            let (x, y) = (ox + u as i32, oy + v as i32);
            if x < 0 || y < 0 || x as usize >= size || y as usize >= size {
                continue;
            }
            if let (Some(c), Some(&s)) = (
                canvas.get_mut(y as usize * size + x as usize),
                p.px.get(v * p.w + u),
            ) {
                *c = (*c).max(s);
            }
        }
    }
}

/// Noise, strokes and digit fragments (see the module docs).
fn add_clutter(
    pixels: &mut [u8],
    size: usize,
    boxes: &[GtBox],
    digits: &Split,
    rng: &mut SplitMix64,
) {
    // Where strokes and fragments may go: outside every box plus the margin.
    let mut free = vec![true; size * size];
    for b in boxes {
        let m = CLUTTER_MARGIN as f32;
        let x0 = (b.x0 - m).max(0.0) as usize;
        let y0 = (b.y0 - m).max(0.0) as usize;
        let x1 = ((b.x1 + m) as usize).min(size);
        let y1 = ((b.y1 + m) as usize).min(size);
        for y in y0..y1 {
            if let Some(row) = free.get_mut(y * size + x0..y * size + x1.max(x0)) {
                row.fill(false);
            }
        }
    }
    let mut layer = vec![0u8; size * size];
    let level = rng.range_i32(0, NOISE_MAX as i32 / 2);
    for p in layer.iter_mut() {
        *p = (level + rng.range_i32(0, NOISE_MAX as i32 / 2)) as u8;
    }
    let put = |layer: &mut [u8], x: i32, y: i32, v: u8| {
        if x >= 0 && y >= 0 && (x as usize) < size && (y as usize) < size {
            let k = y as usize * size + x as usize;
            if free.get(k).copied().unwrap_or(false)
                && let Some(p) = layer.get_mut(k)
            {
                *p = (*p).max(v);
            }
        }
    };
    for _ in 0..rng.range_i32(1, 3) {
        let (x, y) = (
            rng.range_f32(0.0, size as f32),
            rng.range_f32(0.0, size as f32),
        );
        let angle = rng.range_f32(0.0, std::f32::consts::TAU);
        let len = rng.range_f32(6.0, 20.0);
        let v = rng.range_i32(64, 160) as u8;
        let (dy, dx) = angle.sin_cos();
        let steps = (len * 2.0) as i32;
        for t in 0..=steps {
            let d = t as f32 * 0.5;
            put(
                &mut layer,
                (x + dx * d).round() as i32,
                (y + dy * d).round() as i32,
                v,
            );
        }
    }
    for _ in 0..rng.range_i32(1, 3) {
        let Some((img, _)) = random_digit(digits, rng) else {
            continue;
        };
        let Some([ix0, iy0, ix1, iy1]) = ink_extent(img, MNIST_SIDE, [0, 0, 28, 28]) else {
            continue;
        };
        let fw = rng.range_i32(3, MAX_FRAGMENT_PX as i32) as usize;
        let fh = rng.range_i32(3, MAX_FRAGMENT_PX as i32) as usize;
        // A crop inside the digit's ink box (so it holds some ink).
        let cx = rng.range_i32(ix0 as i32, ix1.saturating_sub(fw).max(ix0) as i32) as usize;
        let cy = rng.range_i32(iy0 as i32, iy1.saturating_sub(fh).max(iy0) as i32) as usize;
        let ox = rng.range_i32(0, (size - fw) as i32);
        let oy = rng.range_i32(0, (size - fh) as i32);
        for v in 0..fh {
            for u in 0..fw {
                let s = ink_pixel(img, cx + u, cy + v);
                put(&mut layer, ox + u as i32, oy + v as i32, s);
            }
        }
    }
    for (p, l) in pixels.iter_mut().zip(&layer) {
        *p = (*p).max(*l);
    }
}

fn ink_pixel(img: &[u8], x: usize, y: usize) -> u8 {
    if x < MNIST_SIDE && y < MNIST_SIDE {
        img.get(y * MNIST_SIDE + x).copied().unwrap_or(0)
    } else {
        0
    }
}

/// Scenes `0..count` of the stream `seed` (the same as `render_scene(.., i)`
/// for each `i`).
pub fn scenes(
    digits: &Split,
    cfg: &SceneConfig,
    seed: u64,
    count: usize,
) -> Result<Vec<Scene>, DataError> {
    (0..count as u64)
        .map(|i| render_scene(digits, cfg, seed, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::vendored_subset;

    fn clean() -> SceneConfig {
        SceneConfig {
            clutter: false,
            ..SceneConfig::default()
        }
    }

    fn region(b: &GtBox) -> [usize; 4] {
        [b.x0 as usize, b.y0 as usize, b.x1 as usize, b.y1 as usize]
    }

    #[test]
    fn deterministic_by_seed_and_index() {
        let d = vendored_subset().unwrap();
        let cfg = SceneConfig::default();
        let ten = scenes(&d, &cfg, 7, 10).unwrap();
        let five = scenes(&d, &cfg, 7, 5).unwrap();
        assert_eq!(&ten[..5], &five[..]);
        for (i, s) in ten.iter().enumerate() {
            assert_eq!(s, &render_scene(&d, &cfg, 7, i as u64).unwrap());
            assert_eq!(s.pixels.len(), 96 * 96);
        }
        // Other seeds and other indices give other scenes.
        let other = scenes(&d, &cfg, 8, 10).unwrap();
        assert!(ten.iter().zip(&other).all(|(a, b)| a.pixels != b.pixels));
        assert!(ten.windows(2).all(|w| w[0].pixels != w[1].pixels));
    }

    /// In a clutter-free scene every box is exactly the ink extent of the
    /// pixels inside it, and every ink pixel lies in some box.
    #[test]
    fn boxes_are_tight_and_cover_all_ink() {
        let d = vendored_subset().unwrap();
        let cfg = clean();
        for (i, s) in scenes(&d, &cfg, 3, 200).unwrap().iter().enumerate() {
            for b in &s.boxes {
                assert_eq!(
                    ink_extent(&s.pixels, 96, region(b)),
                    Some(region(b)),
                    "scene {i} box {b:?}"
                );
            }
            for (k, &p) in s.pixels.iter().enumerate() {
                if p > INK_THRESHOLD {
                    let (x, y) = ((k % 96) as f32, (k / 96) as f32);
                    assert!(
                        s.boxes
                            .iter()
                            .any(|b| b.x0 <= x && x < b.x1 && b.y0 <= y && y < b.y1),
                        "scene {i}: ink at ({x}, {y}) outside every box"
                    );
                }
            }
        }
    }

    #[test]
    fn boxes_inside_canvas_counts_sizes_and_overlap_within_bounds() {
        let d = vendored_subset().unwrap();
        let cfg = SceneConfig::default();
        let all = scenes(&d, &cfg, 11, 300).unwrap();
        let mut per_count = [0usize; 6];
        for s in &all {
            let n = s.boxes.len();
            assert!((1..=5).contains(&n), "{n} digits");
            per_count[n] += 1;
            for b in &s.boxes {
                assert!(b.x0 >= 0.0 && b.y0 >= 0.0 && b.x1 <= 96.0 && b.y1 <= 96.0);
                assert!(b.x1 > b.x0 && b.y1 > b.y0);
                let h = b.y1 - b.y0;
                assert!((12.0..=56.0).contains(&h), "ink height {h}");
                assert!(b.class < 10);
            }
            for (i, a) in s.boxes.iter().enumerate() {
                for b in &s.boxes[i + 1..] {
                    assert!(iou(&a.rect(), &b.rect()) <= cfg.max_iou);
                }
            }
        }
        // Every count from 1 to 5 occurs (a dropped digit is rare).
        assert!(per_count[1..].iter().all(|&c| c > 20), "{per_count:?}");
        // Digits may overlap partially.
        let overlapping = all.iter().any(|s| {
            s.boxes.iter().enumerate().any(|(i, a)| {
                s.boxes[i + 1..]
                    .iter()
                    .any(|b| iou(&a.rect(), &b.rect()) > 0.0)
            })
        });
        assert!(overlapping);
    }

    /// Classes are the MNIST labels: a split holding only one class gives boxes
    /// of only that class.
    #[test]
    fn classes_are_mnist_labels() {
        let d = vendored_subset().unwrap();
        for class in [3u8, 8] {
            let keep: Vec<usize> = (0..d.n).filter(|&i| d.labels[i] == class).collect();
            let only = Split {
                images: keep
                    .iter()
                    .flat_map(|&i| d.image(i).unwrap().to_vec())
                    .collect(),
                labels: vec![class; keep.len()],
                n: keep.len(),
            };
            for s in scenes(&only, &SceneConfig::default(), 5, 30).unwrap() {
                assert!(s.boxes.iter().all(|b| b.class == class));
            }
        }
        // And with all classes, all ten occur.
        let all = scenes(&d, &SceneConfig::default(), 5, 100).unwrap();
        for c in 0..10u8 {
            assert!(all.iter().flat_map(|s| &s.boxes).any(|b| b.class == c));
        }
    }

    /// Clutter leaves the digits, their boxes and the ink inside the boxes
    /// alone, and puts ink outside them.
    #[test]
    fn clutter_never_changes_boxes() {
        let d = vendored_subset().unwrap();
        let mut cluttered_outside = 0;
        for i in 0..100 {
            let a = render_scene(&d, &clean(), 9, i).unwrap();
            let b = render_scene(&d, &SceneConfig::default(), 9, i).unwrap();
            assert_eq!(a.boxes, b.boxes);
            for bx in &b.boxes {
                assert_eq!(ink_extent(&b.pixels, 96, region(bx)), Some(region(bx)));
            }
            let mut outside_ink = false;
            for (k, (&p, &q)) in a.pixels.iter().zip(&b.pixels).enumerate() {
                // Digit ink is never changed; elsewhere clutter only adds.
                if p > INK_THRESHOLD {
                    assert_eq!(p, q);
                }
                assert!(q >= p);
                let (x, y) = ((k % 96) as f32, (k / 96) as f32);
                let inside = b
                    .boxes
                    .iter()
                    .any(|b| b.x0 <= x && x < b.x1 && b.y0 <= y && y < b.y1);
                if inside {
                    assert_eq!(p > INK_THRESHOLD, q > INK_THRESHOLD);
                } else if q > INK_THRESHOLD {
                    outside_ink = true;
                }
            }
            cluttered_outside += outside_ink as usize;
            // The background is not black.
            assert!(b.pixels.iter().filter(|&&q| q > 0).count() > 96 * 96 / 2);
        }
        assert!(cluttered_outside > 80, "{cluttered_outside}");
    }

    #[test]
    fn bad_configs_and_empty_splits_are_errors() {
        let d = vendored_subset().unwrap();
        let base = SceneConfig::default();
        for cfg in [
            SceneConfig { size: 8, ..base },
            SceneConfig {
                min_digits: 0,
                ..base
            },
            SceneConfig {
                min_digits: 4,
                max_digits: 3,
                ..base
            },
            SceneConfig {
                max_digit_px: 200.0,
                ..base
            },
            SceneConfig {
                min_digit_px: f32::NAN,
                ..base
            },
            SceneConfig {
                max_iou: 1.5,
                ..base
            },
        ] {
            assert!(matches!(
                render_scene(&d, &cfg, 0, 0),
                Err(DataError::SceneConfig(_))
            ));
        }
        let empty = d.take(0);
        assert!(matches!(
            render_scene(&empty, &base, 0, 0),
            Err(DataError::EmptySplit)
        ));
        let short = Split {
            images: vec![0; 10],
            labels: vec![1],
            n: 1,
        };
        assert!(matches!(
            render_scene(&short, &base, 0, 0),
            Err(DataError::CountMismatch { .. })
        ));
    }

    #[test]
    fn ink_extent_by_hand() {
        // 4x3 image, ink at (1, 0) and (2, 2).
        let img = [0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 33, 32];
        assert_eq!(ink_extent(&img, 4, [0, 0, 4, 3]), Some([1, 0, 3, 3]));
        assert_eq!(ink_extent(&img, 4, [2, 0, 4, 3]), Some([2, 2, 3, 3]));
        assert_eq!(ink_extent(&img, 4, [3, 0, 9, 9]), None);
        assert_eq!(ink_extent(&img, 0, [0, 0, 4, 3]), None);
    }
}
