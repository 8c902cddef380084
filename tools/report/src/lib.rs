//! edgerun's benchmark report: one machine-readable JSON format for every
//! producer (`edge-tools bench --report`, `edge-run --report`, the Cortex-M
//! firmware through `firmware/run-qemu.sh`), its validation, and its rendering
//! as Markdown or self-contained HTML with SVG charts (`edge-tools report`).
//!
//! A report is one model on one target:
//!
//! ```json
//! {
//!   "schema": "edgerun.bench-report", "schema_version": 1,
//!   "producer": "edge-tools bench",
//!   "target": {"board": "host", "cpu": "...", "clock_hz": null,
//!              "backend": "edgerun native", "kernels": "avx2"},
//!   "model": {"name": "lenet5", "sha256": "<64 hex digits of the .edge file without its AVX2 packs>",
//!             "bytes": 66336, "macs": 416520},
//!   "unit": "ns", "statistic": "median", "runs": 200,
//!   "ops": [{"index": 0, "name": "...", "kind": "conv_i8",
//!            "output_shape": [1, 28, 28, 6], "macs": 117600,
//!            "cost": 1234.0, "min": 1200.0, "max": 1500.0}],
//!   "total": {"cost": 25000.0, "min": 24000.0, "max": 31000.0},
//!   "memory": {"arena_bytes": 9072, "code_bytes": null,
//!              "model_bytes": 66336, "weights_bytes": 61000}
//! }
//! ```
//!
//! `cost` is in `unit` (`ns`, `cycles` or `instructions`) and is the
//! `statistic` (`median` or `mean`) over `runs` inferences; `min`/`max` are
//! optional. The total is measured around whole inferences, so it includes
//! what happens between operators (it is not the sum of the operators).
//! `model.macs` is the sum of the operators' MACs ([`edgerun::format::schema::Op::macs`]).
//! Flash: `code_bytes` is the program without models and data (firmware only),
//! `model_bytes` the whole `.edge` file, `weights_bytes` its constant blob.
//!
//! The schema only grows: new optional fields within a version; anything a
//! reader must understand bumps [`SCHEMA_VERSION`], and a reader refuses
//! versions it does not know ([`ReportError::UnsupportedVersion`]).

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::Path;

pub mod cli;
pub mod firmware;
pub mod host;
pub mod render;

/// The value of the `schema` field: what tells a report from other JSON.
pub const SCHEMA: &str = "edgerun.bench-report";
/// The version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a report could not be read, written or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("not an edgerun benchmark report (no \"schema\": \"{SCHEMA}\" field)")]
    NotAReport,
    #[error(
        "report schema version {found} is not supported (this build reads version {SCHEMA_VERSION})"
    )]
    UnsupportedVersion { found: u64 },
    #[error("malformed report: {0}")]
    Schema(#[source] serde_json::Error),
    #[error("invalid report: {0}")]
    Invalid(String),
    #[error("model: {0}")]
    Model(String),
    #[error("firmware log line {line}: {reason}")]
    Log { line: usize, reason: String },
    /// An error about one of several input files.
    #[error("{path}: {source}")]
    File {
        path: String,
        source: Box<ReportError>,
    },
    /// A command-line mistake.
    #[error("{0}")]
    Usage(String),
}

impl ReportError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What the costs count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Wall-clock nanoseconds.
    Ns,
    /// CPU cycles (e.g. DWT CYCCNT).
    Cycles,
    /// Retired instructions (QEMU with `-icount shift=0`).
    Instructions,
}

impl Unit {
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Cycles => "cycles",
            Unit::Instructions => "instructions",
        }
    }
    /// The unit of a firmware report line (`app::Unit::name`).
    pub fn parse(s: &str) -> Option<Unit> {
        match s {
            "ns" => Some(Unit::Ns),
            "cycles" => Some(Unit::Cycles),
            "instructions" => Some(Unit::Instructions),
            _ => None,
        }
    }
}

/// How the runs were summarized into one cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Median,
    Mean,
}

/// Where it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// A board name (`qemu-mps2-an386`, `stm32f746g-disco`) or `host`.
    pub board: String,
    pub cpu: String,
    /// Core clock when known (not under QEMU, where time is instructions).
    pub clock_hz: Option<u64>,
    /// The runtime: `edgerun native`, `tract`, ...
    pub backend: String,
    /// The int8 conv/fc kernels: `dsp`, `avx2`, `scalar`.
    pub kernels: String,
}

/// Which model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// SHA-256 of the `.edge` bytes with the conv weights packed for the DSP
    /// kernel instead of AVX2 (`edgerun::format::write::for_cortex_m`: what a
    /// firmware bakes, so that a host's run and a microcontroller's run of one
    /// model match),
    /// lowercase hex ([`sha256_hex`]).
    pub sha256: String,
    /// Size of the `.edge` file.
    pub bytes: u64,
    /// Multiply-accumulates of one inference: the sum over `ops`.
    pub macs: u64,
}

