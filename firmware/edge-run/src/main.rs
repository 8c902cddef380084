//! `edge-run MODEL SOURCE`: run a model on frames from a (simulated) camera or
//! image files, natively (edgerun's int8/f32 runtime) or through tract.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use edge_run::annotate::{self, Mark};
use edge_run::board;
use edge_run::camera::{self, Reconnect};
use edge_run::{Latencies, preprocess, source};
use edgerun_compiler::detector::{DetectorSpec, PixelDetection, PostConfig};
use edgerun_compiler::engine::TractModel;
use edgerun_compiler::{CompileError, Tensor, host::HostModel};
use edgerun_data::map::{self, GroundTruth, Prediction};
use edgerun_report::host::{self, OpTimer};
use edgerun_report::render::{num, share};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "edge-run",
    version,
    about = "Run an edgerun model on a camera, a simulated camera or images",
    long_about = "Run an edgerun model on frames.\n\n\
MODEL is a .edge file, an int8 ONNX model (QDQ or QOperator) or a float ONNX model; ONNX is compiled on load.\n\
SOURCE is sim[:mnist][@FPS] (a simulated camera replaying MNIST test digits, the full test set when it is in the cache, \
else the 500 vendored ones), sim:scenes[@FPS] (the detection test scenes, 96x96 with 1-5 digits, rendered from the same digits, \
with their boxes), an image file, a directory of images, a pattern like 'digits/*.png', or camera / camera:/dev/videoN \
(V4L2; GREY, YUYV or MJPEG, centre-cropped to the model's aspect ratio and resized).\n\n\
A classifier prints its top classes per frame (and top-1 accuracy when the source knows the labels); a detector (a .edge file \
with a detector record, or an ONNX file with 'edgerun.detector' metadata) prints its boxes, classes and scores after the \
runtime's NMS (and mAP@0.5 when the source knows the boxes).\n\n\
Exit codes: 0 done; 1 a bad source, option or missing camera; 2 a model that cannot be loaded (corrupt, unsupported); \
3 a camera that vanished and was not re-opened (--exit-on-camera-loss, --camera-retries); 4 a model that does not fit \
the --board; 5 the firmware in QEMU failed (--board cortex-m4|cortex-m7: its build, its run, or an output that differs \
from the host runtime's)."
)]
struct Cli {
    /// .edge, int8 ONNX or float ONNX.
    model: PathBuf,
    /// sim[:mnist|:scenes][@FPS], an image, a directory or a '*' pattern.
    #[arg(default_value = "sim:mnist")]
    source: String,
    /// native: edgerun's runtime; tract: the tract engine; auto: native, and tract
    /// for models the native runtime cannot run.
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    backend: BackendKind,
    /// Stop after N frames (default: 100 for a simulated camera, all images,
    /// no limit for a camera).
    #[arg(long)]
    frames: Option<usize>,
    /// Classes to print per frame (classifiers).
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// Detectors: show boxes whose score is at least this (mAP counts every
    /// box down to 0.01, as `edge-tools eval`).
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Write each frame as a PNG with its boxes and labels (detectors) or its
    /// top-1 class (classifiers) drawn on it, into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// One JSON object per frame, then a summary object.
    #[arg(long)]
    json: bool,
    /// A camera that vanishes mid-run ends the run with exit code 3 instead of
    /// being re-opened.
    #[arg(long)]
    exit_on_camera_loss: bool,
    /// Re-open attempts for a vanished camera (back-off from 0.25 s to 5 s);
    /// default: try forever. Exit code 3 when they run out.
    #[arg(long, value_name = "N")]
    camera_retries: Option<u32>,
    /// Simulate a board: cortex-m4, cortex-m7 (check that the model and the
    /// firmware code fit its flash and the arena its RAM, print the budget,
    /// exit 4 on an overrun, then run the frames through the no_std runtime
    /// path in an arena of the board's RAM with the firmware's int8 kernel
    /// set), rpi4, rpi5 (run the aarch64 build under qemu-aarch64 as the Pi's
    /// CPU, or say how).
    #[arg(long, value_name = "BOARD")]
    board: Option<String>,
    /// With --board cortex-m4|cortex-m7, also bake the model and the first
    /// --qemu-frames frames into the real Cortex-M4F firmware
    /// (firmware/qemu-mps2-an386), run it in qemu-system-arm and report its
    /// instructions per inference and per operator, and whether every output
    /// matched the host runtime bit for bit. auto: when the firmware sources,
    /// qemu-system-arm, defmt-print and cargo are found (else say what is
    /// missing); on: they must be (exit 5 if not); off: never.
    #[arg(long, value_enum, default_value_t = QemuMode::Auto)]
    qemu: QemuMode,
    /// Infer up to N frames at once, one per thread, each thread with its own
    /// copy of the model and arena (the kernels themselves are
    /// single-threaded): more frames per second on a multi-core Pi or
    /// desktop, the same latency per frame and the same results, printed in
    /// frame order.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// Frames the firmware in QEMU runs (see --qemu).
    #[arg(long, value_name = "N", default_value_t = 20)]
    qemu_frames: usize,
    /// Print only the summary.
    #[arg(long, short)]
    quiet: bool,
    /// Also write a benchmark report (JSON: per-operator and inference
    /// medians over the frames, in ns) for `edge-tools report`. Native backend.
    #[arg(long, value_name = "OUT.json")]
    report: Option<PathBuf>,
}

