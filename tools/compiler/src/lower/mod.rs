//! Lowering ONNX nodes to runtime operators: shapes, layouts, constants, fusion,
//! then the memory plan and the `.edge` file.
//!
//! Every ONNX value is either a compile-time constant or a runtime tensor. A
//! runtime tensor has one canonical physical form ([`Phys`]): a layout (ONNX's
//! logical layout, or NHWC for rank-3/4 tensors produced by spatial operators)
//! and a runtime dtype. Other forms are made on demand by [`Lowerer::get`]
//! (a Transpose, or a u8<->i8 lookup), memoized, or are free aliases when the
//! bytes are identical (e.g. NCHW with C=1 is NHWC).

pub(crate) mod attrs;
mod detect;
mod nn;
mod qdq;
mod quantized;
mod shape_ops;

use crate::error::{CompileError, Result};
use crate::pb::{GraphProto, NodeProto};
use crate::plan;
use crate::tensor::{Data, ElemType, Tensor};
use attrs::NodeExt;
use edgerun::format::schema::*;
use std::collections::{HashMap, HashSet};

/// Physical layout of a runtime tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// ONNX's own row-major layout of the logical shape.
    Logical,
    /// Rank-4 `[N,C,H,W]` stored as `[N,H,W,C]` (rank 3 `[N,C,W]` as `[N,1,W,C]`).
    Nhwc,
}

pub(crate) type PhysId = usize;

/// A runtime tensor in one physical form.
#[derive(Debug, Clone)]
pub(crate) struct Phys {
    pub name: String,
    /// ONNX (logical) shape.
    pub shape: Vec<usize>,
    pub layout: Layout,
    pub dtype: DType,
    pub storage: usize,
}

#[derive(Debug, Clone)]
struct Storage {
    bytes: usize,
    first: usize,
    last: usize,
}

/// What an ONNX value is during lowering.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Const(Tensor),
    Rt(PhysId),
}

#[derive(Debug, Clone)]
pub(crate) struct VInfo {
    pub dtype: ElemType,
    pub shape: Vec<usize>,
    pub val: Val,
}

/// An operand of a runtime op: arena tensor or constant blob bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Src {
    Phys(PhysId),
    Blob(Buf),
}

/// Element count, saturating: an absurd shape from a corrupt file becomes a huge
/// count that the size checks downstream reject, never an overflow panic.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

/// The most elements one compile-time constant may hold (1 GiB of f32).
pub(crate) const MAX_CONST_ELEMS: usize = 1 << 28;

/// Bytes of a physical tensor, saturating at `u32::MAX` (the validator then
/// rejects the model; a corrupt shape must not overflow).
pub(crate) fn byte_len(ph: &Phys) -> u32 {
    u32::try_from(numel(&ph.shape).saturating_mul(ph.dtype.size())).unwrap_or(u32::MAX)
}

/// Physical dims of a logical shape in a layout.
pub(crate) fn phys_dims(shape: &[usize], layout: Layout) -> Vec<usize> {
    match (layout, shape) {
        (Layout::Nhwc, [n, c, h, w]) => vec![*n, *h, *w, *c],
        (Layout::Nhwc, [n, c, w]) => vec![*n, 1, *w, *c],
        _ => shape.to_vec(),
    }
}

/// Where logical axis `a` sits in the physical dims.
pub(crate) fn phys_axis(rank: usize, layout: Layout, a: usize) -> usize {
    match (layout, rank) {
        (Layout::Nhwc, 4) => [0, 3, 1, 2][a.min(3)],
        (Layout::Nhwc, 3) => [0, 3, 2][a.min(2)],
        _ => a,
    }
}

/// Row-major strides of `dims`.
pub(crate) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1].saturating_mul(dims[d + 1]);
    }
    s
}

pub(crate) fn rt_dtype(t: ElemType) -> Option<DType> {
    match t {
        ElemType::F32 => Some(DType::F32),
        ElemType::I8 => Some(DType::I8),
        ElemType::U8 => Some(DType::U8),
        ElemType::I32 => Some(DType::I32),
        _ => None,
    }
}

pub(crate) fn to_u32(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| CompileError::invalid("a dimension exceeds 2^32"))
}

