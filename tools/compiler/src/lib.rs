//! edgerun's compiler: reads ONNX (float, QDQ and QOperator int8), resolves
//! shapes, layouts, fusions, requantization parameters and the static memory
//! plan ahead of time, and writes the `.edge` file the runtime executes.
//!
//! ```no_run
//! let onnx = std::fs::read("model.onnx").unwrap();
//! let compiled = edgerun_compiler::compile(&onnx, &Default::default()).unwrap();
//! std::fs::write("model.edge", &compiled.bytes).unwrap();
//! ```

// Model bytes are user input: failures are `CompileError`s, not panics.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod detector;
pub mod engine;
pub mod error;
pub mod host;
mod lower;
/// ONNX's protobuf messages (prost), generated from the onnx.proto that PyPI
/// onnx 1.23.2 ships by `tools/scripts/gen_onnx_pb.sh`.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod pb {
    include!("pb/onnx.rs");
}
pub mod plan;
pub mod quantize;
pub mod tensor;

/// The ONNX protobuf model type.
pub use crate::pb::ModelProto;
pub use error::{CompileError, Result};
pub use lower::{CompileOptions, Layout, Pack};
pub use tensor::{Data, ElemType, Tensor};

use crate::pb::{ValueInfoProto, type_proto};
use lower::{Lowerer, rt_dtype};
use prost::Message;

/// A compiled model.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The `.edge` file.
    pub bytes: Vec<u8>,
    pub arena_bytes: usize,
    pub blob_bytes: usize,
    pub num_ops: usize,
}

/// Decode an ONNX model.
pub fn load_model(onnx: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(onnx).map_err(|e| CompileError::Protobuf(e.to_string()))
}

pub(crate) fn default_opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1)
}

/// Element type and static shape of a graph input/output (symbolic dims become 1).
fn value_type(v: &ValueInfoProto) -> Result<(ElemType, Vec<usize>)> {
    let tt = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => {
            return Err(CompileError::invalid(format!(
                "'{}' is not a tensor",
                v.name
            )));
        }
    };
    let shape = match &tt.shape {
        None => return Err(CompileError::invalid(format!("'{}' has no shape", v.name))),
        Some(s) => {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(crate::pb::tensor_shape_proto::dimension::Value::DimValue(x))
                        if *x >= 0 =>
                    {
                        Ok(*x as usize)
                    }
                    // Symbolic (batch) dimensions are compiled as 1.
                    Some(crate::pb::tensor_shape_proto::dimension::Value::DimParam(_)) | None => {
                        Ok(1)
                    }
                    Some(_) => Err(CompileError::invalid(format!(
                        "'{}' has a negative dimension",
                        v.name
                    ))),
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    Ok((ElemType::from_onnx(tt.elem_type), shape))
}

/// Inputs of each operator that edgerun needs as compile-time constants.
fn constant_slots(op: &str) -> &'static [usize] {
    match op {
        "Conv" | "Gemm" | "Clip" => &[1, 2],
        "BatchNormalization" => &[1, 2, 3, 4],
        "Reshape" | "Squeeze" | "Unsqueeze" | "Upsample" => &[1],
        "Resize" => &[1, 2, 3],
        "QuantizeLinear" | "DequantizeLinear" => &[1, 2],
        "QLinearConv" => &[1, 2, 3, 4, 5, 6, 7, 8],
        "QLinearMatMul" => &[1, 2, 3, 4, 5, 6, 7],
        "QGemm" => &[1, 2, 3, 4, 5, 6, 7, 8],
        "QLinearGlobalAveragePool" => &[1, 2, 3, 4],
        "QLinearSoftmax" | "QLinearAveragePool" => &[1, 2, 3, 4],
        "NonMaxSuppression" => &[2, 3, 4],
        _ => &[],
    }
}

/// Graph inputs that feed operator inputs edgerun needs as constants (weights,
/// shapes, quantization parameters). Test harnesses bind these with
/// [`CompileOptions::bind`]; a deployed model has them as initializers.
pub fn inputs_needing_constants(model: &ModelProto) -> Vec<String> {
    let Some(g) = &model.graph else { return vec![] };
    let init: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: std::collections::HashSet<&str> = g
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !init.contains(n))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for n in &g.node {
        for &slot in constant_slots(&n.op_type) {
            if let Some(name) = n.input.get(slot)
                && inputs.contains(name.as_str())
                && !out.contains(name)
            {
                out.push(name.clone());
            }
        }
    }
    out
}

