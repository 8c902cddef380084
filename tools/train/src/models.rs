//! The model zoo: LeNet-5, ResNet-8, a small VGG and AlexNet at MNIST
//! scale, as burn modules.
//!
//! Every model takes `input`, float32 `[N, 1, 28, 28]` holding `pixel / 255`,
//! and returns `logits` `[N, classes]` (no softmax: the exported graph ends
//! at the logits). Each model is a feature extractor followed by one linear
//! classifier head, and lists its trainable *layers* from the input up, so
//! that fine-tuning can freeze the lowest `n` of them (see [`Net::freeze_lowest`]).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Side of the square input image.
pub const SIDE: usize = 28;

/// The architectures of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// LeNet-5: conv 6@5x5 pad 2, pool, conv 16@5x5, pool, fc 120, fc 84, fc.
    LeNet5,
    /// ResNet-8 (the MLPerf Tiny topology on 1x28x28): stem 16, stages 16/32/64.
    ResNet8,
    /// VGG-style: [16,16]-pool-[32,32]-pool, fc 128, fc.
    Vgg,
    /// AlexNet at MNIST scale: input upsampled to 56x56 in the graph, five
    /// convs, LRN, overlapping max pooling, dropout, three fully connected.
    AlexNet,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::LeNet5, Arch::ResNet8, Arch::Vgg, Arch::AlexNet];

    /// The short name used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arch::LeNet5 => "lenet5",
            Arch::ResNet8 => "resnet8",
            Arch::Vgg => "vgg",
            Arch::AlexNet => "alexnet",
        }
    }

    /// Parse [`Arch::name`] (case-insensitive; `lenet` and `resnet` also work).
    pub fn parse(s: &str) -> Option<Arch> {
        match s.to_ascii_lowercase().as_str() {
            "lenet5" | "lenet" | "lenet-5" => Some(Arch::LeNet5),
            "resnet8" | "resnet" | "resnet-8" => Some(Arch::ResNet8),
            "vgg" => Some(Arch::Vgg),
            "alexnet" => Some(Arch::AlexNet),
            _ => None,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Size and cost of a model, computed from its architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Trainable parameters (weights, biases, BatchNorm scale and shift; not
    /// the BatchNorm running statistics).
    pub params: usize,
    /// BatchNorm running means and variances (not trained, but stored).
    pub bn_stats: usize,
    /// Multiply-accumulates of one inference on one image (conv and linear
    /// layers; pooling, BatchNorm, ReLU and adds are not counted).
    pub macs: usize,
}

/// Accumulates [`ModelInfo`] layer by layer.
#[derive(Default)]
struct Cost {
    params: usize,
    bn_stats: usize,
    macs: usize,
}

impl Cost {
    /// A `k`x`k` conv with bias from `cin` to `cout` channels producing `hw`x`hw`.
    fn conv(&mut self, cin: usize, cout: usize, k: usize, hw: usize, bias: bool) {
        self.params += cout * cin * k * k + if bias { cout } else { 0 };
        self.macs += hw * hw * cout * cin * k * k;
    }
    fn bn(&mut self, c: usize) {
        self.params += 2 * c;
        self.bn_stats += 2 * c;
    }
    fn linear(&mut self, din: usize, dout: usize) {
        self.params += din * dout + dout;
        self.macs += din * dout;
    }
    fn done(self) -> ModelInfo {
        ModelInfo {
            params: self.params,
            bn_stats: self.bn_stats,
            macs: self.macs,
        }
    }
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
        .init(device)
}

/// Freeze the lowest `$n` layers of `$model`, a layer being the fields in one
/// pair of parentheses, listed from the input up; evaluates to the model.
macro_rules! freeze_lowest {
    ($model:ident, $n:expr, $( ($($field:ident),+) ),+ $(,)?) => {{
        let mut layer = 0usize;
        $(
            if $n > layer {
                $( $model.$field = $model.$field.freeze(); )+
            }
            layer += 1;
        )+
        let _ = layer;
        $model
    }};
}

fn max_pool2() -> MaxPool2d {
    MaxPool2dConfig::new([2, 2]).init()
}

fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c * h * w])
}

