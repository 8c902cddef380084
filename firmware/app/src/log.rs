//! Reports as defmt lines (feature `defmt`).
//!
//! Lines that start with `EDGERUN ` are machine-readable: space-separated
//! `key=value` pairs after a record type (`target`, `model`, `op`,
//! `frame_fail`, `result`). `firmware/run-qemu.sh` greps them, and
//! `edgerun-report from-firmware-log` (tools/report/src/firmware.rs) turns
//! them into benchmark reports: keep both in step with this file.

use crate::baked::BakedModel;
use crate::clock::Clock;
use crate::run::{FrameResult, ModelReport, mean_of};

fn ratio(num: u64, den: u64) -> f32 {
    if den == 0 {
        0.0
    } else {
        to_f32(num) / to_f32(den)
    }
}

/// `x as f32` from two `u32` conversions (hardware `VCVT`), which keeps
/// compiler-builtins' `u64` to `f32` routine out of the firmware; for display,
/// so a second rounding above 2^24 does not matter.
fn to_f32(x: u64) -> f32 {
    (x >> 32) as u32 as f32 * 4_294_967_296.0 + x as u32 as f32
}

/// Where it runs, once before the models: board, CPU, core clock in Hz (0
/// when the counts are not cycles of a known clock, e.g. instructions in
/// QEMU), the runtime and its int8 conv/fc kernels (`dsp` or `scalar`).
/// `edgerun-report from-firmware-log` needs this line.
pub fn target(board: &str, cpu: &str, clock_hz: u32) {
    defmt::info!(
        "EDGERUN target board={=str} cpu={=str} clock_hz={=u32} backend=edgerun-native kernels={=str}",
        board,
        cpu,
        clock_hz,
        edgerun::kernels::int8_twin()
    );
}

/// The model, before running it.
pub fn model(m: &BakedModel) {
    defmt::info!(
        "EDGERUN model name={=str} flash_bytes={=usize} arena_bytes={=usize} macs={=u64} frames={=usize}",
        m.name,
        m.bytes.len(),
        m.arena_bytes,
        m.macs,
        m.frames.count
    );
}

/// A frame whose output differs from the host's.
pub fn frame_failure(model: &str, r: &FrameResult) {
    defmt::error!(
        "EDGERUN frame_fail model={=str} index={=usize} label={} predicted={} bit_exact={}",
        model,
        r.index,
        r.label,
        r.predicted,
        r.bit_exact
    );
}

/// One line per operator (mean over frames), then the summary line.
pub fn report<C: Clock>(m: &BakedModel, r: &ModelReport<'_>) {
    let unit = C::UNIT.name();
    for (i, op) in r.ops.iter().enumerate() {
        let mean = mean_of(op.total, r.frames);
        defmt::info!(
            "EDGERUN op model={=str} index={=usize} name={=str} kind={=str} macs={=u64} {=str}={=u64} min={=u64} max={=u64} per_mac={=f32}",
            m.name,
            i,
            op.name,
            op.kind.name(),
            op.macs,
            unit,
            mean,
            op.min,
            op.max,
            ratio(mean, op.macs)
        );
    }
    for f in &r.failures {
        frame_failure(m.name, f);
    }
    let status = if m.passed(r) { "PASS" } else { "FAIL" };
    defmt::info!(
        "EDGERUN result model={=str} frames={=usize} correct={=usize} host_correct={=u32} accuracy_pct={=f32} bit_exact={=usize}/{=usize} {=str}_per_inference={=u64} min={=u64} max={=u64} ops_sum={=u64} macs={=u64} per_mac={=f32} arena_bytes={=usize} status={=str}",
        m.name,
        r.frames,
        r.correct,
        m.host_correct,
        100.0 * ratio(r.correct as u64, r.labelled as u64),
        r.checked.saturating_sub(r.mismatches),
        r.checked,
        unit,
        r.mean(),
        r.min,
        r.max,
        r.ops_mean(),
        r.macs,
        ratio(r.mean(), r.macs),
        r.arena_bytes,
        status
    );
}
