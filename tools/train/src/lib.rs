//! edgerun's model zoo trainer: LeNet-5, ResNet-8 and a small VGG for MNIST,
//! trained on the CPU with burn's `flex` backend, exported to float ONNX that
//! `edgerun-compiler` compiles, and fine-tuned to new tasks with the lowest
//! layers frozen.
//!
//! ```no_run
//! use edgerun_train::{Arch, TrainConfig};
//! let data = edgerun_data::mnist::load(None)?;
//! let cfg = TrainConfig::new(Arch::LeNet5);
//! let report = edgerun_train::train(&cfg, &data, "runs/lenet5".as_ref(), true)?;
//! let (model, _) = edgerun_train::load_checkpoint("runs/lenet5".as_ref())?;
//! edgerun_train::export_onnx(&model, "models/lenet5.onnx".as_ref())?;
//! println!("{:.2}% in {:.0} s", 100.0 * report.test_accuracy, report.seconds);
//! # Ok::<(), edgerun_train::TrainError>(())
//! ```
//!
//! burn stays inside this crate: the rest of the workspace sees ONNX files.

pub mod batch;
pub mod detector;
pub mod error;
pub mod export;
pub mod finetune;
pub mod models;
pub mod train;

pub use error::{Result, TrainError};
pub use export::{Verification, export_onnx, export_onnx_bytes, verify_onnx};
pub use finetune::{
    FinetuneConfig, FinetuneReport, Task, finetune, finetune_model, from_scratch, prepare,
};
pub use models::{Arch, ModelInfo, Net};
pub use train::{
    Checkpoint, EpochStats, TrainConfig, TrainReport, evaluate, load_checkpoint, logits,
    model_path, train,
};

/// The CPU device everything here runs on (burn's pure-Rust `flex` backend).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

/// Run `init` right after seeding the backend's generator and initialise
/// every parameter of the module it returns, holding a process-wide lock.
/// burn 0.22 initialises parameters lazily, on first use, from one global
/// generator per backend: without this, two threads training at once (or a
/// first forward pass at another time) would interleave their draws.
pub(crate) fn seeded<M: burn::module::Module>(seed: u64, init: impl FnOnce() -> M) -> M {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            let _ = param.val();
        }
    }
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device().seed(seed);
    let module = init();
    module.visit(&mut Touch);
    module
}
