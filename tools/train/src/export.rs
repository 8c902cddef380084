//! Float ONNX export (burn-onnx's experimental exporter) with edgerun's
//! boundary names, and a check of the product path: `edgerun_compiler`
//! compiles the file and its f32 runtime reproduces burn's logits.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Tensor;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use edgerun_compiler::host::HostModel;
use edgerun_compiler::pb::{NodeProto, TensorProto};
use edgerun_compiler::{CompileOptions, ModelProto};
use edgerun_data::mnist::PIXELS;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

use crate::error::{Result, TrainError};
use crate::models::Net;

/// Name of the graph input: float32 `[N, 1, 28, 28]`, pixel / 255.
pub const INPUT: &str = "input";
/// Name of the graph output: float32 `[N, classes]`.
pub const OUTPUT: &str = "logits";
/// Name of the symbolic batch dimension.
pub const BATCH: &str = "N";

/// A detached copy of `model` in inference mode on the plain CPU device.
///
/// The exporter runs the forward pass on its capture device; doing that on a
/// copy keeps the caller's model usable afterwards (with burn 0.22 a model
/// with BatchNorm panics when run again after being exported).
fn inference_copy(model: &Net) -> Result<Net> {
    let device = crate::device();
    let record = model.valid().into_record();
    Net::new(model.arch(), model.classes(), &device)
        .try_load_record(record)
        .map(|m| m.valid())
        .map_err(|e| TrainError::Export(format!("copying the weights: {e}")))
}

/// The ONNX bytes of `model`: opset 18, float32, weights embedded, input
/// [`INPUT`] `[N, 1, 28, 28]` with a symbolic batch `N`, output [`OUTPUT`]
/// `[N, classes]` (logits, no softmax).
pub fn export_onnx_bytes(model: &Net) -> Result<Vec<u8>> {
    let m = inference_copy(model)?;
    let device = crate::device();
    let sample = Tensor::<4>::zeros([1, 1, 28, 28], &device);
    let validation = Tensor::<4>::zeros([2, 1, 28, 28], &device);
    let specs = [InputSpec::new([
        AxisSpec::dynamic(BATCH),
        AxisSpec::Static,
        AxisSpec::Static,
        AxisSpec::Static,
    ])];
    let onnx = OnnxExporter::new()
        .export_dynamic(&m, sample, validation, &specs, |m: &Net, x: Tensor<4>| {
            m.forward(x)
        })
        .map_err(|e| TrainError::Export(e.to_string()))?;
    let mut proto = edgerun_compiler::load_model(onnx.as_bytes())?;
    rename_boundary(&mut proto)?;
    let fused = fuse_lrn(&mut proto)?;
    if fused != model.lrn_layers() {
        return Err(TrainError::Export(format!(
            "the model has {} LRN layers but {fused} were found in burn-onnx's graph \
             (has its export of them changed?)",
            model.lrn_layers()
        )));
    }
    fold_batch_reshapes(&mut proto)?;
    proto.producer_name = "edgerun-train".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    Ok(proto.encode_to_vec())
}

/// Export `model` to `path` (see [`export_onnx_bytes`]).
pub fn export_onnx(model: &Net, path: &Path) -> Result<()> {
    let bytes = export_onnx_bytes(model)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| TrainError::io(path, e))
}

/// Rename the single graph input and output to [`INPUT`] and [`OUTPUT`],
/// everywhere they are referenced, and check the opset.
fn rename_boundary(proto: &mut ModelProto) -> Result<()> {
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0);
    if opset < 13 {
        return Err(TrainError::Export(format!("opset {opset} < 13")));
    }
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| TrainError::Export("no graph".into()))?;
    let inits: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    let inputs: Vec<usize> = (0..graph.input.len())
        .filter(|&i| !inits.contains(&graph.input[i].name))
        .collect();
    let ([i], [o]) = (inputs.as_slice(), graph.output.as_mut_slice()) else {
        return Err(TrainError::Export(format!(
            "expected one input and one output, got {} and {}",
            inputs.len(),
            graph.output.len()
        )));
    };
    let (old_in, old_out) = (
        std::mem::replace(&mut graph.input[*i].name, INPUT.into()),
        std::mem::replace(&mut o.name, OUTPUT.into()),
    );
    for name in [INPUT, OUTPUT] {
        let clash = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().chain(&n.output))
            .any(|s| s == name)
            || inits.contains(name);
        if clash && name != old_in && name != old_out {
            return Err(TrainError::Export(format!(
                "the graph already uses the name '{name}'"
            )));
        }
    }
    for node in &mut graph.node {
        for s in node.input.iter_mut().chain(node.output.iter_mut()) {
            if *s == old_in {
                *s = INPUT.into();
            } else if *s == old_out {
                *s = OUTPUT.into();
            }
        }
    }
    Ok(())
}

