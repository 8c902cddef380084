//! `--board`: desktop simulation of a target board. A profile gives the
//! board's memory, clock and SIMD; for a microcontroller, [`Budget`] checks
//! that the model and the firmware code fit its flash and the arena its RAM,
//! and frames then run through the runtime's `no_std` path (`Model::parse`,
//! `Interpreter` on an arena of the board's RAM, the int8-only kernel set of
//! the firmware). For a Raspberry Pi, the aarch64 build runs under
//! `qemu-aarch64` as the Pi's CPU.

use anyhow::{Result, bail};

/// Code of the Cortex-M firmware (runtime, int8 kernels, defmt, start-up),
/// measured by `bash firmware/run-qemu.sh` (its `EDGERUN flash` line; see
/// `firmware/README.md`, "Code budget"): 43,572 bytes for the qemu-mps2-an386
/// build with the DSP kernels (LeNet-5 and ResNet-8 baked in).
pub const FIRMWARE_CODE_BYTES: usize = 43_572;

/// Code the f32 kernels and NMS add to the firmware when a model has f32
/// operators (`AllKernels` instead of `QuantizedKernels`): "about 40 KB",
/// `firmware/README.md` (an estimate, not measured per model).
pub const FLOAT_KERNELS_CODE_BYTES: usize = 40 * 1024;

/// RAM an MCU needs besides the arena: the stack (the DSP kernels use about
/// 5 KiB of it, `firmware/README.md`) and the firmware's other statics.
pub const MCU_RAM_RESERVE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mcu,
    Pi,
}

/// A board profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub example: &'static str,
    pub cpu: &'static str,
    pub kind: Kind,
    pub ram_bytes: usize,
    /// Program flash (MCU); `None` on a Pi (the SD card holds everything).
    pub flash_bytes: Option<usize>,
    pub clock_mhz: u32,
    pub simd: &'static str,
    /// `QEMU_CPU` for `qemu-aarch64` (Pi boards).
    pub qemu_cpu: Option<&'static str>,
}

pub const BOARDS: [Board; 4] = [
    Board {
        name: "cortex-m4",
        example: "STM32F446RE (Nucleo-64)",
        cpu: "Cortex-M4F",
        kind: Kind::Mcu,
        ram_bytes: 128 * 1024,
        flash_bytes: Some(512 * 1024),
        clock_mhz: 180,
        simd: "DSP extension (SMLAD, SXTB16): the dsp.rs kernels",
        qemu_cpu: None,
    },
    Board {
        name: "cortex-m7",
        example: "STM32F746G-DISCO (firmware/stm32f746g-disco)",
        cpu: "Cortex-M7F",
        kind: Kind::Mcu,
        ram_bytes: 320 * 1024,
        flash_bytes: Some(1024 * 1024),
        clock_mhz: 216,
        simd: "DSP extension (SMLAD, SXTB16): the dsp.rs kernels",
        qemu_cpu: None,
    },
    Board {
        name: "rpi4",
        example: "Raspberry Pi 4 Model B",
        cpu: "Cortex-A72 (4 cores)",
        kind: Kind::Pi,
        ram_bytes: 1024 * 1024 * 1024,
        flash_bytes: None,
        clock_mhz: 1500,
        simd: "NEON (no SDOT): the neon.rs twin",
        qemu_cpu: Some("cortex-a72"),
    },
    Board {
        name: "rpi5",
        example: "Raspberry Pi 5",
        cpu: "Cortex-A76 (4 cores)",
        kind: Kind::Pi,
        ram_bytes: 2048 * 1024 * 1024,
        flash_bytes: None,
        clock_mhz: 2400,
        simd: "NEON and SDOT (Armv8.2 dotprod): the sdot twin",
        qemu_cpu: Some("cortex-a76"),
    },
];

/// The profile called `name`.
pub fn board(name: &str) -> Result<Board> {
    match BOARDS.iter().find(|b| b.name == name) {
        Some(b) => Ok(*b),
        None => {
            let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
            bail!("unknown board '{name}' (boards: {})", names.join(", "))
        }
    }
}

/// Memory a model needs on a microcontroller against what the board has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The `.edge` file, kept in flash and read in place, as the firmware bakes
    /// it: conv weights packed for the DSP kernel, not for AVX2
    /// (`edgerun::format::write::for_cortex_m`).
    pub model_bytes: usize,
    pub code_bytes: usize,
    pub flash_bytes: usize,
    pub arena_bytes: usize,
    pub reserve_bytes: usize,
    pub ram_bytes: usize,
}

