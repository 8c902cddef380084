//! Attribute access on ONNX nodes.

use crate::error::CompileError;
use crate::pb::NodeProto;
use crate::tensor::{Tensor, from_proto};

pub(crate) trait NodeExt {
    fn unsupported(&self, reason: impl Into<String>) -> CompileError;
    fn invalid(&self, reason: impl Into<String>) -> CompileError;
    fn attr_i(&self, name: &str, default: i64) -> i64;
    fn attr_f(&self, name: &str, default: f32) -> f32;
    fn attr_s(&self, name: &str, default: &str) -> String;
    fn attr_ints(&self, name: &str) -> Option<Vec<i64>>;
    fn attr_t(&self, name: &str) -> Result<Option<Tensor>, CompileError>;
    fn label(&self) -> String;
}

impl NodeExt for NodeProto {
    fn unsupported(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            node: self.label(),
            op: self.op_type.clone(),
            reason: reason.into(),
        }
    }
    fn invalid(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Invalid(format!(
            "{} (node '{}'): {}",
            self.op_type,
            self.label(),
            reason.into()
        ))
    }
    fn attr_i(&self, name: &str, default: i64) -> i64 {
        self.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.i)
            .unwrap_or(default)
    }
    fn attr_f(&self, name: &str, default: f32) -> f32 {
        self.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.f)
            .unwrap_or(default)
    }
    fn attr_s(&self, name: &str, default: &str) -> String {
        self.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_else(|| default.to_string())
    }
    fn attr_ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.clone())
    }
    fn attr_t(&self, name: &str) -> Result<Option<Tensor>, CompileError> {
        match self
            .attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.t.as_ref())
        {
            Some(t) => Ok(Some(from_proto(t)?)),
            None => Ok(None),
        }
    }
    fn label(&self) -> String {
        if self.name.is_empty() {
            self.output.first().cloned().unwrap_or_default()
        } else {
            self.name.clone()
        }
    }
}

/// Normalize a possibly negative axis for a tensor of rank `rank`.
pub(crate) fn norm_axis(node: &NodeProto, axis: i64, rank: usize) -> Result<usize, CompileError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(node.invalid(format!("axis {axis} out of range for rank {rank}")));
    }
    Ok(a as usize)
}