/// The graph's initializers by name, and the node producing each value.
fn index(
    graph: &edgerun_compiler::pb::GraphProto,
) -> (HashMap<String, TensorProto>, HashMap<String, NodeProto>) {
    let inits = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    let producer = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.clone(), n.clone())))
        .collect();
    (inits, producer)
}

/// The value of a one-element float initializer.
fn scalar_f32(inits: &HashMap<String, TensorProto>, name: &str) -> Option<f32> {
    let t = edgerun_compiler::tensor::from_proto(inits.get(name)?).ok()?;
    match t.to_f32().as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

/// The window size `n` if `w` (`[C, C, 1, 1]`) is
/// [`crate::models::lrn_band`]`(C, n)`.
fn lrn_band_size(w: &TensorProto) -> Option<usize> {
    let t = edgerun_compiler::tensor::from_proto(w).ok()?;
    let c = match t.shape.as_slice() {
        &[a, b, 1, 1] if a == b && a > 0 => a,
        _ => return None,
    };
    let v = t.to_f32();
    (1..=2 * c).find(|&n| v == crate::models::lrn_band(c, n))
}

/// burn has no LRN operator, so [`crate::models::local_response_norm`]
/// builds it from `x*x`, a 1x1 conv with a 0/1 band matrix, a scale, a
/// shift, `exp(-beta * ln(.))` and a product with `x`. Each such chain
/// becomes one ONNX `LRN` node with the constants read back from the graph;
/// the nodes it replaces are pruned by [`fold_batch_reshapes`]. Returns how
/// many were fused.
fn fuse_lrn(proto: &mut ModelProto) -> Result<usize> {
    use edgerun_compiler::pb::{AttributeProto, attribute_proto::AttributeType};
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| TrainError::Export("no graph".into()))?;
    let (inits, producer) = index(graph);
    let made_by = |name: &str, op: &str| producer.get(name).filter(|n| n.op_type == op);
    // The single non-constant input of a binary node and its constant scalar.
    let with_scalar = |n: &NodeProto| -> Option<(String, f32)> {
        match n.input.as_slice() {
            [a, b] => match (scalar_f32(&inits, a), scalar_f32(&inits, b)) {
                (None, Some(v)) => Some((a.clone(), v)),
                (Some(v), None) => Some((b.clone(), v)),
                _ => None,
            },
            _ => None,
        }
    };
    let chain = |mul: &NodeProto| -> Option<(String, usize, f32, f32, f32)> {
        let [a, b] = mul.input.as_slice() else {
            return None;
        };
        let (x, exp) = [(a, b), (b, a)]
            .into_iter()
            .find_map(|(x, e)| Some((x.clone(), made_by(e, "Exp")?)))?;
        let (log_out, neg_beta) = with_scalar(made_by(exp.input.first()?, "Mul")?)?;
        let (den, bias) = with_scalar(made_by(made_by(&log_out, "Log")?.input.first()?, "Add")?)?;
        let (sum, alpha_over_n) = with_scalar(made_by(&den, "Mul")?)?;
        let conv = made_by(&sum, "Conv")?;
        let ([sq, w], true) = (
            conv.input.as_slice(),
            conv.attribute.iter().all(|a| match a.name.as_str() {
                "group" => a.i == 1,
                "strides" | "dilations" => a.ints.iter().all(|&v| v == 1),
                "pads" => a.ints.iter().all(|&v| v == 0),
                _ => false,
            }),
        ) else {
            return None;
        };
        let size = lrn_band_size(inits.get(w)?)?;
        let square = made_by(sq, "Mul")?;
        (square.input.len() == 2 && square.input.iter().all(|i| *i == x)).then_some(())?;
        Some((x, size, alpha_over_n * size as f32, -neg_beta, bias))
    };
    let attr_f = |name: &str, f: f32| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    };
    let mut fused = 0;
    for node in graph.node.iter_mut().filter(|n| n.op_type == "Mul") {
        let Some((x, size, alpha, beta, bias)) = chain(node) else {
            continue;
        };
        *node = NodeProto {
            name: format!("{}_lrn", node.name),
            op_type: "LRN".into(),
            input: vec![x],
            output: std::mem::take(&mut node.output),
            attribute: vec![
                AttributeProto {
                    name: "size".into(),
                    r#type: AttributeType::Int as i32,
                    i: size as i64,
                    ..Default::default()
                },
                attr_f("alpha", alpha),
                attr_f("beta", beta),
                attr_f("bias", bias),
            ],
            ..Default::default()
        };
        fused += 1;
    }
    Ok(fused)
}

