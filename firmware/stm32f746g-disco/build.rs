//! Bakes the models, the MNIST test digits and the host runtime's outputs for
//! them into OUT_DIR (see `edgerun_fw::codegen`), puts memory.x on the linker's
//! search path and passes the cortex-m-rt and defmt linker scripts.

use edgerun_fw::Preprocess;
use edgerun_fw::codegen::{Bake, Dataset};
use std::error::Error;
use std::path::PathBuf;

/// Digits per model; `EDGERUN_FW_FRAMES` overrides it (500 at most).
const FRAMES: usize = 500;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-env-changed=EDGERUN_FW_FRAMES");
    let frames = match std::env::var("EDGERUN_FW_FRAMES") {
        Ok(n) => n.parse()?,
        Err(_) => FRAMES,
    };

    Bake::new(manifest.join("../.."))
        .frames(frames)
        // One line per model:
        .model(
            "lenet5",
            "models/lenet5.edge",
            Dataset::MnistTest,
            Preprocess::Divide(255.0),
        )
        .write(&out)?;

    std::fs::copy(manifest.join("memory.x"), out.join("memory.x"))?;
    // cortex-m-rt's `device` feature includes `device.x`, where a device crate
    // names its interrupt handlers; every vector of `src/main.rs` is
    // `DefaultHandler`, so there is nothing to name.
    std::fs::write(
        out.join("device.x"),
        "/* Interrupt vectors: src/main.rs (all DefaultHandler). */\n",
    )?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    for arg in ["--nmagic", "-Tlink.x", "-Tdefmt.x"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    Ok(())
}
