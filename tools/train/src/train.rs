//! Training from scratch: Adam, cross-entropy, shuffled batches, optional
//! augmentation, a warm-up + cosine learning-rate schedule, evaluation on the
//! test split after every epoch, a checkpoint per epoch and resuming from it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use edgerun_data::augment::Augment;
use edgerun_data::mnist::{Mnist, PIXELS, Split};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::batch::{epoch_order, gather, images_tensor, labels_tensor, take};
use crate::error::{Result, TrainError};
use crate::models::{Arch, ModelInfo, Net};

/// What and how to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: Arch,
    /// Output classes of the head.
    pub classes: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of Adam (after a short linear warm-up; cosine decay
    /// to 1% of it by the last step).
    pub lr: f64,
    /// L2 penalty added to the gradients (0: none).
    pub weight_decay: f32,
    /// Augment every training image (shift, rotation, scale, brightness,
    /// contrast: `edgerun_data::augment::Augment::default()`).
    pub augment: bool,
    /// Seeds the initialisation, the batch order and the augmentation.
    pub seed: u64,
    /// Train on the first `n` training images only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first `n` test images only.
    pub test_limit: Option<usize>,
    /// Continue from the checkpoint in the output directory, if there is one
    /// (written with the same configuration, `resume` and `stop_after` aside).
    pub resume: bool,
    /// Stop once this many epochs are done (counting resumed ones), to split
    /// a run; a later run with `resume` finishes it exactly as one run would.
    #[serde(default)]
    pub stop_after: Option<usize>,
}

impl TrainConfig {
    /// The defaults that reach the zoo's accuracy targets on MNIST.
    pub fn new(arch: Arch) -> Self {
        let (epochs, lr) = match arch {
            Arch::LeNet5 => (8, 2e-3),
            Arch::ResNet8 => (3, 3e-3),
            Arch::Vgg => (3, 1.5e-3),
            Arch::AlexNet => (8, 1.5e-3),
        };
        TrainConfig {
            arch,
            classes: 10,
            epochs,
            batch_size: 64,
            lr,
            weight_decay: 0.0,
            augment: true,
            seed: 1,
            train_limit: None,
            test_limit: None,
            resume: false,
            stop_after: None,
        }
    }

    fn check(&self) -> Result<()> {
        if self.batch_size == 0 || self.epochs == 0 || self.classes < 2 {
            return Err(TrainError::Config(format!(
                "batch_size ({}) and epochs ({}) must be positive and classes ({}) at least 2",
                self.batch_size, self.epochs, self.classes
            )));
        }
        let lr_ok = self.lr.is_finite() && self.lr > 0.0;
        let wd_ok = self.weight_decay.is_finite() && self.weight_decay >= 0.0;
        if !(lr_ok && wd_ok) {
            return Err(TrainError::Config(format!(
                "lr {} / weight_decay {}",
                self.lr, self.weight_decay
            )));
        }
        Ok(())
    }
}

/// Numbers of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

/// The outcome of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub arch: Arch,
    pub info: ModelInfo,
    /// Accuracy on the (possibly limited) test split after the last epoch.
    pub test_accuracy: f64,
    pub test_loss: f64,
    /// Epochs done, counting those of a resumed run.
    pub epochs: usize,
    /// Wall-clock seconds, counting those of a resumed run.
    pub seconds: f64,
    pub train_examples: usize,
    pub test_examples: usize,
    pub history: Vec<EpochStats>,
}

/// `state.json` of a checkpoint directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: TrainConfig,
    pub epochs_done: usize,
    pub seconds: f64,
    pub history: Vec<EpochStats>,
}

const STATE: &str = "state.json";
const MODEL: &str = "model.bpk";
const OPTIM: &str = "optim.bpk";

/// Path of the model weights of a checkpoint directory (after the last epoch).
pub fn model_path(dir: &Path) -> PathBuf {
    dir.join(MODEL)
}

