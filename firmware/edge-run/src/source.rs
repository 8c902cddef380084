//! Frame sources: a simulated camera replaying MNIST digits, image files, and
//! (not yet) V4L2 cameras. Every source yields grayscale frames; an unreadable
//! frame is an error item, and the run goes on.

use anyhow::{Context, Result, bail};
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
}

/// Anything that produces frames.
pub trait FrameSource {
    /// The next frame, an error for a frame that could not be read, or `None`
    /// at the end of a finite source.
    fn next_frame(&mut self) -> Option<Result<Frame>>;
    /// Number of frames, when known.
    fn len_hint(&self) -> Option<usize>;
}

/// A simulated camera replaying MNIST test digits at an optional frame rate.
pub struct SimMnist {
    split: edgerun_data::mnist::Split,
    at: usize,
    period: Option<Duration>,
    next_due: Instant,
}

impl SimMnist {
    /// The full MNIST test set when it is in the cache, else the vendored 500 digits.
    pub fn new(fps: Option<f64>) -> Result<Self> {
        let dir = edgerun_data::mnist::cache_dir(None);
        let split = if dir.join(edgerun_data::mnist::FILES[2].0).exists() {
            edgerun_data::mnist::load(Some(&dir))?.test
        } else {
            edgerun_data::mnist::vendored_subset()?
        };
        let period = match fps {
            Some(f) if f > 0.0 => Some(Duration::from_secs_f64(1.0 / f)),
            Some(_) => bail!("the frame rate must be positive"),
            None => None,
        };
        Ok(SimMnist {
            split,
            at: 0,
            period,
            next_due: Instant::now(),
        })
    }
}

impl FrameSource for SimMnist {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if let Some(p) = self.period {
            let now = Instant::now();
            if self.next_due > now {
                std::thread::sleep(self.next_due - now);
            }
            self.next_due += p;
        }
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
        }))
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
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name.ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl FrameSource for Images {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let path = self.paths.get(self.at)?.clone();
        self.at += 1;
        let read = || -> Result<Frame> {
            let img = image::open(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .to_luma8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            if w == 0 || h == 0 {
                bail!("{}: empty image", path.display());
            }
            Ok(Frame {
                name: path.display().to_string(),
                width: w,
                height: h,
                pixels: img.into_raw(),
                label: None,
            })
        };
        Some(read())
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.paths.len())
    }
}

/// Parse a SOURCE argument.
pub fn open(spec: &str) -> Result<Box<dyn FrameSource>> {
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
            ":scenes" => bail!(
                "sim:scenes needs the detection scenes, which are not built yet; use sim:mnist"
            ),
            other => {
                bail!("unknown simulated source '{other}' (use sim, sim:mnist, sim:mnist@FPS)")
            }
        };
    }
    if spec == "camera" || spec.starts_with("camera:") {
        bail!("camera capture (V4L2) is not built yet; use sim:mnist or image files");
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

    #[test]
    fn sim_loops_and_labels() {
        let mut s = SimMnist::new(None).unwrap();
        let f = s.next_frame().unwrap().unwrap();
        assert_eq!((f.width, f.height, f.pixels.len()), (28, 28, 784));
        assert!(f.label.is_some());
    }
}
