//! Fine-tuning a trained model to a new task with few labels: keep the
//! feature extractor, put on a new classifier head, freeze the lowest layers,
//! and compare against training the same architecture from scratch on the
//! same data with the same budget.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use edgerun_data::augment::Augment;
use edgerun_data::mnist::{Mnist, Split};
use serde::{Deserialize, Serialize};

use crate::batch::{filter, invert};
use crate::error::{Result, TrainError};
use crate::models::{Arch, Net};
use crate::train::{Run, evaluate, load_checkpoint, new_optimizer, run_epochs};

/// A new task built from MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Digits 0-4 only: a 5-way head. Training: the first `labelled` training
    /// images of those digits; test: every test image of those digits.
    FiveClass,
    /// Inverted images (`255 - p`: dark digits on a light background), all
    /// ten digits. Training: the first `labelled` training images, inverted;
    /// test: the 10,000 test images, inverted.
    Inverted,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::FiveClass => "fiveclass",
            Task::Inverted => "inverted",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        match s.to_ascii_lowercase().as_str() {
            "fiveclass" | "five" | "5" => Some(Task::FiveClass),
            "inverted" | "invert" => Some(Task::Inverted),
            _ => None,
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Task::FiveClass => 5,
            Task::Inverted => 10,
        }
    }

    /// The task's (training, test) splits, with at most `labelled` training examples.
    pub fn splits(self, data: &Mnist, labelled: usize) -> (Split, Split) {
        match self {
            Task::FiveClass => (
                filter(&data.train, labelled, |l| l < 5, |l| l),
                filter(&data.test, usize::MAX, |l| l < 5, |l| l),
            ),
            Task::Inverted => (
                invert(&filter(&data.train, labelled, |_| true, |l| l)),
                invert(&data.test),
            ),
        }
    }
}

/// How to fine-tune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    pub task: Task,
    /// Freeze the lowest `freeze` layers of [`Net::layers`] (at most all but the head).
    pub freeze: usize,
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Labelled training examples of the task.
    pub labelled: usize,
    pub augment: bool,
    pub seed: u64,
    /// Evaluate on the first `n` test examples of the task only.
    pub test_limit: Option<usize>,
}

impl FinetuneConfig {
    pub fn new(task: Task, freeze: usize) -> Self {
        FinetuneConfig {
            task,
            freeze,
            lr: 1e-3,
            epochs: 15,
            batch_size: 32,
            labelled: 500,
            augment: false,
            seed: 1,
            test_limit: None,
        }
    }
}

/// Test accuracy of one fine-tuning or from-scratch run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneReport {
    pub arch: Arch,
    pub task: Task,
    /// Frozen layers (0 for a run from scratch).
    pub frozen: Vec<String>,
    pub from_scratch: bool,
    pub train_examples: usize,
    pub test_examples: usize,
    pub epochs: usize,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub seconds: f64,
}

fn task_data(cfg: &FinetuneConfig, data: &Mnist) -> Result<(Split, Split)> {
    let (train, test) = cfg.task.splits(data, cfg.labelled);
    let test = match cfg.test_limit {
        Some(n) => crate::batch::take(&test, n),
        None => test,
    };
    if train.n == 0 || test.n == 0 {
        return Err(TrainError::Config(format!(
            "task {} has no training or test examples",
            cfg.task.name()
        )));
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 || !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(TrainError::Config(format!(
            "batch_size {} epochs {} lr {}",
            cfg.batch_size, cfg.epochs, cfg.lr
        )));
    }
    Ok((train, test))
}

fn run_task(
    model: Net,
    cfg: &FinetuneConfig,
    data: &Mnist,
    from_scratch: bool,
    progress: bool,
) -> Result<(Net, FinetuneReport)> {
    let (train, test) = task_data(cfg, data)?;
    let arch = model.arch();
    let frozen = if from_scratch {
        Vec::new()
    } else {
        model
            .layers()
            .iter()
            .take(cfg.freeze)
            .map(|s| s.to_string())
            .collect()
    };
    let run = Run {
        train: &train,
        test: &test,
        epochs: cfg.epochs,
        stop_after: None,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        augment: cfg.augment.then(Augment::default),
        seed: cfg.seed,
        progress,
        label: format!(
            "{}{}",
            cfg.task.name(),
            if from_scratch { "/scratch" } else { "/tuned" }
        ),
    };
    let t0 = Instant::now();
    let mut optim = new_optimizer(0.0);
    let (model, history) = run_epochs(model, &mut optim, &run, 0, |_, _, _| Ok(()))?;
    let (test_loss, test_accuracy) = match history.last() {
        Some(s) => (s.test_loss, s.test_accuracy),
        None => evaluate(&model, &test)?,
    };
    let report = FinetuneReport {
        arch,
        task: cfg.task,
        frozen,
        from_scratch,
        train_examples: train.n,
        test_examples: test.n,
        epochs: history.len(),
        test_accuracy,
        test_loss,
        seconds: t0.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

/// Prepare `pretrained` for `cfg.task`: on the autodiff device, with a new
/// head and the lowest `cfg.freeze` layers frozen.
pub fn prepare(pretrained: Net, cfg: &FinetuneConfig) -> Result<Net> {
    let layers = pretrained.layers().len();
    if cfg.freeze >= layers {
        return Err(TrainError::Config(format!(
            "freeze {} of {layers} layers: the new head ({}) must stay trainable",
            cfg.freeze,
            pretrained.layers().last().copied().unwrap_or("head")
        )));
    }
    let ad = crate::device().autodiff();
    // `train` restores gradients on the autodiff device; `fork` gives the
    // model its own graph there.
    let model = crate::seeded(cfg.seed, || {
        pretrained
            .train()
            .fork(&ad)
            .with_new_head(cfg.task.classes(), &ad)
    });
    Ok(model.freeze_lowest(cfg.freeze))
}

/// Fine-tune the model of the checkpoint directory `from` (see
/// [`crate::train`]) to `cfg.task`.
pub fn finetune(
    from: &Path,
    cfg: &FinetuneConfig,
    data: &Mnist,
    progress: bool,
) -> Result<(Net, FinetuneReport)> {
    let (pretrained, _) = load_checkpoint(from)?;
    finetune_model(pretrained, cfg, data, progress)
}

/// [`finetune`] from a model in memory.
pub fn finetune_model(
    pretrained: Net,
    cfg: &FinetuneConfig,
    data: &Mnist,
    progress: bool,
) -> Result<(Net, FinetuneReport)> {
    let model = prepare(pretrained, cfg)?;
    run_task(model, cfg, data, false, progress)
}

/// The baseline: `arch` trained from scratch on the same task data with the
/// same epochs, batch size and learning rate.
pub fn from_scratch(
    arch: Arch,
    cfg: &FinetuneConfig,
    data: &Mnist,
    progress: bool,
) -> Result<(Net, FinetuneReport)> {
    let ad = crate::device().autodiff();
    let model = crate::seeded(cfg.seed, || Net::new(arch, cfg.task.classes(), &ad));
    run_task(model, cfg, data, true, progress)
}