/// The kernels a board simulation runs: the firmware's set (`FLOAT`: the f32
/// kernels too, as `AllKernels`; else only the int8 ones, as
/// `QuantizedKernels`), with the int8 conv and fully connected operators on
/// their scalar reference twins, whose bytes every board's SIMD twin matches
/// (`runtime/tests/determinism.rs`).
struct BoardKernels<const FLOAT: bool>;
impl<const F: bool> edgerun::KernelSet for BoardKernels<F> {
    const FLOAT: bool = F;
    const SIMD: bool = false;
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QemuMode {
    Auto,
    On,
    Off,
}

/// Flash of QEMU's mps2-an386 is 4 MiB; the baked frames and model must leave
/// room for the firmware's code.
const QEMU_BAKE_BYTES: usize = 3 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    Auto,
    Native,
    Tract,
}

enum Backend {
    Native(Box<HostModel>),
    /// A microcontroller board's path: the runtime's `Interpreter` on an
    /// arena of the board's RAM, int8 kernels only.
    Board {
        bytes: edgerun::format::write::AlignedBytes,
        arena: Vec<u8>,
        /// The model has f32 operators: `AllKernels`, else `QuantizedKernels`.
        float: bool,
    },
    Tract(TractModel),
}

impl Backend {
    /// Another instance for another thread: the same model with its own arena.
    // Without tract, `TractModel` has no values and its arm cannot run.
    #[cfg_attr(not(feature = "tract"), allow(unreachable_code))]
    fn replica(&self) -> Result<Backend> {
        Ok(match self {
            Backend::Native(h) => Backend::Native(Box::new(HostModel::new(h.edge_bytes())?)),
            Backend::Board {
                bytes,
                arena,
                float,
            } => Backend::Board {
                bytes: edgerun::format::write::AlignedBytes::new(bytes),
                arena: vec![0; arena.len()],
                float: *float,
            },
            Backend::Tract(m) => Backend::Tract(m.clone()),
        })
    }
}

struct Loaded {
    backend: Backend,
    /// Input shape (batch 1).
    shape: Vec<usize>,
    /// The detector's post-processing, for a detection model.
    det: Option<Det>,
}

/// A detection model's spec, its anchors and which outputs hold the head.
struct Det {
    spec: DetectorSpec,
    anchors: Vec<edgerun::detect::Box>,
    scores: usize,
    boxes: usize,
}

impl Det {
    /// `output_names` in the order the backend returns them.
    fn new(spec: DetectorSpec, output_names: &[String]) -> Result<Self> {
        let index = |name: &str| {
            output_names
                .iter()
                .position(|n| n == name)
                .with_context(|| format!("the detector has no output '{name}'"))
        };
        Ok(Det {
            anchors: spec.anchors()?,
            scores: index(&spec.scores_output)?,
            boxes: index(&spec.boxes_output)?,
            spec,
        })
    }
}

/// A native model, its input shape and, for a detector, its post-processing
/// (from the `.edge` record, or else from `spec`).
fn native(host: HostModel, spec: Option<DetectorSpec>) -> Result<Loaded> {
    let model = host.model()?;
    let shape = model
        .input(0)?
        .shape
        .dims()
        .iter()
        .map(|&d| d as usize)
        .collect();
    let spec = match DetectorSpec::from_edge(&model)? {
        Some(s) => Some(s),
        None => spec,
    };
    let names = (0..model.num_outputs())
        .map(|i| Ok(model.output(i)?.name.to_string()))
        .collect::<Result<Vec<_>>>()?;
    let det = spec.map(|s| Det::new(s, &names)).transpose()?;
    Ok(Loaded {
        backend: Backend::Native(Box::new(host)),
        shape,
        det,
    })
}

