//! Post-training int8 quantization: graph passes (BatchNorm folding, Dropout and
//! Identity removal), calibration on edgerun's own f32 runtime, range selection,
//! per-channel symmetric int8 weights, int32 biases, asymmetric int8
//! activations, written out as QDQ ONNX (QuantizeLinear/DequantizeLinear around
//! float ops) that onnxruntime and tract load and that `compile` turns into int8
//! kernels.

pub mod ranges;

use crate::error::{CompileError, Result};
use crate::host::HostModel;
use crate::pb::attribute_proto::AttributeType;
use crate::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto};
use crate::tensor::{Data, Tensor, from_proto, to_proto};
use crate::{CompileOptions, compile_model};
use ranges::{Histogram, Method, choose};
use std::collections::{HashMap, HashSet};

/// Quantizer settings.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    pub method: Method,
    /// Per-channel weight scales (default); per-tensor when false.
    pub per_channel: bool,
    /// Node names (or output names) to keep in float.
    pub keep_float: Vec<String>,
    /// Bias correction: add to each quantized Conv/Gemm/MatMul's bias the
    /// expected output shift its weight rounding causes on the calibration
    /// data, `sum_k (W - W_q)[o, k] * mean(x_k)` (see [`correct_bias`]).
    pub bias_correction: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            method: Method::MinMax,
            per_channel: true,
            keep_float: Vec::new(),
            bias_correction: false,
        }
    }
}

/// What the quantizer did, per activation tensor.
#[derive(Debug, Clone, Default)]
pub struct QuantizeReport {
    pub folded_batchnorms: usize,
    pub removed_nodes: usize,
    pub quantized_ops: usize,
    /// Layers whose bias was corrected ([`QuantizeOptions::bias_correction`]).
    pub bias_corrected: usize,
    /// (tensor, observed min, observed max, chosen lo, chosen hi, scale, zero point)
    pub activations: Vec<(String, f32, f32, f32, f32, f32, i32)>,
}

fn attr_i(n: &NodeProto, name: &str, d: i64) -> i64 {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.i)
        .unwrap_or(d)
}
fn attr_f(n: &NodeProto, name: &str, d: f32) -> f32 {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.f)
        .unwrap_or(d)
}
fn set_attr_f(n: &mut NodeProto, name: &str, v: f32) {
    n.attribute.retain(|a| a.name != name);
    n.attribute.push(AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    });
}
fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn graph_mut(m: &mut ModelProto) -> Result<&mut GraphProto> {
    m.graph
        .as_mut()
        .ok_or_else(|| CompileError::invalid("the model has no graph"))
}

fn inits(g: &GraphProto) -> Result<HashMap<String, Tensor>> {
    g.initializer
        .iter()
        .map(|t| Ok((t.name.clone(), from_proto(t)?)))
        .collect()
}

fn set_init(g: &mut GraphProto, name: &str, t: &Tensor) {
    g.initializer.retain(|i| i.name != name);
    g.initializer.push(to_proto(name, t));
}

fn uses(g: &GraphProto, name: &str) -> usize {
    g.node
        .iter()
        .flat_map(|n| n.input.iter())
        .filter(|i| *i == name)
        .count()
        + g.output.iter().filter(|o| o.name == name).count()
}

