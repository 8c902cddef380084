//! `--board cortex-m4|cortex-m7` on the real firmware: the model and the
//! frames are baked into the Cortex-M4F firmware (`firmware/qemu-mps2-an386`,
//! its build script reads `EDGERUN_FW_MODEL`, `EDGERUN_FW_IMAGES` and
//! `EDGERUN_FW_LABELS`), which runs in `qemu-system-arm` (mps2-an386) with
//! `-icount shift=0`, so that its SysTick counts instructions. The firmware
//! checks every output against the host runtime's bytes; its defmt log,
//! decoded by `defmt-print`, is read by `edgerun_report::firmware::parse_log`
//! (the parser of `firmware/run-qemu.sh`'s reports).
//!
//! This needs the firmware sources (found next to edge-run's own sources, or
//! at `EDGERUN_FIRMWARE_DIR`), cargo with the `thumbv7em-none-eabihf` target,
//! `qemu-system-arm` and `defmt-print`: [`Firmware::locate`] says which is
//! missing.

use anyhow::{Context, Result, bail};
use edgerun_report::firmware::{FirmwareModel, parse_log};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The firmware crate that runs in QEMU, inside the firmware workspace.
const CRATE: &str = "qemu-mps2-an386";
const TARGET: &str = "thumbv7em-none-eabihf";

/// The firmware workspace and the tools to build and run it.
#[derive(Debug, Clone)]
pub struct Firmware {
    /// `firmware/` (the workspace holding [`CRATE`]).
    pub dir: PathBuf,
    qemu: PathBuf,
    defmt_print: PathBuf,
    cargo: PathBuf,
}

/// A model and frames for the firmware.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The model's name in the firmware's log.
    pub name: &'a str,
    /// The `.edge` file.
    pub edge: &'a [u8],
    /// One byte per model input element, `frame_shape` each, frame after
    /// frame; the firmware maps them with `Preprocess::Divide(255)`.
    pub frames: &'a [u8],
    pub frame_shape: &'a [usize],
    /// One per frame, if known.
    pub labels: Option<&'a [u8]>,
}

/// What the firmware printed for the model, with the build and run times.
#[derive(Debug, Clone)]
pub struct QemuRun {
    pub model: FirmwareModel,
    /// The CPU and kernels it ran (`EDGERUN target` line).
    pub cpu: String,
    pub kernels: String,
    pub build: Duration,
    pub run: Duration,
}

