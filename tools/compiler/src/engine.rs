//! Run a model on the host with either engine, behind one type: edgerun's
//! native runtime (a `.edge` file, or ONNX compiled on load) or tract (an ONNX
//! file, float or QDQ int8), for `edge-tools eval --backend` and the tools that
//! compare the two. Inputs and outputs are [`Tensor`]s in the model's order;
//! outputs can be found by their ONNX names.

use crate::error::{CompileError, Result};
use crate::host::HostModel;
use crate::tensor::{Data, Tensor};
use crate::{CompileOptions, ModelProto, compile_model, load_model, value_type};
use std::sync::Arc;
use tract_onnx::prelude::{
    Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTensor, TVec,
    TypedRunnableModel, tract_ndarray,
};

/// Which engine runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// edgerun's runtime (ONNX is compiled on load).
    Native,
    /// tract, on the ONNX file itself (not on `.edge` files).
    Tract,
}

impl EngineKind {
    /// "edgerun" or "tract", for reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Native => "edgerun",
            EngineKind::Tract => "tract",
        }
    }
}

/// A model loaded in one of the engines.
pub enum Engine {
    Native(Box<HostModel>),
    Tract(TractModel),
}

/// An ONNX model optimized by tract, with its input shapes (batch 1) and
/// output names.
pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<Vec<usize>>,
    outputs: Vec<String>,
}

fn tract_err(e: impl std::fmt::Display) -> CompileError {
    CompileError::Invalid(format!("tract: {e}"))
}

impl TractModel {
    /// Load an ONNX model in tract with the static input shapes of its graph
    /// (symbolic dimensions become 1).
    pub fn new(proto: &ModelProto) -> Result<Self> {
        let g = proto
            .graph
            .as_ref()
            .ok_or_else(|| CompileError::invalid("the model has no graph"))?;
        let init: std::collections::HashSet<&str> =
            g.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = g
            .input
            .iter()
            .filter(|i| !init.contains(i.name.as_str()))
            .map(|i| value_type(i).map(|(_, shape)| shape))
            .collect::<Result<Vec<_>>>()?;
        let outputs = g.output.iter().map(|o| o.name.clone()).collect();
        let mut model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(tract_err)?;
        for (i, shape) in inputs.iter().enumerate() {
            model = model
                .with_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), shape))
                .map_err(tract_err)?;
        }
        let plan = model
            .into_optimized()
            .map_err(tract_err)?
            .into_runnable()
            .map_err(tract_err)?;
        Ok(TractModel {
            plan,
            inputs,
            outputs,
        })
    }

    /// Static shape of input `i` (batch 1).
    pub fn input_shape(&self, i: usize) -> Result<Vec<usize>> {
        self.inputs
            .get(i)
            .cloned()
            .ok_or_else(|| CompileError::invalid(format!("the model has no input {i}")))
    }

    /// Run once on f32 inputs; every output comes back as f32.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(CompileError::invalid(format!(
                "the model takes {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut tv = TVec::new();
        for (t, want) in inputs.iter().zip(&self.inputs) {
            if t.len() != want.iter().product::<usize>() {
                return Err(CompileError::invalid(format!(
                    "an input needs shape {want:?}, got {:?}",
                    t.shape
                )));
            }
            let a = tract_ndarray::ArrayD::from_shape_vec(want.clone(), t.to_f32())
                .map_err(tract_err)?;
            tv.push(a.into_tensor().into());
        }
        let out = self.plan.run(tv).map_err(tract_err)?;
        out.iter()
            .map(|v| {
                let f = v.cast_to::<f32>().map_err(tract_err)?;
                let view = f.to_plain_array_view::<f32>().map_err(tract_err)?;
                Ok(Tensor {
                    shape: view.shape().to_vec(),
                    data: Data::F32(view.iter().copied().collect()),
                })
            })
            .collect()
    }
}

impl Engine {
    /// Load `bytes` (a `.edge` file when `is_edge`, else ONNX) in `kind`.
    pub fn load(bytes: &[u8], is_edge: bool, kind: EngineKind) -> Result<Self> {
        match (kind, is_edge) {
            (EngineKind::Native, true) => Ok(Engine::Native(Box::new(HostModel::new(bytes)?))),
            (EngineKind::Tract, true) => Err(CompileError::invalid(
                "tract runs ONNX models, not .edge files",
            )),
            (kind, false) => Self::from_proto(&load_model(bytes)?, kind),
        }
    }

    /// Load a decoded ONNX model in `kind` (native: compiled with the default
    /// options).
    pub fn from_proto(proto: &ModelProto, kind: EngineKind) -> Result<Self> {
        Ok(match kind {
            EngineKind::Native => {
                let c = compile_model(proto, &CompileOptions::default())?;
                Engine::Native(Box::new(HostModel::new(&c.bytes)?))
            }
            EngineKind::Tract => Engine::Tract(TractModel::new(proto)?),
        })
    }

    /// Run once: inputs in model order, outputs in model order.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Engine::Native(h) => h.run(inputs),
            Engine::Tract(t) => t.run(inputs),
        }
    }

    /// Static shape of input `i` (batch 1).
    pub fn input_shape(&self, i: usize) -> Result<Vec<usize>> {
        match self {
            Engine::Native(h) => Ok(h
                .model()?
                .input(i)
                .map_err(CompileError::Runtime)?
                .shape
                .dims()
                .iter()
                .map(|&d| d as usize)
                .collect()),
            Engine::Tract(t) => t.input_shape(i),
        }
    }

    /// Index of the output called `name`.
    pub fn output_index(&self, name: &str) -> Result<usize> {
        let found = match self {
            Engine::Native(h) => {
                let m = h.model()?;
                (0..m.num_outputs()).find(|&i| m.output(i).is_ok_and(|o| o.name == name))
            }
            Engine::Tract(t) => t.outputs.iter().position(|o| o == name),
        };
        found.ok_or_else(|| CompileError::invalid(format!("the model has no output '{name}'")))
    }

    /// "edgerun" or "tract", for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Native(_) => EngineKind::Native.name(),
            Engine::Tract(_) => EngineKind::Tract.name(),
        }
    }
}