/// Graph passes before calibration: fold constant subgraphs into initializers
/// ([`crate::lower::fold_constants`]), fold every BatchNormalization that follows a
/// Conv (whose output has no other use) into the Conv's weights and bias, turn
/// two-input Sum into Add (quantized as Add), and remove Dropout (inference) and
/// Identity nodes. Returns (folded BatchNormalizations, removed nodes).
pub fn prepare(model: &mut ModelProto) -> Result<(usize, usize)> {
    let opset = crate::default_opset(model);
    let g = graph_mut(model)?;
    crate::lower::fold_constants(g, opset)?;
    for n in g.node.iter_mut() {
        if n.op_type == "Sum" && n.input.len() == 2 {
            n.op_type = "Add".into();
        }
    }
    let consts = inits(g)?;
    let mut folded = 0;
    let mut i = 0;
    while i < g.node.len() {
        let n = &g.node[i];
        if n.op_type != "BatchNormalization"
            || n.input.is_empty()
            || n.output.is_empty()
            || n.output.iter().skip(1).any(|o| !o.is_empty())
        {
            i += 1;
            continue;
        }
        let x = n.input[0].clone();
        let Some(ci) = g
            .node
            .iter()
            .position(|c| c.op_type == "Conv" && c.output.first() == Some(&x))
        else {
            i += 1;
            continue;
        };
        if uses(g, &x) != 1 {
            i += 1;
            continue;
        }
        let get = |k: usize| {
            n.input
                .get(k)
                .and_then(|name| consts.get(name))
                .map(|t| t.to_f64())
        };
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4))
        else {
            i += 1;
            continue;
        };
        let eps = attr_f(n, "epsilon", 1e-5) as f64;
        let conv = &g.node[ci];
        let Some(w) = conv.input.get(1).and_then(|w| consts.get(w)).cloned() else {
            i += 1;
            continue;
        };
        let m = w.shape.first().copied().unwrap_or(0);
        if gamma.len() != m {
            i += 1;
            continue;
        }
        let b: Vec<f64> = match conv.input.get(2).filter(|s| !s.is_empty()) {
            Some(bn) => match consts.get(bn) {
                Some(t) => t.to_f64(),
                None => {
                    i += 1;
                    continue;
                }
            },
            None => vec![0.0; m],
        };
        let a: Vec<f64> = (0..m).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let per = w.len() / m.max(1);
        let wv = w.to_f64();
        let w2: Vec<f32> = wv
            .iter()
            .enumerate()
            .map(|(k, v)| (v * a[k / per]) as f32)
            .collect();
        let b2: Vec<f32> = (0..m)
            .map(|c| ((b[c] - mean[c]) * a[c] + beta[c]) as f32)
            .collect();
        let out = n.output[0].clone();
        let (wname, bname) = (
            format!("{}__w_bn", conv.output[0]),
            format!("{}__b_bn", conv.output[0]),
        );
        set_init(g, &wname, &Tensor::f32(w.shape.clone(), w2));
        set_init(g, &bname, &Tensor::f32(vec![m], b2));
        let conv = &mut g.node[ci];
        conv.input.resize(3, String::new());
        conv.input[1] = wname;
        conv.input[2] = bname;
        conv.output[0] = out;
        g.node.remove(i);
        folded += 1;
    }
    // Dropout (inference) and Identity: rewire consumers to the input.
    let outputs: HashSet<String> = g.output.iter().map(|o| o.name.clone()).collect();
    let mut removed = 0;
    let mut i = 0;
    while i < g.node.len() {
        let n = &g.node[i];
        let removable = matches!(n.op_type.as_str(), "Dropout" | "Identity")
            && !n.output.is_empty()
            && !n.input.is_empty()
            && n.output
                .iter()
                .skip(1)
                .all(|o| o.is_empty() || uses(g, o) == 0)
            && !outputs.contains(&n.output[0]);
        if !removable {
            i += 1;
            continue;
        }
        let (from, to) = (n.output[0].clone(), n.input[0].clone());
        for m in g.node.iter_mut() {
            for inp in m.input.iter_mut().filter(|s| **s == from) {
                *inp = to.clone();
            }
        }
        g.node.remove(i);
        removed += 1;
    }
    Ok((folded, removed))
}

/// Parameters of a model: elements of the float constants its nodes read
/// (weights, biases, BatchNorm parameters), after constant folding, so weights
/// generated inside the graph (ConstantOfShape) count too.
pub fn parameter_count(model: &ModelProto) -> Result<usize> {
    let mut m = model.clone();
    let opset = crate::default_opset(&m);
    let g = graph_mut(&mut m)?;
    crate::lower::fold_constants(g, opset)?;
    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(|s| s.as_str()))
        .collect();
    let mut n = 0;
    for t in g
        .initializer
        .iter()
        .filter(|t| used.contains(t.name.as_str()))
    {
        let t = from_proto(t)?;
        if matches!(t.data, Data::F32(_)) {
            n += t.len();
        }
    }
    Ok(n)
}

const QUANTIZABLE: [&str; 10] = [
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Concat",
];

fn keep(n: &NodeProto, opts: &QuantizeOptions) -> bool {
    opts.keep_float
        .iter()
        .any(|k| *k == n.name || n.output.first() == Some(k))
}