/// Pad a shape to MAX_RANK with leading 1s.
pub(crate) fn pad6(dims: &[usize]) -> Result<[u32; MAX_RANK]> {
    if dims.len() > MAX_RANK {
        return Err(CompileError::invalid(format!(
            "rank {} exceeds {MAX_RANK}",
            dims.len()
        )));
    }
    let mut out = [1u32; MAX_RANK];
    let off = MAX_RANK - dims.len();
    for (i, &d) in dims.iter().enumerate() {
        out[off + i] = to_u32(d)?;
    }
    Ok(out)
}

/// Identity requantization (`requantize(v, 2^30, 1) == v`).
pub(crate) const IDENTITY_MULT: i32 = 1 << 30;
pub(crate) const IDENTITY_SHIFT: i32 = 1;

/// A constant's quantized source: integer data, scales, zero points, axis.
#[derive(Debug, Clone)]
pub(crate) struct ConstQ {
    pub data: Tensor,
    pub scales: Vec<f32>,
    pub zps: Vec<i64>,
    pub axis: usize,
}

/// Graph-level options.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Graph inputs to turn into constants (name, value), e.g. a test's weights.
    pub bind: Vec<(String, Tensor)>,
    /// Intermediate values to expose as extra outputs, after the graph's own
    /// (calibration and per-layer error reports read activations this way).
    pub extra_outputs: Vec<String>,
    /// Which SIMD kernel's weight layout to pack conv weights in, ahead of
    /// time (`ConvI8::packed`); the default packs for x86_64 AVX2.
    pub pack: Pack,
}

/// Weights packed ahead of time for a kernel family (`ConvI8::packed`,
/// `FcI8::packed`, read by that family's kernels instead of the int8 weights).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pack {
    /// x86_64 AVX2 (`edgerun::kernels::conv::pack`): `i16`, twice the bytes
    /// of the int8 weights of the convolutions it runs, 32 / 9 times for the
    /// 3x3 ones its Winograd loop runs (`PackKind::Avx2WinogradI16`, where
    /// `pack::winograd_pays`); an x86_64 runtime without them packs at each
    /// call, for its other loops.
    #[default]
    Avx2,
    /// Cortex-M4/M7 DSP (`edgerun::kernels::conv::pack::pack_dsp_rows`): `i16`,
    /// about twice the bytes of the int8 weights of the convolutions and fully
    /// connected layers it runs; its kernels need them (without, the scalar
    /// kernels run). The same file as `edgerun::format::write::for_cortex_m`
    /// makes of any `.edge` file.
    Dsp,
    /// None: the smallest file (NEON and SDOT read the int8 weights; an
    /// x86_64 runtime packs at each call; a Cortex-M runs the scalar kernels).
    None,
}

pub(crate) struct Lowerer<'g> {
    pub graph: &'g GraphProto,
    pub opset: i64,
    pub values: HashMap<String, VInfo>,
    pub phys: Vec<Phys>,
    storages: Vec<Storage>,
    memo: HashMap<(PhysId, Layout, DType), PhysId>,
    pub ops: Vec<(String, Op)>,
    pub blob: Vec<u8>,
    /// Number of consumers of every value name (graph outputs count as one).
    pub consumers: HashMap<String, usize>,
    pub graph_outputs: HashSet<String>,
    /// Nodes already lowered as part of a fusion.
    pub skip: HashSet<usize>,
    /// f32 values that are a DequantizeLinear of a runtime int8/uint8 tensor,
    /// not computed unless a float consumer needs them (QDQ models).
    pub lazy_dq: HashMap<String, quantized::QAct>,
    /// Constants that came from a DequantizeLinear of int8/uint8/int32 constants.
    pub const_q: HashMap<String, ConstQ>,
    pub node_index: usize,
}

impl<'g> Lowerer<'g> {
    pub fn new(graph: &'g GraphProto, opset: i64) -> Self {
        let mut consumers: HashMap<String, usize> = HashMap::new();
        for n in &graph.node {
            for i in n.input.iter().filter(|s| !s.is_empty()) {
                *consumers.entry(i.clone()).or_default() += 1;
            }
        }
        let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        for o in &graph_outputs {
            *consumers.entry(o.clone()).or_default() += 1;
        }
        Lowerer {
            graph,
            opset,
            values: HashMap::new(),
            phys: Vec::new(),
            storages: Vec::new(),
            memo: HashMap::new(),
            ops: Vec::new(),
            blob: Vec::new(),
            consumers,
            graph_outputs,
            skip: HashSet::new(),
            lazy_dq: HashMap::new(),
            const_q: HashMap::new(),
            node_index: 0,
        }
    }