fn load(path: &PathBuf, kind: BackendKind, quiet: bool) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let is_edge = path.extension().is_some_and(|e| e == "edge");
    if is_edge {
        if kind == BackendKind::Tract {
            bail!("tract runs ONNX models, not .edge files");
        }
        return native(HostModel::new(&bytes)?, None);
    }
    let proto = edgerun_compiler::load_model(&bytes)?;
    let spec = DetectorSpec::from_model(&proto)?;
    let graph_outputs: Vec<String> = proto
        .graph
        .iter()
        .flat_map(|g| g.output.iter().map(|o| o.name.clone()))
        .collect();
    let tract = |spec: Option<DetectorSpec>| -> Result<Loaded> {
        let model = TractModel::new(&proto)?;
        Ok(Loaded {
            shape: model.input_shape(0)?,
            backend: Backend::Tract(model),
            det: spec.map(|s| Det::new(s, &graph_outputs)).transpose()?,
        })
    };
    if kind == BackendKind::Tract {
        return tract(spec);
    }
    match edgerun_compiler::compile_model(&proto, &Default::default()) {
        Ok(c) => native(HostModel::new(&c.bytes)?, spec),
        Err(e @ CompileError::Unsupported { .. })
            if kind == BackendKind::Auto && !edgerun_compiler::engine::TRACT_AVAILABLE =>
        {
            Err(anyhow::Error::new(e)
                .context("the native runtime cannot run this model, and this build has no tract fallback (feature `tract`)"))
        }
        Err(e @ CompileError::Unsupported { .. }) if kind == BackendKind::Auto => {
            if !quiet {
                eprintln!(
                    "note: the native runtime cannot run this model ({e}); falling back to tract"
                );
            }
            tract(spec)
        }
        Err(e) => Err(e.into()),
    }
}

