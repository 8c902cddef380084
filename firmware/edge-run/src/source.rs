//! Frame sources: simulated cameras replaying MNIST digits or detection
//! scenes, image files, and V4L2 cameras (`camera`). Every source yields
//! grayscale frames; an unreadable frame is an error item, and the run goes on.

use anyhow::{Context, Result, bail};
use edgerun_data::mnist::Split;
pub use edgerun_data::scenes::GtBox;
use edgerun_data::scenes::{SceneConfig, render_scene};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One grayscale frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// Row-major luminance, `width * height` bytes.
    pub pixels: Vec<u8>,
    /// Ground truth when the source knows it (simulated MNIST).
    pub label: Option<u8>,
    /// Ground-truth boxes when the source knows them (simulated scenes), in
    /// frame pixels.
    pub boxes: Option<Vec<GtBox>>,
}

/// Anything that produces frames.
pub trait FrameSource {
    /// The next frame, an error for a frame that could not be read, or `None`
    /// at the end of a finite source.
    fn next_frame(&mut self) -> Option<Result<Frame>>;
    /// Number of frames, when known.
    fn len_hint(&self) -> Option<usize>;
    /// Why the source ended early, when it did (a camera that vanished and
    /// was not re-opened): the run then exits with a non-zero code.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// The MNIST test digits the simulated cameras show: the full test set when
/// it is in the cache (`edge-tools data mnist`), else the vendored 500.
pub fn test_digits() -> Result<Split> {
    let dir = edgerun_data::mnist::cache_dir(None);
    Ok(if dir.join(edgerun_data::mnist::FILES[2].0).exists() {
        edgerun_data::mnist::load(Some(&dir))?.test
    } else {
        edgerun_data::mnist::vendored_subset()?
    })
}

/// Paces a simulated camera at a frame rate (none: as fast as frames are asked for).
struct Pacer {
    period: Option<Duration>,
    next_due: Instant,
}

impl Pacer {
    fn new(fps: Option<f64>) -> Result<Self> {
        let period = match fps {
            Some(f) if f > 0.0 && f.is_finite() => Some(Duration::from_secs_f64(1.0 / f)),
            Some(_) => bail!("the frame rate must be positive"),
            None => None,
        };
        Ok(Pacer {
            period,
            next_due: Instant::now(),
        })
    }

    /// Sleep until the next frame is due.
    fn wait(&mut self) {
        if let Some(p) = self.period {
            let now = Instant::now();
            if self.next_due > now {
                std::thread::sleep(self.next_due - now);
            }
            self.next_due += p;
        }
    }
}

/// A simulated camera replaying MNIST test digits at an optional frame rate.
pub struct SimMnist {
    split: Split,
    at: usize,
    pacer: Pacer,
}

impl SimMnist {
    /// The full MNIST test set when it is in the cache, else the vendored 500 digits.
    pub fn new(fps: Option<f64>) -> Result<Self> {
        Ok(SimMnist {
            split: test_digits()?,
            at: 0,
            pacer: Pacer::new(fps)?,
        })
    }
}

impl FrameSource for SimMnist {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        self.pacer.wait();
        // A camera never ends: the digits loop.
        let i = self.at % self.split.n.max(1);
        self.at += 1;
        let pixels = self.split.image(i)?.to_vec();
        Some(Ok(Frame {
            name: format!("sim:mnist#{i}"),
            width: 28,
            height: 28,
            pixels,
            label: self.split.labels.get(i).copied(),
            boxes: None,
        }))
    }
    fn len_hint(&self) -> Option<usize> {
        None
    }
}

/// A simulated camera replaying the detection test scenes (96x96, 1-5 MNIST
/// test digits on clutter, `edgerun_data::scenes`) with their boxes: scene
/// `i` of the stream [`edgerun_data::scenes::TEST_SEED`], rendered on demand
/// from the digits of [`SimMnist`]. With the full MNIST test set cached,
/// scenes `0..N` are those of `edge-tools eval DETECTOR --data scenes-test:N`.
/// It never ends (scene indices go on).
pub struct SimScenes {
    digits: Split,
    cfg: SceneConfig,
    at: u64,
    pacer: Pacer,
}

impl SimScenes {
    pub fn new(fps: Option<f64>) -> Result<Self> {
        Ok(SimScenes {
            digits: test_digits()?,
            cfg: SceneConfig::default(),
            at: 0,
            pacer: Pacer::new(fps)?,
        })
    }
}

impl FrameSource for SimScenes {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        self.pacer.wait();
        let i = self.at;
        self.at += 1;
        let side = self.cfg.size as usize;
        Some(
            render_scene(&self.digits, &self.cfg, edgerun_data::scenes::TEST_SEED, i)
                .map(|scene| Frame {
                    name: format!("sim:scenes#{i}"),
                    width: side,
                    height: side,
                    pixels: scene.pixels,
                    label: None,
                    boxes: Some(scene.boxes),
                })
                .with_context(|| format!("rendering scene {i}")),
        )
    }
    fn len_hint(&self) -> Option<usize> {
        None
    }
}

/// Image files (PNG, JPEG), from paths, directories (sorted) or glob-like `*` patterns.
pub struct Images {
    paths: Vec<PathBuf>,
    at: usize,
}

