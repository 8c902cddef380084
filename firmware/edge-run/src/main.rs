//! `edge-run MODEL SOURCE`: run a model on frames from a (simulated) camera or
//! image files, natively (edgerun's int8/f32 runtime) or through tract.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use edge_run::{Latencies, preprocess, source};
use edgerun_compiler::{CompileError, Tensor, host::HostModel};
use edgerun_report::host::{self, OpTimer};
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
else the 500 vendored ones), an image file, a directory of images, or a pattern like 'digits/*.png'. \
camera[:/dev/videoN] (V4L2) is not built yet."
)]
struct Cli {
    /// .edge, int8 ONNX or float ONNX.
    model: PathBuf,
    /// sim[:mnist][@FPS], an image, a directory or a '*' pattern.
    #[arg(default_value = "sim:mnist")]
    source: String,
    /// native: edgerun's runtime; tract: the tract engine; auto: native, and tract
    /// for models the native runtime cannot run.
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    backend: BackendKind,
    /// Stop after N frames (default: 100 for a simulated camera, all images otherwise).
    #[arg(long)]
    frames: Option<usize>,
    /// Classes to print per frame.
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// One JSON object per frame, then a summary object.
    #[arg(long)]
    json: bool,
    /// Print only the summary.
    #[arg(long, short)]
    quiet: bool,
    /// Also write a benchmark report (JSON: per-operator and inference
    /// medians over the frames, in ns) for `edge-tools report`. Native backend.
    #[arg(long, value_name = "OUT.json")]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    Auto,
    Native,
    Tract,
}

enum Backend {
    Native(Box<HostModel>),
    Tract(std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>),
}

struct Loaded {
    backend: Backend,
    /// Input shape (batch 1).
    shape: Vec<usize>,
}

fn onnx_input_shape(bytes: &[u8]) -> Result<Vec<usize>> {
    let m = edgerun_compiler::load_model(bytes)?;
    let g = m.graph.as_ref().context("the model has no graph")?;
    let init: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    let input = g
        .input
        .iter()
        .find(|i| !init.contains(i.name.as_str()))
        .context("the model has no input")?;
    use tract_onnx::pb::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        bail!("the input is not a tensor");
    };
    let dims = t
        .shape
        .as_ref()
        .context("the input has no shape")?
        .dim
        .iter();
    Ok(dims
        .map(|d| match d.value {
            Some(Value::DimValue(v)) if v > 0 => v as usize,
            _ => 1,
        })
        .collect())
}

fn load_tract(path: &PathBuf, shape: &[usize]) -> Result<Backend> {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .map_err(|e| anyhow::anyhow!("tract: {e}"))?
        .with_input_fact(0, f32::fact(shape).into())
        .map_err(|e| anyhow::anyhow!("tract: {e}"))?
        .into_optimized()
        .map_err(|e| anyhow::anyhow!("tract: {e}"))?
        .into_runnable()
        .map_err(|e| anyhow::anyhow!("tract: {e}"))?;
    Ok(Backend::Tract(model))
}

