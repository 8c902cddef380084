//! An SSD-style single-shot digit detector for the MNIST scenes
//! (`edgerun_data::scenes`), in the shape of the d2l.ai course's TinySSD: a
//! small base net, three feature-map scales, and per scale one 3x3 class
//! predictor conv and one 3x3 box predictor conv.
//!
//! ```text
//! input 1x96x96
//! conv1 6@5x5 pad 2, relu, maxpool 2      48x48   (LeNet-5's conv1 shape)
//! conv2 16@5x5 pad 2, relu, maxpool 2     24x24   (LeNet-5's conv2 shape)
//! conv3 32@3x3, bn, relu, maxpool 2       12x12
//! conv4 64@3x3, bn, relu                  12x12  -> level 0 (stride 8)
//! conv5 64@3x3 stride 2, bn, relu          6x6   -> level 1 (stride 16)
//! conv6 64@3x3 stride 2, bn, relu          3x3   -> level 2 (stride 32)
//! per level: cls 3x3 -> anchors*(10+1), box 3x3 -> anchors*4
//! ```
//!
//! conv1 and conv2 have LeNet-5's shapes so that transfer learning can start
//! them from the zoo's trained LeNet-5 ([`Detector::init_from_lenet`]).
//! The anchors, box encoding and class list are a [`DetectorSpec`]
//! ([`default_spec`]), exported with the model (see `edgerun_compiler::detector`).

pub mod fit;
pub mod label;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use edgerun_compiler::detector::{DetectorSpec, LevelSpec};

use crate::error::{Result, TrainError};
use crate::models::{ModelInfo, Net};

/// Side of the input image.
pub const SIZE: usize = 96;
/// Object classes (the ten digits).
pub const CLASSES: usize = 10;
/// Seed of the test scenes (`edge-tools eval --data scenes-test`, and the
/// per-epoch score while training): scene `i` is `render_scene(test split,
/// default config, TEST_SEED, i)`.
pub const TEST_SEED: u64 = edgerun_data::scenes::TEST_SEED;
/// SSD's box-encoding variances.
pub const VARIANCES: [f32; 4] = [0.1, 0.1, 0.2, 0.2];

/// Anchor sizes per level (relative to the image) and the shared aspect
/// ratios (width / height). With ratio 0.7 an anchor of size `s` is `1.2 s`
/// tall, so the six sizes give heights of about 13, 18, 24, 34, 48 and 63
/// pixels on the 96-pixel canvas, steps of at most 1.41x, for digits 12 to 56
/// pixels tall; ratio 0.35 covers thin digits (ones).
const LEVELS: [(u32, [f32; 2]); 3] = [(12, [0.11, 0.155]), (6, [0.21, 0.3]), (3, [0.42, 0.55])];
const RATIOS: [f32; 2] = [0.7, 0.35];
/// Anchors per cell: `sizes + ratios - 1`.
pub const PER_CELL: usize = 3;
const WIDTH: usize = 64;

