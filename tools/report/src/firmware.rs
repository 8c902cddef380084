//! Reports from a Cortex-M firmware run: its decoded defmt log (the
//! `EDGERUN ...` lines of `firmware/app/src/log.rs`, and the `EDGERUN flash`
//! line `firmware/run-qemu.sh` adds) and the `.edge` files it baked.
//!
//! The firmware prints what it measured (per operator: name, kind, MACs,
//! mean/min/max in its clock's unit; per model: flash and arena bytes, the
//! inference's mean/min/max) and where it ran (`EDGERUN target`). The output
//! shapes and the hash come from the `.edge` file of the same name, after
//! checking that it is the model the firmware ran: same size, same arena, same
//! operators with the same MACs.

use crate::host::model_part;
use crate::{Cost, Report, ReportError, SCHEMA, SCHEMA_VERSION, Statistic, Target, Unit};
use edgerun::format::write::AlignedBytes;
use std::collections::BTreeMap;
use std::path::Path;

/// One `EDGERUN <record> key=value ...` line.
#[derive(Debug)]
struct Record<'a> {
    line: usize,
    kind: &'a str,
    fields: BTreeMap<&'a str, &'a str>,
}

impl Record<'_> {
    fn err(&self, reason: String) -> ReportError {
        ReportError::Log {
            line: self.line,
            reason,
        }
    }
    fn str(&self, key: &str) -> Result<&str, ReportError> {
        self.fields
            .get(key)
            .copied()
            .ok_or_else(|| self.err(format!("`{}` line without `{key}=`", self.kind)))
    }
    fn u64(&self, key: &str) -> Result<u64, ReportError> {
        let v = self.str(key)?;
        v.parse()
            .map_err(|_| self.err(format!("`{key}={v}` is not an unsigned integer")))
    }
    /// The value under the key that names a unit (`instructions=...`), and the unit.
    fn unit_value(&self, suffix: &str) -> Result<(Unit, u64), ReportError> {
        for (k, _) in self.fields.iter() {
            if let Some(u) = k.strip_suffix(suffix).and_then(Unit::parse) {
                return Ok((u, self.u64(k)?));
            }
        }
        Err(self.err(format!(
            "`{}` line without a cost (`instructions{suffix}=` or `cycles{suffix}=`)",
            self.kind
        )))
    }
}

fn records(log: &str) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    for (i, text) in log.lines().enumerate() {
        let Some((_, rest)) = text.split_once("EDGERUN ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let mut fields = BTreeMap::new();
        for w in words {
            if let Some((k, v)) = w.split_once('=') {
                fields.insert(k, v);
            }
        }
        out.push(Record {
            line: i + 1,
            kind,
            fields,
        });
    }
    out
}

/// What the firmware printed for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareModel {
    pub name: String,
    pub flash_bytes: u64,
    pub arena_bytes: u64,
    pub frames: u64,
    /// Labelled frames the firmware classified correctly (its `result` line).
    pub correct: u64,
    /// Per operator: name, kind, MACs, mean/min/max.
    pub ops: Vec<(String, String, u64, Cost)>,
    pub unit: Unit,
    pub total: Cost,
}

/// A whole firmware log.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareRun {
    pub target: Target,
    pub models: Vec<FirmwareModel>,
    /// Flash taken by code, without models and data (`EDGERUN flash code_bytes=`).
    pub code_bytes: Option<u64>,
}

fn cost(mean: u64, min: u64, max: u64) -> Cost {
    Cost {
        cost: mean as f64,
        min: Some(min as f64),
        max: Some(max as f64),
    }
}

