//! `--save DIR`: a frame as an RGB image with its results drawn on it: a
//! 1-pixel box outline per detection with its label on a filled tab above it
//! (inside the box when there is no room), or a classifier's top-1 label in
//! the top-left corner. Labels use a 3x5 pixel font (digits, letters, a few
//! signs; anything else is drawn as a filled cell).

use crate::source::Frame;
use anyhow::{Result, bail};
use image::{Rgb, RgbImage};

/// One thing to draw: a box in frame pixels (`x0, y0, x1, y1`, the right and
/// bottom edges exclusive), or `None` for a label in the corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub bbox: Option<[f32; 4]>,
    pub label: String,
    /// Picks the colour (class index).
    pub class: usize,
}

/// Outline and tab colours, by class (cycled).
pub const COLORS: [[u8; 3]; 6] = [
    [0, 220, 0],
    [255, 64, 64],
    [64, 160, 255],
    [255, 200, 0],
    [220, 0, 220],
    [0, 220, 220],
];

pub use edgerun_data::font::{GLYPH_H, GLYPH_W, glyph};

/// The frame in grey, as RGB, with `marks` drawn on it. An empty frame or
/// one whose size disagrees with its pixels is an error.
pub fn annotate(frame: &Frame, marks: &[Mark]) -> Result<RgbImage> {
    let (w, h) = (u32::try_from(frame.width)?, u32::try_from(frame.height)?);
    if w == 0 || h == 0 || frame.width.checked_mul(frame.height) != Some(frame.pixels.len()) {
        bail!("{}: bad frame", frame.name);
    }
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let v = frame
            .pixels
            .get(y as usize * frame.width + x as usize)
            .copied()
            .unwrap_or(0);
        Rgb([v, v, v])
    });
    for m in marks {
        let color = Rgb(COLORS
            .get(m.class % COLORS.len())
            .copied()
            .unwrap_or([0, 220, 0]));
        let tab_w = (m.label.chars().count() as u32 * (GLYPH_W + 1) + 1).min(w);
        let tab_h = GLYPH_H + 2;
        let (tx, ty) = match m.bbox {
            Some(b) => {
                let [x0, y0, x1, y1] = b.map(|v| if v.is_finite() { v.round() } else { 0.0 });
                // `as` saturates: negative and huge coordinates clamp.
                let (x0, y0) = (x0 as i64, y0 as i64);
                let (x1, y1) = (x1 as i64 - 1, y1 as i64 - 1);
                outline(&mut img, [x0, y0, x1, y1], color);
                let tx = x0.clamp(0, i64::from(w - tab_w));
                let above = y0 - i64::from(tab_h);
                let ty = if above >= 0 { above } else { y0.max(0) };
                (tx, ty)
            }
            None => (0, 0),
        };
        fill(
            &mut img,
            [tx, ty, tx + i64::from(tab_w) - 1, ty + i64::from(tab_h) - 1],
            color,
        );
        text(&mut img, tx + 1, ty + 1, &m.label, Rgb([0, 0, 0]));
    }
    Ok(img)
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y))
        && let Some(p) = img.get_pixel_mut_checked(x, y)
    {
        *p = c;
    }
}

/// The 1-pixel outline of the rectangle of corners `[x0, y0, x1, y1]`
/// (inclusive), clipped to the image.
fn outline(img: &mut RgbImage, [x0, y0, x1, y1]: [i64; 4], c: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for x in x0.max(0)..=x1.min(w - 1) {
        put(img, x, y0, c);
        put(img, x, y1, c);
    }
    for y in y0.max(0)..=y1.min(h - 1) {
        put(img, x0, y, c);
        put(img, x1, y, c);
    }
}

fn fill(img: &mut RgbImage, [x0, y0, x1, y1]: [i64; 4], c: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for y in y0.max(0)..=y1.min(h - 1) {
        for x in x0.max(0)..=x1.min(w - 1) {
            put(img, x, y, c);
        }
    }
}

fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: Rgb<u8>) {
    for (i, ch) in s.chars().enumerate() {
        let gx = x + i as i64 * i64::from(GLYPH_W + 1);
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (0b100 >> col) != 0 {
                    put(img, gx + i64::from(col), y + row as i64, c);
                }
            }
        }
    }
}

/// A file name for frame number `index` named `name` (a path or
/// `sim:scenes#3`): `000003_sim_scenes_3.png`.
pub fn file_name(index: usize, name: &str) -> String {
    let base = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{index:06}_{safe}.png")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, v: u8) -> Frame {
        Frame {
            name: "t".into(),
            width: w,
            height: h,
            pixels: vec![v; w * h],
            label: None,
            boxes: None,
        }
    }

    #[test]
    fn boxes_and_labels_are_drawn_where_asked() {
        let f = frame(32, 32, 50);
        let m = Mark {
            bbox: Some([4.0, 12.0, 20.0, 28.0]),
            label: "7".into(),
            class: 1,
        };
        let img = annotate(&f, &[m]).unwrap();
        let red = Rgb(COLORS[1]);
        // The outline: columns 4 and 19, rows 12 and 27 (right/bottom exclusive).
        for t in 12..28 {
            assert_eq!(*img.get_pixel(4, t), red);
            assert_eq!(*img.get_pixel(19, t), red);
        }
        for t in 4..20 {
            assert_eq!(*img.get_pixel(t, 12), red);
            assert_eq!(*img.get_pixel(t, 27), red);
        }
        // Inside and outside: the grey frame.
        assert_eq!(*img.get_pixel(10, 20), Rgb([50, 50, 50]));
        assert_eq!(*img.get_pixel(20, 28), Rgb([50, 50, 50]));
        // The tab sits above the box: rows 5..12, columns 4..9 (1 glyph + 2
        // border columns); the '7' is black at its top row (x 5..8, y 6) and
        // its stem (x 6, y 8..11), the tab colour elsewhere.
        for x in 5..8 {
            assert_eq!(*img.get_pixel(x, 6), Rgb([0, 0, 0]), "x {x}");
        }
        for y in 8..11 {
            assert_eq!(*img.get_pixel(6, y), Rgb([0, 0, 0]), "y {y}");
            assert_eq!(*img.get_pixel(5, y), red, "y {y}");
        }
        assert_eq!(*img.get_pixel(4, 5), red);
        assert_eq!(*img.get_pixel(8, 11), red);
        assert_eq!(*img.get_pixel(9, 5), Rgb([50, 50, 50]));
    }

    #[test]
    fn corner_labels_and_clipping() {
        let f = frame(8, 8, 0);
        // A classifier's label: a tab at the top-left corner.
        let img = annotate(
            &f,
            &[Mark {
                bbox: None,
                label: "1".into(),
                class: 0,
            }],
        )
        .unwrap();
        assert_eq!(*img.get_pixel(0, 0), Rgb(COLORS[0]));
        // '1': the middle column of its first row is ink.
        assert_eq!(*img.get_pixel(2, 1), Rgb([0, 0, 0]));
        assert_eq!(*img.get_pixel(1, 1), Rgb(COLORS[0]));
        // Boxes past the edges, NaN and huge labels: clipped, no panic.
        let wild = [
            [-5.0, -5.0, 100.0, 100.0],
            [f32::NAN, 0.0, f32::INFINITY, 3.0],
            [7.0, 7.0, 1.0, 1.0],
        ];
        let marks: Vec<Mark> = wild
            .iter()
            .map(|&b| Mark {
                bbox: Some(b),
                label: "a very long label ~".into(),
                class: 99,
            })
            .collect();
        let img = annotate(&f, &marks).unwrap();
        assert_eq!(img.dimensions(), (8, 8));
        assert!(annotate(&frame(0, 0, 0), &[]).is_err());
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name(3, "sim:scenes#3"), "000003_sim_scenes_3.png");
        assert_eq!(file_name(12, "dir/a b.png"), "000012_a_b.png");
    }
}