/// The anchors, encoding and classes of [`Detector`].
pub fn default_spec() -> DetectorSpec {
    DetectorSpec {
        input_size: SIZE as u32,
        classes: (0..CLASSES).map(|d| d.to_string()).collect(),
        variances: VARIANCES,
        levels: LEVELS
            .iter()
            .map(|&(side, sizes)| LevelSpec {
                rows: side,
                cols: side,
                sizes: sizes.to_vec(),
                ratios: RATIOS.to_vec(),
            })
            .collect(),
        scores_output: "scores".into(),
        boxes_output: "boxes".into(),
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, bias: bool, device: &Device) -> Conv2d {
    let pad = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// The detector (see the module docs).
#[derive(Module, Debug)]
pub struct Detector {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub conv4: Conv2d,
    pub bn4: BatchNorm,
    pub conv5: Conv2d,
    pub bn5: BatchNorm,
    pub conv6: Conv2d,
    pub bn6: BatchNorm,
    pub cls: Vec<Conv2d>,
    pub reg: Vec<Conv2d>,
    pub pool: MaxPool2d,
}

/// The raw head outputs of one level: class logits `[N, PER_CELL*(C+1), H, W]`
/// and box offsets `[N, PER_CELL*4, H, W]`.
pub type LevelOut = (Tensor<4>, Tensor<4>);

impl Detector {
    pub fn new(device: &Device) -> Self {
        let head = |cout: usize| -> Vec<Conv2d> {
            (0..LEVELS.len())
                .map(|_| conv(WIDTH, cout, 3, 1, true, device))
                .collect()
        };
        Detector {
            conv1: conv(1, 6, 5, 1, true, device),
            conv2: conv(6, 16, 5, 1, true, device),
            conv3: conv(16, 32, 3, 1, false, device),
            bn3: BatchNormConfig::new(32).init(device),
            conv4: conv(32, WIDTH, 3, 1, false, device),
            bn4: BatchNormConfig::new(WIDTH).init(device),
            conv5: conv(WIDTH, WIDTH, 3, 2, false, device),
            bn5: BatchNormConfig::new(WIDTH).init(device),
            conv6: conv(WIDTH, WIDTH, 3, 2, false, device),
            bn6: BatchNormConfig::new(WIDTH).init(device),
            cls: head(PER_CELL * (CLASSES + 1)),
            reg: head(PER_CELL * 4),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// A new detector whose conv1 and conv2 are copies of a trained LeNet-5's
    /// (transfer learning); the rest is freshly initialised.
    pub fn init_from_lenet(mut self, lenet: &Net) -> Result<Self> {
        let Net::LeNet5(l) = lenet else {
            return Err(TrainError::Config(format!(
                "the detector's base starts from a LeNet-5, not a {}",
                lenet.arch()
            )));
        };
        let same = |a: &Conv2d, b: &Conv2d| a.weight.shape() == b.weight.shape();
        if !same(&self.conv1, &l.conv1) || !same(&self.conv2, &l.conv2) {
            return Err(TrainError::Config("LeNet-5 conv shapes differ".into()));
        }
        self.conv1.weight = l.conv1.weight.clone();
        self.conv1.bias = l.conv1.bias.clone();
        self.conv2.weight = l.conv2.weight.clone();
        self.conv2.bias = l.conv2.bias.clone();
        Ok(self)
    }

    /// The per-level head outputs, in level order.
    pub fn heads(&self, x: Tensor<4>) -> Vec<LevelOut> {
        let x = self.pool.forward(relu(self.conv1.forward(x))); // 48
        let x = self.pool.forward(relu(self.conv2.forward(x))); // 24
        let x = self
            .pool
            .forward(relu(self.bn3.forward(self.conv3.forward(x)))); // 12
        let f0 = relu(self.bn4.forward(self.conv4.forward(x)));
        let f1 = relu(self.bn5.forward(self.conv5.forward(f0.clone())));
        let f2 = relu(self.bn6.forward(self.conv6.forward(f1.clone())));
        [f0, f1, f2]
            .into_iter()
            .zip(self.cls.iter().zip(&self.reg))
            .map(|(f, (c, r))| (c.forward(f.clone()), r.forward(f)))
            .collect()
    }

    /// Class logits `[N, anchors, C+1]` and box offsets `[N, anchors, 4]`,
    /// anchors in `edgerun::detect::generate_anchors` order.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let (mut cls, mut reg) = (Vec::new(), Vec::new());
        for (c, r) in self.heads(x) {
            cls.push(per_anchor(c, CLASSES + 1));
            reg.push(per_anchor(r, 4));
        }
        (Tensor::cat(cls, 1), Tensor::cat(reg, 1))
    }

    /// Parameters and multiply-accumulates of one inference.
    pub fn info() -> ModelInfo {
        let mut params = 0;
        let mut macs = 0;
        let mut conv = |cin: usize, cout: usize, k: usize, hw: usize, bias: bool, bn: bool| {
            params +=
                cout * cin * k * k + if bias { cout } else { 0 } + if bn { 2 * cout } else { 0 };
            macs += hw * hw * cout * cin * k * k;
        };
        conv(1, 6, 5, SIZE, true, false);
        conv(6, 16, 5, SIZE / 2, true, false);
        conv(16, 32, 3, SIZE / 4, false, true);
        conv(32, WIDTH, 3, SIZE / 8, false, true);
        conv(WIDTH, WIDTH, 3, SIZE / 16, false, true);
        conv(WIDTH, WIDTH, 3, SIZE / 32, false, true);
        for &(side, _) in &LEVELS {
            conv(
                WIDTH,
                PER_CELL * (CLASSES + 1),
                3,
                side as usize,
                true,
                false,
            );
            conv(WIDTH, PER_CELL * 4, 3, side as usize, true, false);
        }
        ModelInfo {
            params,
            bn_stats: 2 * (32 + 3 * WIDTH),
            macs,
        }
    }
}

/// `[N, PER_CELL*k, H, W]` -> `[N, H*W*PER_CELL, k]`: cells row by row, the
/// anchors of a cell together (the anchor order of the runtime).
pub fn per_anchor(x: Tensor<4>, k: usize) -> Tensor<3> {
    let [n, _, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([n, h * w * PER_CELL, k])
}

/// The pixels of a scene as the model's input, `pixel / 255`.
pub fn images_tensor(pixels: &[u8], n: usize, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = pixels
        .iter()
        .take(n * SIZE * SIZE)
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, [n, 1, SIZE, SIZE]), device)
}

pub use fit::{
    DetectorConfig, DetectorReport, collect, evaluate_detector, export_detector, load_detector,
    train_detector, verify_detector,
};