// ---------------------------------------------------------------- LeNet-5

/// LeNet-5 (ReLU and max pooling instead of the 1998 tanh and subsampling).
#[derive(Module, Debug)]
pub struct LeNet5 {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub head: Linear,
    pub pool: MaxPool2d,
}

impl LeNet5 {
    pub fn new(classes: usize, device: &Device) -> Self {
        LeNet5 {
            conv1: conv(1, 6, 5, 1, 2, true, device),
            conv2: conv(6, 16, 5, 1, 0, true, device),
            fc1: LinearConfig::new(16 * 5 * 5, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            head: LinearConfig::new(84, classes).init(device),
            pool: max_pool2(),
        }
    }

    /// The output of `fc2`: the 84 features the head reads.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x))); // 6x14x14
        let x = self.pool.forward(relu(self.conv2.forward(x))); // 16x5x5
        let x = relu(self.fc1.forward(flatten(x)));
        relu(self.fc2.forward(x))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    pub fn info(classes: usize) -> ModelInfo {
        let mut c = Cost::default();
        c.conv(1, 6, 5, 28, true);
        c.conv(6, 16, 5, 10, true);
        c.linear(400, 120);
        c.linear(120, 84);
        c.linear(84, classes);
        c.done()
    }

    pub const LAYERS: &[&str] = &["conv1", "conv2", "fc1", "fc2", "head"];

    fn freeze_lowest(mut self, n: usize) -> Self {
        freeze_lowest!(self, n, (conv1), (conv2), (fc1), (fc2), (head))
    }
}

// ---------------------------------------------------------------- ResNet-8

/// conv3x3-BN-ReLU-conv3x3-BN, plus a 1x1 conv projection (with bias, as in
/// MLPerf Tiny) on the shortcut when the shape changes, then add and ReLU.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub proj: Option<Conv2d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let shortcut = stride != 1 || cin != cout;
        ResBlock {
            conv1: conv(cin, cout, 3, stride, 1, false, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv(cout, cout, 3, 1, 1, false, device),
            bn2: BatchNormConfig::new(cout).init(device),
            proj: shortcut.then(|| conv(cin, cout, 1, stride, 0, true, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let s = match &self.proj {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(y + s)
    }

    fn cost(c: &mut Cost, cin: usize, cout: usize, hw_out: usize) {
        c.conv(cin, cout, 3, hw_out, false);
        c.bn(cout);
        c.conv(cout, cout, 3, hw_out, false);
        c.bn(cout);
        if cin != cout {
            c.conv(cin, cout, 1, hw_out, true);
        }
    }
}

/// ResNet-8 as in MLPerf Tiny's image classification benchmark (there on
/// 32x32x3): a 16-channel stem, three residual stages of one block each with
/// 16, 32 and 64 channels at strides 1, 2, 2, global average pooling and one
/// linear layer. Spatial sizes here: 28, 28, 14, 7.
#[derive(Module, Debug)]
pub struct ResNet8 {
    pub stem: Conv2d,
    pub stem_bn: BatchNorm,
    pub stage1: ResBlock,
    pub stage2: ResBlock,
    pub stage3: ResBlock,
    pub gap: AdaptiveAvgPool2d,
    pub head: Linear,
}

impl ResNet8 {
    pub fn new(classes: usize, device: &Device) -> Self {
        ResNet8 {
            stem: conv(1, 16, 3, 1, 1, false, device),
            stem_bn: BatchNormConfig::new(16).init(device),
            stage1: ResBlock::new(16, 16, 1, device),
            stage2: ResBlock::new(16, 32, 2, device),
            stage3: ResBlock::new(32, 64, 2, device),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(64, classes).init(device),
        }
    }

    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem_bn.forward(self.stem.forward(x)));
        let x = self
            .stage3
            .forward(self.stage2.forward(self.stage1.forward(x)));
        flatten(self.gap.forward(x))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    pub fn info(classes: usize) -> ModelInfo {
        let mut c = Cost::default();
        c.conv(1, 16, 3, 28, false);
        c.bn(16);
        ResBlock::cost(&mut c, 16, 16, 28);
        ResBlock::cost(&mut c, 16, 32, 14);
        ResBlock::cost(&mut c, 32, 64, 7);
        c.linear(64, classes);
        c.done()
    }

    pub const LAYERS: &[&str] = &["stem", "stage1", "stage2", "stage3", "head"];

    fn freeze_lowest(mut self, n: usize) -> Self {
        freeze_lowest!(
            self,
            n,
            (stem, stem_bn),
            (stage1),
            (stage2),
            (stage3),
            (head)
        )
    }
}

// ---------------------------------------------------------------- VGG

/// A small VGG: two blocks of two 3x3 convs (16 then 32 channels, padding 1,
/// ReLU), each block followed by a 2x2 max pool, then fc 128 and the head.
#[derive(Module, Debug)]
pub struct Vgg {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub conv3: Conv2d,
    pub conv4: Conv2d,
    pub fc1: Linear,
    pub head: Linear,
    pub pool: MaxPool2d,
}

/// Channels of the VGG blocks.
pub const VGG_BLOCKS: [[usize; 2]; 2] = [[16, 16], [32, 32]];
const VGG_FC: usize = 128;

impl Vgg {
    pub fn new(classes: usize, device: &Device) -> Self {
        let [[a, b], [c, d]] = VGG_BLOCKS;
        Vgg {
            conv1: conv(1, a, 3, 1, 1, true, device),
            conv2: conv(a, b, 3, 1, 1, true, device),
            conv3: conv(b, c, 3, 1, 1, true, device),
            conv4: conv(c, d, 3, 1, 1, true, device),
            fc1: LinearConfig::new(d * 7 * 7, VGG_FC).init(device),
            head: LinearConfig::new(VGG_FC, classes).init(device),
            pool: max_pool2(),
        }
    }

    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv2.forward(relu(self.conv1.forward(x))));
        let x = self.pool.forward(x); // 14x14
        let x = relu(self.conv4.forward(relu(self.conv3.forward(x))));
        let x = self.pool.forward(x); // 7x7
        relu(self.fc1.forward(flatten(x)))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    pub fn info(classes: usize) -> ModelInfo {
        let [[a, b], [c2, d]] = VGG_BLOCKS;
        let mut c = Cost::default();
        c.conv(1, a, 3, 28, true);
        c.conv(a, b, 3, 28, true);
        c.conv(b, c2, 3, 14, true);
        c.conv(c2, d, 3, 14, true);
        c.linear(d * 7 * 7, VGG_FC);
        c.linear(VGG_FC, classes);
        c.done()
    }

    pub const LAYERS: &[&str] = &["conv1", "conv2", "conv3", "conv4", "fc1", "head"];

    fn freeze_lowest(mut self, n: usize) -> Self {
        freeze_lowest!(self, n, (conv1), (conv2), (conv3), (conv4), (fc1), (head))
    }
}

// ---------------------------------------------------------------- AlexNet

/// Side of AlexNet's input after the in-graph upsampling (nearest, x2).
pub const ALEXNET_SIDE: usize = 56;
/// Channels of AlexNet's five convs (the 2012 net's 96-256-384-384-256, scaled down).
pub const ALEXNET_CONVS: [usize; 5] = [16, 32, 48, 48, 32];
const ALEXNET_FC: usize = 256;

/// Local response normalisation across channels, with AlexNet's constants
/// (Krizhevsky et al. 2012, section 3.3: n = 5, alpha = 1e-4, beta = 0.75,
/// k = 2) and ONNX `LRN`'s definition:
/// `y = x / (k + alpha / n * sum(x^2 over the n channels centred on c))^beta`.
pub mod lrn {
    pub const SIZE: usize = 5;
    pub const ALPHA: f64 = 1e-4;
    pub const BETA: f64 = 0.75;
    pub const BIAS: f64 = 2.0;
}

/// The `[c, c]` 0/1 matrix whose row `o` sums the `size` channels of ONNX
/// `LRN`'s window around channel `o`: `[o - floor((size-1)/2), o + ceil((size-1)/2)]`.
pub fn lrn_band(c: usize, size: usize) -> Vec<f32> {
    let (lo, hi) = ((size.max(1) - 1) / 2, size / 2);
    (0..c * c)
        .map(|i| {
            let (o, k) = (i / c, i % c);
            if k + lo >= o && k <= o + hi { 1.0 } else { 0.0 }
        })
        .collect()
}

/// [`lrn`] in burn's operators: the channel-window sum of squares is a 1x1
/// convolution with a constant 0/1 band matrix, and the power is
/// `exp(-beta * ln(.))` (burn-onnx exports no `Pow`). The exporter turns
/// this sub-graph back into one ONNX `LRN` node (`export::fuse_lrn`).
pub fn local_response_norm(x: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let band = lrn_band(c, lrn::SIZE);
    let band = Tensor::<4>::from_data(TensorData::new(band, [c, c, 1, 1]), &x.device());
    let sum = conv2d(
        x.clone() * x.clone(),
        band,
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    );
    let den = sum * (lrn::ALPHA / lrn::SIZE as f64) + lrn::BIAS;
    x * (den.log() * -lrn::BETA).exp()
}

/// AlexNet's ideas at MNIST scale. The 28x28 input is upsampled (nearest,
/// x2) to 56x56 inside the graph, so the model takes the zoo's input. Then
/// conv 11->7x7 stride 2, ReLU, LRN, overlapping 3x3/2 max pool; conv 5x5,
/// ReLU, LRN, pool; three 3x3 convs, pool; fc, dropout, fc, dropout, head.
#[derive(Module, Debug)]
pub struct AlexNet {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub conv3: Conv2d,
    pub conv4: Conv2d,
    pub conv5: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub head: Linear,
    pub pool: MaxPool2d,
    pub dropout: Dropout,
}

impl AlexNet {
    pub fn new(classes: usize, device: &Device) -> Self {
        let [a, b, c, d, e] = ALEXNET_CONVS;
        AlexNet {
            conv1: conv(1, a, 7, 2, 3, true, device),
            conv2: conv(a, b, 5, 1, 2, true, device),
            conv3: conv(b, c, 3, 1, 1, true, device),
            conv4: conv(c, d, 3, 1, 1, true, device),
            conv5: conv(d, e, 3, 1, 1, true, device),
            fc1: LinearConfig::new(e * 2 * 2, ALEXNET_FC).init(device),
            fc2: LinearConfig::new(ALEXNET_FC, ALEXNET_FC).init(device),
            head: LinearConfig::new(ALEXNET_FC, classes).init(device),
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            dropout: DropoutConfig::new(0.5).init(),
        }
    }

    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Nearest)
                .with_output_size([ALEXNET_SIDE, ALEXNET_SIDE]),
        );
        let x = local_response_norm(relu(self.conv1.forward(x))); // 28x28
        let x = self.pool.forward(x); // 13x13
        let x = local_response_norm(relu(self.conv2.forward(x)));
        let x = self.pool.forward(x); // 6x6
        let x = relu(self.conv3.forward(x));
        let x = relu(self.conv4.forward(x));
        let x = relu(self.conv5.forward(x));
        let x = self.pool.forward(x); // 2x2
        let x = self.dropout.forward(relu(self.fc1.forward(flatten(x))));
        self.dropout.forward(relu(self.fc2.forward(x)))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    pub fn info(classes: usize) -> ModelInfo {
        let [a, b, c2, d, e] = ALEXNET_CONVS;
        let mut c = Cost::default();
        c.conv(1, a, 7, 28, true);
        c.conv(a, b, 5, 13, true);
        c.conv(b, c2, 3, 6, true);
        c.conv(c2, d, 3, 6, true);
        c.conv(d, e, 3, 6, true);
        c.linear(e * 2 * 2, ALEXNET_FC);
        c.linear(ALEXNET_FC, ALEXNET_FC);
        c.linear(ALEXNET_FC, classes);
        c.done()
    }