/// Every output of the model, as f32, in the model's output order.
fn infer(b: &mut Backend, x: &Tensor, timer: Option<&mut OpTimer>) -> Result<Vec<Vec<f32>>> {
    match b {
        Backend::Native(h) => Ok(match timer {
            Some(t) => h.run_with_hook(std::slice::from_ref(x), t)?,
            None => h.run(std::slice::from_ref(x))?,
        }
        .iter()
        .map(Tensor::to_f32)
        .collect()),
        Backend::Board {
            bytes,
            arena,
            float,
        } => {
            let model = edgerun::Model::reparse(bytes)?; // parsed, checksum and all, at load
            let mut interp = edgerun::Interpreter::new(&model, arena)?;
            let input = interp.input_f32_mut(0)?;
            let x = x.to_f32();
            if input.len() != x.len() {
                bail!(
                    "the model takes {} values, the frame gave {}",
                    input.len(),
                    x.len()
                );
            }
            input.copy_from_slice(&x);
            if *float {
                interp.invoke_with_kernels::<BoardKernels<true>>(&mut edgerun::NoHook)?;
            } else {
                interp.invoke_with_kernels::<BoardKernels<false>>(&mut edgerun::NoHook)?;
            }
            (0..model.num_outputs())
                .map(|i| Ok(interp.output_f32(i)?.to_vec()))
                .collect()
        }
        Backend::Tract(m) => Ok(m
            .run(std::slice::from_ref(x))?
            .iter()
            .map(Tensor::to_f32)
            .collect()),
    }
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Detections are counted in mAP for at most this many labelled frames, so
/// that an endless simulated camera keeps constant memory.
const MAP_MAX_FRAMES: usize = 10_000;

/// What one frame gave.
enum Outcome {
    /// Classes in order of probability, with their probabilities.
    Classes(Vec<(usize, f32)>),
    /// Boxes after NMS (every box above 0.01), in frame pixels.
    Boxes(Vec<PixelDetection>),
}

/// A progress bar on stderr for a finite run whose frames print nothing on
/// a terminal (`--quiet`, `--json`, or stdout redirected); hidden otherwise,
/// and whenever stderr is not a terminal.
fn progress_bar(frames: usize, wanted: bool) -> ProgressBar {
    if !wanted || frames == usize::MAX || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(frames as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} frames  {per_sec}  {msg}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn run(cli: Cli) -> Result<i32> {
    let mut loaded = match load(&cli.model, cli.backend, cli.quiet || cli.json) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    let mut qemu_job: Option<QemuJob> = None;
    if let Some(name) = &cli.board {
        let board = board::board(name)?;
        match board.kind {
            // On an aarch64 machine (a Pi, or qemu-aarch64 as one) the board
            // is this machine.
            board::Kind::Pi if cfg!(target_arch = "aarch64") => {
                if !cli.quiet {
                    eprintln!(
                        "{}: this machine is aarch64: running natively ({} kernels chosen at run time)",
                        board.name, board.cpu
                    );
                }
            }
            board::Kind::Pi => {
                // The same command, less --board, on the aarch64 build.
                let mut args: Vec<String> = Vec::new();
                let mut skip = false;
                for a in std::env::args().skip(1) {
                    if skip {
                        skip = false;
                    } else if a == "--board" {
                        skip = true;
                    } else if !a.starts_with("--board=") {
                        args.push(a);
                    }
                }
                return match board::pi_command(&board, &args) {
                    Ok(mut cmd) => {
                        eprintln!(
                            "{}: running the aarch64 build under qemu-aarch64 as a {}",
                            board.name, board.cpu
                        );
                        let status = cmd.status().context("running qemu-aarch64")?;
                        Ok(status.code().unwrap_or(1))
                    }
                    Err(how) => {
                        eprintln!("{how}");
                        Ok(1)
                    }
                };
            }
            board::Kind::Mcu => {
                let Backend::Native(h) = &loaded.backend else {
                    eprintln!(
                        "error: --board {name} runs the native runtime; tract runs this model"
                    );
                    return Ok(2);
                };
                let model = h.model()?;
                // An f32 operator (e.g. the detector's softmax) needs the
                // firmware's AllKernels set, with more code.
                let mut float = false;
                for rec in model.ops() {
                    float |= rec?.op.kind().is_float_compute();
                }
                // A microcontroller keeps the model with its conv weights
                // packed for the DSP kernel instead of AVX2 (the firmware's
                // build repacks them the same way).
                let model_bytes = edgerun::format::write::for_cortex_m(h.edge_bytes())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cli.model.display()))?
                    .len();
                let budget = board::Budget::new(&board, model_bytes, model.arena_bytes(), float);
                for line in budget.lines(&board) {
                    if cli.json {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
                if !budget.fits() {
                    eprintln!("error: {} does not fit {}", cli.model.display(), board.name);
                    return Ok(4);
                }
                qemu_job = match (cli.qemu, edge_run::qemu::Firmware::locate()) {
                    (QemuMode::Off, _) => None,
                    (_, Ok(fw)) => Some(QemuJob {
                        fw,
                        edge: h.edge_bytes().to_vec(),
                        frames: Vec::new(),
                        labels: Vec::new(),
                        shape: Vec::new(),
                    }),
                    (mode, Err(missing)) => {
                        let msg =
                            format!("the real firmware in QEMU needs: {}", missing.join("; "));
                        if mode == QemuMode::On {
                            eprintln!("error: {msg}");
                            return Ok(5);
                        }
                        if !cli.quiet {
                            eprintln!("{msg} (--qemu off hides this)");
                        }
                        None
                    }
                };
                let bytes = edgerun::format::write::AlignedBytes::new(h.edge_bytes());
                // The board's RAM less the reserve, plus alignment slack.
                let arena = vec![0u8; budget.arena_available() + edgerun::format::ALIGN];
                loaded.backend = Backend::Board {
                    bytes,
                    arena,
                    float,
                };
            }
        }
    }
    let reconnect = Reconnect {
        exit_on_loss: cli.exit_on_camera_loss,
        max_attempts: cli.camera_retries,
        ..Reconnect::default()
    };
    let mut src = source::open(&cli.source, reconnect)?;
    // A camera frame is cropped to the model's aspect ratio, then resized.
    let is_camera = cli.source == "camera" || cli.source.starts_with("camera:");
    let aspect = match loaded.shape.as_slice() {
        [.., h, w] if loaded.shape.len() >= 3 => Some((*h, *w)),
        _ => None,
    };
    let limit = cli
        .frames
        .or(src.len_hint())
        .unwrap_or(if is_camera { usize::MAX } else { 100 });
    let backend_name = match loaded.backend {
        Backend::Native(_) => "native",
        Backend::Board { .. } => "no_std board path",
        Backend::Tract(_) => "tract",
    };
    let mut timer = match (&cli.report, &loaded.backend) {
        (None, _) => None,
        (Some(_), _) if cli.threads > 1 => {
            eprintln!("error: --report times operators on one thread: drop --threads");
            return Ok(2);
        }
        (Some(_), Backend::Native(h)) => Some(OpTimer::new(h.model()?.num_ops())),
        (Some(_), _) => {
            eprintln!("error: --report needs the native backend without --board");
            return Ok(2);
        }
    };
    if let Some(dir) = &cli.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let show = |dets: &[PixelDetection]| -> Vec<PixelDetection> {
        dets.iter()
            .filter(|d| d.score >= cli.threshold)
            .copied()
            .collect()
    };
    // Percentiles from a fixed-size histogram: a camera run never ends, so
    // memory must not grow with the frame count (tests/soak.sh).
    let mut lat = Latencies::default();
    let (mut errors, mut correct, mut labelled) = (0usize, 0usize, 0usize);
    let (mut gts, mut preds) = (Vec::new(), Vec::new());
    let mut shown_boxes = 0usize;
    let bar = progress_bar(
        limit,
        cli.quiet || cli.json || !std::io::stdout().is_terminal(),
    );
    // Messages go around the bar (a hidden bar prints them as they are).
    let warn = |msg: String| bar.suspend(|| eprintln!("{msg}"));
    let start = Instant::now();
    let mut i = 0;
    // With --threads N, up to N frames are read, then inferred at once, one
    // per thread (each with its own copy of the model and arena), then
    // printed in order.
    let mut replicas = Vec::new();
    for _ in 1..cli.threads.max(1) {
        replicas.push(loaded.backend.replica()?);
    }
    let mut ended = false;
    while i < limit && !ended {
        let mut batch: Vec<(usize, source::Frame, Tensor)> = Vec::new();
        while batch.len() <= replicas.len() && i < limit {
            let Some(frame) = src.next_frame() else {
                ended = true;
                break;
            };
            i += 1;
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    errors += 1;
                    warn(format!("skipped frame {}: {e:#}", i - 1));
                    continue;
                }
            };
            let frame = match aspect {
                Some((h, w)) if is_camera => match camera::crop_to_aspect(&frame, h, w) {
                    Ok(f) => f,
                    Err(e) => {
                        errors += 1;
                        warn(format!("skipped {}: {e:#}", frame.name));
                        continue;
                    }
                },
                _ => frame,
            };
            let x = match preprocess(&frame, &loaded.shape) {
                Ok(x) => x,
                Err(e) => {
                    errors += 1;
                    warn(format!("skipped {}: {e:#}", frame.name));
                    continue;
                }
            };
            if let Some(job) = qemu_job.as_mut() {
                job.add(&x, frame.label, cli.qemu_frames);
            }
            batch.push((i - 1, frame, x));
        }
        let det = loaded.det.as_ref();
        let results: Vec<Result<(Outcome, f64)>> = match batch.as_slice() {
            [] => Vec::new(),
            [(_, frame, x)] => vec![work(
                &mut loaded.backend,
                x,
                frame,
                det,
                cli.top,
                timer.as_mut(),
            )],
            _ => std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .zip(std::iter::once(&mut loaded.backend).chain(replicas.iter_mut()))
                    .map(|((_, frame, x), b)| {
                        s.spawn(move || work(b, x, frame, det, cli.top, None))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("an inference thread panicked"))
                        })
                    })
                    .collect()
            }),
        };
        for ((n, frame, _), result) in batch.into_iter().zip(results) {
            let (outcome, ms) = result?;
            lat.add(ms);
            bar.inc(1);
            if n % 16 == 0 {
                bar.set_message(format!(
                    "{:.1} FPS, p50 {:.3} ms",
                    (n + 1) as f64 / start.elapsed().as_secs_f64().max(1e-9),
                    lat.percentile(0.5)
                ));
            }
            let class_name = |c: u32| {
                loaded
                    .det
                    .as_ref()
                    .and_then(|d| d.spec.classes.get(c as usize).cloned())
                    .unwrap_or_else(|| c.to_string())
            };
            let marks: Vec<Mark> = match &outcome {
                Outcome::Classes(top) => {
                    if let (Some(l), Some(&(c, _))) = (frame.label, top.first()) {
                        labelled += 1;
                        correct += (c == l as usize) as usize;
                    }
                    if cli.json {
                        let top: Vec<String> = top
                            .iter()
                            .map(|(c, p)| format!("{{\"class\":{c},\"score\":{p:.6}}}"))
                            .collect();
                        let label = frame
                            .label
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "null".into());
                        println!(
                            "{{\"frame\":{n},\"source\":{},\"latency_ms\":{ms:.4},\"top\":[{}],\"label\":{label}}}",
                            json_str(&frame.name),
                            top.join(",")
                        );
                    } else if !cli.quiet {
                        let top: Vec<String> = top
                            .iter()
                            .map(|(c, p)| format!("{c} ({:.1}%)", p * 100.0))
                            .collect();
                        let truth = frame
                            .label
                            .map(|l| format!("  label {l}"))
                            .unwrap_or_default();
                        println!("{:<28} {}  {ms:.3} ms{truth}", frame.name, top.join(", "));
                    }
                    top.first()
                        .map(|&(c, _)| Mark {
                            bbox: None,
                            label: c.to_string(),
                            class: c,
                        })
                        .into_iter()
                        .collect()
                }
                Outcome::Boxes(all) => {
                    if let Some(truth) = &frame.boxes
                        && labelled < MAP_MAX_FRAMES
                    {
                        let image = labelled as u64;
                        labelled += 1;
                        gts.extend(truth.iter().map(|b| GroundTruth {
                            image,
                            class: b.class,
                            bbox: [b.x0, b.y0, b.x1, b.y1],
                        }));
                        preds.extend(all.iter().map(|d| Prediction {
                            image,
                            class: u8::try_from(d.class).unwrap_or(u8::MAX),
                            score: d.score,
                            bbox: corners(d),
                        }));
                    }
                    let shown = show(all);
                    shown_boxes += shown.len();
                    if cli.json {
                        let dets: Vec<String> = shown
                            .iter()
                            .map(|d| {
                                format!(
                                    "{{\"class\":{},\"name\":{},\"score\":{:.6},\"box\":{}}}",
                                    d.class,
                                    json_str(&class_name(d.class)),
                                    d.score,
                                    json_box(corners(d))
                                )
                            })
                            .collect();
                        let truth = match &frame.boxes {
                            Some(t) => format!(
                                "[{}]",
                                t.iter()
                                    .map(|b| format!(
                                        "{{\"class\":{},\"box\":{}}}",
                                        b.class,
                                        json_box([b.x0, b.y0, b.x1, b.y1])
                                    ))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ),
                            None => "null".into(),
                        };
                        println!(
                            "{{\"frame\":{n},\"source\":{},\"latency_ms\":{ms:.4},\"detections\":[{}],\"truth\":{truth}}}",
                            json_str(&frame.name),
                            dets.join(",")
                        );
                    } else if !cli.quiet {
                        let dets: Vec<String> = shown
                            .iter()
                            .map(|d| {
                                let [x0, y0, x1, y1] = corners(d);
                                format!(
                                    "{} {:.2} [{x0:.0},{y0:.0},{x1:.0},{y1:.0}]",
                                    class_name(d.class),
                                    d.score
                                )
                            })
                            .collect();
                        let truth = frame
                            .boxes
                            .as_ref()
                            .map(|t| {
                                let mut c: Vec<String> =
                                    t.iter().map(|b| b.class.to_string()).collect();
                                c.sort();
                                format!("  truth {}", c.join(" "))
                            })
                            .unwrap_or_default();
                        println!(
                            "{:<16} {} found: {}  {ms:.3} ms{truth}",
                            frame.name,
                            shown.len(),
                            dets.join("; ")
                        );
                    }
                    shown
                        .iter()
                        .map(|d| Mark {
                            bbox: Some(corners(d)),
                            label: class_name(d.class),
                            class: d.class as usize,
                        })
                        .collect()
                }
            };
            if let Some(dir) = &cli.save {
                let path = dir.join(annotate::file_name(n, &frame.name));
                annotate::annotate(&frame, &marks)?
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    bar.finish_and_clear();
    let failure = src.failure();
    let total = start.elapsed().as_secs_f64();
    let (p50, p95) = (lat.percentile(0.5), lat.percentile(0.95));
    let fps = lat.len() as f64 / total.max(1e-9);
    let acc = (loaded.det.is_none() && labelled > 0).then(|| correct as f64 / labelled as f64);
    let map = (loaded.det.is_some() && labelled > 0).then(|| map::evaluate(&gts, &preds));
    if cli.json {
        let opt = |v: Option<f64>| {
            v.map(|a| format!("{a:.6}"))
                .unwrap_or_else(|| "null".into())
        };
        let det = if loaded.det.is_some() {
            format!(
                ",\"boxes\":{shown_boxes},\"map_50\":{},\"map_50_95\":{},\"map_frames\":{labelled}",
                opt(map.as_ref().map(|m| m.map_50)),
                opt(map.as_ref().map(|m| m.map_50_95))
            )
        } else {
            String::new()
        };
        println!(
            "{{\"summary\":true,\"backend\":\"{backend_name}\",\"frames\":{},\"errors\":{errors},\"fps\":{fps:.2},\"p50_ms\":{p50:.4},\"p95_ms\":{p95:.4},\"accuracy\":{}{det}}}",
            lat.len(),
            opt(acc)
        );
    } else {
        let acc = acc
            .map(|a| format!(", top-1 {:.2}% of {labelled} labelled", a * 100.0))
            .unwrap_or_default();
        let map = map
            .map(|m| {
                format!(
                    ", mAP@0.5 {:.3} (mAP@[.5:.95] {:.3}) over {labelled} labelled frames",
                    m.map_50, m.map_50_95
                )
            })
            .unwrap_or_default();
        let boxes = if loaded.det.is_some() {
            format!(", {shown_boxes} boxes shown (score >= {})", cli.threshold)
        } else {
            String::new()
        };
        println!(
            "{} frames on {backend_name} ({errors} skipped): {fps:.1} FPS, latency p50 {p50:.3} ms, p95 {p95:.3} ms{acc}{boxes}{map}",
            lat.len()
        );
    }
    if let (Some(out), Some(timer), Backend::Native(h)) = (&cli.report, timer, &loaded.backend) {
        let name = cli.model.file_stem().map(|s| s.to_string_lossy());
        let model = h.model()?;
        let mut part = host::model_part(&model, h.edge_bytes(), &name.unwrap_or_default())?;
        timer.fill(&mut part.ops);
        // From the latency histogram (within its 1.2% resolution), in ns.
        let total = edgerun_report::Cost {
            cost: lat.percentile(0.5) * 1e6,
            min: Some(lat.percentile(0.0) * 1e6),
            max: Some(lat.percentile(1.0) * 1e6),
        };
        let runs = lat.len();
        let report = host::host_report("edge-run", "edgerun-native", part, runs, total);
        report.write(out)?;
        if !cli.json {
            println!("wrote {}", out.display());
        }
    }
    if let Some(why) = failure {
        eprintln!("error: {why}");
        return Ok(3);
    }
    if let Some(job) = qemu_job {
        let name = cli
            .model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        return Ok(job.run(&name, &cli));
    }
    Ok(0)
}

