//! The structured part of a `.edge` file: postcard-encoded records.
//!
//! Every operator record is self-contained: the compiler resolved shapes, layouts,
//! arena offsets, requantization multipliers, clamps and lookup tables, so a
//! kernel needs nothing but its record. Records are written as
//! `varint length + postcard bytes`; a reader decodes the struct from the
//! length-bounded slice and ignores trailing bytes, so fields may be appended at
//! the end of a struct without breaking older readers (see `docs` in the README).
//! New operators are new enum variants appended at the end; an older runtime
//! reports them as [`crate::Error::Decode`].

use serde::{Deserialize, Serialize};

/// Highest tensor rank the runtime handles (shapes are padded with leading 1s).
pub const MAX_RANK: usize = 6;

/// Element types of tensors the runtime sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DType {
    F32,
    I8,
    /// Only at a model's boundary (uint8 models); converted to `I8` inside.
    U8,
    I32,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 | DType::U8 => 1,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
        }
    }
}

/// Which memory a [`Buf`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mem {
    /// The caller's arena (activations); offsets from the arena's aligned start.
    Arena,
    /// The model file's constant blob (weights, tables); read in place.
    Blob,
}

/// A byte range in the arena or in the blob. Offsets are multiples of 4 (the
/// compiler aligns to 16); `len` is in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Buf {
    pub mem: Mem,
    pub offset: u32,
    pub len: u32,
}

/// A shape of `rank` dimensions stored in the first `rank` entries of `dims`
/// (the remaining entries are 1). Kernel geometry arrays, unlike this, pad with
/// *leading* 1s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    pub rank: u8,
    /// The first `rank` entries are the dimensions; the rest are 1.
    pub dims: [u32; MAX_RANK],
}

impl Shape {
    pub fn dims(&self) -> &[u32] {
        self.dims.get(..self.rank as usize).unwrap_or(&self.dims)
    }
    /// Number of elements, or `None` on overflow.
    pub fn numel(&self) -> Option<usize> {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
    }
}

/// Quantization of a tensor at the model boundary (per tensor).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

/// A tensor the user can see: a model input or output, or (for `inspect`) any
/// named tensor. Inputs and outputs are always in the ONNX (logical) layout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: Shape,
    pub quant: Option<QParams>,
    pub buf: Buf,
}

/// The top-level metadata record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Meta<'a> {
    /// Model name (from the ONNX graph).
    pub name: &'a str,
    /// Bytes of arena the static plan needs (from a 16-byte aligned start).
    pub arena_bytes: u32,
    pub num_inputs: u32,
    /// Record stream of [`TensorDesc`].
    pub inputs: &'a [u8],
    pub num_outputs: u32,
    /// Record stream of [`TensorDesc`].
    pub outputs: &'a [u8],
    pub num_ops: u32,
    /// Record stream of [`OpRecord`].
    pub ops: &'a [u8],
    pub num_tensors: u32,
    /// Record stream of [`TensorDesc`]: every tensor of the plan (for tools).
    pub tensors: &'a [u8],
}

/// One operator: a name for reports and its fully resolved parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpRecord<'a> {
    pub name: &'a str,
    pub op: Op,
}

/// Output clamp of an f32 op (fused Relu/Clip); `[-inf, inf]` when none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClampF32 {
    pub min: f32,
    pub max: f32,
}

impl ClampF32 {
    pub const NONE: ClampF32 = ClampF32 {
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    };
    #[inline(always)]
    pub fn apply(&self, v: f32) -> f32 {
        // Comparisons (not `clamp`): never panics; NaN passes through unchanged.
        let v = if v < self.min { self.min } else { v };
        if v > self.max { self.max } else { v }
    }
}

/// Requantization of an int32 accumulator to int8 output:
/// `clamp(requantize(acc, mult[c], shift[c]) + output_offset, act_min, act_max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Requant {
    /// Per output channel `i32` Q31 multipliers (blob).
    pub mult: Buf,
    /// Per output channel `i32` shifts (blob).
    pub shift: Buf,
    /// Output zero point.
    pub output_offset: i32,
    /// Clamp in the int8 domain (fused Relu/Clip), within [-128, 127].
    pub act_min: i32,
    pub act_max: i32,
}