    pub const LAYERS: &[&str] = &[
        "conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "head",
    ];

    fn freeze_lowest(mut self, n: usize) -> Self {
        freeze_lowest!(
            self,
            n,
            (conv1),
            (conv2),
            (conv3),
            (conv4),
            (conv5),
            (fc1),
            (fc2),
            (head)
        )
    }
}

// ---------------------------------------------------------------- Net

/// Any model of the zoo.
// A few models live at a time and burn's derive does not see through a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    LeNet5(LeNet5),
    ResNet8(ResNet8),
    Vgg(Vgg),
    AlexNet(AlexNet),
}

impl Net {
    /// A freshly initialised model (seed the device first for determinism).
    pub fn new(arch: Arch, classes: usize, device: &Device) -> Self {
        match arch {
            Arch::LeNet5 => Net::LeNet5(LeNet5::new(classes, device)),
            Arch::ResNet8 => Net::ResNet8(ResNet8::new(classes, device)),
            Arch::Vgg => Net::Vgg(Vgg::new(classes, device)),
            Arch::AlexNet => Net::AlexNet(AlexNet::new(classes, device)),
        }
    }

    pub fn arch(&self) -> Arch {
        match self {
            Net::LeNet5(_) => Arch::LeNet5,
            Net::ResNet8(_) => Arch::ResNet8,
            Net::Vgg(_) => Arch::Vgg,
            Net::AlexNet(_) => Arch::AlexNet,
        }
    }