/// Parse a decoded firmware log. Every model needs its `model`, `op` and
/// `result` lines in order, and the log its `target` line; a model whose run
/// failed (`status=FAIL`) or an `error` line is refused: its numbers would not
/// be those of a correct inference.
pub fn parse_log(log: &str) -> Result<FirmwareRun, ReportError> {
    let mut target = None;
    let mut models: Vec<FirmwareModel> = Vec::new();
    let mut open: Option<FirmwareModel> = None;
    let mut code_bytes = None;
    for r in records(log) {
        match r.kind {
            "target" => {
                let hz = r.u64("clock_hz")?;
                target = Some(Target {
                    board: r.str("board")?.into(),
                    cpu: r.str("cpu")?.into(),
                    clock_hz: (hz > 0).then_some(hz),
                    backend: r.str("backend")?.into(),
                    kernels: r.str("kernels")?.into(),
                });
            }
            "model" => {
                if let Some(m) = &open {
                    return Err(r.err(format!("model `{}` has no `result` line", m.name)));
                }
                open = Some(FirmwareModel {
                    name: r.str("name")?.into(),
                    flash_bytes: r.u64("flash_bytes")?,
                    arena_bytes: r.u64("arena_bytes")?,
                    frames: r.u64("frames")?,
                    correct: 0,
                    ops: Vec::new(),
                    unit: Unit::Instructions,
                    total: cost(0, 0, 0),
                });
            }
            "op" => {
                let m = open
                    .as_mut()
                    .ok_or_else(|| r.err("`op` line outside a model".into()))?;
                if r.str("model")? != m.name {
                    return Err(r.err(format!("`op` line of another model than `{}`", m.name)));
                }
                if r.u64("index")? != m.ops.len() as u64 {
                    return Err(r.err(format!("operator index is not {}", m.ops.len())));
                }
                let (unit, mean) = r.unit_value("")?;
                if !m.ops.is_empty() && unit != m.unit {
                    return Err(r.err("operators of one model in different units".into()));
                }
                m.unit = unit;
                m.ops.push((
                    r.str("name")?.into(),
                    r.str("kind")?.into(),
                    r.u64("macs")?,
                    cost(mean, r.u64("min")?, r.u64("max")?),
                ));
            }
            "result" => {
                let mut m = open
                    .take()
                    .ok_or_else(|| r.err("`result` line outside a model".into()))?;
                if r.str("model")? != m.name {
                    return Err(r.err(format!("`result` of another model than `{}`", m.name)));
                }
                if r.str("status")? != "PASS" {
                    return Err(r.err(format!(
                        "model `{}` did not reproduce the host (status={})",
                        m.name,
                        r.str("status")?
                    )));
                }
                let (unit, mean) = r.unit_value("_per_inference")?;
                if !m.ops.is_empty() && unit != m.unit {
                    return Err(r.err("the total and the operators in different units".into()));
                }
                m.unit = unit;
                m.total = cost(mean, r.u64("min")?, r.u64("max")?);
                m.arena_bytes = r.u64("arena_bytes")?;
                m.correct = r.u64("correct")?;
                models.push(m);
            }
            "flash" => code_bytes = Some(r.u64("code_bytes")?),
            "error" | "hardfault" | "panic" | "frame_fail" => {
                return Err(r.err("the firmware reported a failure".into()));
            }
            _ => {}
        }
    }
    if let Some(m) = open {
        return Err(ReportError::Log {
            line: 0,
            reason: format!("model `{}` has no `result` line (cut-off log?)", m.name),
        });
    }
    let target = target.ok_or(ReportError::Log {
        line: 0,
        reason: "no `EDGERUN target` line".into(),
    })?;
    if models.is_empty() {
        return Err(ReportError::Log {
            line: 0,
            reason: "no model results".into(),
        });
    }
    Ok(FirmwareRun {
        target,
        models,
        code_bytes,
    })
}

/// One report per model of `run`, with `models_dir/<name>.edge` for the
/// shapes and the hash (checked against what the firmware printed), its conv
/// weights packed for the DSP kernel, as the firmware bakes it
/// (`edgerun::format::write::for_cortex_m`).
pub fn reports(
    run: &FirmwareRun,
    models_dir: &Path,
    producer: &str,
) -> Result<Vec<Report>, ReportError> {
    run.models
        .iter()
        .map(|m| {
            let path = models_dir.join(format!("{}.edge", m.name));
            let file = std::fs::read(&path).map_err(|e| ReportError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            let bytes = edgerun::format::write::for_cortex_m(&file)
                .map_err(|e| ReportError::Model(format!("{}: {e}", path.display())))?;
            let aligned = AlignedBytes::new(&bytes);
            let model = edgerun::Model::parse(&aligned)
                .map_err(|e| ReportError::Model(format!("{}: {e}", path.display())))?;
            let mut part = model_part(&model, &bytes, &m.name)?;
            let mismatch = |what: String| {
                ReportError::Model(format!(
                    "{} is not the model the firmware ran as `{}`: {what}",
                    path.display(),
                    m.name
                ))
            };
            if part.model.bytes != m.flash_bytes {
                return Err(mismatch(format!(
                    "{} bytes, the firmware's has {}",
                    part.model.bytes, m.flash_bytes
                )));
            }
            if part.memory.arena_bytes != m.arena_bytes {
                return Err(mismatch(format!(
                    "arena {} bytes, the firmware's {}",
                    part.memory.arena_bytes, m.arena_bytes
                )));
            }
            if part.ops.len() != m.ops.len() {
                return Err(mismatch(format!(
                    "{} operators, the firmware ran {}",
                    part.ops.len(),
                    m.ops.len()
                )));
            }
            for (op, (name, kind, macs, c)) in part.ops.iter_mut().zip(&m.ops) {
                if (&op.name, &op.kind, op.macs) != (name, kind, *macs) {
                    return Err(mismatch(format!(
                        "operator {} is {} {} ({} MACs), the firmware's is {name} {kind} ({macs} MACs)",
                        op.index, op.name, op.kind, op.macs
                    )));
                }
                op.cost = c.cost;
                op.min = c.min;
                op.max = c.max;
            }
            part.memory.code_bytes = run.code_bytes;
            let report = Report {
                schema: SCHEMA.into(),
                schema_version: SCHEMA_VERSION,
                producer: producer.into(),
                target: run.target.clone(),
                model: part.model,
                unit: m.unit,
                statistic: Statistic::Mean,
                runs: m.frames,
                ops: part.ops,
                total: m.total,
                memory: part.memory,
            };
            report.validate()?;
            Ok(report)
        })
        .collect()
}