/// 2-D convolution geometry, NHWC input/output, OHWI weights
/// (`[out_c][k_h][k_w][in_c / groups]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeom {
    pub n: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub in_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub out_c: u32,
    pub k_h: u32,
    pub k_w: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub dil_h: u32,
    pub dil_w: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub groups: u32,
}

impl ConvGeom {
    /// Multiply-accumulates of one run: `n * out_h * out_w * out_c * k_h *
    /// k_w * in_c / groups`, saturating instead of overflowing.
    pub fn macs(&self) -> u64 {
        prod(&[
            self.n,
            self.out_h,
            self.out_w,
            self.out_c,
            self.k_h,
            self.k_w,
            self.in_c / self.groups.max(1),
        ])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvF32 {
    pub geom: ConvGeom,
    pub input: Buf,
    pub weights: Buf,
    pub bias: Option<Buf>,
    pub output: Buf,
    pub act: ClampF32,
}

/// int8 convolution: `acc = bias[c] + sum (x + input_offset) * (w + weight_offset)`,
/// then [`Requant`]. `input_offset = -input_zero_point`; `weight_offset` is 0 for
/// symmetric weights (edgerun's own quantizer) and non-zero only for foreign models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConvI8 {
    pub geom: ConvGeom,
    pub input: Buf,
    pub weights: Buf,
    /// `i32` per output channel.
    pub bias: Option<Buf>,
    pub output: Buf,
    pub input_offset: i32,
    pub weight_offset: i32,
    pub rq: Requant,
    /// The weights packed ahead of time for one SIMD kernel (format 1.3; a
    /// trailing field: records of older files end before it and read as
    /// `None`). The kernels of other targets read `weights`.
    pub packed: Option<PackedWeights>,
}

/// Which kernel's layout packed weights are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PackKind {
    /// The x86_64 AVX2 conv kernel's `i16` layouts, the one its loop for the
    /// geometry reads (`kernels::conv::pack`).
    Avx2I16,
    /// The Armv7E-M DSP conv and fc kernels' `i16` layout: per pair of output
    /// channels, per group of 4 reduction values, both channels' `SMLAD`
    /// operand words (`kernels::conv::pack::pack_dsp_rows`; format 1.4).
    DspI16,
    /// The x86_64 AVX2 Winograd F(2x2, 3x3) loop's `i16` transformed 3x3
    /// kernels (`kernels::conv::pack::pack_winograd`; format 1.5), for the
    /// convolutions it runs (`kernels::conv::pack::winograd_runs`).
    Avx2WinogradI16,
}

/// Weights packed ahead of time ([`PackKind`]), in the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PackedWeights {
    pub kind: PackKind,
    pub buf: Buf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PoolKind {
    Max,
    Avg,
}

/// Pooling geometry, NHWC. Pads are explicit on all four sides; `count_include_pad`
/// counts padded cells inside `[-pad_top, in_h + pad_bottom)` (ONNX semantics, which
/// never counts cells added by `ceil_mode` beyond the pads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PoolGeom {
    pub kind: PoolKind,
    pub n: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub k_h: u32,
    pub k_w: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub dil_h: u32,
    pub dil_w: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub pad_bottom: u32,
    pub pad_right: u32,
    pub count_include_pad: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolF32 {
    pub geom: PoolGeom,
    pub input: Buf,
    pub output: Buf,
    pub act: ClampF32,
}

/// int8 pooling: max, or average with `round_half_away(sum(x - in_zp) / count)`;
/// then `requantize(v, mult[0], shift[0]) + output_offset`, clamped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolI8 {
    pub geom: PoolGeom,
    pub input: Buf,
    pub output: Buf,
    pub input_zero_point: i32,
    pub rq: Requant,
}

/// Fully connected: `out[r][j] = act(sum_k in[r][k] * w[j][k] + bias[j])`,
/// weights `[n][k]` (ONNX Gemm with transB=1 layout).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FcF32 {
    pub rows: u32,
    pub k: u32,
    pub n: u32,
    pub input: Buf,
    pub weights: Buf,
    /// `n` values, or `rows * n` values when `bias_per_row`.
    pub bias: Option<Buf>,
    pub bias_per_row: bool,
    pub output: Buf,
    pub act: ClampF32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FcI8 {
    pub rows: u32,
    pub k: u32,
    pub n: u32,
    pub input: Buf,
    pub weights: Buf,
    /// `i32`, `n` values.
    pub bias: Option<Buf>,
    pub output: Buf,
    pub input_offset: i32,
    pub weight_offset: i32,
    pub rq: Requant,
    /// The weights packed ahead of time for one SIMD kernel (format 1.4, a
    /// trailing field as `ConvI8::packed`; only [`PackKind::DspI16`]). The
    /// kernels of other targets read `weights`.
    pub packed: Option<PackedWeights>,
}

