//! Cameras: V4L2 devices (USB webcams, the Pi camera through libcamera's V4L2
//! layer) behind the [`Camera`] trait, the conversion of their frames
//! (GREY, YUYV, MJPEG) to grayscale, and [`CameraSource`], which re-opens a
//! camera that vanished mid-run with back-off, or ends the run when asked.
//!
//! V4L2 goes through the pure-Rust `linuxvideo` crate (no bindgen, no C
//! library), so the runner cross-builds for a Pi with nothing installed.

use crate::source::{Frame, FrameSource, decode_image};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Duration;

/// The pixel formats edge-run negotiates, in order of preference (cheapest
/// conversion first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 8-bit luminance.
    Grey,
    /// Packed 4:2:2 `Y0 U Y1 V`: the luminance is every other byte.
    Yuyv,
    /// Motion JPEG: one JPEG image per frame.
    Mjpeg,
}

impl PixelFormat {
    pub const PREFERENCE: [PixelFormat; 3] =
        [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg];

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
        }
    }

    /// `JPEG` (plain JFIF frames) is read as MJPEG.
    pub fn from_fourcc(f: [u8; 4]) -> Option<Self> {
        match &f {
            b"GREY" => Some(PixelFormat::Grey),
            b"YUYV" => Some(PixelFormat::Yuyv),
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            _ => None,
        }
    }

    /// The first format of [`Self::PREFERENCE`] that `offered` has.
    pub fn negotiate(offered: &[PixelFormat]) -> Option<PixelFormat> {
        Self::PREFERENCE
            .iter()
            .copied()
            .find(|p| offered.contains(p))
    }
}

/// One frame as the device delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFrame {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Bytes per row (GREY, YUYV); unused for MJPEG.
    pub stride: usize,
    pub data: Vec<u8>,
}

/// A raw frame as a grayscale [`Frame`]: GREY rows as they are, the Y bytes
/// of YUYV, MJPEG decoded (with [`decode_image`]'s limits) to luminance.
/// Short buffers, strides below the row size and undecodable JPEG are errors.
pub fn to_gray(raw: &RawFrame, name: &str) -> Result<Frame> {
    let (w, h) = (raw.width, raw.height);
    let row_bytes = match raw.format {
        PixelFormat::Grey => w,
        PixelFormat::Yuyv => w.checked_mul(2).context("frame width overflows")?,
        PixelFormat::Mjpeg => {
            let mut f = decode_image(name, &raw.data)?;
            f.name = name.to_string();
            return Ok(f);
        }
    };
    if w == 0 || h == 0 || raw.stride < row_bytes {
        bail!(
            "{name}: bad {:?} frame ({w}x{h}, {} bytes per row)",
            raw.format,
            raw.stride
        );
    }
    let mut pixels = Vec::with_capacity(w.saturating_mul(h));
    for y in 0..h {
        let row = y
            .checked_mul(raw.stride)
            .and_then(|s| raw.data.get(s..s.checked_add(row_bytes)?))
            .with_context(|| {
                format!(
                    "{name}: {:?} frame of {} bytes is too short for {w}x{h}",
                    raw.format,
                    raw.data.len()
                )
            })?;
        match raw.format {
            PixelFormat::Yuyv => pixels.extend(row.iter().step_by(2)),
            _ => pixels.extend_from_slice(row),
        }
    }
    Ok(Frame {
        name: name.to_string(),
        width: w,
        height: h,
        pixels,
        label: None,
        boxes: None,
    })
}

/// The largest centred part of `f` with the aspect ratio `h : w` of the model
/// input, so that resizing it does not stretch the picture.
pub fn crop_to_aspect(f: &Frame, h: usize, w: usize) -> Result<Frame> {
    if h == 0 || w == 0 || f.width == 0 || f.height == 0 {
        bail!("{}: cannot crop to {h}x{w}", f.name);
    }
    // Compare f.width / f.height with w / h in integers (u128: no overflow).
    let (fw, fh) = (f.width as u128, f.height as u128);
    let (cw, ch) = if fw * h as u128 > fh * w as u128 {
        ((fh * w as u128 / h as u128) as usize, f.height)
    } else {
        (f.width, (fw * h as u128 / w as u128) as usize)
    };
    let (cw, ch) = (cw.max(1), ch.max(1));
    let (x0, y0) = ((f.width - cw) / 2, (f.height - ch) / 2);
    let mut pixels = Vec::with_capacity(cw * ch);
    for y in y0..y0 + ch {
        let start = y * f.width + x0;
        let row = f
            .pixels
            .get(start..start + cw)
            .with_context(|| format!("{}: bad frame", f.name))?;
        pixels.extend_from_slice(row);
    }
    Ok(Frame {
        name: f.name.clone(),
        width: cw,
        height: ch,
        pixels,
        label: f.label,
        boxes: None,
    })
}