/// Warm-up for the first 3% of the steps (at most 300), then cosine decay
/// from `lr` to `lr / 100`.
pub(crate) fn lr_at(lr: f64, step: usize, total: usize) -> f64 {
    let warm = (total * 3 / 100).clamp(1, 300);
    if step < warm {
        return lr * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (total.saturating_sub(warm)).max(1) as f64;
    let min = lr / 100.0;
    min + (lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
}

/// Test loss and accuracy of `model` on `split`.
pub fn evaluate(model: &Net, split: &Split) -> Result<(f64, f64)> {
    let device = crate::device();
    let m = model.valid();
    let ce = CrossEntropyLossConfig::new().init(&device);
    let (mut loss, mut correct) = (0.0f64, 0u64);
    const CHUNK: usize = 500;
    for start in (0..split.n).step_by(CHUNK) {
        let n = CHUNK.min(split.n - start);
        let imgs = split
            .images
            .get(start * PIXELS..(start + n) * PIXELS)
            .unwrap_or(&[]);
        let labels = split.labels.get(start..start + n).unwrap_or(&[]);
        if labels.len() != n || imgs.len() != n * PIXELS {
            return Err(TrainError::Config(format!(
                "split of {} examples is truncated",
                split.n
            )));
        }
        let logits = m.forward(images_tensor(imgs, n, &device));
        let targets = labels_tensor(labels, &device);
        let l: f32 = ce
            .forward(logits.clone(), targets.clone())
            .try_into_scalar()
            .map_err(tensor_err)?;
        loss += f64::from(l) * n as f64;
        let hits: i64 = logits
            .argmax(1)
            .flatten::<1>(0, 1)
            .equal(targets)
            .int()
            .sum()
            .try_into_scalar()
            .map_err(tensor_err)?;
        correct += hits as u64;
    }
    let n = split.n.max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// The logits of `model` for `n` images (`n * 784` bytes), row-major `[n, classes]`.
pub fn logits(model: &Net, images: &[u8], n: usize) -> Result<Vec<f32>> {
    let device = crate::device();
    let x = images_tensor(images, n, &device);
    model
        .valid()
        .forward(x)
        .into_data()
        .try_into_vec::<f32>()
        .map_err(tensor_err)
}

pub(crate) fn tensor_err(e: impl std::fmt::Debug) -> TrainError {
    TrainError::Tensor(format!("{e:?}"))
}

/// One training run's data and knobs, shared by [`train`] and fine-tuning.
pub(crate) struct Run<'a> {
    pub train: &'a Split,
    pub test: &'a Split,
    pub epochs: usize,
    /// Stop after this many epochs (the schedule still spans `epochs`).
    pub stop_after: Option<usize>,
    pub batch_size: usize,
    pub lr: f64,
    pub augment: Option<Augment>,
    pub seed: u64,
    pub progress: bool,
    pub label: String,
}

pub(crate) fn new_optimizer(weight_decay: f32) -> ModuleOptimizer {
    let wd = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay));
    AdamConfig::new().with_weight_decay(wd).init()
}

pub(crate) fn bar(progress: bool, len: usize, prefix: String) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(
        "{prefix:>18} [{bar:28}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_prefix(prefix);
    pb
}