/// Batched matrix product of two runtime tensors: `[batch..][m][k] x [batch..][k][n]`.
/// Batch dims are broadcast through element strides (0 = broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatMulF32 {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub batch: [u32; 4],
    pub a_stride: [u32; 4],
    pub b_stride: [u32; 4],
    pub a: Buf,
    pub b: Buf,
    pub output: Buf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// Element-wise binary op with numpy broadcasting: the output has `shape`; `a` and
/// `b` are read at `sum idx[d] * stride[d]` (stride 0 on broadcast dimensions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryF32 {
    pub kind: BinaryKind,
    pub shape: [u32; MAX_RANK],
    pub a_stride: [u32; MAX_RANK],
    pub b_stride: [u32; MAX_RANK],
    pub a: Buf,
    pub b: Buf,
    pub output: Buf,
    pub act: ClampF32,
}

/// int8 Add (TFLite scheme): each input is shifted left by `left_shift`, rescaled
/// to a common scale with its own multiplier, summed, then requantized:
/// `out = rq((rq((a + a_offset) << ls, a_mult, a_shift) + rq((b + b_offset) << ls, b_mult, b_shift)))`.
/// int8 Mul: `out = rq((a + a_offset) * (b + b_offset))` (a/b multipliers unused).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryI8 {
    pub kind: BinaryKind,
    pub shape: [u32; MAX_RANK],
    pub a_stride: [u32; MAX_RANK],
    pub b_stride: [u32; MAX_RANK],
    pub a: Buf,
    pub b: Buf,
    pub output: Buf,
    pub a_offset: i32,
    pub b_offset: i32,
    pub left_shift: i32,
    pub a_mult: i32,
    pub a_shift: i32,
    pub b_mult: i32,
    pub b_shift: i32,
    /// Output multiplier/shift (single entry buffers) and clamp.
    pub rq: Requant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnaryKind {
    /// Only the clamp (`act`): Relu, Clip, Identity.
    Clamp,
    Sigmoid,
    Tanh,
    Exp,
    Neg,
    Abs,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnaryF32 {
    pub kind: UnaryKind,
    pub len: u32,
    pub input: Buf,
    pub output: Buf,
    pub act: ClampF32,
}

/// Any byte-to-byte function: `out[i] = table[in[i] as u8]` — every int8 unary op
/// (Relu, Clip, Sigmoid, a rescale, u8 <-> i8), computed exactly by the compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Lut8 {
    pub len: u32,
    pub input: Buf,
    pub output: Buf,
    /// 256 bytes, indexed by the input byte.
    pub table: Buf,
}

/// Softmax over the middle axis of `[outer][axis][inner]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxF32 {
    pub outer: u32,
    pub axis: u32,
    pub inner: u32,
    pub log: bool,
    pub input: Buf,
    pub output: Buf,
}

/// int8 softmax: `e = exp_table[max - x]` (256 f32 entries, `exp(-d * in_scale)`),
/// `out = clamp(round_half_even(e / sum / out_scale) + out_zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxI8 {
    pub outer: u32,
    pub axis: u32,
    pub inner: u32,
    pub input: Buf,
    pub output: Buf,
    pub exp_table: Buf,
    pub out_scale: f32,
    pub out_zero_point: i32,
}

/// Copy `outer` chunks of `chunk` bytes from a dense input into an output at
/// `dst_start + i * dst_stride` (Concat, Reshape-as-copy, Slice-like moves). With
/// `table`, every byte goes through a 256-entry lookup (int8 rescale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CopyChunks {
    pub outer: u32,
    pub chunk: u32,
    pub dst_start: u32,
    pub dst_stride: u32,
    pub input: Buf,
    pub output: Buf,
    pub table: Option<Buf>,
}

/// N-d transpose of elements of `elem` bytes: `out = in.permute(perm)`; `shape` is
/// the input shape padded with leading 1s to [`MAX_RANK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transpose {
    pub elem: u32,
    pub shape: [u32; MAX_RANK],
    pub perm: [u8; MAX_RANK],
    pub input: Buf,
    pub output: Buf,
}

