//! Bakes the models, the MNIST test digits and the host runtime's outputs for
//! them into OUT_DIR (see `edgerun_fw::codegen`), puts memory.x on the linker's
//! search path and passes the cortex-m-rt and defmt linker scripts.
//!
//! By default it bakes the shipped LeNet-5 and ResNet-8 with the vendored
//! digits (CI's `run-qemu.sh`). With `EDGERUN_FW_MODEL` set it bakes that one
//! `.edge` file instead, with the frames of the IDX file `EDGERUN_FW_IMAGES`
//! (unsigned bytes, `[count, ...input shape]`) and optionally the labels of
//! `EDGERUN_FW_LABELS`, named `EDGERUN_FW_NAME`: this is how
//! `edge-run --board cortex-m4` runs a model on its frames in QEMU.

use edgerun_fw::Preprocess;
use edgerun_fw::codegen::{Bake, Dataset, KernelCaseCounts, write_kernel_vectors};
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

    for var in [
        "EDGERUN_FW_MODEL",
        "EDGERUN_FW_IMAGES",
        "EDGERUN_FW_LABELS",
        "EDGERUN_FW_NAME",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let bake = Bake::new(manifest.join("../..")).frames(frames);
    let bake = match std::env::var_os("EDGERUN_FW_MODEL") {
        Some(model) => {
            let images = std::env::var_os("EDGERUN_FW_IMAGES")
                .ok_or("EDGERUN_FW_MODEL needs EDGERUN_FW_IMAGES (an IDX file of frames)")?;
            let name = std::env::var("EDGERUN_FW_NAME").unwrap_or_else(|_| "model".into());
            bake.model(
                &name,
                PathBuf::from(model),
                Dataset::Idx {
                    images: images.into(),
                    labels: std::env::var_os("EDGERUN_FW_LABELS").map(PathBuf::from),
                },
                Preprocess::Divide(255.0),
            )
        }
        // One line per model:
        None => bake
            .model(
                "lenet5",
                "models/lenet5.edge",
                Dataset::MnistTest,
                Preprocess::Divide(255.0),
            )
            .model(
                "resnet8",
                "models/resnet8.edge",
                Dataset::MnistTest,
                Preprocess::Divide(255.0),
            ),
    };
    bake.write(&out)?;

    // Golden outputs of the host's scalar kernels for the on-target kernel
    // tests (tests/kernels.rs).
    write_kernel_vectors(
        &out,
        KernelCaseCounts {
            conv: 10_000,
            fc: 3000,
            pool: 2000,
            requant: 20_000,
        },
    )?;

    std::fs::copy(manifest.join("memory.x"), out.join("memory.x"))?;
    // cortex-m-rt's `device` feature includes `device.x`, where a device crate
    // names its interrupt handlers; every vector of `src/board.rs` is
    // `DefaultHandler`, so there is nothing to name.
    std::fs::write(
        out.join("device.x"),
        "/* Interrupt vectors: src/board.rs (all DefaultHandler). */\n",
    )?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    for arg in ["--nmagic", "-Tlink.x", "-Tdefmt.x"] {
        println!("cargo:rustc-link-arg-bins={arg}");
        println!("cargo:rustc-link-arg-tests={arg}");
    }
    Ok(())
}