/// Train `model` (on an autodiff device) for the epochs `first..run.epochs`
/// (0-based), calling `after_epoch` after each one.
pub(crate) fn run_epochs(
    mut model: Net,
    optim: &mut ModuleOptimizer,
    run: &Run<'_>,
    first: usize,
    mut after_epoch: impl FnMut(&Net, &ModuleOptimizer, &EpochStats) -> Result<()>,
) -> Result<(Net, Vec<EpochStats>)> {
    let device: Device = crate::device().autodiff();
    let ce = CrossEntropyLossConfig::new().init(&device);
    let steps_per_epoch = run.train.n.div_ceil(run.batch_size);
    let total = steps_per_epoch * run.epochs;
    let mut history = Vec::new();
    let last = run.stop_after.map_or(run.epochs, |s| s.min(run.epochs));
    for epoch in first..last {
        let t0 = Instant::now();
        let order = epoch_order(run.train.n, run.seed, epoch);
        let pb = bar(
            run.progress,
            steps_per_epoch,
            format!("{} {}/{}", run.label, epoch + 1, run.epochs),
        );
        let (mut loss_sum, mut hits, mut seen) = (0.0f64, 0i64, 0usize);
        for (b, idx) in order.chunks(run.batch_size).enumerate() {
            let (imgs, labels) = gather(run.train, idx, run.augment.as_ref(), run.seed, epoch);
            let n = labels.len();
            let x = images_tensor(&imgs, n, &device);
            let y = labels_tensor(&labels, &device);
            let out = model.forward(x);
            let loss = ce.forward(out.clone(), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = lr_at(run.lr, epoch * steps_per_epoch + b, total);
            model = optim.step(lr, model, grads);
            let l: f32 = loss.inner().try_into_scalar().map_err(tensor_err)?;
            let h: i64 = out
                .inner()
                .argmax(1)
                .flatten::<1>(0, 1)
                .equal(y.inner())
                .int()
                .sum()
                .try_into_scalar()
                .map_err(tensor_err)?;
            loss_sum += f64::from(l) * n as f64;
            hits += h;
            seen += n;
            pb.inc(1);
            if b % 20 == 0 {
                pb.set_message(format!(
                    "loss {:.4} acc {:.2}%",
                    loss_sum / seen as f64,
                    100.0 * hits as f64 / seen as f64
                ));
            }
        }
        let (test_loss, test_accuracy) = evaluate(&model, run.test)?;
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: hits as f64 / seen.max(1) as f64,
            test_loss,
            test_accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        pb.finish_with_message(format!(
            "loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}%",
            stats.train_loss,
            100.0 * stats.train_accuracy,
            stats.test_loss,
            100.0 * stats.test_accuracy
        ));
        after_epoch(&model, optim, &stats)?;
        history.push(stats);
    }
    Ok((model, history))
}

pub(crate) fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| TrainError::Json {
        path: path.into(),
        source: e,
    })?;
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, s).map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

fn read_state(dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join(STATE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| TrainError::Json { path, source: e }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(path, e)),
    }
}