/// The integer values of a 1-D (or scalar) int64 initializer.
fn int64_values(t: &TensorProto) -> Option<Vec<i64>> {
    if t.data_type != edgerun_compiler::pb::tensor_proto::DataType::Int64 as i32 || t.dims.len() > 1
    {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    let chunks = t.raw_data.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    )
}

/// burn-onnx exports `x.reshape([n, features])` with a symbolic `n` as
/// `Reshape(x, Concat(Gather(Shape(input), [0]), [-1]))`. edgerun wants
/// constant shapes, so such a shape becomes the constant `[0, -1]` (0: copy
/// the batch dimension of `x`); a shape made of constants and exactly one
/// element read from a `Shape` becomes constant with `-1` there. The shape
/// arithmetic that then feeds nothing is removed. Shapes of any other form
/// are left alone (and [`verify_onnx`] reports what edgerun makes of them).
fn fold_batch_reshapes(proto: &mut ModelProto) -> Result<()> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| TrainError::Export("no graph".into()))?;
    let (inits, producer) = index(graph);
    // `Some((shape source, index))` if `name` is one element of a `Shape`.
    let shape_element = |name: &str| -> Option<(String, i64)> {
        let g = producer.get(name).filter(|n| n.op_type == "Gather")?;
        let shape = g
            .input
            .first()
            .and_then(|s| producer.get(s))
            .filter(|n| n.op_type == "Shape")?;
        let index = g
            .input
            .get(1)
            .and_then(|i| inits.get(i))
            .and_then(int64_values)?;
        match index.as_slice() {
            [k] => Some((shape.input.first()?.clone(), *k)),
            _ => None,
        }
    };
    let mut new_inits = Vec::new();
    for node in graph.node.iter_mut().filter(|n| n.op_type == "Reshape") {
        let Some(shape_name) = node.input.get(1).cloned() else {
            continue;
        };
        if inits.contains_key(&shape_name) {
            continue;
        }
        let Some(concat) = producer.get(&shape_name).filter(|n| n.op_type == "Concat") else {
            continue;
        };
        let mut shape = Vec::new();
        let mut dynamic = Vec::new();
        let mut foldable = true;
        for part in &concat.input {
            if let Some(v) = inits.get(part).and_then(int64_values) {
                shape.extend(v);
            } else if let Some(src) = shape_element(part) {
                dynamic.push((shape.len(), src));
                shape.push(-1);
            } else {
                foldable = false;
                break;
            }
        }
        let constant_minus_one = shape.iter().filter(|&&d| d == -1).count() > dynamic.len();
        match dynamic.as_slice() {
            // The only unknown: -1 gives the same value.
            [_] if foldable && !constant_minus_one => {}
            // `reshape([n, -1])` with n the batch of the graph input: the
            // reshaped tensor is batch-first too, so 0 (copy that dimension).
            [(0, (src, 0))] if foldable && src == INPUT => shape[0] = 0,
            _ => continue,
        }
        let name = format!("{shape_name}_folded");
        new_inits.push(TensorProto {
            name: name.clone(),
            dims: vec![shape.len() as i64],
            data_type: edgerun_compiler::pb::tensor_proto::DataType::Int64 as i32,
            raw_data: shape.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        if let Some(slot) = node.input.get_mut(1) {
            *slot = name;
        }
    }
    graph.initializer.extend(new_inits);
    // Remove nodes and initializers nothing reads any more.
    loop {
        let used: HashSet<String> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .chain(graph.output.iter().map(|o| o.name.clone()))
            .collect();
        let before = graph.node.len();
        graph
            .node
            .retain(|n| n.output.iter().any(|o| used.contains(o)));
        if graph.node.len() == before {
            graph.initializer.retain(|t| used.contains(&t.name));
            let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
            graph.input.retain(|i| {
                !(i.name != INPUT && !inits.contains(i.name.as_str()) && !used.contains(&i.name))
            });
            break;
        }
    }
    Ok(())
}

/// How closely the compiled model follows burn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub images: usize,
    /// Largest |edgerun f32 logit - burn logit| over all images and classes.
    pub max_abs_diff: f32,
    /// Images whose arg-max class differs between the two.
    pub argmax_mismatches: usize,
    /// Size of the compiled `.edge` model.
    pub edge_bytes: usize,
    pub arena_bytes: usize,
}