/// A camera: frames until it fails. A failed camera is dropped and opened
/// again (by [`CameraSource`]).
pub trait Camera {
    /// The next frame; an error means the device is gone or broken.
    fn capture(&mut self) -> std::io::Result<RawFrame>;
}

/// Opens a camera (again).
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Camera>>>;

/// What [`CameraSource`] does when its camera fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconnect {
    /// End the run (with [`FrameSource::failure`] set) instead of re-opening.
    pub exit_on_loss: bool,
    /// Re-open attempts before giving up; `None`: forever.
    pub max_attempts: Option<u32>,
    /// Wait before the first attempt; doubled after each failure up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            exit_on_loss: false,
            max_attempts: None,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Frames from a [`Camera`], converted to grayscale; a camera that fails
/// mid-run is reported and re-opened with back-off ([`Reconnect`]).
pub struct CameraSource {
    name: String,
    open: Opener,
    camera: Option<Box<dyn Camera>>,
    policy: Reconnect,
    sleep: Box<dyn FnMut(Duration)>,
    at: usize,
    failure: Option<String>,
    /// Re-opens that succeeded (for tests and the log).
    pub reopened: usize,
}

impl CameraSource {
    /// Open the camera once (an error here ends the run: a missing or busy
    /// device), then stream from it.
    pub fn new(name: &str, mut open: Opener, policy: Reconnect) -> Result<Self> {
        let camera = open()?;
        Ok(CameraSource {
            name: name.to_string(),
            open,
            camera: Some(camera),
            policy,
            sleep: Box::new(std::thread::sleep),
            at: 0,
            failure: None,
            reopened: 0,
        })
    }

    /// Replace the sleep between re-open attempts (tests record the delays).
    pub fn with_sleep(mut self, sleep: Box<dyn FnMut(Duration)>) -> Self {
        self.sleep = sleep;
        self
    }

    /// Re-open with back-off; `false` when the attempts ran out.
    fn reopen(&mut self) -> bool {
        let mut delay = self.policy.first_delay;
        let mut attempt = 0u32;
        loop {
            if self.policy.max_attempts.is_some_and(|m| attempt >= m) {
                return false;
            }
            attempt += 1;
            (self.sleep)(delay);
            match (self.open)() {
                Ok(c) => {
                    eprintln!("{}: camera re-opened (attempt {attempt})", self.name);
                    self.camera = Some(c);
                    self.reopened += 1;
                    return true;
                }
                Err(e) => {
                    eprintln!(
                        "{}: re-opening failed (attempt {attempt}): {e:#}; next try in {:?}",
                        self.name,
                        (delay * 2).min(self.policy.max_delay)
                    );
                    delay = (delay * 2).min(self.policy.max_delay);
                }
            }
        }
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        loop {
            if self.failure.is_some() {
                return None;
            }
            let Some(camera) = self.camera.as_mut() else {
                if !self.reopen() {
                    self.failure = Some(format!(
                        "{}: the camera is gone and could not be re-opened",
                        self.name
                    ));
                }
                continue;
            };
            match camera.capture() {
                Ok(raw) => {
                    let name = format!("{}#{}", self.name, self.at);
                    self.at += 1;
                    return Some(to_gray(&raw, &name));
                }
                Err(e) => {
                    eprintln!("{}: camera lost: {e}", self.name);
                    self.camera = None;
                    if self.policy.exit_on_loss {
                        self.failure = Some(format!("{}: camera lost: {e}", self.name));
                    }
                }
            }
        }
    }
    fn len_hint(&self) -> Option<usize> {
        None
    }
    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

/// The `/dev/video*` devices of this machine, sorted ("none" when there are none).
pub fn list_devices() -> String {
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("video"))
                })
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        "none".into()
    } else {
        found.join(", ")
    }
}

/// The device of a `camera` / `camera:/dev/videoN` SOURCE.
pub fn device_path(spec: &str) -> PathBuf {
    match spec.strip_prefix("camera:") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/dev/video0"),
    }
}

/// A camera SOURCE: the device opened through V4L2 in the best format it
/// offers ([`PixelFormat::PREFERENCE`]) at 640x480 or what the driver picks.
pub fn open(spec: &str, policy: Reconnect) -> Result<CameraSource> {
    let path = device_path(spec);
    let name = path.display().to_string();
    let opener: Opener = Box::new(move || v4l2::open(&path));
    CameraSource::new(&name, opener, policy)
}

