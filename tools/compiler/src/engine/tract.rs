//! tract as the second engine (the compiler's `tract` feature).

use crate::error::{CompileError, Result};
use crate::tensor::{Data, Tensor};
use crate::{ModelProto, value_type};
use prost::Message;
use std::sync::Arc;
use tract_onnx::prelude::{
    Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTensor, TVec,
    TypedRunnableModel, tract_ndarray,
};

/// An ONNX model optimized by tract, with its input shapes (batch 1) and
/// output names. A clone shares the optimized plan (e.g. one per thread).
#[derive(Clone)]
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
        // tract has its own prost types for the same messages: hand it the
        // encoded bytes.
        let bytes = proto.encode_to_vec();
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
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

    /// Index of the output called `name`.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|o| o == name)
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