    /// Number of classes of the head.
    pub fn classes(&self) -> usize {
        let head = match self {
            Net::LeNet5(m) => &m.head,
            Net::ResNet8(m) => &m.head,
            Net::Vgg(m) => &m.head,
            Net::AlexNet(m) => &m.head,
        };
        head.weight.shape().dims::<2>()[1]
    }

    /// `[N, 1, 28, 28]` (pixel / 255) to logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::LeNet5(m) => m.forward(x),
            Net::ResNet8(m) => m.forward(x),
            Net::Vgg(m) => m.forward(x),
            Net::AlexNet(m) => m.forward(x),
        }
    }

    /// The input of the head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::LeNet5(m) => m.features(x),
            Net::ResNet8(m) => m.features(x),
            Net::Vgg(m) => m.features(x),
            Net::AlexNet(m) => m.features(x),
        }
    }

    pub fn info(&self) -> ModelInfo {
        info(self.arch(), self.classes())
    }

    /// How many local response normalisations the model has (each one
    /// becomes an ONNX `LRN` node in the export).
    pub fn lrn_layers(&self) -> usize {
        match self {
            Net::AlexNet(_) => 2,
            _ => 0,
        }
    }

    /// The model's trainable layers from the input up; the last one is the head.
    pub fn layers(&self) -> &'static [&'static str] {
        layers(self.arch())
    }

    /// Replace the classifier head with a new, randomly initialised one with
    /// `classes` outputs (the feature extractor is kept).
    pub fn with_new_head(self, classes: usize, device: &Device) -> Self {
        match self {
            Net::LeNet5(mut m) => {
                m.head = LinearConfig::new(84, classes).init(device);
                Net::LeNet5(m)
            }
            Net::ResNet8(mut m) => {
                m.head = LinearConfig::new(64, classes).init(device);
                Net::ResNet8(m)
            }
            Net::Vgg(mut m) => {
                m.head = LinearConfig::new(VGG_FC, classes).init(device);
                Net::Vgg(m)
            }
            Net::AlexNet(mut m) => {
                m.head = LinearConfig::new(ALEXNET_FC, classes).init(device);
                Net::AlexNet(m)
            }
        }
    }

    /// The recorded state (parameters and BatchNorm statistics, as burnpack
    /// bytes) of layer `i` of [`Net::layers`]: for checking that frozen layers
    /// do not change.
    pub fn layer_state(&self, i: usize) -> Option<Vec<u8>> {
        fn bytes(m: &impl Module) -> Option<Vec<u8>> {
            m.clone()
                .into_record()
                .into_bytes()
                .ok()
                .map(|b| b.to_vec())
        }
        match self {
            Net::LeNet5(m) => match i {
                0 => bytes(&m.conv1),
                1 => bytes(&m.conv2),
                2 => bytes(&m.fc1),
                3 => bytes(&m.fc2),
                4 => bytes(&m.head),
                _ => None,
            },
            Net::ResNet8(m) => match i {
                0 => Some([bytes(&m.stem)?, bytes(&m.stem_bn)?].concat()),
                1 => bytes(&m.stage1),
                2 => bytes(&m.stage2),
                3 => bytes(&m.stage3),
                4 => bytes(&m.head),
                _ => None,
            },
            Net::Vgg(m) => match i {
                0 => bytes(&m.conv1),
                1 => bytes(&m.conv2),
                2 => bytes(&m.conv3),
                3 => bytes(&m.conv4),
                4 => bytes(&m.fc1),
                5 => bytes(&m.head),
                _ => None,
            },
            Net::AlexNet(m) => match i {
                0 => bytes(&m.conv1),
                1 => bytes(&m.conv2),
                2 => bytes(&m.conv3),
                3 => bytes(&m.conv4),
                4 => bytes(&m.conv5),
                5 => bytes(&m.fc1),
                6 => bytes(&m.fc2),
                7 => bytes(&m.head),
                _ => None,
            },
        }
    }

    /// Freeze the lowest `n` of [`Net::layers`]: their parameters get no
    /// gradients and their BatchNorm statistics stop updating.
    pub fn freeze_lowest(self, n: usize) -> Self {
        match self {
            Net::LeNet5(m) => Net::LeNet5(m.freeze_lowest(n)),
            Net::ResNet8(m) => Net::ResNet8(m.freeze_lowest(n)),
            Net::Vgg(m) => Net::Vgg(m.freeze_lowest(n)),
            Net::AlexNet(m) => Net::AlexNet(m.freeze_lowest(n)),
        }
    }
}

