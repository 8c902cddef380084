//! Building reports on the host: the model's part of a report from its
//! `.edge` bytes, a per-operator timer ([`OpTimer`], an [`edgerun::OpHook`])
//! and the host's description.

use crate::{Cost, Memory, ModelInfo, OpEntry, Report, ReportError, SCHEMA, SCHEMA_VERSION};
use crate::{Statistic, Target, Unit};
use edgerun::format::schema::{Buf, OpKind};
use edgerun::{Model, OpHook};
use std::time::Instant;

/// What a report says about a model, from its `.edge` bytes: name, hash,
/// size, and per operator its name, kind, output shape and MACs (costs 0).
pub struct ModelPart {
    pub model: ModelInfo,
    pub ops: Vec<OpEntry>,
    pub memory: Memory,
}

fn model_err(e: edgerun::Error) -> ReportError {
    ReportError::Model(e.to_string())
}

/// The shape of the tensor stored in `buf`, if the model lists one there.
fn shape_at(model: &Model<'_>, buf: Buf) -> Result<Vec<u32>, ReportError> {
    for t in model.tensors() {
        let t = t.map_err(model_err)?;
        if t.buf == buf {
            return Ok(t.shape.dims().to_vec());
        }
    }
    Ok(Vec::new())
}

/// [`ModelPart`] of a parsed model whose file is `edge` (for the hash), under
/// a short `name` (e.g. the file stem: models keep their ONNX graph's name,
/// which is often just `main_graph`).
pub fn model_part(model: &Model<'_>, edge: &[u8], name: &str) -> Result<ModelPart, ReportError> {
    let mut ops = Vec::new();
    let mut macs = 0u64;
    for (i, rec) in model.ops().enumerate() {
        let rec = rec.map_err(model_err)?;
        let m = rec.op.macs();
        macs = macs.saturating_add(m);
        ops.push(OpEntry {
            index: u32::try_from(i).map_err(|_| ReportError::Model("too many operators".into()))?,
            name: rec.name.to_string(),
            kind: rec.op.kind().name().to_string(),
            output_shape: shape_at(model, rec.op.output())?,
            macs: m,
            cost: 0.0,
            min: None,
            max: None,
        });
    }
    // The model's identity: its file as a firmware bakes it, packed for the
    // DSP kernel (`ModelInfo::sha256`).
    let lean = edgerun::format::write::for_cortex_m(edge).map_err(model_err)?;
    Ok(ModelPart {
        model: ModelInfo {
            name: name.to_string(),
            sha256: crate::sha256_hex(&lean),
            bytes: edge.len() as u64,
            macs,
        },
        ops,
        memory: Memory {
            arena_bytes: model.arena_bytes() as u64,
            code_bytes: None,
            model_bytes: Some(edge.len() as u64),
            weights_bytes: Some(model.blob_bytes() as u64),
        },
    })
}

/// Median, minimum and maximum of `samples` (sorted in place); all 0 when empty.
pub fn median_cost(samples: &mut [f64]) -> Cost {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => samples.get(n / 2).copied().unwrap_or(0.0),
        _ => {
            let lo = samples.get(n / 2 - 1).copied().unwrap_or(0.0);
            let hi = samples.get(n / 2).copied().unwrap_or(0.0);
            (lo + hi) / 2.0
        }
    };
    Cost {
        cost: median,
        min: samples.first().copied(),
        max: samples.last().copied(),
    }
}

/// Times every operator of every invocation with the monotonic clock, in ns.
pub struct OpTimer {
    start: Instant,
    /// Per operator, one sample per invocation.
    samples: Vec<Vec<f64>>,
}

impl OpTimer {
    pub fn new(num_ops: usize) -> Self {
        OpTimer {
            start: Instant::now(),
            samples: vec![Vec::new(); num_ops],
        }
    }

    /// Median, minimum and maximum per operator, in operator order.
    pub fn costs(mut self) -> Vec<Cost> {
        self.samples.iter_mut().map(|s| median_cost(s)).collect()
    }

    /// Put the per-operator medians into `ops` (same model, same order).
    pub fn fill(self, ops: &mut [OpEntry]) {
        for (op, c) in ops.iter_mut().zip(self.costs()) {
            op.cost = c.cost;
            op.min = c.min;
            op.max = c.max;
        }
    }
}

impl OpHook for OpTimer {
    fn before_op(&mut self, _index: usize, _name: &str, _kind: OpKind) {
        self.start = Instant::now();
    }
    fn after_op(&mut self, index: usize, _name: &str, _kind: OpKind) {
        let ns = self.start.elapsed().as_nanos() as f64;
        if let Some(s) = self.samples.get_mut(index) {
            s.push(ns);
        }
    }
}

/// The CPU's model name (Linux `/proc/cpuinfo`), else the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// This machine running the native runtime.
pub fn host_target(backend: &str) -> Target {
    Target {
        board: "host".into(),
        cpu: cpu_name(),
        clock_hz: None,
        backend: backend.into(),
        kernels: edgerun::kernels::int8_twin().into(),
    }
}