/// Compile `onnx` with edgerun and run its f32 runtime on `n` images
/// (`n * 784` bytes, one at a time), against burn's logits from `model`.
pub fn verify_onnx(model: &Net, onnx: &[u8], images: &[u8], n: usize) -> Result<Verification> {
    if images.len() < n * PIXELS {
        return Err(TrainError::Config(format!(
            "{} bytes hold fewer than {n} images",
            images.len()
        )));
    }
    let want = crate::train::logits(model, images, n)?;
    let classes = model.classes();
    let compiled = edgerun_compiler::compile(onnx, &CompileOptions::default())?;
    let mut host = HostModel::new(&compiled.bytes)?;
    let (mut max_abs_diff, mut argmax_mismatches) = (0.0f32, 0);
    for (k, img) in images.chunks_exact(PIXELS).take(n).enumerate() {
        let x: Vec<f32> = img.iter().map(|&p| f32::from(p) / 255.0).collect();
        let out = host.run(&[edgerun_compiler::Tensor::f32(vec![1, 1, 28, 28], x)])?;
        let got = out.first().map(|t| t.to_f32()).unwrap_or_default();
        let want = want.get(k * classes..(k + 1) * classes).unwrap_or(&[]);
        if got.len() != classes || want.len() != classes {
            return Err(TrainError::Export(format!(
                "edgerun gave {} logits, burn {}",
                got.len(),
                want.len()
            )));
        }
        for (a, b) in got.iter().zip(want) {
            max_abs_diff = max_abs_diff.max((a - b).abs());
        }
        if argmax(&got) != argmax(want) {
            argmax_mismatches += 1;
        }
    }
    Ok(Verification {
        images: n,
        max_abs_diff,
        argmax_mismatches,
        edge_bytes: compiled.bytes.len(),
        arena_bytes: compiled.arena_bytes,
    })
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv { (i, x) } else { (bi, bv) }
        })
        .0
}

/// One line per node (`op inputs -> outputs`), after the graph inputs and
/// outputs with their shapes: for reading an exported graph.
pub fn describe(onnx: &[u8]) -> Result<String> {
    use std::fmt::Write;
    let proto = edgerun_compiler::load_model(onnx)?;
    let graph = proto
        .graph
        .ok_or_else(|| TrainError::Export("no graph".into()))?;
    let shape = |v: &edgerun_compiler::pb::ValueInfoProto| -> String {
        use edgerun_compiler::pb::tensor_shape_proto::dimension::Value;
        let dims = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(edgerun_compiler::pb::type_proto::Value::TensorType(t)) => {
                t.shape.as_ref().map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(Value::DimValue(x)) => x.to_string(),
                            Some(Value::DimParam(p)) => p.clone(),
                            None => "?".into(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
            }
            _ => None,
        };
        format!("{}[{}]", v.name, dims.unwrap_or_default())
    };
    let mut s = String::new();
    let inits: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for v in graph
        .input
        .iter()
        .filter(|v| !inits.contains(v.name.as_str()))
    {
        let _ = writeln!(s, "input  {}", shape(v));
    }
    for v in &graph.output {
        let _ = writeln!(s, "output {}", shape(v));
    }
    for v in &graph.value_info {
        let _ = writeln!(s, "value  {}", shape(v));
    }
    for n in &graph.node {
        let _ = writeln!(
            s,
            "{:<20} {} -> {}",
            n.op_type,
            n.input.join(", "),
            n.output.join(", ")
        );
    }
    Ok(s)
}