/// Parameters and MACs of `arch` with a `classes`-way head.
pub fn info(arch: Arch, classes: usize) -> ModelInfo {
    match arch {
        Arch::LeNet5 => LeNet5::info(classes),
        Arch::ResNet8 => ResNet8::info(classes),
        Arch::Vgg => Vgg::info(classes),
        Arch::AlexNet => AlexNet::info(classes),
    }
}

/// The trainable layers of `arch`, from the input up.
pub fn layers(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::LeNet5 => LeNet5::LAYERS,
        Arch::ResNet8 => ResNet8::LAYERS,
        Arch::Vgg => Vgg::LAYERS,
        Arch::AlexNet => AlexNet::LAYERS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_params_match_burn() {
        let device = Device::flex();
        for arch in Arch::ALL {
            let net = Net::new(arch, 10, &device);
            // burn counts the BatchNorm running statistics as parameters.
            assert_eq!(
                net.info().params + net.info().bn_stats,
                net.num_params(),
                "{arch}"
            );
            let y = net.forward(Tensor::zeros([2, 1, 28, 28], &device));
            assert_eq!(y.dims(), [2, 10], "{arch}");
        }
    }

    #[test]
    fn known_sizes() {
        // LeNet-5: 156 + 2416 + 48120 + 10164 + 850.
        assert_eq!(info(Arch::LeNet5, 10).params, 61_706);
        assert_eq!(
            info(Arch::LeNet5, 10).macs,
            117_600 + 240_000 + 48_000 + 10_080 + 840
        );
        for arch in Arch::ALL {
            let i = info(arch, 10);
            assert!(i.macs < 12_000_000, "{arch}: {i:?}");
            assert_eq!(Arch::parse(arch.name()), Some(arch));
        }
    }
}