/// Compile ONNX bytes to a `.edge` model.
pub fn compile(onnx: &[u8], opts: &CompileOptions) -> Result<Compiled> {
    compile_model(&load_model(onnx)?, opts)
}

/// Compile a decoded ONNX model to a `.edge` model.
pub fn compile_model(model: &ModelProto, opts: &CompileOptions) -> Result<Compiled> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| CompileError::invalid("the model has no graph"))?;
    let mut lw = Lowerer::new(graph, default_opset(model));
    for name in &opts.extra_outputs {
        // An exposed value is not fused away.
        *lw.consumers.entry(name.clone()).or_default() += 1;
        lw.graph_outputs.insert(name.clone());
    }
    for t in &graph.initializer {
        lw.set_const(&t.name, tensor::from_proto(t)?);
    }
    for (name, t) in &opts.bind {
        lw.set_const(name, t.clone());
    }
    let mut inputs = Vec::new();
    for vi in &graph.input {
        if lw.values.contains_key(&vi.name) {
            continue;
        }
        let (et, shape) = value_type(vi)?;
        let dt = rt_dtype(et).ok_or_else(|| CompileError::Unsupported {
            node: vi.name.clone(),
            op: "input".into(),
            reason: format!("input type {}", et.name()),
        })?;
        let p = lw.new_phys(&vi.name, shape, lower::Layout::Logical, dt);
        lw.pin_whole_run(p);
        lw.set_rt(&vi.name, et, p);
        inputs.push((vi.name.clone(), p));
    }
    for (i, node) in graph.node.iter().enumerate() {
        lw.node_index = i;
        if lw.skip.contains(&i) {
            continue;
        }
        if node.op_type == "Shape" {
            let x = lw.input(node, 0)?;
            lw.materialize(x)?;
            let shape: Vec<i64> = lw.info(x)?.shape.iter().map(|&d| d as i64).collect();
            let n = shape.len();
            lw.set_const(
                &node.output[0],
                Tensor {
                    shape: vec![n],
                    data: Data::I64(shape),
                },
            );
            continue;
        }
        lw.lower_node(node)?;
    }
    let mut outputs = Vec::new();
    let names = graph
        .output
        .iter()
        .map(|o| &o.name)
        .chain(opts.extra_outputs.iter());
    for name in names {
        lw.materialize(name)?;
        let info = lw.info(name)?.clone();
        let dt = rt_dtype(info.dtype).ok_or_else(|| CompileError::Unsupported {
            node: name.clone(),
            op: "output".into(),
            reason: format!("output type {}", info.dtype.name()),
        })?;
        let p = lw.get(name, lower::Layout::Logical, dt)?;
        lw.pin_whole_run(p);
        outputs.push((name.clone(), p));
    }
    lw.pack_weights(opts.pack)?;
    let num_ops = lw.ops.len();
    let blob_bytes = lw.blob.len();
    let name = if graph.name.is_empty() {
        "model".to_string()
    } else {
        graph.name.clone()
    };
    // A detector's anchors and classes go into the file, with its two
    // outputs by index among the graph's outputs.
    let spec = detector::DetectorSpec::from_model(model)?;
    let levels = spec.as_ref().map(|s| s.level_records()).transpose()?;
    let classes: Vec<&str> = spec
        .iter()
        .flat_map(|s| s.classes.iter().map(String::as_str))
        .collect();
    let out_index = |name: &str| -> Result<u32> {
        let i = outputs
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| CompileError::invalid(format!("detector: no output '{name}'")))?;
        u32::try_from(i).map_err(|_| CompileError::invalid("detector: output index"))
    };
    let parts = match (&spec, &levels) {
        (Some(s), Some(levels)) => Some(edgerun::format::write::DetectorParts {
            input_size: s.input_size,
            variances: s.variances,
            scores_output: out_index(&s.scores_output)?,
            boxes_output: out_index(&s.boxes_output)?,
            classes: &classes,
            levels,
        }),
        _ => None,
    };
    let bytes = lw.finish(&outputs, &inputs, &name, parts.as_ref())?;
    let aligned = edgerun::format::write::AlignedBytes::new(&bytes);
    let parsed = edgerun::Model::parse(&aligned).map_err(CompileError::Runtime)?;
    let arena_bytes = parsed.arena_bytes();
    Ok(Compiled {
        bytes,
        arena_bytes,
        blob_bytes,
        num_ops,
    })
}