fn load(path: &PathBuf, kind: BackendKind, quiet: bool) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let is_edge = path.extension().is_some_and(|e| e == "edge");
    if is_edge {
        if kind == BackendKind::Tract {
            bail!("tract runs ONNX models, not .edge files");
        }
        let host = HostModel::new(&bytes)?;
        let shape = host
            .model()?
            .input(0)?
            .shape
            .dims()
            .iter()
            .map(|&d| d as usize)
            .collect();
        return Ok(Loaded {
            backend: Backend::Native(Box::new(host)),
            shape,
        });
    }
    let shape = onnx_input_shape(&bytes)?;
    if kind == BackendKind::Tract {
        return Ok(Loaded {
            backend: load_tract(path, &shape)?,
            shape,
        });
    }
    match edgerun_compiler::compile(&bytes, &Default::default()) {
        Ok(c) => {
            let host = HostModel::new(&c.bytes)?;
            let shape = host
                .model()?
                .input(0)?
                .shape
                .dims()
                .iter()
                .map(|&d| d as usize)
                .collect();
            Ok(Loaded {
                backend: Backend::Native(Box::new(host)),
                shape,
            })
        }
        Err(e @ CompileError::Unsupported { .. }) if kind == BackendKind::Auto => {
            if !quiet {
                eprintln!(
                    "note: the native runtime cannot run this model ({e}); falling back to tract"
                );
            }
            Ok(Loaded {
                backend: load_tract(path, &shape)?,
                shape,
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn infer(b: &mut Backend, x: &Tensor, timer: Option<&mut OpTimer>) -> Result<Vec<f32>> {
    match b {
        Backend::Native(h) => Ok(match timer {
            Some(t) => h.run_with_hook(std::slice::from_ref(x), t)?,
            None => h.run(std::slice::from_ref(x))?,
        }
        .first()
        .context("no output")?
        .to_f32()),
        Backend::Tract(m) => {
            use tract_onnx::prelude::*;
            let t = tract_ndarray::ArrayD::from_shape_vec(x.shape.clone(), x.to_f32())?;
            let out = m
                .run(tvec!(t.into_tensor().into()))
                .map_err(|e| anyhow::anyhow!("tract: {e}"))?;
            let v = out
                .first()
                .context("no output")?
                .to_plain_array_view::<f32>()
                .map_err(|e| anyhow::anyhow!("tract: {e}"))?;
            Ok(v.iter().copied().collect())
        }
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

fn run(cli: Cli) -> Result<i32> {
    let mut loaded = match load(&cli.model, cli.backend, cli.quiet || cli.json) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    let mut src = source::open(&cli.source)?;
    let limit = cli.frames.or(src.len_hint()).unwrap_or(100);
    let backend_name = match loaded.backend {
        Backend::Native(_) => "native",
        Backend::Tract(_) => "tract",
    };
    let mut timer = match (&cli.report, &loaded.backend) {
        (None, _) => None,
        (Some(_), Backend::Native(h)) => Some(OpTimer::new(h.model()?.num_ops())),
        (Some(_), Backend::Tract(_)) => {
            eprintln!("error: --report needs the native backend (tract runs this model)");
            return Ok(2);
        }
    };
    // Percentiles from a fixed-size histogram: a camera run never ends, so
    // memory must not grow with the frame count (tests/soak.sh).
    let mut lat = Latencies::default();
    let (mut errors, mut correct, mut labelled) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let mut i = 0;
    while i < limit {
        let Some(frame) = src.next_frame() else { break };
        i += 1;
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                errors += 1;
                eprintln!("skipped frame {}: {e:#}", i - 1);
                continue;
            }
        };
        let x = match preprocess(&frame, &loaded.shape) {
            Ok(x) => x,
            Err(e) => {
                errors += 1;
                eprintln!("skipped {}: {e:#}", frame.name);
                continue;
            }
        };
        let t0 = Instant::now();
        let logits = infer(&mut loaded.backend, &x, timer.as_mut())?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        lat.add(ms);
        let probs = softmax(&logits);
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        order.truncate(cli.top.max(1));
        if let Some(l) = frame.label {
            labelled += 1;
            correct += (order.first() == Some(&(l as usize))) as usize;
        }
        if cli.json {
            let top: Vec<String> = order
                .iter()
                .map(|&c| format!("{{\"class\":{c},\"score\":{:.6}}}", probs[c]))
                .collect();
            let label = frame
                .label
                .map(|l| l.to_string())
                .unwrap_or_else(|| "null".into());
            println!(
                "{{\"frame\":{},\"source\":{},\"latency_ms\":{ms:.4},\"top\":[{}],\"label\":{label}}}",
                i - 1,
                json_str(&frame.name),
                top.join(",")
            );
        } else if !cli.quiet {
            let top: Vec<String> = order
                .iter()
                .map(|&c| format!("{c} ({:.1}%)", probs[c] * 100.0))
                .collect();
            let truth = frame
                .label
                .map(|l| format!("  label {l}"))
                .unwrap_or_default();
            println!("{:<28} {}  {ms:.3} ms{truth}", frame.name, top.join(", "));
        }
    }
    let total = start.elapsed().as_secs_f64();
    let (p50, p95) = (lat.percentile(0.5), lat.percentile(0.95));
    let fps = lat.len() as f64 / total.max(1e-9);
    let acc = (labelled > 0).then(|| correct as f64 / labelled as f64);
    if cli.json {
        let acc = acc
            .map(|a| format!("{a:.6}"))
            .unwrap_or_else(|| "null".into());
        println!(
            "{{\"summary\":true,\"backend\":\"{backend_name}\",\"frames\":{},\"errors\":{errors},\"fps\":{fps:.2},\"p50_ms\":{p50:.4},\"p95_ms\":{p95:.4},\"accuracy\":{acc}}}",
            lat.len()
        );
    } else {
        let acc = acc
            .map(|a| format!(", top-1 {:.2}% of {labelled} labelled", a * 100.0))
            .unwrap_or_default();
        println!(
            "{} frames on {backend_name} ({errors} skipped): {fps:.1} FPS, latency p50 {p50:.3} ms, p95 {p95:.3} ms{acc}",
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
    Ok(0)
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