/// The frames for the firmware in QEMU (`--qemu`), gathered during the run.
struct QemuJob {
    fw: edge_run::qemu::Firmware,
    edge: Vec<u8>,
    /// One byte per input element: the firmware's `Preprocess::Divide(255)`
    /// gives back the host's input exactly when the frame needed no resize.
    frames: Vec<u8>,
    labels: Vec<Option<u8>>,
    shape: Vec<usize>,
}

impl QemuJob {
    fn add(&mut self, x: &Tensor, label: Option<u8>, max: usize) {
        let full = self.edge.len() + self.frames.len() + x.len() > QEMU_BAKE_BYTES;
        if self.labels.len() >= max || full || (!self.shape.is_empty() && self.shape != x.shape) {
            return;
        }
        self.shape.clone_from(&x.shape);
        self.frames.extend(
            x.to_f32()
                .iter()
                .map(|p| (p * 255.0).round().clamp(0.0, 255.0) as u8),
        );
        self.labels.push(label);
    }

    /// Build and run the firmware; print what it measured. The exit code.
    fn run(self, name: &str, cli: &Cli) -> i32 {
        let quiet = cli.quiet || cli.json;
        let labels: Option<Vec<u8>> = self.labels.iter().copied().collect();
        let frames = self.labels.len();
        let say = |m: &str| {
            if !quiet {
                eprintln!("{m}");
            }
        };
        let job = edge_run::qemu::Job {
            name,
            edge: &self.edge,
            frames: &self.frames,
            frame_shape: self.shape.get(1..).unwrap_or(&[]),
            labels: labels.as_deref(),
        };
        let run = self.fw.run(&job, std::time::Duration::from_secs(900), &say);
        let r = match run {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: the firmware in QEMU: {e:#}");
                return 5;
            }
        };
        let m = &r.model;
        let macs: u64 = m.ops.iter().map(|o| o.2).sum();
        let per_mac = if macs > 0 {
            m.total.cost / macs as f64
        } else {
            0.0
        };
        let accuracy = labels.as_ref().map(|l| (m.correct, l.len()));
        if cli.json {
            let ops: Vec<String> = m
                .ops
                .iter()
                .map(|(name, kind, macs, c)| {
                    format!(
                        "{{\"name\":{},\"kind\":{},\"macs\":{macs},\"instructions\":{:.0}}}",
                        json_str(name),
                        json_str(kind),
                        c.cost
                    )
                })
                .collect();
            println!(
                "{{\"firmware\":\"qemu-mps2-an386\",\"cpu\":{},\"kernels\":{},\"frames\":{frames},\"bit_exact\":true,\"correct\":{},\"labelled\":{},\"instructions_per_inference\":{:.0},\"min\":{:.0},\"max\":{:.0},\"macs\":{macs},\"per_mac\":{per_mac:.4},\"arena_bytes\":{},\"ops\":[{}]}}",
                json_str(&r.cpu),
                json_str(&r.kernels),
                m.correct,
                accuracy.map_or(0, |a| a.1),
                m.total.cost,
                m.total.min.unwrap_or(m.total.cost),
                m.total.max.unwrap_or(m.total.cost),
                m.arena_bytes,
                ops.join(",")
            );
            return 0;
        }
        let acc = accuracy
            .map(|(c, n)| format!(", {c}/{n} correct"))
            .unwrap_or_default();
        println!(
            "firmware in QEMU (qemu-mps2-an386, {}, {} kernels): {frames} frames, every output bit-exact with the host runtime{acc}",
            r.cpu, r.kernels
        );
        println!(
            "  {} instructions per inference (min {}, max {}), {per_mac:.2} per MAC, arena {} B; built in {:.1} s, ran in {:.1} s",
            num(m.total.cost),
            num(m.total.min.unwrap_or(m.total.cost)),
            num(m.total.max.unwrap_or(m.total.cost)),
            num(m.arena_bytes as f64),
            r.build.as_secs_f64(),
            r.run.as_secs_f64()
        );
        let mut ops: Vec<&(String, String, u64, edgerun_report::Cost)> = m.ops.iter().collect();
        ops.sort_by(|a, b| b.3.cost.total_cmp(&a.3.cost));
        let top: Vec<String> = ops
            .iter()
            .take(5)
            .map(|(name, kind, _, c)| {
                format!("{name} ({kind}) {:.0}%", share(c.cost, m.total.cost))
            })
            .collect();
        println!("  most instructions: {}", top.join(", "));
        0
    }
}

