//! Run a model on the host with either engine, behind one type: edgerun's
//! native runtime (a `.edge` file, or ONNX compiled on load) or tract (an ONNX
//! file, float or QDQ int8), for `edge-tools eval --backend` and the tools that
//! compare the two. Inputs and outputs are [`Tensor`]s in the model's order;
//! outputs can be found by their ONNX names.

use crate::error::{CompileError, Result};
use crate::host::HostModel;
use crate::tensor::Tensor;
use crate::{CompileOptions, ModelProto, compile_model, load_model};

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

/// Whether this build has the tract engine (the compiler's `tract` feature).
pub const TRACT_AVAILABLE: bool = cfg!(feature = "tract");

#[cfg(feature = "tract")]
mod tract;
#[cfg(feature = "tract")]
pub use tract::TractModel;

/// This build has no tract (the compiler's `tract` feature is off): loading a
/// model in tract is an error that says so.
#[cfg(not(feature = "tract"))]
#[derive(Clone)]
pub enum TractModel {}

#[cfg(not(feature = "tract"))]
impl TractModel {
    pub fn new(_proto: &ModelProto) -> Result<Self> {
        Err(CompileError::invalid(
            "this build has no tract engine (built without the `tract` feature)",
        ))
    }

    pub fn input_shape(&self, _i: usize) -> Result<Vec<usize>> {
        match *self {}
    }

    pub fn run(&self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match *self {}
    }

    pub fn output_index(&self, _name: &str) -> Option<usize> {
        match *self {}
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
            Engine::Tract(t) => t.output_index(name),
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