/// Write the model weights (burnpack) atomically.
pub(crate) fn save_model(model: &Net, path: &Path) -> Result<()> {
    let tmp = path.with_extension("bpk.part");
    model
        .clone()
        .save_file(&tmp)
        .map_err(|e| TrainError::record(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// A model of `arch` with `classes` outputs on `device` with the weights of `path`.
pub(crate) fn load_model(path: &Path, arch: Arch, classes: usize, device: &Device) -> Result<Net> {
    if !path.exists() {
        return Err(TrainError::io(
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    Net::new(arch, classes, device)
        .try_load_file(path)
        .map_err(|e| TrainError::record(path, e))
}

/// The model after the last epoch of the checkpoint in `dir` (on the plain
/// CPU device) and its `state.json`.
pub fn load_checkpoint(dir: &Path) -> Result<(Net, Checkpoint)> {
    let state = read_state(dir)?.ok_or_else(|| TrainError::NoCheckpoint(dir.into()))?;
    let model = load_model(
        &dir.join(MODEL),
        state.config.arch,
        state.config.classes,
        &crate::device(),
    )?;
    Ok((model, state))
}

/// Train `cfg.arch` on `data.train` and evaluate on `data.test` after every
/// epoch. Writes to `out_dir`: `model.bpk` and `optim.bpk` (burnpack, after the
/// last finished epoch), `model-epochN.bpk` per epoch, `state.json` (config and
/// history) and finally `report.json`. With `cfg.resume`, continues from the
/// checkpoint found there (same seed and batch order as an uninterrupted run).
pub fn train(
    cfg: &TrainConfig,
    data: &Mnist,
    out_dir: &Path,
    progress: bool,
) -> Result<TrainReport> {
    cfg.check()?;
    std::fs::create_dir_all(out_dir).map_err(|e| TrainError::io(out_dir, e))?;
    let train_split = cfg
        .train_limit
        .map_or_else(|| data.train.clone(), |n| take(&data.train, n));
    let test_split = cfg
        .test_limit
        .map_or_else(|| data.test.clone(), |n| take(&data.test, n));
    if train_split.n == 0 || test_split.n == 0 {
        return Err(TrainError::Config("no training or test examples".into()));
    }
    if let Some(bad) = train_split
        .labels
        .iter()
        .chain(&test_split.labels)
        .find(|&&l| usize::from(l) >= cfg.classes)
    {
        return Err(TrainError::Config(format!(
            "label {bad} but only {} classes",
            cfg.classes
        )));
    }

    let ad = crate::device().autodiff();
    let mut optim = new_optimizer(cfg.weight_decay);
    let mut first = 0;
    let mut history = Vec::new();
    let mut seconds_before = 0.0;
    let mut model = crate::seeded(cfg.seed, || Net::new(cfg.arch, cfg.classes, &ad));

    if cfg.resume
        && let Some(state) = read_state(out_dir)?
    {
        let mut want = cfg.clone();
        want.resume = state.config.resume;
        want.stop_after = state.config.stop_after;
        if state.config != want {
            return Err(TrainError::CheckpointMismatch(format!(
                "{} was written with {:?}, not {:?}",
                out_dir.display(),
                state.config,
                want
            )));
        }
        model = load_model(&out_dir.join(MODEL), cfg.arch, cfg.classes, &ad)?;
        let op = out_dir.join(OPTIM);
        optim = optim.load(&op).map_err(|e| TrainError::record(&op, e))?;
        first = state.epochs_done;
        history = state.history;
        seconds_before = state.seconds;
    }

    let run = Run {
        train: &train_split,
        test: &test_split,
        epochs: cfg.epochs,
        stop_after: cfg.stop_after,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        augment: cfg.augment.then(Augment::default),
        seed: cfg.seed,
        progress,
        label: cfg.arch.name().to_string(),
    };
    let t0 = Instant::now();
    let mut done = history.clone();
    let (model, new_history) = run_epochs(model, &mut optim, &run, first, |m, o, s| {
        save_model(m, &out_dir.join(format!("model-epoch{}.bpk", s.epoch)))?;
        save_model(m, &out_dir.join(MODEL))?;
        let op = out_dir.join(OPTIM);
        o.save(&op).map_err(|e| TrainError::record(&op, e))?;
        done.push(s.clone());
        write_json(
            &out_dir.join(STATE),
            &Checkpoint {
                config: cfg.clone(),
                epochs_done: s.epoch,
                seconds: seconds_before + t0.elapsed().as_secs_f64(),
                history: done.clone(),
            },
        )
    })?;
    history.extend(new_history);
    let (test_loss, test_accuracy) = match history.last() {
        Some(s) => (s.test_loss, s.test_accuracy),
        None => evaluate(&model, &test_split)?,
    };
    let report = TrainReport {
        arch: cfg.arch,
        info: crate::models::info(cfg.arch, cfg.classes),
        test_accuracy,
        test_loss,
        epochs: history.len(),
        seconds: seconds_before + t0.elapsed().as_secs_f64(),
        train_examples: train_split.n,
        test_examples: test_split.n,
        history,
    };
    write_json(&out_dir.join("report.json"), &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_and_decays() {
        let total = 1000;
        assert!(lr_at(1.0, 0, total) < 0.1);
        assert!((lr_at(1.0, 30, total) - 1.0).abs() < 1e-3);
        assert!(lr_at(1.0, 500, total) < 0.6);
        assert!((lr_at(1.0, 999, total) - 0.01).abs() < 1e-3);
    }
}