/// A host report in nanoseconds (medians over `runs`): the model's part with
/// the per-operator costs already in `part.ops`, and the whole-inference cost.
pub fn host_report(
    producer: &str,
    backend: &str,
    part: ModelPart,
    runs: u64,
    total: Cost,
) -> Report {
    Report {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        producer: producer.into(),
        target: host_target(backend),
        model: part.model,
        unit: Unit::Ns,
        statistic: Statistic::Median,
        runs,
        ops: part.ops,
        total,
        memory: part.memory,
    }
}

/// The pseudo-random stream of the benchmarks' inputs (xorshift64, the same
/// every run).
pub struct PseudoRandom(u64);

impl Default for PseudoRandom {
    fn default() -> Self {
        PseudoRandom(0x2545_f491_4f6c_dd1d)
    }
}

impl PseudoRandom {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A float in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Deterministic pseudo-random inputs: floats in [0, 1), random bytes for
/// integer inputs ([`PseudoRandom`]).
pub fn fill_pseudo_random(
    model: &Model<'_>,
    interp: &mut edgerun::Interpreter<'_, '_>,
) -> Result<(), edgerun::Error> {
    let mut rng = PseudoRandom::default();
    for i in 0..model.num_inputs() {
        let dtype = model.input(i)?.dtype;
        let buf = interp.input_bytes_mut(i)?;
        if dtype == edgerun::DType::F32 {
            for c in buf.chunks_exact_mut(4) {
                c.copy_from_slice(&rng.next_f32().to_le_bytes());
            }
        } else {
            for b in buf.iter_mut() {
                *b = (rng.next_u64() >> 56) as u8;
            }
        }
    }
    Ok(())
}

/// Median and 95th percentile of latency samples (sorts them).
pub fn latency_stats(ns: &mut [f64]) -> (f64, f64) {
    let median = median_cost(ns).cost;
    (median, p95_of_sorted(ns))
}

/// The 95th percentile of samples sorted by [`median_cost`]; 0 when empty.
fn p95_of_sorted(sorted: &[f64]) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * 0.95).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// What [`bench`] measured.
#[derive(Debug, Clone)]
pub struct Bench {
    /// Whole-inference latency, in microseconds, sorted.
    pub us: Vec<f64>,
    pub median_us: f64,
    pub p95_us: f64,
    pub macs: u64,
    pub arena_bytes: usize,
    pub weights_bytes: usize,
    /// With `per_op`: the report (ns, medians over the same runs).
    pub report: Option<Report>,
}

/// Benchmark a `.edge` model on this machine, one thread: 10 warm-up runs,
/// then `runs` timed inferences on [`fill_pseudo_random`] inputs; with
/// `per_op` (the producer's name), every operator of every run is timed too
/// ([`OpTimer`]) for a report that names the model `name`. With `threads`
/// above 1, the int8 convolutions are split by output rows across that many
/// threads (`Interpreter::invoke_threaded`; no per-operator times then).
pub fn bench(
    edge: &[u8],
    name: &str,
    runs: usize,
    threads: usize,
    per_op: Option<&str>,
) -> Result<Bench, ReportError> {
    let pool = match threads {
        0 | 1 => None,
        _ if per_op.is_some() => {
            return Err(ReportError::Invalid(
                "per-operator times are taken on one thread: drop --threads".into(),
            ));
        }
        n => Some(edgerun::Threads::new(n).map_err(model_err)?),
    };
    let aligned = edgerun::format::write::AlignedBytes::new(edge);
    let model = Model::parse(&aligned).map_err(model_err)?;
    let mut part = model_part(&model, edge, name)?;
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    // The operator records decoded once, as a host application would.
    let ops = edgerun::DecodedOps::new(&model).map_err(model_err)?;
    let mut interp =
        edgerun::Interpreter::with_decoded_ops(&model, &mut arena, &ops).map_err(model_err)?;
    fill_pseudo_random(&model, &mut interp).map_err(model_err)?;
    let invoke = |interp: &mut edgerun::Interpreter<'_, '_>| match &pool {
        Some(pool) => interp.invoke_threaded(pool),
        None => interp.invoke(),
    };
    for _ in 0..10 {
        invoke(&mut interp).map_err(model_err)?;
    }
    // With `per_op`, every timed run is also timed per operator (two clock
    // reads per operator, tens of ns), so that the operators and the total
    // come from the same runs.
    let mut timer = per_op.map(|_| OpTimer::new(part.ops.len()));
    let mut ns: Vec<f64> = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        match timer.as_mut() {
            Some(hook) => interp.invoke_with_hook(hook),
            None => invoke(&mut interp),
        }
        .map_err(model_err)?;
        ns.push(t.elapsed().as_nanos() as f64);
    }
    let total = median_cost(&mut ns);
    let p95 = p95_of_sorted(&ns);
    let macs = part.model.macs;
    let report = match (per_op, timer) {
        (Some(producer), Some(timer)) => {
            timer.fill(&mut part.ops);
            let runs = ns.len() as u64;
            Some(host_report(producer, "edgerun-native", part, runs, total))
        }
        _ => None,
    };
    Ok(Bench {
        us: ns.iter().map(|v| v / 1e3).collect(),
        median_us: total.cost / 1e3,
        p95_us: p95 / 1e3,
        macs,
        arena_bytes: model.arena_bytes(),
        weights_bytes: model.blob_bytes(),
        report,
    })
}
