//! `edge-tools train | augment-study | finetune | export`: the model zoo's
//! training commands (burn, CPU), thin wrappers over `edgerun-train`.

use anyhow::{Context, Result, bail};
use clap::Args;
use edgerun_data::mnist::{Mnist, PIXELS};
use edgerun_train::{
    Arch, FinetuneConfig, Task, TrainConfig, export_onnx, finetune_model, from_scratch,
    load_checkpoint, verify_onnx,
};
use std::path::{Path, PathBuf};

/// Options shared by `train` and `augment-study`.
#[derive(Args)]
pub struct TrainArgs {
    /// The architecture: lenet5, resnet8, vgg, alexnet (AlexNet at MNIST scale: LRN, overlapping pooling, dropout; the input is upsampled to 56x56 inside the graph), or detector (the SSD-style digit
    /// detector on MNIST scenes; there --train-limit and --test-limit count
    /// scenes: default 8000 training scenes and 500 test scenes per epoch).
    pub model: String,
    /// Epochs over the training set (default: lenet5 8, resnet8 3, vgg 3, alexnet 8: the shipped models).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Peak learning rate of Adam (linear warm-up, cosine decay).
    /// Default: lenet5 2e-3, resnet8 3e-3, vgg 1.5e-3, alexnet 1.5e-3.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of initialisation, batch order and augmentation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Train without data augmentation (default: shift, rotation, scale,
    /// brightness and contrast jitter; never flips, which change digits).
    #[arg(long)]
    pub no_augment: bool,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// MNIST cache directory (default: see `edge-tools data mnist --help`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

impl TrainArgs {
    fn arch(&self) -> Result<Arch> {
        Arch::parse(&self.model).with_context(|| {
            format!(
                "unknown model '{}' (lenet5, resnet8, vgg, alexnet or detector)",
                self.model
            )
        })
    }

