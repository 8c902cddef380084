//! Runs ONNX backend node test cases (`model.onnx`, `test_data_set_0/input_N.pb`,
//! `output_N.pb`) through compile + runtime and compares with the expected outputs.
//!
//! Inputs that feed weight-like slots ([`crate::inputs_needing_constants`]) are
//! bound as constants before compiling (the ONNX tests pass weights as graph
//! inputs; edgerun, like TFLite Micro, needs them at compile time). Float outputs
//! pass when `|got - want| <= atol + rtol * |want|` with the ONNX backend runner's
//! defaults (rtol 1e-3, atol 1e-7); integer outputs must match exactly.

use crate::error::CompileError;
use crate::host::HostModel;
use crate::tensor::{Data, Tensor, from_pb_bytes};
use crate::{CompileOptions, compile_model, inputs_needing_constants, load_model};
use std::path::Path;

pub const RTOL: f64 = 1e-3;
pub const ATOL: f64 = 1e-7;

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass { max_abs_err: f64 },
    Fail { max_abs_err: f64, reason: String },
    Unsupported { reason: String },
}

fn read_set(dir: &Path, prefix: &str) -> Result<Vec<Tensor>, CompileError> {
    let mut out = Vec::new();
    for i in 0.. {
        let p = dir.join(format!("{prefix}_{i}.pb"));
        if !p.exists() {
            break;
        }
        let bytes = std::fs::read(&p)
            .map_err(|e| CompileError::invalid(format!("{}: {e}", p.display())))?;
        out.push(from_pb_bytes(&bytes)?.1);
    }
    Ok(out)
}

/// Compare one output; returns (max abs error, mismatch description).
pub fn compare(got: &Tensor, want: &Tensor) -> (f64, Option<String>) {
    if got.shape != want.shape && got.len() != want.len() {
        return (
            f64::INFINITY,
            Some(format!("shape {:?}, expected {:?}", got.shape, want.shape)),
        );
    }
    let exact = !matches!(want.data, Data::F32(_));
    if exact && got.elem_type() != want.elem_type() {
        return (
            f64::INFINITY,
            Some(format!(
                "type {:?}, expected {:?}",
                got.elem_type(),
                want.elem_type()
            )),
        );
    }
    let (g, w) = (got.to_f64(), want.to_f64());
    let mut max_err = 0f64;
    let mut bad = None;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        if a.is_nan() && b.is_nan() || a == b {
            continue;
        }
        let err = (a - b).abs();
        max_err = if err.is_nan() {
            f64::INFINITY
        } else {
            max_err.max(err)
        };
        let ok = !exact && err <= ATOL + RTOL * b.abs();
        if !ok && bad.is_none() {
            bad = Some(format!("element {i}: got {a}, expected {b}"));
        }
    }
    (max_err, bad)
}

fn classify(e: CompileError) -> Outcome {
    match e {
        CompileError::Unsupported { op, reason, .. } => Outcome::Unsupported {
            reason: format!("{op}: {reason}"),
        },
        other => Outcome::Fail {
            max_abs_err: f64::NAN,
            reason: other.to_string(),
        },
    }
}

/// Run one case directory.
pub fn run_case(dir: &Path) -> Outcome {
    match run_case_inner(dir) {
        Ok(o) => o,
        Err(e) => classify(e),
    }
}

fn run_case_inner(dir: &Path) -> Result<Outcome, CompileError> {
    let bytes = std::fs::read(dir.join("model.onnx"))
        .map_err(|e| CompileError::invalid(format!("{}: {e}", dir.display())))?;
    let model = load_model(&bytes)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| CompileError::invalid("no graph"))?;
    let set = dir.join("test_data_set_0");
    let inputs = read_set(&set, "input")?;
    let outputs = read_set(&set, "output")?;
    let init: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let names: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !init.contains(n))
        .collect();
    if names.len() != inputs.len() {
        return Err(CompileError::invalid(format!(
            "{} graph inputs but {} input files",
            names.len(),
            inputs.len()
        )));
    }
    let constant = inputs_needing_constants(&model);
    let mut opts = CompileOptions::default();
    let mut runtime_inputs = Vec::new();
    for (name, t) in names.iter().zip(inputs) {
        if constant.iter().any(|c| c == name) {
            opts.bind.push((name.to_string(), t));
        } else {
            runtime_inputs.push(t);
        }
    }
    let compiled = compile_model(&model, &opts)?;
    let mut host = HostModel::new(&compiled.bytes)?;
    let got = host.run(&runtime_inputs)?;
    if got.len() != outputs.len() {
        return Ok(Outcome::Fail {
            max_abs_err: f64::NAN,
            reason: format!("{} outputs, expected {}", got.len(), outputs.len()),
        });
    }
    let mut max_err = 0f64;
    for (g, w) in got.iter().zip(&outputs) {
        let (err, bad) = compare(g, w);
        max_err = max_err.max(err);
        if let Some(reason) = bad {
            return Ok(Outcome::Fail {
                max_abs_err: max_err,
                reason,
            });
        }
    }
    Ok(Outcome::Pass {
        max_abs_err: max_err,
    })
}

/// Every case directory under `root` (a directory holding `model.onnx`, or whose
/// subdirectories do), sorted by name.
pub fn case_dirs(root: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    if root.join("model.onnx").exists() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut dirs: Vec<_> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    dirs.sort();
    Ok(dirs)
}