/// The float activations that get a QuantizeLinear/DequantizeLinear pair: every
/// activation input of a quantizable op, and its output (after a following
/// Relu/Clip, which the int8 kernels fuse).
pub fn activation_plan(g: &GraphProto, opts: &QuantizeOptions) -> Vec<String> {
    let init: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let float_init: HashSet<&str> = g
        .initializer
        .iter()
        .filter(|t| t.data_type == crate::pb::tensor_proto::DataType::Float as i32)
        .map(|t| t.name.as_str())
        .collect();
    let mut t: Vec<String> = Vec::new();
    let push = |s: &str, t: &mut Vec<String>| {
        if !s.is_empty() && !init.contains(s) && !t.iter().any(|x| x == s) {
            t.push(s.to_string());
        }
    };
    for n in &g.node {
        if !QUANTIZABLE.contains(&n.op_type.as_str())
            || keep(n, opts)
            || n.output.is_empty()
            || n.input.is_empty()
        {
            continue;
        }
        if n.op_type == "MatMul" && !n.input.get(1).is_some_and(|b| init.contains(b.as_str())) {
            continue;
        }
        let data_inputs: &[String] = match n.op_type.as_str() {
            "Conv" | "Gemm" | "MatMul" | "MaxPool" | "AveragePool" | "GlobalAveragePool"
            | "GlobalMaxPool" => &n.input[..1],
            _ => &n.input,
        };
        for i in data_inputs {
            push(i, &mut t);
        }
        // A float constant operand of an elementwise op (a bias folded by
        // `fold_constants`, e.g. burn's `Add(MatMul(x, W), Reshape(b))`) is
        // quantized on its own range, as onnxruntime's quantizer does, so
        // that the op runs in int8.
        if matches!(n.op_type.as_str(), "Add" | "Mul" | "Concat") {
            for i in data_inputs
                .iter()
                .filter(|i| float_init.contains(i.as_str()))
            {
                if !t.iter().any(|x| x == i) {
                    t.push(i.clone());
                }
            }
        }
        let out = &n.output[0];
        let relu = g.node.iter().find(|r| {
            matches!(r.op_type.as_str(), "Relu" | "Clip") && r.input.first() == Some(out)
        });
        match relu {
            Some(r) if uses(g, out) == 1 => push(&r.output[0], &mut t),
            _ => push(out, &mut t),
        }
    }
    t
}

/// Observed statistics of every tensor in `names` over the calibration inputs
/// (each a full input of the model's single input), run on edgerun's f32 runtime.
/// What calibration observed of each tensor: its histogram, and the mean of
/// each channel (axis 1: NCHW channels, or features of `[N, K]`), for bias
/// correction.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub hists: Vec<Histogram>,
    pub channel_means: Vec<Vec<f64>>,
}

/// Run the float model over `inputs` and observe every tensor in `names`.
pub fn calibrate(
    model: &ModelProto,
    names: &[String],
    inputs: &[Tensor],
    mut progress: impl FnMut(usize, usize),
) -> Result<Calibration> {
    let opts = CompileOptions {
        extra_outputs: names.to_vec(),
        ..Default::default()
    };
    let compiled = compile_model(model, &opts)?;
    let mut host = HostModel::new(&compiled.bytes)?;
    let n_out = model.graph.as_ref().map(|g| g.output.len()).unwrap_or(0);
    // Pass 1: ranges. Pass 2: histograms over those ranges.
    let mut lo = vec![f32::INFINITY; names.len()];
    let mut hi = vec![f32::NEG_INFINITY; names.len()];
    let total = inputs.len() * 2;
    for (k, x) in inputs.iter().enumerate() {
        let outs = host.run(std::slice::from_ref(x))?;
        for (j, t) in outs.iter().skip(n_out).enumerate() {
            for v in t.to_f32() {
                if v.is_finite() {
                    lo[j] = lo[j].min(v);
                    hi[j] = hi[j].max(v);
                }
            }
        }
        progress(k + 1, total);
    }
    let mut hists: Vec<Histogram> = lo
        .iter()
        .zip(&hi)
        .map(|(&l, &h)| Histogram::new(l.min(0.0), h.max(0.0)))
        .collect();
    let mut sums: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut counts: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    for (k, x) in inputs.iter().enumerate() {
        let outs = host.run(std::slice::from_ref(x))?;
        for (j, t) in outs.iter().skip(n_out).enumerate() {
            let v = t.to_f32();
            hists[j].add(&v);
            // Channel sums over axis 1 (everything else is averaged).
            let c = t.shape.get(1).copied().unwrap_or(1).max(1);
            let inner: usize = t.shape.iter().skip(2).product::<usize>().max(1);
            if sums[j].len() != c {
                sums[j] = vec![0.0; c];
                counts[j] = vec![0; c];
            }
            for (i, &e) in v.iter().enumerate() {
                let ch = (i / inner) % c;
                if e.is_finite() {
                    sums[j][ch] += e as f64;
                    counts[j][ch] += 1;
                }
            }
        }
        progress(inputs.len() + k + 1, total);
    }
    for (j, h) in hists.iter_mut().enumerate() {
        // Keep the observed extremes (not the zero-extended ones) for reports.
        h.lo = h.lo.min(lo[j]);
        h.hi = h.hi.max(hi[j]);
    }
    let channel_means = sums
        .iter()
        .zip(&counts)
        .map(|(s, n)| s.iter().zip(n).map(|(s, &n)| s / n.max(1) as f64).collect())
        .collect();
    Ok(Calibration {
        hists,
        channel_means,
    })
}

/// The channel (along `axis`, `dim` channels; 0 when `dim` is 1) of each
/// element of a tensor of `shape`, in row-major order.
fn channel_of(shape: &[usize], axis: usize, dim: usize) -> impl Fn(usize) -> usize {
    let inner: usize = shape.iter().skip(axis + 1).product::<usize>().max(1);
    move |k| if dim > 1 { (k / inner) % dim } else { 0 }
}