/// Per-axis gather (nearest-neighbour Resize, Slice, Pad-free crops): for every axis
/// `d`, output index `o` reads input index `maps[d][o]` (u32 tables concatenated in
/// axis order, `sum(out_shape)` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gather {
    pub elem: u32,
    pub in_shape: [u32; MAX_RANK],
    pub out_shape: [u32; MAX_RANK],
    pub maps: Buf,
    pub input: Buf,
    pub output: Buf,
}

/// Quantize f32 to int8/uint8 (ONNX QuantizeLinear: divide, round half to even, add
/// zero point, saturate) over `[outer][axis][inner]`; `scales`/`zero_points` hold
/// `axis` entries (per-axis) or 1 (per-tensor).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantize {
    pub out_dtype: DType,
    pub outer: u32,
    pub axis: u32,
    pub inner: u32,
    pub per_axis: bool,
    pub scales: Buf,
    pub zero_points: Buf,
    pub input: Buf,
    pub output: Buf,
}

/// Dequantize int8/uint8/int32 to f32: `(q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dequantize {
    pub in_dtype: DType,
    pub outer: u32,
    pub axis: u32,
    pub inner: u32,
    pub per_axis: bool,
    pub scales: Buf,
    pub zero_points: Buf,
    pub input: Buf,
    pub output: Buf,
}

/// Per-channel affine `y = act(x * scale[c] + shift[c])` over `[outer][c][inner]`
/// (standalone BatchNormalization, folded by the compiler into scale and shift).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelAffineF32 {
    pub outer: u32,
    pub channels: u32,
    pub inner: u32,
    pub scale: Buf,
    pub shift: Buf,
    pub input: Buf,
    pub output: Buf,
    pub act: ClampF32,
}

/// ONNX NonMaxSuppression on f32 `boxes [num_batches][num_boxes][4]` and
/// `scores [num_batches][num_classes][num_boxes]` (see [`crate::kernels::nms`]).
///
/// ONNX's output `[num_selected, 3]` has a data-dependent first dimension, so
/// `output` is a fixed workspace of `i32` words, `rows = num_batches *
/// num_classes * max_per_class`:
///
/// ```text
/// [rows][3]   selected (batch, class, box), in ONNX order; rows past the count are -1
/// [1]         count: the number of selected rows
/// [num_boxes] scratch (the ranked candidate order of one batch and class)
/// ```
///
/// The model output that exposes it covers the first `rows * 3` words; the
/// interpreter reports the valid rows with [`crate::Interpreter::output_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NmsOp {
    pub num_batches: u32,
    pub num_classes: u32,
    pub num_boxes: u32,
    /// `false`: boxes are `[y1, x1, y2, x2]`, either corner first; `true`:
    /// `[x_center, y_center, width, height]`.
    pub center_point_box: bool,
    /// ONNX's `max_output_boxes_per_class`, clamped to `[0, num_boxes]` by the
    /// compiler.
    pub max_per_class: u32,
    /// Suppress when IoU `> iou_threshold`.
    pub iou_threshold: f32,
    /// Candidates need `score > score_threshold`; `None` (input absent) keeps all.
    pub score_threshold: Option<f32>,
    pub boxes: Buf,
    pub scores: Buf,
    pub output: Buf,
}

/// ONNX LRN (local response normalization across channels) over `[pixels][channels]`
/// (NHWC): `y = x / (bias + alpha / size * sum x[c']^2)^beta`, the sum over
/// `c'` in `[c - (size - 1) / 2, c + size / 2]` clipped to the channels (see
/// [`crate::kernels::lrn`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrnF32 {
    pub pixels: u32,
    pub channels: u32,
    pub size: u32,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
    pub input: Buf,
    pub output: Buf,
}

/// Every operator the runtime executes. Append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Op {
    ConvF32(ConvF32),
    ConvI8(ConvI8),
    PoolF32(PoolF32),
    PoolI8(PoolI8),
    FcF32(FcF32),
    FcI8(FcI8),
    MatMulF32(MatMulF32),
    BinaryF32(BinaryF32),
    BinaryI8(BinaryI8),
    UnaryF32(UnaryF32),
    Lut8(Lut8),
    SoftmaxF32(SoftmaxF32),
    SoftmaxI8(SoftmaxI8),
    CopyChunks(CopyChunks),
    Transpose(Transpose),
    Gather(Gather),
    Quantize(Quantize),
    Dequantize(Dequantize),
    ChannelAffineF32(ChannelAffineF32),
    Nms(NmsOp),
    LrnF32(LrnF32),
}

