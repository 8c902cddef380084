//! The report commands, shared by `edge-tools report` and the light
//! `edgerun-report` binary (which `firmware/run-qemu.sh` builds: it needs
//! neither tract nor burn).

use crate::render::{Format, render};
use crate::{Report, ReportError, firmware};
use std::path::PathBuf;

/// SIGPIPE back to its default action, first thing in the `main` of each host
/// binary (`edge-tools`, `edge-run`, `edgerun-report`): a reader that stops
/// early (`edge-tools inspect m.edge | head`) ends the process quietly, as it
/// ends other Unix tools, instead of making `println!` panic (Rust's start-up
/// ignores SIGPIPE). Nothing elsewhere.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // the default action runs no code of this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Render benchmark reports side by side.
#[derive(Debug, clap::Args)]
pub struct ReportCmd {
    /// Report JSON files (`edge-tools bench --report`, `edge-run --report`,
    /// `firmware/run-qemu.sh` writes firmware/target/reports/*.json).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Output file: .md (tables, text bars) or .html (tables and SVG charts,
    /// self-contained).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Read and check every report, render them, write the output; returns a
/// one-line summary.
pub fn report_cmd(cmd: &ReportCmd) -> Result<String, ReportError> {
    let format = Format::from_path(&cmd.output)?;
    let reports = cmd
        .reports
        .iter()
        .map(|p| {
            Report::read(p).map_err(|e| match e {
                ReportError::Io { .. } => e,
                e => ReportError::File {
                    path: p.display().to_string(),
                    source: Box::new(e),
                },
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = render(&reports, format);
    std::fs::write(&cmd.output, text).map_err(|e| ReportError::Io {
        path: cmd.output.display().to_string(),
        source: e,
    })?;
    Ok(format!(
        "wrote {} ({} report{})",
        cmd.output.display(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    ))
}

/// Turn a decoded firmware log into one report per model.
#[derive(Debug, clap::Args)]
pub struct FirmwareLogCmd {
    /// The defmt-print output of the firmware (firmware/target/qemu-run/log.txt),
    /// with the `EDGERUN flash` line run-qemu.sh appends.
    pub log: PathBuf,
    /// Where the baked models are, as NAME.edge (the repository's models/).
    #[arg(long)]
    pub models: PathBuf,
    /// Directory for the reports: BOARD-MODEL.json.
    #[arg(long)]
    pub out_dir: PathBuf,
}

/// Write the reports of a firmware log; returns their paths.
pub fn firmware_log_cmd(cmd: &FirmwareLogCmd) -> Result<Vec<PathBuf>, ReportError> {
    let log = std::fs::read_to_string(&cmd.log).map_err(|e| ReportError::Io {
        path: cmd.log.display().to_string(),
        source: e,
    })?;
    let run = firmware::parse_log(&log)?;
    let reports = firmware::reports(&run, &cmd.models, "firmware/run-qemu.sh")?;
    let mut paths = Vec::new();
    for r in reports {
        let path = cmd
            .out_dir
            .join(format!("{}-{}.json", r.target.board, r.model.name));
        r.write(&path)?;
        // What was written reads back (the same check any reader makes).
        Report::read(&path)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Benchmark a .edge model on this machine and write its report (the
/// measurement of `edge-tools bench --report`, without compiling ONNX).
#[derive(Debug, clap::Args)]
pub struct BenchCmd {
    /// The .edge model (its file stem names it in the report).
    pub model: PathBuf,
    /// Timed runs (after 10 warm-up runs), each also timed per operator.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// The report (JSON).
    #[arg(short, long, value_name = "OUT.json")]
    pub output: PathBuf,
}

/// Run [`BenchCmd`]; returns a one-line summary.
pub fn bench_cmd(cmd: &BenchCmd) -> Result<String, ReportError> {
    let edge = std::fs::read(&cmd.model).map_err(|e| ReportError::Io {
        path: cmd.model.display().to_string(),
        source: e,
    })?;
    let name = cmd
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let b = crate::host::bench(&edge, &name, cmd.runs, 1, Some("edgerun-report bench"))?;
    if let Some(r) = &b.report {
        r.write(&cmd.output)?;
    }
    Ok(format!(
        "{}: median {:.1} µs over {} runs; wrote {}",
        cmd.model.display(),
        b.median_us,
        b.us.len(),
        cmd.output.display()
    ))
}