#[cfg(target_os = "linux")]
mod v4l2 {
    use super::{Camera, PixelFormat, RawFrame, list_devices};
    use anyhow::{Context, Result, bail};
    use linuxvideo::format::PixFormat;
    use linuxvideo::stream::ReadStream;
    use linuxvideo::{BufType, Device};
    use std::path::Path;

    pub struct V4l2Camera {
        stream: ReadStream,
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
    }

    fn explain(path: &Path, e: std::io::Error) -> anyhow::Error {
        let hint = match e.raw_os_error() {
            // EBUSY
            Some(16) => " (the device is busy: is another program using the camera?)",
            _ => "",
        };
        anyhow::anyhow!(
            "camera {}: {e}{hint}; video devices found: {}",
            path.display(),
            list_devices()
        )
    }

    pub fn open(path: &Path) -> Result<Box<dyn Camera>> {
        let dev = Device::open(path).map_err(|e| explain(path, e))?;
        let offered: Vec<PixelFormat> = dev
            .formats(BufType::VIDEO_CAPTURE)
            .filter_map(|d| d.ok())
            .filter_map(|d| PixelFormat::from_fourcc(d.pixel_format().as_fourcc()))
            .collect();
        let Some(format) = PixelFormat::negotiate(&offered) else {
            bail!(
                "camera {}: offers none of GREY, YUYV, MJPEG; video devices found: {}",
                path.display(),
                list_devices()
            );
        };
        let want = PixFormat::new(
            640,
            480,
            linuxvideo::format::PixelFormat::from_fourcc(format.fourcc()),
        );
        let capture = dev.video_capture(want).map_err(|e| explain(path, e))?;
        let got = capture.format();
        let format =
            PixelFormat::from_fourcc(got.pixel_format().as_fourcc()).with_context(|| {
                format!("camera {}: the driver chose another format", path.display())
            })?;
        let (width, height) = (got.width() as usize, got.height() as usize);
        let stride = got.bytes_per_line() as usize;
        let stream = capture.into_stream().map_err(|e| explain(path, e))?;
        Ok(Box::new(V4l2Camera {
            stream,
            format,
            width,
            height,
            stride,
        }))
    }