impl Images {
    pub fn new(spec: &str) -> Result<Self> {
        let p = PathBuf::from(spec);
        let mut paths: Vec<PathBuf> = if p.is_dir() {
            std::fs::read_dir(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect()
        } else if spec.contains('*') {
            let dir = p
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            let pattern = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .is_some_and(|n| glob_match(&pattern, &n.to_string_lossy()))
                })
                .collect()
        } else if p.exists() {
            vec![p]
        } else {
            bail!("no such file, directory or pattern: {spec}");
        };
        paths.sort();
        if paths.is_empty() {
            bail!("no images (png, jpg, jpeg) in {spec}");
        }
        Ok(Images { paths, at: 0 })
    }
}

fn is_image(p: &std::path::Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// `*` matches any run of characters; everything else literally.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut mids: Vec<&str> = parts.collect();
    let Some(last) = mids.pop() else {
        return rest.is_empty();
    };
    let Some(stripped) = rest.strip_suffix(last) else {
        return false;
    };
    rest = stripped;
    for mid in mids {
        match rest.find(mid) {
            Some(i) => rest = rest.get(i + mid.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// Largest image edge [`decode_image`] accepts, and the most bytes it lets the
/// decoder allocate: a 20-byte PNG header can claim 4 billion pixels.
pub const MAX_IMAGE_EDGE: u32 = 16_384;
pub const MAX_IMAGE_ALLOC: u64 = 256 << 20;

/// Decode an image file's bytes (PNG or JPEG, by content) into a grayscale
/// frame. Corrupt, truncated, oversized or empty images are errors.
pub fn decode_image(name: &str, bytes: &[u8]) -> Result<Frame> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("reading {name}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_EDGE);
    limits.max_image_height = Some(MAX_IMAGE_EDGE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .with_context(|| format!("decoding {name}"))?
        .to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        bail!("{name}: empty image");
    }
    Ok(Frame {
        name: name.to_string(),
        width: w,
        height: h,
        pixels: img.into_raw(),
        label: None,
        boxes: None,
    })
}

impl FrameSource for Images {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let path = self.paths.get(self.at)?.clone();
        self.at += 1;
        let name = path.display().to_string();
        Some(
            std::fs::read(&path)
                .with_context(|| format!("reading {name}"))
                .and_then(|bytes| decode_image(&name, &bytes)),
        )
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.paths.len())
    }
}

/// Parse a SOURCE argument; `reconnect` says what a camera does when it
/// vanishes mid-run.
pub fn open(spec: &str, reconnect: crate::camera::Reconnect) -> Result<Box<dyn FrameSource>> {
    if let Some(rest) = spec.strip_prefix("sim") {
        let (kind, fps) = match rest.split_once('@') {
            Some((k, f)) => (
                k,
                Some(
                    f.parse::<f64>()
                        .with_context(|| format!("bad frame rate in '{spec}'"))?,
                ),
            ),
            None => (rest, None),
        };
        return match kind {
            "" | ":mnist" => Ok(Box::new(SimMnist::new(fps)?)),
            ":scenes" => Ok(Box::new(SimScenes::new(fps)?)),
            other => {
                bail!(
                    "unknown simulated source '{other}' (use sim, sim:mnist, sim:scenes, sim:mnist@FPS)"
                )
            }
        };
    }
    if spec == "camera" || spec.starts_with("camera:") {
        return Ok(Box::new(crate::camera::open(spec, reconnect)?));
    }
    Ok(Box::new(Images::new(spec)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.png", "a.png"));
        assert!(glob_match("digit_*_x.png", "digit_7_x.png"));
        assert!(!glob_match("*.png", "a.jpg"));
        assert!(glob_match("a", "a"));
        assert!(!glob_match("ab*ba", "aba"));
    }

    /// A PNG whose header claims `w` x `h` pixels, with one tiny IDAT chunk.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(&ihdr);
        b.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked by every decoder)
        b
    }

    #[test]
    fn bad_images_are_errors() {
        assert!(decode_image("empty", b"").is_err());
        assert!(decode_image("text", b"not an image").is_err());
        assert!(decode_image("zero", &png_header(0, 0)).is_err());
        // 4 billion pixels claimed in 30 bytes: refused by the limits, nothing
        // is allocated for them.
        let e = decode_image("huge", &png_header(65_535, 65_535)).unwrap_err();
        assert!(format!("{e:#}").contains("huge"), "{e:#}");
    }

    #[test]
    fn sim_loops_and_labels() {
        let mut s = SimMnist::new(None).unwrap();
        let f = s.next_frame().unwrap().unwrap();
        assert_eq!((f.width, f.height, f.pixels.len()), (28, 28, 784));
        assert!(f.label.is_some());
    }

    /// Scene `i` of the simulated camera is scene `i` of the test stream,
    /// with its boxes, whatever the digits (vendored or cached).
    #[test]
    fn sim_scenes_replay_the_test_stream() {
        let mut s = SimScenes::new(None).unwrap();
        let digits = test_digits().unwrap();
        let want = edgerun_data::scenes::scenes(
            &digits,
            &SceneConfig::default(),
            edgerun_data::scenes::TEST_SEED,
            3,
        )
        .unwrap();
        for w in &want {
            let f = s.next_frame().unwrap().unwrap();
            assert_eq!((f.width, f.height), (96, 96));
            assert_eq!(f.pixels, w.pixels);
            assert_eq!(f.boxes.as_ref(), Some(&w.boxes));
            assert!(!w.boxes.is_empty());
        }
        assert!(Pacer::new(Some(0.0)).is_err());
        assert!(Pacer::new(Some(f64::NAN)).is_err());
    }
}