/// The kind of an [`Op`], for hooks and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OpKind {
    ConvF32,
    ConvI8,
    PoolF32,
    PoolI8,
    FcF32,
    FcI8,
    MatMulF32,
    BinaryF32,
    BinaryI8,
    UnaryF32,
    Lut8,
    SoftmaxF32,
    SoftmaxI8,
    CopyChunks,
    Transpose,
    Gather,
    Quantize,
    Dequantize,
    ChannelAffineF32,
    Nms,
    LrnF32,
}

impl OpKind {
    /// An f32 compute kernel (every `*F32` kind and `Nms`); not the f32 <->
    /// int8 boundary conversions `Quantize` and `Dequantize`.
    pub const fn is_float_compute(self) -> bool {
        matches!(
            self,
            OpKind::ConvF32
                | OpKind::PoolF32
                | OpKind::FcF32
                | OpKind::MatMulF32
                | OpKind::BinaryF32
                | OpKind::UnaryF32
                | OpKind::SoftmaxF32
                | OpKind::ChannelAffineF32
                | OpKind::Nms
                | OpKind::LrnF32
        )
    }

    pub const fn name(self) -> &'static str {
        match self {
            OpKind::ConvF32 => "conv_f32",
            OpKind::ConvI8 => "conv_i8",
            OpKind::PoolF32 => "pool_f32",
            OpKind::PoolI8 => "pool_i8",
            OpKind::FcF32 => "fc_f32",
            OpKind::FcI8 => "fc_i8",
            OpKind::MatMulF32 => "matmul_f32",
            OpKind::BinaryF32 => "binary_f32",
            OpKind::BinaryI8 => "binary_i8",
            OpKind::UnaryF32 => "unary_f32",
            OpKind::Lut8 => "lut8",
            OpKind::SoftmaxF32 => "softmax_f32",
            OpKind::SoftmaxI8 => "softmax_i8",
            OpKind::CopyChunks => "copy",
            OpKind::Transpose => "transpose",
            OpKind::Gather => "gather",
            OpKind::Quantize => "quantize",
            OpKind::Dequantize => "dequantize",
            OpKind::ChannelAffineF32 => "channel_affine_f32",
            OpKind::Nms => "nms",
            OpKind::LrnF32 => "lrn_f32",
        }
    }
}

impl Op {
    /// The weights packed ahead of time of an operator that can carry them
    /// (`ConvI8`, `FcI8`); `None` for the others.
    pub fn packed(&self) -> Option<PackedWeights> {
        match self {
            Op::ConvI8(p) => p.packed,
            Op::FcI8(p) => p.packed,
            _ => None,
        }
    }

    /// Where an operator that can carry packed weights keeps them; `None` for
    /// the others.
    pub fn packed_mut(&mut self) -> Option<&mut Option<PackedWeights>> {
        match self {
            Op::ConvI8(p) => Some(&mut p.packed),
            Op::FcI8(p) => Some(&mut p.packed),
            _ => None,
        }
    }

    pub const fn kind(&self) -> OpKind {
        match self {
            Op::ConvF32(_) => OpKind::ConvF32,
            Op::ConvI8(_) => OpKind::ConvI8,
            Op::PoolF32(_) => OpKind::PoolF32,
            Op::PoolI8(_) => OpKind::PoolI8,
            Op::FcF32(_) => OpKind::FcF32,
            Op::FcI8(_) => OpKind::FcI8,
            Op::MatMulF32(_) => OpKind::MatMulF32,
            Op::BinaryF32(_) => OpKind::BinaryF32,
            Op::BinaryI8(_) => OpKind::BinaryI8,
            Op::UnaryF32(_) => OpKind::UnaryF32,
            Op::Lut8(_) => OpKind::Lut8,
            Op::SoftmaxF32(_) => OpKind::SoftmaxF32,
            Op::SoftmaxI8(_) => OpKind::SoftmaxI8,
            Op::CopyChunks(_) => OpKind::CopyChunks,
            Op::Transpose(_) => OpKind::Transpose,
            Op::Gather(_) => OpKind::Gather,
            Op::Quantize(_) => OpKind::Quantize,
            Op::Dequantize(_) => OpKind::Dequantize,
            Op::ChannelAffineF32(_) => OpKind::ChannelAffineF32,
            Op::Nms(_) => OpKind::Nms,
            Op::LrnF32(_) => OpKind::LrnF32,
        }
    }