/// The float values of weights quantized by [`quantize_weights`].
pub fn dequantize_weights(wq: &Tensor, scales: &[f32], axis: usize) -> Vec<f32> {
    let ch = channel_of(&wq.shape, axis, scales.len());
    wq.to_f32()
        .iter()
        .enumerate()
        .map(|(k, &q)| q * scales.get(ch(k)).copied().unwrap_or(1.0))
        .collect()
}

/// Bias correction of one layer: the expected output shift per output channel
/// caused by rounding the weights, `sum_{c,k} (W - W_q)[o, c, k] * mean(x_c)`,
/// to add to the float bias before it is quantized. `w` and `wq` (dequantized)
/// have the ONNX layout of the layer: Conv `[O, C/group, kh, kw]` with `group`,
/// or a matrix with output channels along `axis` (0: `[O, K]`, 1: `[K, O]`).
/// Padding is ignored (border outputs see fewer inputs), so this is the
/// correction of the interior outputs. `None` when `means` does not match the
/// layer's input channels.
pub fn correct_bias(
    w: &Tensor,
    wq: &[f32],
    axis: usize,
    group: usize,
    means: &[f64],
) -> Option<Vec<f64>> {
    let wf = w.to_f32();
    if wf.len() != wq.len() || w.shape.len() < 2 {
        return None;
    }
    let (n_out, per_out) = if axis == 0 {
        let o = *w.shape.first()?;
        (o, wf.len() / o.max(1))
    } else {
        (*w.shape.get(1)?, *w.shape.first()?)
    };
    let mut corr = vec![0f64; n_out];
    if w.shape.len() == 4 {
        // Conv: per output channel, C/group input channels of kh*kw taps.
        let (cg, taps) = (*w.shape.get(1)?, w.shape.get(2)? * w.shape.get(3)?);
        let out_per_group = n_out / group.max(1);
        if means.len() != cg * group || out_per_group == 0 {
            return None;
        }
        for (o, c_out) in corr.iter_mut().enumerate() {
            let g0 = (o / out_per_group) * cg;
            for ci in 0..cg {
                let base = (o * cg + ci) * taps;
                let dw: f64 = (base..base + taps).map(|i| (wf[i] - wq[i]) as f64).sum();
                *c_out += dw * means[g0 + ci];
            }
        }
    } else if w.shape.len() == 2 {
        if means.len() != per_out {
            return None;
        }
        for (o, c_out) in corr.iter_mut().enumerate() {
            for (k, m) in means.iter().enumerate() {
                let i = if axis == 0 {
                    o * per_out + k
                } else {
                    k * n_out + o
                };
                *c_out += (wf[i] - wq[i]) as f64 * m;
            }
        }
    } else {
        return None;
    }
    Some(corr)
}

/// Drop initializers no node reads and no graph output names (the float
/// weights a quantized layer replaced), and graph inputs that only declared
/// them.
fn prune_initializers(g: &mut GraphProto) {
    let used: HashSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(g.output.iter().map(|o| o.name.clone()))
        .collect();
    let dropped: HashSet<String> = g
        .initializer
        .iter()
        .filter(|i| !used.contains(&i.name))
        .map(|i| i.name.clone())
        .collect();
    g.initializer.retain(|i| !dropped.contains(&i.name));
    g.input.retain(|i| !dropped.contains(&i.name));
}

/// Scale and zero point (int8) of an asymmetric range containing 0.
pub fn act_qparams(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo {
        (hi - lo) / 255.0
    } else {
        1.0 / 255.0
    };
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zp)
}