/// The program `name` in a directory of `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Firmware {
    /// The firmware and its tools, or what is missing (one line each, with
    /// how to get it).
    pub fn locate() -> std::result::Result<Firmware, Vec<String>> {
        let dir = std::env::var_os("EDGERUN_FIRMWARE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        let mut missing = Vec::new();
        if !dir.join(CRATE).join("Cargo.toml").is_file() {
            missing.push(format!(
                "the firmware sources ({}/{CRATE}; set EDGERUN_FIRMWARE_DIR to the repository's firmware/ folder)",
                dir.display()
            ));
        }
        let qemu = on_path("qemu-system-arm");
        if qemu.is_none() {
            missing.push("qemu-system-arm (apt-get install qemu-system-arm)".into());
        }
        let defmt_print = on_path("defmt-print");
        if defmt_print.is_none() {
            missing.push("defmt-print (cargo install defmt-print --locked)".into());
        }
        let cargo = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .or_else(|| on_path("cargo"));
        if cargo.is_none() {
            missing.push("cargo (https://rustup.rs)".into());
        }
        match (qemu, defmt_print, cargo) {
            (Some(qemu), Some(defmt_print), Some(cargo)) if missing.is_empty() => Ok(Firmware {
                dir,
                qemu,
                defmt_print,
                cargo,
            }),
            _ => Err(missing),
        }
    }

    /// Where edge-run's inputs to the firmware build go.
    fn work_dir(&self) -> PathBuf {
        self.dir.join("target").join("edge-run")
    }

    /// Bake the job's model and frames into the firmware, build it in
    /// release and run it in QEMU for at most `timeout`. `progress` hears
    /// what is going on.
    pub fn run(
        &self,
        job: &Job<'_>,
        timeout: Duration,
        progress: &dyn Fn(&str),
    ) -> Result<QemuRun> {
        let Job {
            name,
            edge,
            frames,
            frame_shape,
            labels,
        } = *job;
        let per: usize = frame_shape.iter().product();
        if per == 0 || frames.is_empty() || !frames.len().is_multiple_of(per) {
            bail!("no frames of {frame_shape:?} to bake");
        }
        let count = frames.len() / per;
        let work = self.work_dir();
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let write = |file: &str, bytes: &[u8]| -> Result<PathBuf> {
            let path = work.join(file);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        let model = write("model.edge", edge)?;
        let mut dims = vec![count];
        dims.extend_from_slice(frame_shape);
        let images = write("frames.idx", &idx(&dims, frames)?)?;
        let labels = match labels {
            Some(l) if l.len() == count => Some(write("labels.idx", &idx(&[count], l)?)?),
            Some(l) => bail!("{} labels for {count} frames", l.len()),
            None => None,
        };

        progress(&format!(
            "building the firmware ({CRATE}, release) with the model and {count} frames baked in"
        ));
        let t0 = Instant::now();
        let target_dir = self.dir.join("target");
        let mut build = Command::new(&self.cargo);
        build
            .current_dir(self.dir.join(CRATE))
            .args(["build", "--release", "--quiet"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("EDGERUN_FW_MODEL", &model)
            .env("EDGERUN_FW_IMAGES", &images)
            .env("EDGERUN_FW_NAME", name)
            .env("EDGERUN_FW_FRAMES", count.to_string())
            .env_remove("RUSTFLAGS");
        match &labels {
            Some(l) => build.env("EDGERUN_FW_LABELS", l),
            None => build.env_remove("EDGERUN_FW_LABELS"),
        };
        let out = build
            .output()
            .context("running cargo build for the firmware")?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(25).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the firmware build failed (is the {TARGET} target installed? rustup target add {TARGET}):\n{}",
                tail.join("\n")
            );
        }
        let build_time = t0.elapsed();
        let elf = target_dir.join(TARGET).join("release").join(CRATE);

        progress("running it in qemu-system-arm (mps2-an386, Cortex-M4F, instruction counting)");
        let t1 = Instant::now();
        let defmt = run_with_timeout(
            Command::new(&self.qemu).args([
                "-cpu",
                "cortex-m4",
                "-M",
                "mps2-an386",
                "-nographic",
                "-semihosting-config",
                "enable=on,target=native",
                "-icount",
                "shift=0",
                "-kernel",
            ]),
            &elf,
            timeout,
        )?;
        let run_time = t1.elapsed();
        let log = decode(&self.defmt_print, &elf, &defmt.stdout)?;
        std::fs::write(work.join("log.txt"), &log).ok();
        let failure = |what: String| {
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("EDGERUN") && !l.contains("EDGERUN op "))
                .collect();
            anyhow::anyhow!("{what}; the firmware's log:\n{}", lines.join("\n"))
        };
        if defmt.timed_out {
            return Err(failure(format!("no exit within {} s", timeout.as_secs())));
        }
        let parsed = parse_log(&log).map_err(|e| failure(format!("{e}")))?;
        if !defmt.success {
            return Err(failure("QEMU exited with failure".into()));
        }
        let [model] = <[FirmwareModel; 1]>::try_from(parsed.models)
            .map_err(|m| failure(format!("{} models in the log, expected 1", m.len())))?;
        Ok(QemuRun {
            model,
            cpu: parsed.target.cpu,
            kernels: parsed.target.kernels,
            build: build_time,
            run: run_time,
        })
    }
}

/// An IDX file of unsigned bytes (`00 00 08 rank`, big-endian dimensions).
pub fn idx(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let rank = u8::try_from(dims.len()).context("too many dimensions")?;
    if dims.iter().product::<usize>() != data.len() {
        bail!("{} bytes for dimensions {dims:?}", data.len());
    }
    let mut v = vec![0, 0, 8, rank];
    for &d in dims {
        v.extend_from_slice(
            &u32::try_from(d)
                .context("dimension too large")?
                .to_be_bytes(),
        );
    }
    v.extend_from_slice(data);
    Ok(v)
}

struct Output {
    stdout: Vec<u8>,
    success: bool,
    timed_out: bool,
}

/// Run `cmd elf`, killing it after `timeout`.
fn run_with_timeout(cmd: &mut Command, elf: &Path, timeout: Duration) -> Result<Output> {
    let mut child = cmd
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting qemu-system-arm")?;
    let mut stdout = child.stdout.take().context("no stdout from QEMU")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let start = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break (Some(status), false);
        }
        if start.elapsed() > timeout {
            child.kill().ok();
            child.wait().ok();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the QEMU output reader panicked"))?
        .context("reading QEMU's output")?;
    Ok(Output {
        stdout,
        success: status.is_some_and(|s| s.success()),
        timed_out,
    })
}

/// The defmt log as text (`defmt-print -e ELF`).
fn decode(defmt_print: &Path, elf: &Path, bytes: &[u8]) -> Result<String> {
    let mut child = Command::new(defmt_print)
        .arg("-e")
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting defmt-print")?;
    let mut stdin = child.stdin.take().context("no stdin for defmt-print")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input)
    });
    let out = child.wait_with_output().context("running defmt-print")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the defmt-print writer panicked"))?
        .ok();
    // The log lines and defmt-print's own messages, as `2>&1` would.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::idx;

    #[test]
    fn idx_headers_are_big_endian_with_the_byte_type() {
        let v = idx(&[2, 1, 3], &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(
            v,
            [
                0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6
            ]
        );
        assert!(idx(&[2, 2], &[0; 3]).is_err());
    }
}