    impl Camera for V4l2Camera {
        fn capture(&mut self) -> std::io::Result<RawFrame> {
            let data = self.stream.dequeue(|buf| {
                if buf.is_error() {
                    return Err(std::io::Error::other("the driver flagged the frame"));
                }
                Ok(buf.to_vec())
            })?;
            Ok(RawFrame {
                format: self.format,
                width: self.width,
                height: self.height,
                stride: self.stride,
                data,
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod v4l2 {
    use super::{Camera, list_devices};
    use anyhow::{Result, bail};
    use std::path::Path;

    pub fn open(path: &Path) -> Result<Box<dyn Camera>> {
        bail!(
            "camera {}: V4L2 cameras need Linux; video devices found: {}",
            path.display(),
            list_devices()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::path::Path;
    use std::rc::Rc;

    /// The picture the recorded frames were made from (`tests/data/`, see
    /// `recorded_frames_regenerate`): a smooth ramp, 64x48.
    fn known(x: usize, y: usize) -> u8 {
        (40 + 2 * x + y) as u8
    }
    const W: usize = 64;
    const H: usize = 48;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// Chroma bytes that vary, so a conversion that reads them shows.
    fn yuyv_of_known() -> Vec<u8> {
        let mut v = Vec::with_capacity(W * H * 2);
        for y in 0..H {
            for x in 0..W {
                v.push(known(x, y));
                v.push(if x % 2 == 0 {
                    (x * 3) as u8
                } else {
                    255 - y as u8
                });
            }
        }
        v
    }

    fn mjpeg_of_known() -> Vec<u8> {
        let img = image::GrayImage::from_fn(W as u32, H as u32, |x, y| {
            image::Luma([known(x as usize, y as usize)])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// Writes `tests/data/known_64x48.{yuyv,mjpeg}`; run by hand after a change
    /// of [`known`]: `cargo test -p edge-run -- --ignored recorded_frames_regenerate`.
    #[test]
    #[ignore]
    fn recorded_frames_regenerate() {
        std::fs::create_dir_all(data("")).unwrap();
        std::fs::write(data("known_64x48.yuyv"), yuyv_of_known()).unwrap();
        std::fs::write(data("known_64x48.mjpeg"), mjpeg_of_known()).unwrap();
    }

    /// The model tensor of a recorded frame against one computed directly from
    /// the known picture: the centre 48x48 (columns 8..56), halved to 24x24,
    /// where bilinear sampling is the mean of each 2x2 block.
    fn expected_tensor() -> Vec<f32> {
        let mut v = Vec::new();
        for y in 0..24 {
            for x in 0..24 {
                let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(dx, dy)| u32::from(known(8 + 2 * x + dx, 2 * y + dy)))
                    .sum();
                v.push(s as f32 / 4.0 / 255.0);
            }
        }
        v
    }

    fn tensor_of(raw: &RawFrame) -> Vec<f32> {
        let gray = to_gray(raw, "rec").unwrap();
        let crop = crop_to_aspect(&gray, 24, 24).unwrap();
        assert_eq!((crop.width, crop.height), (48, 48));
        crate::preprocess(&crop, &[1, 1, 24, 24]).unwrap().to_f32()
    }

    #[test]
    fn recorded_yuyv_frame_gives_the_known_tensor() {
        let bytes = std::fs::read(data("known_64x48.yuyv")).unwrap();
        assert_eq!(
            bytes,
            yuyv_of_known(),
            "the vendored frame is the known picture"
        );
        let raw = RawFrame {
            format: PixelFormat::Yuyv,
            width: W,
            height: H,
            stride: 2 * W,
            data: bytes,
        };
        let got = tensor_of(&raw);
        let want = expected_tensor();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn recorded_mjpeg_frame_gives_the_known_tensor_within_jpeg_loss() {
        let raw = RawFrame {
            format: PixelFormat::Mjpeg,
            width: W,
            height: H,
            stride: 0,
            data: std::fs::read(data("known_64x48.mjpeg")).unwrap(),
        };
        let got = tensor_of(&raw);
        let want = expected_tensor();
        let max = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs() * 255.0)
            .fold(0.0f32, f32::max);
        // JPEG at quality 90 on a smooth ramp: a few grey levels at most.
        assert!(max <= 4.0, "max error {max} grey levels");
    }

    #[test]
    fn grey_with_padded_rows_and_bad_frames() {
        // 3x2 GREY with a stride of 4: the padding byte is dropped.
        let raw = RawFrame {
            format: PixelFormat::Grey,
            width: 3,
            height: 2,
            stride: 4,
            data: vec![1, 2, 3, 99, 4, 5, 6, 99],
        };
        assert_eq!(to_gray(&raw, "g").unwrap().pixels, [1, 2, 3, 4, 5, 6]);
        let short = RawFrame {
            data: vec![1, 2, 3, 99, 4],
            ..raw.clone()
        };
        assert!(to_gray(&short, "g").is_err());
        let narrow = RawFrame {
            stride: 2,
            ..raw.clone()
        };
        assert!(to_gray(&narrow, "g").is_err());
        let huge = RawFrame {
            format: PixelFormat::Yuyv,
            width: usize::MAX,
            ..raw.clone()
        };
        assert!(to_gray(&huge, "g").is_err());
        let jpeg = RawFrame {
            format: PixelFormat::Mjpeg,
            data: b"not a jpeg".to_vec(),
            ..raw
        };
        assert!(to_gray(&jpeg, "g").is_err());
    }

    #[test]
    fn negotiation_prefers_cheap_formats() {
        use PixelFormat::*;
        assert_eq!(PixelFormat::negotiate(&[Mjpeg, Yuyv]), Some(Yuyv));
        assert_eq!(PixelFormat::negotiate(&[Mjpeg]), Some(Mjpeg));
        assert_eq!(PixelFormat::negotiate(&[Yuyv, Grey]), Some(Grey));
        assert_eq!(PixelFormat::negotiate(&[]), None);
        assert_eq!(PixelFormat::from_fourcc(*b"JPEG"), Some(Mjpeg));
        assert_eq!(PixelFormat::from_fourcc(*b"NV12"), None);
        for p in PixelFormat::PREFERENCE {
            assert_eq!(PixelFormat::from_fourcc(p.fourcc()), Some(p));
        }
    }

    #[test]
    fn crops_keep_the_centre() {
        let f = Frame {
            name: "c".into(),
            width: 4,
            height: 2,
            pixels: vec![0, 1, 2, 3, 4, 5, 6, 7],
            label: None,
            boxes: None,
        };
        let c = crop_to_aspect(&f, 1, 1).unwrap();
        assert_eq!((c.width, c.height, c.pixels), (2, 2, vec![1, 2, 5, 6]));
        let c = crop_to_aspect(&f, 1, 4).unwrap();
        assert_eq!((c.width, c.height, c.pixels), (4, 1, vec![0, 1, 2, 3]));
        assert!(crop_to_aspect(&f, 0, 1).is_err());
    }

    /// A camera that gives `frames` GREY frames, then fails.
    struct Fake {
        frames: usize,
    }

    impl Camera for Fake {
        fn capture(&mut self) -> std::io::Result<RawFrame> {
            if self.frames == 0 {
                return Err(std::io::Error::other("unplugged"));
            }
            self.frames -= 1;
            Ok(RawFrame {
                format: PixelFormat::Grey,
                width: 2,
                height: 2,
                stride: 2,
                data: vec![7; 4],
            })
        }
    }

    /// An opener whose calls 2..=1+failures fail (the first open succeeds).
    fn opener(failures: usize, calls: Rc<RefCell<usize>>) -> Opener {
        Box::new(move || {
            let n = {
                let mut c = calls.borrow_mut();
                *c += 1;
                *c
            };
            if n > 1 && n <= 1 + failures {
                bail!("no such device");
            }
            Ok(Box::new(Fake { frames: 2 }) as Box<dyn Camera>)
        })
    }

    fn recording(delays: Rc<RefCell<Vec<Duration>>>) -> Box<dyn FnMut(Duration)> {
        Box::new(move |d| delays.borrow_mut().push(d))
    }

    fn policy(exit_on_loss: bool, max_attempts: Option<u32>) -> Reconnect {
        Reconnect {
            exit_on_loss,
            max_attempts,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        }
    }

    #[test]
    fn a_vanished_camera_is_reopened_with_back_off() {
        let calls = Rc::new(RefCell::new(0));
        let delays = Rc::new(RefCell::new(Vec::new()));
        let mut s = CameraSource::new("fake", opener(3, calls.clone()), policy(false, None))
            .unwrap()
            .with_sleep(recording(delays.clone()));
        // 2 frames, loss, 3 failed re-opens, a re-open, 2 frames, loss...
        for _ in 0..4 {
            let f = s.next_frame().unwrap().unwrap();
            assert_eq!(f.pixels, [7; 4]);
        }
        assert_eq!(s.reopened, 1);
        assert_eq!(*calls.borrow(), 5);
        let ms: Vec<u128> = delays.borrow().iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 300, 300]);
        assert_eq!(s.failure(), None);
    }

    #[test]
    fn a_vanished_camera_ends_the_run_when_asked() {
        let calls = Rc::new(RefCell::new(0));
        let delays = Rc::new(RefCell::new(Vec::new()));
        let mut s = CameraSource::new("fake", opener(0, calls.clone()), policy(true, None))
            .unwrap()
            .with_sleep(recording(delays.clone()));
        assert!(s.next_frame().unwrap().is_ok());
        assert!(s.next_frame().unwrap().is_ok());
        assert!(s.next_frame().is_none());
        assert!(s.failure().unwrap().contains("camera lost: unplugged"));
        assert!(s.next_frame().is_none());
        assert_eq!(*calls.borrow(), 1, "no re-open");
        assert!(delays.borrow().is_empty());
    }

    #[test]
    fn re_opening_gives_up_after_the_attempts() {
        let calls = Rc::new(RefCell::new(0));
        let delays = Rc::new(RefCell::new(Vec::new()));
        let mut s = CameraSource::new("fake", opener(100, calls.clone()), policy(false, Some(3)))
            .unwrap()
            .with_sleep(recording(delays.clone()));
        assert!(s.next_frame().unwrap().is_ok());
        assert!(s.next_frame().unwrap().is_ok());
        assert!(s.next_frame().is_none());
        assert!(s.failure().unwrap().contains("could not be re-opened"));
        assert_eq!(*calls.borrow(), 4);
        assert_eq!(delays.borrow().len(), 3);
    }

    #[test]
    fn missing_device_lists_what_exists() {
        let e = match open("camera:/dev/video-edge-run-test-none", Reconnect::default()) {
            Ok(_) => panic!("opened a device that does not exist"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains("/dev/video-edge-run-test-none"), "{e}");
        assert!(e.contains("video devices found: "), "{e}");
        assert_eq!(device_path("camera"), PathBuf::from("/dev/video0"));
        assert_eq!(
            device_path("camera:/dev/video2"),
            PathBuf::from("/dev/video2")
        );
    }
}
