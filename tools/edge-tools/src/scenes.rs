//! `edge-tools data scenes`: write MNIST detection scenes as COCO annotations
//! and, on request, PNG images (optionally with the boxes drawn).

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use edgerun_data::coco::{CocoFile, image_file_name};
use edgerun_data::font::glyph;
use edgerun_data::mnist::Split;
use edgerun_data::scenes::{GtBox, Scene, SceneConfig, render_scene};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SceneSplit {
    /// Digits of MNIST-train (60,000), for training scenes.
    Train,
    /// Digits of MNIST-test (10,000), for test scenes.
    Test,
    /// The 500 vendored MNIST-test digits (no download; for tests and demos).
    Vendored,
}

/// Detection scenes of real MNIST digits, with COCO annotations and optional
/// PNGs.
///
/// Square canvases with 1-5 digits at random scales and positions (partial overlap allowed) on a
/// cluttered background (noise, strokes, digit fragments, never inside a
/// box). Each digit's box is tight around its ink (pixels > 32) and its class
/// is its MNIST label. Scene i depends only on (--seed, i).
///
/// Writes OUT/annotations.json (COCO: images, annotations with bbox
/// [x, y, width, height], categories "0".."9" with id = digit) and, with
/// --png, OUT/images/000000.png, ... (8-bit grayscale, ink bright on dark).
#[derive(Args, Debug)]
#[command(
    after_help = "Example: edge-tools data scenes --split test --count 1000 -o runs/scenes-test --png"
)]
pub struct ScenesCmd {
    /// Which digits to draw: MNIST-train for training scenes, MNIST-test for
    /// test scenes (fetched and cached on first use, see `data mnist`).
    #[arg(long, value_enum)]
    split: SceneSplit,
    /// Number of scenes (indices 0..count).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Seed of the scene stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Canvas side in pixels.
    #[arg(long, default_value_t = 96)]
    size: u32,
    /// Fewest digits per scene (a digit that finds no place is dropped).
    #[arg(long, default_value_t = 1)]
    min_digits: u32,
    /// Most digits per scene.
    #[arg(long, default_value_t = 5)]
    max_digits: u32,
    /// Smallest digit ink height in pixels.
    #[arg(long, default_value_t = 12.0)]
    min_digit_px: f32,
    /// Largest digit ink height in pixels.
    #[arg(long, default_value_t = 56.0)]
    max_digit_px: f32,
    /// Largest IoU allowed between two digit boxes.
    #[arg(long, default_value_t = 0.2)]
    max_iou: f32,
    /// Plain black background (no noise, strokes or fragments).
    #[arg(long)]
    no_clutter: bool,
    /// Output directory (created if needed).
    #[arg(short, long)]
    out: PathBuf,
    /// Also write each scene as OUT/images/NNNNNN.png.
    #[arg(long)]
    png: bool,
    /// Write the PNGs in colour with each box and its class drawn on them
    /// (for looking at, not for training; implies --png).
    #[arg(long)]
    draw_boxes: bool,
    /// MNIST cache directory (default: see `data mnist --help`).
    #[arg(long)]
    mnist_dir: Option<PathBuf>,
}

fn digits(split: SceneSplit, dir: Option<&Path>) -> Result<Split> {
    Ok(match split {
        SceneSplit::Vendored => edgerun_data::mnist::vendored_subset()?,
        SceneSplit::Train => edgerun_data::mnist::load(dir)?.train,
        SceneSplit::Test => edgerun_data::mnist::load(dir)?.test,
    })
}

pub fn scenes_cmd(a: ScenesCmd) -> Result<()> {
    let cfg = SceneConfig {
        size: a.size,
        min_digits: a.min_digits,
        max_digits: a.max_digits,
        min_digit_px: a.min_digit_px,
        max_digit_px: a.max_digit_px,
        max_iou: a.max_iou,
        clutter: !a.no_clutter,
    };
    cfg.validate()?;
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let digits = digits(a.split, a.mnist_dir.as_deref())?;
    let png = a.png || a.draw_boxes;
    let images = a.out.join("images");
    let dir = if png { &images } else { &a.out };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let start = std::time::Instant::now();
    let mut coco = CocoFile::digits(&format!(
        "edgerun MNIST scenes: split {:?}, seed {}, {:?}",
        a.split, a.seed, cfg
    ));
    let mut per_class = [0usize; 10];
    let pb = crate::bar(a.count, "scenes");
    for i in 0..a.count as u64 {
        let scene = render_scene(&digits, &cfg, a.seed, i)?;
        for b in &scene.boxes {
            if let Some(c) = per_class.get_mut(b.class as usize) {
                *c += 1;
            }
        }
        if png {
            let path = a.out.join(image_file_name(i));
            write_png(&path, a.size, &scene, a.draw_boxes)?;
        }
        coco.push_scene(i, a.size, &scene);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let ann = a.out.join("annotations.json");
    coco.write(&ann)?;
    println!(
        "wrote {} scenes ({} boxes; per class 0..9: {:?}) to {}{} in {:.1} s",
        a.count,
        coco.annotations.len(),
        per_class,
        ann.display(),
        if png {
            format!(" and {}", images.join("NNNNNN.png").display())
        } else {
            String::new()
        },
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write_png(path: &Path, size: u32, scene: &Scene, draw_boxes: bool) -> Result<()> {
    let result = if draw_boxes {
        let rgb = with_boxes(size as usize, scene);
        image::save_buffer(path, &rgb, size, size, image::ExtendedColorType::Rgb8)
    } else {
        image::save_buffer(
            path,
            &scene.pixels,
            size,
            size,
            image::ExtendedColorType::L8,
        )
    };
    result.with_context(|| format!("writing {}", path.display()))
}

/// One colour per class.
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 190],
];

/// The scene in RGB with each box outlined just outside its ink (so the
/// outline covers no ink) and its class written above (or inside, at the top
/// edge of the canvas) in the class's colour.
fn with_boxes(size: usize, scene: &Scene) -> Vec<u8> {
    let mut rgb: Vec<u8> = scene.pixels.iter().flat_map(|&p| [p, p, p]).collect();
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < size && (y as usize) < size {
            let k = 3 * (y as usize * size + x as usize);
            if let Some(px) = rgb.get_mut(k..k + 3) {
                px.copy_from_slice(&c);
            }
        }
    };
    for b in &scene.boxes {
        let GtBox {
            class,
            x0,
            y0,
            x1,
            y1,
        } = *b;
        let c = PALETTE.get(class as usize).copied().unwrap_or([255; 3]);
        let (x0, y0, x1, y1) = (x0 as i64 - 1, y0 as i64 - 1, x1 as i64, y1 as i64);
        for x in x0..=x1 {
            put(x, y0, c);
            put(x, y1, c);
        }
        for y in y0..=y1 {
            put(x0, y, c);
            put(x1, y, c);
        }
        let ty = if y0 >= 6 { y0 - 6 } else { y0 + 2 };
        let glyph = char::from_digit(u32::from(class), 10).map_or([0b111; 5], glyph);
        for (dy, row) in glyph.iter().enumerate() {
            for dx in 0..3 {
                if row & (4 >> dx) != 0 {
                    put(x0 + 1 + dx, ty + dy as i64, c);
                }
            }
        }
    }
    rgb
}