    // ---- values -------------------------------------------------------------

    pub fn info(&self, name: &str) -> Result<&VInfo> {
        self.values.get(name).ok_or_else(|| {
            CompileError::invalid(format!("value '{name}' is used before it is defined"))
        })
    }

    /// Input `i` of a node (error if absent).
    pub fn input<'n>(&self, node: &'n NodeProto, i: usize) -> Result<&'n str> {
        match node.input.get(i) {
            Some(s) if !s.is_empty() => Ok(s.as_str()),
            _ => Err(node.unsupported(format!("input {i} is missing"))),
        }
    }

    /// Optional input `i` of a node.
    pub fn opt_input<'n>(&self, node: &'n NodeProto, i: usize) -> Option<&'n str> {
        node.input
            .get(i)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_str())
    }

    /// The constant value of input `i`, or an error saying it must be constant.
    pub fn const_input(&self, node: &NodeProto, i: usize) -> Result<Tensor> {
        let name = self.input(node, i)?;
        match &self.info(name)?.val {
            Val::Const(t) => Ok(t.clone()),
            Val::Rt(_) => Err(node.unsupported(format!(
                "input {i} ('{name}') must be a constant (initializer) for edgerun"
            ))),
        }
    }

    pub fn opt_const_input(&self, node: &NodeProto, i: usize) -> Result<Option<Tensor>> {
        match self.opt_input(node, i) {
            None => Ok(None),
            Some(_) => self.const_input(node, i).map(Some),
        }
    }

    pub fn set_const(&mut self, name: &str, t: Tensor) {
        let info = VInfo {
            dtype: t.elem_type(),
            shape: t.shape.clone(),
            val: Val::Const(t),
        };
        self.values.insert(name.to_string(), info);
    }

    pub fn set_rt(&mut self, name: &str, dtype: ElemType, phys: PhysId) {
        let shape = self.phys[phys].shape.clone();
        self.values.insert(
            name.to_string(),
            VInfo {
                dtype,
                shape,
                val: Val::Rt(phys),
            },
        );
    }

    /// Is `name` consumed exactly once and not a graph output (so it can be fused)?
    pub fn single_use(&self, name: &str) -> bool {
        self.consumers.get(name).copied() == Some(1) && !self.graph_outputs.contains(name)
    }

    /// The node (after the current one) that consumes `name`.
    pub fn consumer_of(&self, name: &str) -> Option<(usize, &'g NodeProto)> {
        let graph: &'g GraphProto = self.graph;
        graph
            .node
            .iter()
            .enumerate()
            .skip(self.node_index + 1)
            .find(|(_, n)| n.input.iter().any(|i| i == name))
    }

    // ---- physical tensors ---------------------------------------------------

    /// A new arena tensor (defined by the next emitted op).
    pub fn new_phys(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        layout: Layout,
        dtype: DType,
    ) -> PhysId {
        let bytes = numel(&shape).saturating_mul(dtype.size());
        let at = self.ops.len();
        self.storages.push(Storage {
            bytes,
            first: at,
            last: at,
        });
        self.phys.push(Phys {
            name: name.to_string(),
            shape,
            layout,
            dtype,
            storage: self.storages.len() - 1,
        });
        self.phys.len() - 1
    }

    /// A new view sharing `of`'s bytes.
    pub fn alias(
        &mut self,
        of: PhysId,
        name: &str,
        shape: Vec<usize>,
        layout: Layout,
        dtype: DType,
    ) -> PhysId {
        let storage = self.phys[of].storage;
        self.phys.push(Phys {
            name: name.to_string(),
            shape,
            layout,
            dtype,
            storage,
        });
        self.phys.len() - 1
    }

    /// Mark the storage of `p` live until the op about to be emitted (or `last`).
    fn touch(&mut self, p: PhysId) {
        let at = self.ops.len();
        let s = &mut self.storages[self.phys[p].storage];
        s.first = s.first.min(at);
        s.last = s.last.max(at);
    }

    pub fn pin_whole_run(&mut self, p: PhysId) {
        let s = &mut self.storages[self.phys[p].storage];
        s.first = 0;
        s.last = usize::MAX;
    }

    pub fn pbuf(&mut self, p: PhysId) -> Buf {
        self.touch(p);
        let ph = &self.phys[p];
        Buf {
            mem: Mem::Arena,
            offset: p as u32,
            len: byte_len(ph),
        }
    }

    pub fn buf(&mut self, s: Src) -> Buf {
        match s {
            Src::Phys(p) => self.pbuf(p),
            Src::Blob(b) => b,
        }
    }

    /// Append constant bytes to the blob (16-aligned).
    pub fn blob_bytes(&mut self, bytes: &[u8]) -> Buf {
        let at = self.blob.len().div_ceil(edgerun::format::ALIGN) * edgerun::format::ALIGN;
        self.blob.resize(at, 0);
        self.blob.extend_from_slice(bytes);
        Buf {
            mem: Mem::Blob,
            offset: at as u32,
            len: bytes.len() as u32,
        }
    }
    pub fn blob_f32(&mut self, v: &[f32]) -> Buf {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.blob_bytes(&b)
    }
    pub fn blob_i32(&mut self, v: &[i32]) -> Buf {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.blob_bytes(&b)
    }
    pub fn blob_u32(&mut self, v: &[u32]) -> Buf {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.blob_bytes(&b)
    }

    /// Pack the weights of every layer the kernels of `pack` run (weights in
    /// the blob) into the blob, and point the op at them
    /// (`edgerun::format::write::append_packs`).
    pub fn pack_weights(&mut self, pack: Pack) -> Result<()> {
        let kind = match pack {
            Pack::None => return Ok(()),
            Pack::Avx2 => PackKind::Avx2I16,
            Pack::Dsp => PackKind::DspI16,
        };
        let ops = self.ops.iter_mut().map(|(_, op)| op);
        edgerun::format::write::append_packs(ops, &mut self.blob, kind)
            .map_err(CompileError::Runtime)
    }

    /// Emit an op (its arena buffers were created with [`Self::pbuf`] just before).
    pub fn emit(&mut self, name: &str, op: Op) {
        self.ops.push((name.to_string(), op));
    }

    /// Requantization parameters with one multiplier for every channel.
    pub fn requant(
        &mut self,
        mults: &[(i32, i32)],
        output_offset: i32,
        act_min: i32,
        act_max: i32,
    ) -> Requant {
        let m: Vec<i32> = mults.iter().map(|x| x.0).collect();
        let s: Vec<i32> = mults.iter().map(|x| x.1).collect();
        Requant {
            mult: self.blob_i32(&m),
            shift: self.blob_i32(&s),
            output_offset,
            act_min,
            act_max,
        }
    }

    /// The runtime tensor `name` in `layout` and `dtype`, converting (and
    /// memoizing) if needed. Constants are materialized into the arena.
    pub fn get(&mut self, name: &str, layout: Layout, dtype: DType) -> Result<PhysId> {
        let info = self.info(name)?.clone();
        let canon = match info.val {
            Val::Rt(p) => p,
            Val::Const(t) => {
                // A constant used where a runtime tensor is needed: copy it in.
                let dt = rt_dtype(t.elem_type()).ok_or_else(|| {
                    CompileError::invalid(format!(
                        "constant '{name}' of type {} cannot be a runtime tensor",
                        t.elem_type().name()
                    ))
                })?;
                let src = self.blob_bytes(&t.to_bytes());
                let p = self.new_phys(name, t.shape.clone(), Layout::Logical, dt);
                let out = self.pbuf(p);
                self.emit(
                    name,
                    Op::CopyChunks(CopyChunks {
                        outer: 1,
                        chunk: src.len,
                        dst_start: 0,
                        dst_stride: src.len,
                        input: src,
                        output: out,
                        table: None,
                    }),
                );
                self.set_rt(name, t.elem_type(), p);
                p
            }
        };
        self.convert(canon, layout, dtype)
    }

    fn convert(&mut self, p: PhysId, layout: Layout, dtype: DType) -> Result<PhysId> {
        let (cur_layout, cur_dtype) = (self.phys[p].layout, self.phys[p].dtype);
        let shape = self.phys[p].shape.clone();
        let layout = if shape.len() == 3 || shape.len() == 4 {
            layout
        } else {
            Layout::Logical
        };
        if cur_layout == layout && cur_dtype == dtype {
            return Ok(p);
        }
        if let Some(&q) = self.memo.get(&(p, layout, dtype)) {
            return Ok(q);
        }
        let name = self.phys[p].name.clone();
        let mut q = p;
        if cur_dtype != dtype {
            if !matches!(
                (cur_dtype, dtype),
                (DType::U8, DType::I8) | (DType::I8, DType::U8)
            ) {
                return Err(CompileError::invalid(format!(
                    "no conversion from {} to {} for '{name}'",
                    cur_dtype.name(),
                    dtype.name()
                )));
            }
            let table: Vec<u8> = (0..=255u8).map(|b| b ^ 0x80).collect();
            let table = self.blob_bytes(&table);
            let r = self.new_phys(
                &format!("{name}.{}", dtype.name()),
                shape.clone(),
                cur_layout,
                dtype,
            );
            let input = self.pbuf(q);
            let output = self.pbuf(r);
            self.emit(
                &format!("{name}.to_{}", dtype.name()),
                Op::Lut8(Lut8 {
                    len: to_u32(numel(&shape))?,
                    input,
                    output,
                    table,
                }),
            );
            q = r;
        }
        if cur_layout != layout {
            let s4 = as4(&shape);
            // Physical dims before, and the permutation to the target layout.
            let (in_dims, perm) = match layout {
                Layout::Nhwc => (s4.to_vec(), [0usize, 2, 3, 1]),
                Layout::Logical => (vec![s4[0], s4[2], s4[3], s4[1]], [0usize, 3, 1, 2]),
            };
            let r = if is_identity_on_non_unit(&in_dims, &perm) {
                // Only unit axes move: the bytes are the same.
                self.alias(
                    q,
                    &format!("{name}.{layout:?}"),
                    shape.clone(),
                    layout,
                    dtype,
                )
            } else {
                let r = self.new_phys(&format!("{name}.{layout:?}"), shape.clone(), layout, dtype);
                let input = self.pbuf(q);
                let output = self.pbuf(r);
                self.emit(
                    &format!("{name}.to_{layout:?}"),
                    Op::Transpose(Transpose {
                        elem: dtype.size() as u32,
                        shape: pad6(&in_dims)?,
                        perm: perm6(&perm),
                        input,
                        output,
                    }),
                );
                r
            };
            q = r;
        }
        self.memo.insert((p, layout, dtype), q);
        Ok(q)
    }

    /// An operand as an arena tensor or blob constant in `layout` (constants are
    /// permuted at compile time) and `dtype`.
    pub fn operand(&mut self, name: &str, layout: Layout, dtype: DType) -> Result<Src> {
        let info = self.info(name)?.clone();
        match info.val {
            Val::Const(t) => {
                let t = if layout == Layout::Nhwc && (t.shape.len() == 4) {
                    t.transposed(&[0, 2, 3, 1])?
                } else {
                    t
                };
                Ok(Src::Blob(self.blob_bytes(&t.to_bytes())))
            }
            Val::Rt(_) => Ok(Src::Phys(self.get(name, layout, dtype)?)),
        }
    }

    /// Canonical layout of a runtime value (Logical for constants).
    pub fn layout_of(&self, name: &str) -> Layout {
        match self.values.get(name).map(|v| &v.val) {
            Some(Val::Rt(p)) => self.phys[*p].layout,
            _ => Layout::Logical,
        }
    }

    // ---- driver -------------------------------------------------------------

    pub fn lower_node(&mut self, node: &NodeProto) -> Result<()> {
        // Every lowering reads `output[0]`, and all but Constant read `input[0]`.
        if node.output.first().is_none_or(|o| o.is_empty()) {
            return Err(node.invalid("a node without an output"));
        }
        if node.op_type != "Constant" && node.input.first().is_none_or(|i| i.is_empty()) {
            return Err(node.invalid("a node without its first input"));
        }
        if !(node.domain.is_empty() || node.domain == "ai.onnx" || node.domain == "com.microsoft") {
            return Err(node.unsupported(format!("operator domain '{}'", node.domain)));
        }
        // Constant folding first: every input constant and the op foldable.
        let all_const = node
            .input
            .iter()
            .filter(|i| !i.is_empty())
            .all(|i| matches!(self.values.get(i).map(|v| &v.val), Some(Val::Const(_))));
        if all_const && shape_ops::fold(self, node)? {
            return Ok(());
        }
        // QDQ patterns run on the int8 kernels; anything else sees float values.
        if qdq::lower(self, node)? {
            return Ok(());
        }
        for name in node.input.iter().filter(|i| !i.is_empty()) {
            self.materialize(name)?;
        }
        match node.op_type.as_str() {
            "Conv" => nn::conv(self, node),
            "MaxPool" | "AveragePool" => nn::pool(self, node),
            "GlobalAveragePool" | "GlobalMaxPool" => nn::global_pool(self, node),
            "Gemm" => nn::gemm(self, node),
            "MatMul" => nn::matmul(self, node),
            "BatchNormalization" => nn::batchnorm(self, node),
            "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Sum" => nn::binary(self, node),
            "LRN" => nn::lrn(self, node),
            "Relu" | "Clip" | "Sigmoid" | "Tanh" | "Exp" | "Neg" | "Abs" => nn::unary(self, node),
            "Softmax" | "LogSoftmax" => nn::softmax(self, node),
            "Concat" => shape_ops::concat(self, node),
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => {
                shape_ops::reshape_like(self, node)
            }
            "Transpose" => shape_ops::transpose(self, node),
            "Resize" | "Upsample" => shape_ops::resize(self, node),
            "QuantizeLinear" => quantized::quantize(self, node),
            "DequantizeLinear" => quantized::dequantize(self, node),
            "QLinearConv" => quantized::qlinear_conv(self, node),
            "QLinearMatMul" => quantized::qlinear_matmul(self, node),
            "QLinearAdd" | "QLinearMul" => quantized::qlinear_binary(self, node),
            "QLinearGlobalAveragePool" => quantized::qlinear_global_avgpool(self, node),
            "QGemm" => quantized::qgemm(self, node),
            "QLinearConcat" => quantized::qlinear_concat(self, node),
            "QLinearSoftmax" => quantized::qlinear_softmax(self, node),
            "QLinearAveragePool" => quantized::qlinear_avgpool(self, node),
            "NonMaxSuppression" => detect::non_max_suppression(self, node),
            other => Err(node.unsupported(format!("operator {other} is not supported"))),
        }
    }

    /// Compute a lazily dequantized value (a Dequantize op) if it is not yet.
    pub fn materialize(&mut self, name: &str) -> Result<()> {
        if self.values.contains_key(name) {
            return Ok(());
        }
        let Some(q) = self.lazy_dq.get(name).cloned() else {
            return Ok(());
        };
        let shape = self.info(&q.value)?.shape.clone();
        let p = self.get(&q.value, self.layout_of(&q.value), DType::I8)?;
        let (scales, zero_points) = (self.blob_f32(&[q.scale]), self.blob_i32(&[q.zp]));
        let input = self.pbuf(p);
        let out = self.new_phys(name, shape.clone(), self.phys[p].layout, DType::F32);
        let output = self.pbuf(out);
        let n = to_u32(numel(&shape))?;
        self.emit(
            &format!("{name}.dequantize"),
            Op::Dequantize(Dequantize {
                in_dtype: DType::I8,
                outer: 1,
                axis: 1,
                inner: n,
                per_axis: false,
                scales,
                zero_points,
                input,
                output,
            }),
        );
        self.set_rt(name, ElemType::F32, out);
        Ok(())
    }

    /// Assign arena offsets and patch every arena buffer of every op.
    pub fn finish(
        mut self,
        outputs: &[(String, PhysId)],
        inputs: &[(String, PhysId)],
        name: &str,
        detector: Option<&edgerun::format::write::DetectorParts<'_>>,
    ) -> Result<Vec<u8>> {
        let items: Vec<plan::Item> = self
            .storages
            .iter()
            .map(|s| plan::Item {
                bytes: s.bytes,
                first: s.first,
                last: s.last,
            })
            .collect();
        let (offsets, total) = plan::plan(&items);
        let resolve = |b: &mut Buf, phys: &[Phys]| {
            if b.mem == Mem::Arena {
                let p = b.offset as usize;
                b.offset = offsets[phys[p].storage] as u32;
            }
        };
        for (_, op) in self.ops.iter_mut() {
            for b in bufs_mut(op) {
                resolve(b, &self.phys);
            }
        }
        // Unnamed: `named` below gives each descriptor its key's name.
        let desc = |(n, p): &(String, PhysId), phys: &[Phys]| -> Result<TensorDesc<'static>> {
            let ph = &phys[*p];
            let mut buf = Buf {
                mem: Mem::Arena,
                offset: *p as u32,
                len: byte_len(ph),
            };
            resolve(&mut buf, phys);
            let mut dims = [1u32; MAX_RANK];
            if ph.shape.len() > MAX_RANK {
                return Err(CompileError::invalid(format!(
                    "'{n}' has rank {} > {MAX_RANK}",
                    ph.shape.len()
                )));
            }
            for (i, &d) in ph.shape.iter().enumerate() {
                dims[i] = to_u32(d)?;
            }
            Ok(TensorDesc {
                name: "",
                dtype: ph.dtype,
                shape: Shape {
                    rank: ph.shape.len() as u8,
                    dims,
                },
                quant: None,
                buf,
            })
        };
        // Descriptors borrow their names from `keys` (a name leaked per
        // compile was a memory leak, found by the onnx_compile fuzz target).
        fn named<'k>(
            keys: &'k [(String, PhysId)],
            desc: impl Fn(&(String, PhysId)) -> Result<TensorDesc<'static>>,
        ) -> Result<Vec<TensorDesc<'k>>> {
            keys.iter()
                .map(|x| {
                    let d = desc(x)?;
                    Ok(TensorDesc {
                        name: x.0.as_str(),
                        ..d
                    })
                })
                .collect()
        }
        let all_keys: Vec<(String, PhysId)> = (0..self.phys.len())
            .filter(|&p| self.phys[p].shape.len() <= MAX_RANK)
            .map(|p| (self.phys[p].name.clone(), p))
            .collect();
        let ins = named(inputs, |x| desc(x, &self.phys))?;
        let outs = named(outputs, |x| desc(x, &self.phys))?;
        let all = named(&all_keys, |x| desc(x, &self.phys))?;
        let names: Vec<String> = self.ops.iter().map(|(n, _)| n.clone()).collect();
        let records: Vec<OpRecord> = self
            .ops
            .iter()
            .zip(names.iter())
            .map(|((_, op), n)| OpRecord {
                name: n.as_str(),
                op: *op,
            })
            .collect();
        let parts = edgerun::format::write::ModelParts {
            name,
            arena_bytes: to_u32(total)?,
            inputs: &ins,
            outputs: &outs,
            ops: &records,
            tensors: &all,
            blob: &self.blob,
        };
        edgerun::format::write::write_model_with_detector(&parts, detector)
            .map_err(CompileError::Write)
    }
}