/// Infer one frame and post-process its outputs: what the model found, and
/// the time it took (ms).
fn work(
    backend: &mut Backend,
    x: &Tensor,
    frame: &source::Frame,
    det: Option<&Det>,
    top: usize,
    timer: Option<&mut OpTimer>,
) -> Result<(Outcome, f64)> {
    let t0 = Instant::now();
    let outputs = infer(backend, x, timer)?;
    let outcome = match det {
        Some(det) => {
            let head = |k: usize| outputs.get(k).context("the model returned too few outputs");
            let dets = det.spec.postprocess(
                &det.anchors,
                head(det.scores)?,
                head(det.boxes)?,
                &PostConfig::EVAL,
            )?;
            Outcome::Boxes(to_frame_pixels(&dets, frame, det.spec.input_size))
        }
        None => {
            let probs = softmax(outputs.first().context("no output")?);
            let mut order: Vec<usize> = (0..probs.len()).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            order.truncate(top.max(1));
            Outcome::Classes(order.iter().map(|&c| (c, probs[c])).collect())
        }
    };
    Ok((outcome, t0.elapsed().as_secs_f64() * 1e3))
}

/// Detections in model-input pixels scaled to the frame's pixels.
fn to_frame_pixels(
    dets: &[PixelDetection],
    frame: &source::Frame,
    side: u32,
) -> Vec<PixelDetection> {
    let side = side.max(1) as f32;
    let (sx, sy) = (frame.width as f32 / side, frame.height as f32 / side);
    dets.iter()
        .map(|d| PixelDetection {
            bbox: edgerun::detect::Box::new(
                d.bbox.x0 * sx,
                d.bbox.y0 * sy,
                d.bbox.x1 * sx,
                d.bbox.y1 * sy,
            ),
            ..*d
        })
        .collect()
}

fn corners(d: &PixelDetection) -> [f32; 4] {
    [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1]
}

fn json_box(b: [f32; 4]) -> String {
    format!("[{:.2},{:.2},{:.2},{:.2}]", b[0], b[1], b[2], b[3])
}

fn main() {
    edgerun_report::cli::default_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