impl Budget {
    /// `float`: the model has f32 operators, so the firmware links the f32
    /// kernels too.
    pub fn new(board: &Board, model_bytes: usize, arena_bytes: usize, float: bool) -> Self {
        Budget {
            model_bytes,
            code_bytes: FIRMWARE_CODE_BYTES + if float { FLOAT_KERNELS_CODE_BYTES } else { 0 },
            flash_bytes: board.flash_bytes.unwrap_or(usize::MAX),
            arena_bytes,
            reserve_bytes: MCU_RAM_RESERVE,
            ram_bytes: board.ram_bytes,
        }
    }
    pub fn flash_needed(&self) -> usize {
        self.model_bytes.saturating_add(self.code_bytes)
    }
    pub fn ram_needed(&self) -> usize {
        self.arena_bytes.saturating_add(self.reserve_bytes)
    }
    /// The arena a run on this board gets: its RAM less the reserve.
    pub fn arena_available(&self) -> usize {
        self.ram_bytes.saturating_sub(self.reserve_bytes)
    }
    pub fn fits(&self) -> bool {
        self.flash_needed() <= self.flash_bytes && self.ram_needed() <= self.ram_bytes
    }

    /// The budget as lines for the terminal, each overrun spelled out.
    pub fn lines(&self, board: &Board) -> Vec<String> {
        let kb = |b: usize| format!("{:.1} KB", b as f64 / 1024.0);
        let verdict = |need: usize, have: usize| {
            if need <= have {
                format!("fits, {} free", kb(have - need))
            } else {
                format!("OVERRUN by {}", kb(need - have))
            }
        };
        vec![
            format!(
                "board {} ({}, {}, {} MHz, {}): {} RAM, {} flash",
                board.name,
                board.example,
                board.cpu,
                board.clock_mhz,
                board.simd,
                kb(self.ram_bytes),
                kb(self.flash_bytes)
            ),
            format!(
                "  flash: model {} + firmware code {} = {} of {}: {}",
                kb(self.model_bytes),
                kb(self.code_bytes),
                kb(self.flash_needed()),
                kb(self.flash_bytes),
                verdict(self.flash_needed(), self.flash_bytes)
            ),
            format!(
                "  RAM:   arena {} + stack and statics {} = {} of {}: {}",
                kb(self.arena_bytes),
                kb(self.reserve_bytes),
                kb(self.ram_needed()),
                kb(self.ram_bytes),
                verdict(self.ram_needed(), self.ram_bytes)
            ),
        ]
    }
}

/// For a Pi board on another machine: the aarch64 `edge-run` under
/// `qemu-aarch64` as the board's CPU, with `args`, when both are there;
/// otherwise what to do instead, as text. (On an aarch64 machine edge-run runs
/// natively instead.)
pub fn pi_command(
    board: &Board,
    args: &[String],
) -> std::result::Result<std::process::Command, String> {
    let cpu = board.qemu_cpu.unwrap_or("max");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    let bin = ["release", "debug"]
        .iter()
        .map(|p| {
            target
                .join("aarch64-unknown-linux-gnu")
                .join(p)
                .join("edge-run")
        })
        .find(|p| p.exists());
    let qemu = crate::qemu::on_path("qemu-aarch64");
    match (bin, qemu) {
        (Some(bin), Some(qemu)) => {
            let mut cmd = std::process::Command::new(qemu);
            cmd.env("QEMU_CPU", cpu)
                .arg("-L")
                .arg("/usr/aarch64-linux-gnu")
                .arg(bin)
                .args(args);
            Ok(cmd)
        }
        _ => Err(format!(
            "{} is an aarch64 board ({}); on this machine, run the aarch64 build in QEMU user mode as its CPU:\n  \
             apt-get install qemu-user gcc-aarch64-linux-gnu\n  \
             cargo build --release -p edge-run --target aarch64-unknown-linux-gnu\n  \
             QEMU_CPU={cpu} qemu-aarch64 -L /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/release/edge-run MODEL SOURCE\n\
             then `edge-run --board {}` runs it for you. QEMU times say nothing about a Pi's speed; on the Pi, run edge-run \
             natively (docs/raspberry-pi.md).",
            board.name, board.cpu, board.name
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn budgets_fit_or_overrun_by_hand_computed_amounts() {
        let m4 = board("cortex-m4").unwrap();
        // LeNet-5: 188,320 B of model (packed for the DSP kernels), 9,072 B
        // of arena (firmware/README.md).
        let b = Budget::new(&m4, 188_320, 9_072, false);
        assert!(b.fits());
        assert_eq!(b.flash_needed(), 188_320 + 43_572);
        assert_eq!(b.arena_available(), 128 * 1024 - 8 * 1024);
        // The detector's 140,016 B arena: 140,016 + 8,192 - 131,072 = 17,136 B over.
        let b = Budget::new(&m4, 200_000, 140_016, false);
        assert!(!b.fits());
        let text = b.lines(&m4).join("\n");
        assert!(text.contains("OVERRUN by 16.7 KB"), "{text}");
        // Flash: 500,000 + 43,572 - 524,288 = 19,284 B over.
        let b = Budget::new(&m4, 500_000, 1_000, false);
        assert!(!b.fits());
        assert!(b.lines(&m4)[1].contains("OVERRUN by 18.8 KB"));
        let m7 = board("cortex-m7").unwrap();
        assert!(Budget::new(&m7, 200_000, 140_016, true).fits());
        assert_eq!(Budget::new(&m7, 1, 1, true).code_bytes, 43_572 + 40_960);
        assert!(board("cortex-m0").is_err());
        assert_eq!(board("rpi5").unwrap().qemu_cpu, Some("cortex-a76"));
    }
}