/// Constant folding as a graph pass: every node the lowering would fold
/// (Constant, ConstantOfShape, and shape ops, Transpose or DequantizeLinear of
/// constants, see `shape_ops::fold`) is replaced by initializers holding its
/// outputs, in graph order, so later passes see weights generated inside the
/// graph (e.g. by ConstantOfShape) as initializers. Returns the nodes removed.
pub(crate) fn fold_constants(graph: &mut GraphProto, opset: i64) -> Result<usize> {
    let mut lw = Lowerer::new(graph, opset);
    for t in &graph.initializer {
        lw.set_const(&t.name, crate::tensor::from_proto(t)?);
    }
    let mut folded: Vec<(usize, Vec<(String, Tensor)>)> = Vec::new();
    for (i, node) in graph.node.iter().enumerate() {
        let all_const = node
            .input
            .iter()
            .filter(|n| !n.is_empty())
            .all(|n| matches!(lw.values.get(n).map(|v| &v.val), Some(Val::Const(_))));
        if !all_const || node.output.first().is_none_or(|o| o.is_empty()) {
            continue;
        }
        lw.node_index = i;
        if shape_ops::fold(&mut lw, node)? {
            let outs = node
                .output
                .iter()
                .filter_map(|o| match lw.values.get(o).map(|v| &v.val) {
                    Some(Val::Const(t)) => Some((o.clone(), t.clone())),
                    _ => None,
                })
                .collect();
            folded.push((i, outs));
        }
    }
    let n = folded.len();
    for (i, outs) in folded.into_iter().rev() {
        graph.node.remove(i);
        for (name, t) in outs {
            graph.initializer.retain(|x| x.name != name);
            graph.initializer.push(crate::tensor::to_proto(&name, &t));
        }
    }
    Ok(n)
}

