//! Compile-time kernel selection for Cortex-M and aarch64.
//!
//! Emits `cfg(edgerun_dsp)` when the target is Armv7E-M (`thumbv7em-*`: Cortex-M4
//! and M7, which always have the DSP extension: SMLAD, SXTB16, ...). Rust 1.95
//! does not expose `target_feature = "dsp"` on stable (the Arm DSP feature is
//! unstable), so the target name decides; a target that does set the feature
//! (a nightly `-C target-feature=+dsp`, e.g. on a Cortex-M33) is honoured too.
//!
//! `EDGERUN_NO_DSP=1` keeps the scalar kernels on such a target (to measure the
//! scalar kernels, or to bisect a DSP kernel).
//!
//! Emits `cfg(edgerun_neon)` on aarch64 targets built with NEON (all of them but
//! the `*-softfloat` ones): the NEON kernels, which the SDOT ones extend at run
//! time.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(edgerun_dsp)");
    println!("cargo::rustc-check-cfg=cfg(edgerun_neon)");
    println!("cargo::rerun-if-env-changed=EDGERUN_NO_DSP");
    let target = std::env::var("TARGET").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let dsp = arch == "arm"
        && (target.starts_with("thumbv7em") || features.split(',').any(|f| f == "dsp"));
    let off = std::env::var("EDGERUN_NO_DSP").is_ok_and(|v| !v.is_empty() && v != "0");
    if dsp && !off {
        println!("cargo::rustc-cfg=edgerun_dsp");
    }
    if arch == "aarch64" && features.split(',').any(|f| f == "neon") {
        println!("cargo::rustc-cfg=edgerun_neon");
    }
}