/// Symmetric int8 quantization of weights along `axis` (per channel), or per tensor.
pub fn quantize_weights(w: &Tensor, axis: usize, per_channel: bool) -> (Tensor, Vec<f32>) {
    let v = w.to_f32();
    let dim = if per_channel {
        w.shape.get(axis).copied().unwrap_or(1).max(1)
    } else {
        1
    };
    let ch = channel_of(&w.shape, axis, dim);
    let mut absmax = vec![0f32; dim];
    for (k, x) in v.iter().enumerate() {
        absmax[ch(k)] = absmax[ch(k)].max(x.abs());
    }
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q: Vec<i8> = v
        .iter()
        .enumerate()
        .map(|(k, x)| (x / scales[ch(k)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (
        Tensor {
            shape: w.shape.clone(),
            data: Data::I8(q),
        },
        scales,
    )
}

fn dq_node(input: &str, scale: &str, zp: &str, out: &str, axis: Option<i64>) -> NodeProto {
    NodeProto {
        op_type: "DequantizeLinear".into(),
        name: format!("{out}__node"),
        input: vec![input.into(), scale.into(), zp.into()],
        output: vec![out.into()],
        attribute: axis.map(|a| vec![int_attr("axis", a)]).unwrap_or_default(),
        ..Default::default()
    }
}

fn q_node(input: &str, scale: &str, zp: &str, out: &str) -> NodeProto {
    NodeProto {
        op_type: "QuantizeLinear".into(),
        name: format!("{out}__node"),
        input: vec![input.into(), scale.into(), zp.into()],
        output: vec![out.into()],
        ..Default::default()
    }
}

/// Quantize a float model: passes, calibration on `calib` (inputs of its single
/// input), ranges by `opts.method`, QDQ output.
pub fn quantize(
    model: &ModelProto,
    calib: &[Tensor],
    opts: &QuantizeOptions,
    progress: impl FnMut(usize, usize),
) -> Result<(ModelProto, QuantizeReport)> {
    let mut m = model.clone();
    let (folded, removed) = prepare(&mut m)?;
    let mut report = QuantizeReport {
        folded_batchnorms: folded,
        removed_nodes: removed,
        ..Default::default()
    };
    let g = m
        .graph
        .as_ref()
        .ok_or_else(|| CompileError::invalid("the model has no graph"))?;
    let plan = activation_plan(g, opts);
    let cal = calibrate(&m, &plan, calib, progress)?;
    let hists = &cal.hists;
    let means: HashMap<&str, &Vec<f64>> = plan
        .iter()
        .map(String::as_str)
        .zip(&cal.channel_means)
        .collect();
    let mut qp: HashMap<String, (f32, i32)> = HashMap::new();
    // The model's own inputs and outputs keep their full range: inputs have a
    // known range, and clipping logits would tie the top classes.
    let io: HashSet<&str> = g
        .input
        .iter()
        .chain(g.output.iter())
        .map(|v| v.name.as_str())
        .collect();
    for (name, h) in plan.iter().zip(hists) {
        let method = if io.contains(name.as_str()) {
            Method::MinMax
        } else {
            opts.method
        };
        let (lo, hi) = choose(h, method);
        let (s, z) = act_qparams(lo, hi);
        report
            .activations
            .push((name.clone(), h.lo, h.hi, lo, hi, s, z));
        qp.insert(name.clone(), (s, z));
    }
    let g = graph_mut(&mut m)?;
    let consts = inits(g)?;
    // Read through a QuantizeLinear/DequantizeLinear pair rewired into their
    // consumers: graph inputs, and the float constants of elementwise ops
    // that `activation_plan` quantizes.
    let rewired: HashSet<String> = g
        .input
        .iter()
        .map(|i| i.name.clone())
        .chain(g.initializer.iter().map(|t| t.name.clone()))
        .collect();
    let mut new_inits: Vec<(String, Tensor)> = Vec::new();
    let mut weight_nodes: Vec<NodeProto> = Vec::new();
    // Weights and biases of Conv / Gemm / MatMul.
    for n in g.node.iter_mut() {
        if !matches!(n.op_type.as_str(), "Conv" | "Gemm" | "MatMul") || keep(n, opts) {
            continue;
        }
        let Some(&(xs, _)) = n.input.first().and_then(|x| qp.get(x)) else {
            continue;
        };
        let Some(w) = n.input.get(1).and_then(|w| consts.get(w)).cloned() else {
            continue;
        };
        let (axis, n_out) = match n.op_type.as_str() {
            _ if w.shape.is_empty() => continue,
            "Conv" => (0usize, w.shape[0]),
            "Gemm" if attr_i(n, "transA", 0) != 0 => continue,
            "Gemm" if attr_i(n, "transB", 0) != 0 => (0, w.shape[0]),
            _ if w.shape.len() == 2 => (1, w.shape[1]),
            _ => continue,
        };
        let mut w = w;
        if n.op_type == "Gemm" {
            let alpha = attr_f(n, "alpha", 1.0);
            if alpha != 1.0 {
                w = Tensor::f32(
                    w.shape.clone(),
                    w.to_f32().iter().map(|v| v * alpha).collect(),
                );
                set_attr_f(n, "alpha", 1.0);
            }
        }
        let (wq, ws) = quantize_weights(&w, axis, opts.per_channel);
        let deq = opts
            .bias_correction
            .then(|| dequantize_weights(&wq, &ws, axis));
        let Some(base) = n.output.first().cloned() else {
            continue;
        };
        let (wqn, wsn, wzn, wdq) = (
            format!("{base}__wq"),
            format!("{base}__ws"),
            format!("{base}__wz"),
            format!("{base}__wdq"),
        );
        let per_axis = ws.len() > 1;
        new_inits.push((wqn.clone(), wq));
        new_inits.push((
            wsn.clone(),
            if per_axis {
                Tensor::f32(vec![ws.len()], ws.clone())
            } else {
                Tensor::f32(vec![], ws.clone())
            },
        ));
        new_inits.push((
            wzn.clone(),
            Tensor {
                shape: if per_axis { vec![ws.len()] } else { vec![] },
                data: Data::I8(vec![0; ws.len()]),
            },
        ));
        weight_nodes.push(dq_node(
            &wqn,
            &wsn,
            &wzn,
            &wdq,
            per_axis.then_some(axis as i64),
        ));
        n.input[1] = wdq;
        // Bias correction: the expected shift of each output caused by the
        // weight rounding, on the calibration data.
        let correction = deq.and_then(|deq| {
            let x = n.input.first().map(String::as_str).unwrap_or_default();
            let group = attr_i(n, "group", 1).max(1) as usize;
            means
                .get(x)
                .and_then(|m| correct_bias(&w, &deq, axis, group, m))
        });
        // Bias: int32 at x_scale * w_scale.
        let bias_at = 2;
        let bias = match n
            .input
            .get(bias_at)
            .filter(|s| !s.is_empty())
            .and_then(|b| consts.get(b))
        {
            Some(b) => Some(b.clone()),
            // A corrected layer without a bias gets one.
            None if correction.is_some() && n.input.len() <= bias_at => {
                n.input.resize(bias_at, String::new());
                n.input.push(format!("{base}__b"));
                Some(Tensor::f32(vec![n_out], vec![0.0; n_out]))
            }
            None => None,
        };
        if let Some(b) = bias {
            let beta = if n.op_type == "Gemm" {
                attr_f(n, "beta", 1.0)
            } else {
                1.0
            };
            let mut bv: Vec<f32> = b.to_f32().iter().map(|v| v * beta).collect();
            if let Some(corr) = correction.as_ref().filter(|c| c.len() == bv.len()) {
                for (v, c) in bv.iter_mut().zip(corr) {
                    *v = (*v as f64 + c) as f32;
                }
                report.bias_corrected += 1;
            }
            if bv.len() == n_out && (b.shape.len() == 1 || b.shape.first() == Some(&1)) {
                let scales: Vec<f32> = (0..n_out)
                    .map(|c| xs * ws[if per_axis { c } else { 0 }])
                    .collect();
                let q: Vec<i32> = bv
                    .iter()
                    .zip(&scales)
                    .map(|(v, s)| {
                        (*v as f64 / *s as f64)
                            .round()
                            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
                    })
                    .collect();
                let (bqn, bsn, bzn, bdq) = (
                    format!("{base}__bq"),
                    format!("{base}__bs"),
                    format!("{base}__bz"),
                    format!("{base}__bdq"),
                );
                new_inits.push((
                    bqn.clone(),
                    Tensor {
                        shape: vec![n_out],
                        data: Data::I32(q),
                    },
                ));
                new_inits.push((bsn.clone(), Tensor::f32(vec![n_out], scales)));
                new_inits.push((
                    bzn.clone(),
                    Tensor {
                        shape: vec![n_out],
                        data: Data::I32(vec![0; n_out]),
                    },
                ));
                weight_nodes.push(dq_node(&bqn, &bsn, &bzn, &bdq, Some(0)));
                n.input[bias_at] = bdq;
                if n.op_type == "Gemm" {
                    set_attr_f(n, "beta", 1.0);
                }
            }
        }
        report.quantized_ops += 1;
    }
    // Activations: producer -> t__f -> Q -> t__q -> DQ -> t (consumers unchanged);
    // graph inputs and constants: x -> Q -> DQ -> x__dq (consumers rewired).
    let mut nodes: Vec<NodeProto> = weight_nodes;
    let mut pending: Vec<NodeProto> = Vec::new();
    let mut deferred: Vec<(String, [NodeProto; 2])> = Vec::new();
    for name in &plan {
        if !rewired.contains(name) {
            continue;
        }
        let (s, z) = qp[name];
        let (sn, zn, qn, dqn) = (
            format!("{name}__s"),
            format!("{name}__z"),
            format!("{name}__q"),
            format!("{name}__dq"),
        );
        new_inits.push((sn.clone(), Tensor::f32(vec![], vec![s])));
        new_inits.push((
            zn.clone(),
            Tensor {
                shape: vec![],
                data: Data::I8(vec![z as i8]),
            },
        ));
        let pair = [
            q_node(name, &sn, &zn, &qn),
            dq_node(&qn, &sn, &zn, &dqn, None),
        ];
        if consts.contains_key(name) {
            // A constant's pair goes just before its first consumer.
            deferred.push((dqn.clone(), pair));
        } else {
            pending.extend(pair);
        }
        for n in g.node.iter_mut() {
            for i in n.input.iter_mut().filter(|i| *i == name) {
                *i = dqn.clone();
            }
        }
    }
    nodes.append(&mut pending);
    for n in g.node.drain(..).collect::<Vec<_>>() {
        let mut n = n;
        for i in &n.input {
            if let Some(k) = deferred.iter().position(|(dqn, _)| dqn == i) {
                nodes.extend(deferred.swap_remove(k).1);
            }
        }
        let mut after = Vec::new();
        for o in n.output.iter_mut() {
            if let Some(&(s, z)) = qp.get(o.as_str()) {
                let name = o.clone();
                let (f, sn, zn, qn) = (
                    format!("{name}__f"),
                    format!("{name}__s"),
                    format!("{name}__z"),
                    format!("{name}__q"),
                );
                new_inits.push((sn.clone(), Tensor::f32(vec![], vec![s])));
                new_inits.push((
                    zn.clone(),
                    Tensor {
                        shape: vec![],
                        data: Data::I8(vec![z as i8]),
                    },
                ));
                *o = f.clone();
                after.push(q_node(&f, &sn, &zn, &qn));
                after.push(dq_node(&qn, &sn, &zn, &name, None));
            }
        }
        nodes.push(n);
        nodes.extend(after);
    }
    g.node = nodes;
    for (name, t) in new_inits {
        set_init(g, &name, &t);
    }
    prune_initializers(g);
    // Per-axis DequantizeLinear needs opset 13.
    for o in m
        .opset_import
        .iter_mut()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        o.version = o.version.max(13);
    }
    if m.opset_import.is_empty() {
        m.opset_import.push(OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        });
    }
    Ok((m, report))
}

/// Signal-to-quantization-noise ratio (dB) of every tensor in `names`: the float
/// model's values against the quantized model's (dequantized) values on the
/// same inputs. Low values point at the layers that lose the most.
pub fn sensitivity(
    float_model: &ModelProto,
    quantized: &ModelProto,
    names: &[String],
    inputs: &[Tensor],
) -> Result<Vec<(String, f64)>> {
    let opts = CompileOptions {
        extra_outputs: names.to_vec(),
        ..Default::default()
    };
    let mut f = HostModel::new(&compile_model(float_model, &opts)?.bytes)?;
    // A graph input is read through its QuantizeLinear/DequantizeLinear pair.
    let produced: HashSet<&str> = quantized
        .graph
        .iter()
        .flat_map(|g| g.node.iter())
        .flat_map(|n| n.output.iter())
        .map(|s| s.as_str())
        .collect();
    let q_names: Vec<String> = names
        .iter()
        .map(|n| {
            let dq = format!("{n}__dq");
            if produced.contains(dq.as_str()) {
                dq
            } else {
                n.clone()
            }
        })
        .collect();
    let q_opts = CompileOptions {
        extra_outputs: q_names,
        ..Default::default()
    };
    let mut q = HostModel::new(&compile_model(quantized, &q_opts)?.bytes)?;
    let skip_f = float_model
        .graph
        .as_ref()
        .map(|g| g.output.len())
        .unwrap_or(0);
    let skip_q = quantized
        .graph
        .as_ref()
        .map(|g| g.output.len())
        .unwrap_or(0);
    let mut sig = vec![0f64; names.len()];
    let mut noise = vec![0f64; names.len()];
    for x in inputs {
        let a = f.run(std::slice::from_ref(x))?;
        let b = q.run(std::slice::from_ref(x))?;
        for (j, (ta, tb)) in a.iter().skip(skip_f).zip(b.iter().skip(skip_q)).enumerate() {
            for (u, v) in ta.to_f32().iter().zip(tb.to_f32()) {
                sig[j] += (*u as f64).powi(2);
                noise[j] += (*u as f64 - v as f64).powi(2);
            }
        }
    }
    Ok(names
        .iter()
        .enumerate()
        .map(|(j, n)| {
            (
                n.clone(),
                10.0 * (sig[j].max(1e-30) / noise[j].max(1e-30)).log10(),
            )
        })
        .collect())
}

/// Mixed precision: quantize, then while the model output's SQNR is below
/// `target_db`, keep in float the op whose output loses the most signal
/// relative to its input (at most `max_float` ops). Returns the model, the
/// report and the ops kept in float.
pub fn quantize_auto(
    model: &ModelProto,
    calib: &[Tensor],
    opts: &QuantizeOptions,
    target_db: f64,
    max_float: usize,
) -> Result<(ModelProto, QuantizeReport, Vec<String>)> {
    let mut opts = opts.clone();
    let mut prepared = model.clone();
    prepare(&mut prepared)?;
    let out_name = prepared
        .graph
        .as_ref()
        .and_then(|g| g.output.first())
        .map(|o| o.name.clone())
        .unwrap_or_default();
    loop {
        let (q, report) = quantize(model, calib, &opts, |_, _| {})?;
        let names: Vec<String> = report.activations.iter().map(|a| a.0.clone()).collect();
        let s = sensitivity(&prepared, &q, &names, calib)?;
        let out_db = s
            .iter()
            .find(|(n, _)| *n == out_name)
            .map(|x| x.1)
            .unwrap_or(f64::INFINITY);
        if out_db >= target_db || opts.keep_float.len() >= max_float {
            let kept = opts.keep_float.clone();
            return Ok((q, report, kept));
        }
        // The op output with the biggest drop against the best input before it.
        let g = prepared
            .graph
            .as_ref()
            .ok_or_else(|| CompileError::invalid("no graph"))?;
        let db: HashMap<&str, f64> = s.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let mut worst: Option<(String, f64)> = None;
        for n in &g.node {
            if !QUANTIZABLE.contains(&n.op_type.as_str()) || keep(n, &opts) {
                continue;
            }
            let out = n.output.first().cloned().unwrap_or_default();
            let relu_out = g
                .node
                .iter()
                .find(|r| {
                    matches!(r.op_type.as_str(), "Relu" | "Clip") && r.input.first() == Some(&out)
                })
                .map(|r| r.output[0].clone());
            let Some(&o) = db
                .get(out.as_str())
                .or_else(|| relu_out.as_deref().and_then(|r| db.get(r)))
            else {
                continue;
            };
            let i = n
                .input
                .iter()
                .filter_map(|x| db.get(x.as_str()))
                .cloned()
                .fold(f64::INFINITY, f64::min);
            let drop = if i.is_finite() { i - o } else { 60.0 - o };
            if worst.as_ref().is_none_or(|w| drop > w.1) {
                worst = Some((out, drop));
            }
        }
        match worst {
            Some((name, _)) => opts.keep_float.push(name),
            None => {
                let kept = opts.keep_float.clone();
                return Ok((q, report, kept));
            }
        }
    }
}

#[cfg(test)]
mod bias_tests {
    use super::*;

    #[test]
    fn bias_correction_of_a_conv_by_hand() {
        // Conv [O=2, C=2, 1x2]: W - W_q = [[0.1, -0.1], [0.2, 0.0]] for output 0
        // and [[0.0, 0.05], [0.0, 0.0]] for output 1; channel means 2 and 10.
        let w = Tensor::f32(
            vec![2, 2, 1, 2],
            vec![1.1, 0.9, 2.2, 3.0, 0.0, 1.05, 5.0, 6.0],
        );
        let wq = [1.0, 1.0, 2.0, 3.0, 0.0, 1.0, 5.0, 6.0];
        let c = correct_bias(&w, &wq, 0, 1, &[2.0, 10.0]).unwrap();
        // o0: (0.1 - 0.1) * 2 + (0.2 + 0) * 10 = 2; o1: 0.05 * 2 = 0.1.
        assert!(
            (c[0] - 2.0).abs() < 1e-5 && (c[1] - 0.1).abs() < 1e-5,
            "{c:?}"
        );
        // Two groups: output o reads input channel o only.
        let dw = Tensor::f32(vec![2, 1, 1, 1], vec![1.5, 2.5]);
        let c = correct_bias(&dw, &[1.0, 2.0], 0, 2, &[4.0, 8.0]).unwrap();
        assert!(
            (c[0] - 2.0).abs() < 1e-6 && (c[1] - 4.0).abs() < 1e-6,
            "{c:?}"
        );
        // Wrong channel count: no correction.
        assert!(correct_bias(&w, &wq, 0, 1, &[1.0]).is_none());
    }

    #[test]
    fn bias_correction_of_matrices_by_hand() {
        // Gemm transB ([O=1, K=2]) and MatMul ([K=2, O=1]) give the same.
        let m = [3.0, -1.0];
        let a = Tensor::f32(vec![1, 2], vec![0.5, 0.25]);
        let c = correct_bias(&a, &[0.25, 0.5], 0, 1, &m).unwrap();
        let b = Tensor::f32(vec![2, 1], vec![0.5, 0.25]);
        let d = correct_bias(&b, &[0.25, 0.5], 1, 1, &m).unwrap();
        // 0.25 * 3 + (-0.25) * (-1) = 1.
        assert_eq!(c, vec![1.0]);
        assert_eq!(d, vec![1.0]);
    }

    #[test]
    fn dequantized_weights_invert_quantization_within_half_a_step() {
        let w = Tensor::f32(vec![2, 3], vec![0.1, -0.5, 0.3, 2.0, -1.0, 0.7]);
        for (axis, per_channel) in [(0, true), (1, true), (0, false)] {
            let (q, s) = quantize_weights(&w, axis, per_channel);
            let d = dequantize_weights(&q, &s, axis);
            let ch = channel_of(&w.shape, axis, s.len());
            for (k, (a, b)) in w.to_f32().iter().zip(&d).enumerate() {
                assert!(
                    (a - b).abs() <= s[ch(k)] / 2.0 + 1e-7,
                    "{axis} {k}: {a} {b}"
                );
            }
        }
    }
}