/// `[N,C,H,W]` of a rank-3 (`[N,C,W]`, H=1) or rank-4 shape.
pub(crate) fn as4(shape: &[usize]) -> [usize; 4] {
    match shape {
        [n, c, w] => [*n, *c, 1, *w],
        [n, c, h, w] => [*n, *c, *h, *w],
        _ => [1, 1, 1, numel(shape)],
    }
}

fn is_identity_on_non_unit(from: &[usize], perm: &[usize]) -> bool {
    // The permutation keeps the relative order of the non-unit axes.
    let order: Vec<usize> = perm.iter().copied().filter(|&i| from[i] != 1).collect();
    order.windows(2).all(|w| w[0] < w[1])
}

/// Permutation of a rank-r tensor padded to MAX_RANK (leading axes fixed).
pub(crate) fn perm6(perm: &[usize]) -> [u8; MAX_RANK] {
    let off = MAX_RANK - perm.len();
    let mut out = [0u8; MAX_RANK];
    for (i, o) in out.iter_mut().enumerate() {
        *o = if i < off {
            i as u8
        } else {
            (perm[i - off] + off) as u8
        };
    }
    out
}

/// Every buffer of an op, mutable (for patching arena offsets).
pub(crate) fn bufs_mut(op: &mut Op) -> Vec<&mut Buf> {
    let mut v: Vec<&mut Buf> = Vec::new();
    match op {
        Op::ConvF32(p) => {
            v.extend([&mut p.input, &mut p.weights, &mut p.output]);
            v.extend(p.bias.as_mut());
        }
        Op::ConvI8(p) => {
            v.extend([
                &mut p.input,
                &mut p.weights,
                &mut p.output,
                &mut p.rq.mult,
                &mut p.rq.shift,
            ]);
            v.extend(p.bias.as_mut());
        }
        Op::PoolF32(p) => v.extend([&mut p.input, &mut p.output]),
        Op::PoolI8(p) => v.extend([&mut p.input, &mut p.output, &mut p.rq.mult, &mut p.rq.shift]),
        Op::FcF32(p) => {
            v.extend([&mut p.input, &mut p.weights, &mut p.output]);
            v.extend(p.bias.as_mut());
        }
        Op::FcI8(p) => {
            v.extend([
                &mut p.input,
                &mut p.weights,
                &mut p.output,
                &mut p.rq.mult,
                &mut p.rq.shift,
            ]);
            v.extend(p.bias.as_mut());
        }
        Op::MatMulF32(p) => v.extend([&mut p.a, &mut p.b, &mut p.output]),
        Op::BinaryF32(p) => v.extend([&mut p.a, &mut p.b, &mut p.output]),
        Op::BinaryI8(p) => v.extend([
            &mut p.a,
            &mut p.b,
            &mut p.output,
            &mut p.rq.mult,
            &mut p.rq.shift,
        ]),
        Op::UnaryF32(p) => v.extend([&mut p.input, &mut p.output]),
        Op::Lut8(p) => v.extend([&mut p.input, &mut p.output, &mut p.table]),
        Op::SoftmaxF32(p) => v.extend([&mut p.input, &mut p.output]),
        Op::SoftmaxI8(p) => v.extend([&mut p.input, &mut p.output, &mut p.exp_table]),
        Op::CopyChunks(p) => {
            v.extend([&mut p.input, &mut p.output]);
            v.extend(p.table.as_mut());
        }
        Op::Transpose(p) => v.extend([&mut p.input, &mut p.output]),
        Op::Gather(p) => v.extend([&mut p.input, &mut p.output, &mut p.maps]),
        Op::Quantize(p) => v.extend([
            &mut p.input,
            &mut p.output,
            &mut p.scales,
            &mut p.zero_points,
        ]),
        Op::Dequantize(p) => v.extend([
            &mut p.input,
            &mut p.output,
            &mut p.scales,
            &mut p.zero_points,
        ]),
        Op::ChannelAffineF32(p) => {
            v.extend([&mut p.input, &mut p.output, &mut p.scale, &mut p.shift])
        }
        Op::Nms(p) => v.extend([&mut p.boxes, &mut p.scores, &mut p.output]),
        Op::LrnF32(p) => v.extend([&mut p.input, &mut p.output]),
    }
    v
}

/// Convert a `u8`-typed constant tensor to the `i8` domain (`v - 128`).
pub(crate) fn u8_to_i8(t: &Tensor) -> Result<Vec<i8>> {
    Ok(match &t.data {
        Data::U8(v) => v.iter().map(|&x| (x as i16 - 128) as i8).collect(),
        Data::I8(v) => v.clone(),
        _ => return Err(CompileError::invalid("expected an int8 or uint8 tensor")),
    })
}