/// One operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpEntry {
    /// Position in the model, from 0, in order.
    pub index: u32,
    /// The operator's name in the model (from the ONNX node).
    pub name: String,
    /// The runtime's kind (`conv_i8`, `fc_i8`, `pool_i8`, ...).
    pub kind: String,
    /// Shape of the tensor it writes, as the model stores it (empty if unknown).
    pub output_shape: Vec<u32>,
    pub macs: u64,
    pub cost: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A summarized cost with its spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub cost: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Activations: the arena the model's static plan needs.
    pub arena_bytes: u64,
    /// Flash taken by code, without models and data (firmware).
    pub code_bytes: Option<u64>,
    /// The whole `.edge` model (records and weights).
    pub model_bytes: Option<u64>,
    /// The model's constant blob (weights, biases, tables).
    pub weights_bytes: Option<u64>,
}

/// One benchmark report (see the crate docs for the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub schema_version: u32,
    /// The command that made it.
    pub producer: String,
    pub target: Target,
    pub model: ModelInfo,
    pub unit: Unit,
    pub statistic: Statistic,
    /// Inferences the statistic is over.
    pub runs: u64,
    pub ops: Vec<OpEntry>,
    pub total: Cost,
    pub memory: Memory,
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_cost(what: &str, c: f64, min: Option<f64>, max: Option<f64>) -> Result<(), ReportError> {
    let bad = |v: f64| !v.is_finite() || v < 0.0;
    if bad(c) || min.is_some_and(bad) || max.is_some_and(bad) {
        return Err(ReportError::Invalid(format!(
            "{what}: costs must be finite and >= 0"
        )));
    }
    // A mean or a median lies between the extremes (with a rounding margin).
    let eps = 1e-9 * c.max(1.0);
    if min.is_some_and(|m| m > c + eps) || max.is_some_and(|m| m + eps < c) {
        return Err(ReportError::Invalid(format!(
            "{what}: cost {c} is outside [min, max] = [{}, {}]",
            min.unwrap_or(f64::NAN),
            max.unwrap_or(f64::NAN)
        )));
    }
    Ok(())
}

impl Report {
    /// Parse and [`Self::validate`] a report. Foreign JSON, another schema
    /// version, a missing or mistyped field, an inconsistent report: each is
    /// its own [`ReportError`].
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(ReportError::Json)?;
        if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA) {
            return Err(ReportError::NotAReport);
        }
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(found) => return Err(ReportError::UnsupportedVersion { found }),
            None => {
                return Err(ReportError::Invalid(
                    "\"schema_version\" must be a non-negative integer".into(),
                ));
            }
        }
        let report: Report = serde_json::from_value(value).map_err(ReportError::Schema)?;
        report.validate()?;
        Ok(report)
    }

    /// Pretty JSON (after [`Self::validate`]: never writes what it would refuse).
    pub fn to_json(&self) -> Result<String, ReportError> {
        self.validate()?;
        serde_json::to_string_pretty(self).map_err(ReportError::Schema)
    }

    /// Read and parse a report file.
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
        Report::from_json(&text)
    }

    /// Write it as JSON (creating the parent directory).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let json = self.to_json()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
        }
        std::fs::write(path, json + "\n").map_err(|e| ReportError::io(path, e))
    }

    /// The checks [`Self::from_json`] makes beyond the JSON types: the schema
    /// tag and version, operators numbered 0, 1, ... in order, MACs that add up,
    /// finite non-negative costs within their min/max, a 64-hex-digit hash.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.schema != SCHEMA {
            return Err(ReportError::NotAReport);
        }
        if self.schema_version != SCHEMA_VERSION {
            return Err(ReportError::UnsupportedVersion {
                found: u64::from(self.schema_version),
            });
        }
        let hash = &self.model.sha256;
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ReportError::Invalid(format!(
                "model.sha256 must be 64 lowercase hex digits, got {hash:?}"
            )));
        }
        let mut macs = 0u64;
        for (i, op) in self.ops.iter().enumerate() {
            if op.index as usize != i {
                return Err(ReportError::Invalid(format!(
                    "ops[{i}] has index {} (operators must be numbered 0, 1, ... in order)",
                    op.index
                )));
            }
            check_cost(&format!("ops[{i}] ({})", op.name), op.cost, op.min, op.max)?;
            macs = macs.saturating_add(op.macs);
        }
        if macs != self.model.macs {
            return Err(ReportError::Invalid(format!(
                "model.macs is {} but the operators add up to {macs}",
                self.model.macs
            )));
        }
        check_cost("total", self.total.cost, self.total.min, self.total.max)?;
        if self.runs == 0 {
            return Err(ReportError::Invalid("runs must be at least 1".into()));
        }
        Ok(())
    }

    /// A short name for tables and legends: board, kernels, unit.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.target.board,
            self.target.kernels,
            self.unit.name()
        )
    }
}