    fn config(&self) -> Result<TrainConfig> {
        let mut c = TrainConfig::new(self.arch()?);
        if let Some(e) = self.epochs {
            c.epochs = e;
        }
        if let Some(lr) = self.lr {
            c.lr = lr;
        }
        c.batch_size = self.batch;
        c.seed = self.seed;
        c.weight_decay = self.weight_decay;
        c.augment = !self.no_augment;
        c.train_limit = self.train_limit;
        c.test_limit = self.test_limit;
        Ok(c)
    }
}

/// `edge-tools train`.
#[derive(Args)]
pub struct TrainCmd {
    #[command(flatten)]
    pub common: TrainArgs,
    /// Checkpoint directory (model.bpk, optim.bpk, model-epochN.bpk,
    /// state.json, report.json). Default: runs/MODEL.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Also export the trained model to this float ONNX file and check it
    /// against burn on 500 test images with edgerun's compiler and runtime.
    #[arg(long)]
    pub onnx: Option<PathBuf>,
    /// Continue an interrupted run from the checkpoint in --out (same
    /// options; the result equals an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many epochs of this invocation (resume later).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Print the training report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// detector only: start conv1 and conv2 from this LeNet-5 checkpoint
    /// directory (transfer learning), e.g. runs/lenet5.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
}

/// `edge-tools augment-study`.
#[derive(Args)]
pub struct AugmentStudyCmd {
    #[command(flatten)]
    pub common: TrainArgs,
    /// Directory for the two runs (plain/ and aug/). Default: runs/aug-MODEL.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Print both reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `edge-tools finetune`.
#[derive(Args)]
pub struct FinetuneCmd {
    /// A training checkpoint directory (written by `edge-tools train`).
    pub from: PathBuf,
    /// The new task: fiveclass (digits 0-4, a new 5-way head) or inverted
    /// (255 - pixel, all ten digits).
    #[arg(long)]
    pub task: String,
    /// Freeze the lowest N layers (convolutions first; the head always trains).
    #[arg(long, default_value_t = 2)]
    pub freeze: usize,
    /// Labelled training images of the new task.
    #[arg(long, default_value_t = 500)]
    pub labelled: usize,
    /// Epochs (the from-scratch baseline gets the same).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Peak learning rate (smaller than training from scratch by default).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Mini-batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of the new head, batch order and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Augment the few labelled images.
    #[arg(long)]
    pub augment: bool,
    /// Evaluate on only the first N test images of the task.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Skip the from-scratch baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Export the fine-tuned model to this float ONNX file.
    #[arg(long)]
    pub onnx: Option<PathBuf>,
    /// MNIST cache directory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `edge-tools export`.
#[derive(Args)]
pub struct ExportCmd {
    /// A training checkpoint directory.
    pub from: PathBuf,
    /// The float ONNX file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// MNIST cache directory (the export is checked on 500 test images).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

pub(crate) fn load(dir: Option<&Path>) -> Result<Mnist> {
    Ok(edgerun_data::mnist::load(dir)?)
}

pub(crate) fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Export `model` to `onnx` and check it on the first 500 test images with
/// edgerun's compiler and f32 runtime against burn's own logits.
fn export_and_verify(model: &edgerun_train::Net, onnx: &Path, data: &Mnist) -> Result<()> {
    let n = 500.min(data.test.n);
    export_onnx(model, onnx)?;
    let bytes = std::fs::read(onnx).with_context(|| format!("reading {}", onnx.display()))?;
    let images = data
        .test
        .images
        .get(..n * PIXELS)
        .context("test images shorter than their count")?;
    let v = verify_onnx(model, &bytes, images, n)?;
    eprintln!(
        "wrote {} ({} bytes); edgerun f32 vs burn on {} test images: max |diff| {:.2e}, {} arg-max mismatches",
        onnx.display(),
        bytes.len(),
        v.images,
        v.max_abs_diff,
        v.argmax_mismatches,
    );
    if v.max_abs_diff > 1e-3 || v.argmax_mismatches > 0 {
        bail!(
            "the exported model does not reproduce the trained one (max |diff| {:.2e}, {} arg-max mismatches)",
            v.max_abs_diff,
            v.argmax_mismatches
        );
    }
    Ok(())
}

pub fn train_cmd(a: TrainCmd) -> Result<()> {
    if a.common.model.eq_ignore_ascii_case("detector") {
        return crate::detect::train_detector_cmd(a);
    }
    if a.init_from.is_some() {
        bail!(
            "--init-from is for the detector (edge-tools train detector --init-from runs/lenet5)"
        );
    }
    let mut cfg = a.common.config()?;
    cfg.resume = a.resume;
    cfg.stop_after = a.stop_after;
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}", cfg.arch.name())));
    let data = load(a.common.data.as_deref())?;
    let r = edgerun_train::train(&cfg, &data, &out, !a.common.quiet)?;
    eprintln!(
        "{}: {:.2}% test accuracy after {} epochs in {:.1} s ({} params, {} MACs); checkpoint in {}",
        cfg.arch,
        100.0 * r.test_accuracy,
        r.epochs,
        r.seconds,
        r.info.params,
        r.info.macs,
        out.display()
    );
    if let Some(onnx) = &a.onnx {
        let (model, _) = load_checkpoint(&out)?;
        export_and_verify(&model, onnx, &data)?;
    }
    if a.json {
        print_json(&r)?;
    }
    Ok(())
}

pub fn augment_study_cmd(a: AugmentStudyCmd) -> Result<()> {
    let base_cfg = a.common.config()?;
    let base = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/aug-{}", base_cfg.arch.name())));
    let data = load(a.common.data.as_deref())?;
    let mut rows = Vec::new();
    for augment in [false, true] {
        let cfg = TrainConfig {
            augment,
            ..base_cfg.clone()
        };
        let dir = base.join(if augment { "aug" } else { "plain" });
        let r = edgerun_train::train(&cfg, &data, &dir, !a.common.quiet)?;
        eprintln!(
            "{} augment={augment}: {:.2}% test accuracy ({} training images, {} epochs, {:.1} s)",
            cfg.arch,
            100.0 * r.test_accuracy,
            r.train_examples,
            r.epochs,
            r.seconds
        );
        rows.push(serde_json::json!({ "augment": augment, "report": r }));
    }
    if a.json {
        print_json(&rows)?;
    }
    Ok(())
}

pub fn finetune_cmd(a: FinetuneCmd) -> Result<()> {
    if a.from.extension().is_some_and(|e| e == "onnx") {
        bail!(
            "{}: fine-tuning starts from a training checkpoint directory (the --out of `edge-tools train`), not an ONNX file",
            a.from.display()
        );
    }
    let task = Task::parse(&a.task)
        .with_context(|| format!("unknown task '{}' (fiveclass or inverted)", a.task))?;
    let mut cfg = FinetuneConfig::new(task, a.freeze);
    cfg.labelled = a.labelled;
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.batch {
        cfg.batch_size = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    cfg.augment = a.augment;
    cfg.test_limit = a.test_limit;
    let data = load(a.data.as_deref())?;
    let (pretrained, state) = load_checkpoint(&a.from)?;
    let progress = !a.quiet;
    let (model, tuned) = finetune_model(pretrained, &cfg, &data, progress)?;
    eprintln!(
        "{} {}: fine-tuned (frozen {:?}) {:.2}% ({} labelled, {} epochs, {} test images, {:.1} s)",
        state.config.arch,
        task.name(),
        tuned.frozen,
        100.0 * tuned.test_accuracy,
        tuned.train_examples,
        tuned.epochs,
        tuned.test_examples,
        tuned.seconds
    );
    let scratch = if a.no_baseline {
        None
    } else {
        let (_, s) = from_scratch(state.config.arch, &cfg, &data, progress)?;
        eprintln!(
            "{} {}: from scratch {:.2}% (same data and budget, {:.1} s)",
            state.config.arch,
            task.name(),
            100.0 * s.test_accuracy,
            s.seconds
        );
        Some(s)
    };
    if let Some(onnx) = &a.onnx {
        export_onnx(&model, onnx)?;
        eprintln!("wrote {}", onnx.display());
    }
    if a.json {
        print_json(&serde_json::json!({
            "config": cfg,
            "finetuned": tuned,
            "scratch": scratch,
        }))?;
    }
    Ok(())
}

pub fn export_cmd(a: ExportCmd) -> Result<()> {
    let (model, _) = load_checkpoint(&a.from)?;
    let data = load(a.data.as_deref())?;
    export_and_verify(&model, &a.output, &data)
}