    /// The buffer the operator writes. For [`Op::CopyChunks`] it is the whole
    /// destination (the chunks land at `dst_start + i * dst_stride` in it); for
    /// [`Op::Nms`] the whole workspace.
    pub const fn output(&self) -> Buf {
        match self {
            Op::ConvF32(p) => p.output,
            Op::ConvI8(p) => p.output,
            Op::PoolF32(p) => p.output,
            Op::PoolI8(p) => p.output,
            Op::FcF32(p) => p.output,
            Op::FcI8(p) => p.output,
            Op::MatMulF32(p) => p.output,
            Op::BinaryF32(p) => p.output,
            Op::BinaryI8(p) => p.output,
            Op::UnaryF32(p) => p.output,
            Op::Lut8(p) => p.output,
            Op::SoftmaxF32(p) => p.output,
            Op::SoftmaxI8(p) => p.output,
            Op::CopyChunks(p) => p.output,
            Op::Transpose(p) => p.output,
            Op::Gather(p) => p.output,
            Op::Quantize(p) => p.output,
            Op::Dequantize(p) => p.output,
            Op::ChannelAffineF32(p) => p.output,
            Op::Nms(p) => p.output,
            Op::LrnF32(p) => p.output,
        }
    }

    /// Multiply-accumulates of one run: convolutions (`n * out_h * out_w *
    /// out_c * k_h * k_w * in_c / groups`), fully connected layers and matrix
    /// products; 0 for every other operator. Saturates instead of overflowing.
    pub fn macs(&self) -> u64 {
        match self {
            Op::ConvF32(p) => p.geom.macs(),
            Op::ConvI8(p) => p.geom.macs(),
            Op::FcF32(p) => prod(&[p.rows, p.k, p.n]),
            Op::FcI8(p) => prod(&[p.rows, p.k, p.n]),
            Op::MatMulF32(p) => prod(&[p.m, p.k, p.n]).saturating_mul(prod(&p.batch)),
            _ => 0,
        }
    }
}

/// The product of `v`, saturating instead of overflowing.
fn prod(v: &[u32]) -> u64 {
    v.iter().fold(1u64, |a, &x| a.saturating_mul(u64::from(x)))
}

/// Most anchor sizes, and most aspect ratios, of one detector level.
pub const MAX_ANCHOR_SHAPES: usize = 8;

/// One feature map of a detector's anchor set (see [`crate::detect::anchors`]):
/// the first `num_sizes` entries of `sizes` and the first `num_ratios` of
/// `ratios` are used, the rest are 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnchorLevelRecord {
    pub rows: u32,
    pub cols: u32,
    pub num_sizes: u8,
    /// Anchor sizes relative to the image side.
    pub sizes: [f32; MAX_ANCHOR_SHAPES],
    pub num_ratios: u8,
    /// Aspect ratios, width / height.
    pub ratios: [f32; MAX_ANCHOR_SHAPES],
}

/// What a detection model needs besides its graph to turn its two outputs
/// into boxes (format 1.2, after [`Meta`] in the metadata section; absent for
/// other models): an SSD-style head of `scores` `[1, anchors, classes + 1]`
/// (class 0 the background) and `boxes` `[1, anchors, 4]` (offsets against
/// each anchor, encoded with `variances`, see [`crate::detect::boxes`]).
/// [`crate::Model::parse`] checks it against the model's input and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorRecord<'a> {
    /// Side of the square input image, in pixels.
    pub input_size: u32,
    /// SSD box-encoding variances.
    pub variances: [f32; 4],
    /// Output index of `scores`.
    pub scores_output: u32,
    /// Output index of `boxes`.
    pub boxes_output: u32,
    /// Object classes (background not counted).
    pub num_classes: u32,
    /// Record stream of `&str`: the class names.
    pub classes: &'a [u8],
    pub num_levels: u32,
    /// Record stream of [`AnchorLevelRecord`], in head order.
    pub levels: &'a [u8],
}
