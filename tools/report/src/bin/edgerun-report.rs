//! `edgerun-report`: the report commands without the rest of edge-tools.
//!
//!     edgerun-report render REPORT.json... -o report.html|report.md
//!     edgerun-report from-firmware-log LOG --models models --out-dir DIR
//!     edgerun-report bench MODEL.edge --runs N -o OUT.json
//!
//! It builds in seconds, also in release (`cargo run --release -p
//! edgerun-report -- bench ...` for host numbers at full optimization without
//! building tract and burn in release).

use clap::{Parser, Subcommand};
use edgerun_report::cli::{
    BenchCmd, FirmwareLogCmd, ReportCmd, bench_cmd, firmware_log_cmd, report_cmd,
};

#[derive(Parser)]
#[command(
    name = "edgerun-report",
    version,
    about = "edgerun benchmark reports: render them side by side (as `edge-tools report`), or make them from a firmware log"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render reports side by side as Markdown or self-contained HTML.
    Render(ReportCmd),
    /// One report per model from a decoded Cortex-M firmware log.
    FromFirmwareLog(FirmwareLogCmd),
    /// Benchmark a .edge model on this machine (1 thread) into a report.
    Bench(BenchCmd),
}

fn main() {
    edgerun_report::cli::default_sigpipe();
    let result = match Cli::parse().cmd {
        Cmd::Render(c) => report_cmd(&c).map(|s| println!("{s}")),
        Cmd::Bench(c) => bench_cmd(&c).map(|s| println!("{s}")),
        Cmd::FromFirmwareLog(c) => firmware_log_cmd(&c).map(|paths| {
            for p in paths {
                println!("wrote {}", p.display());
            }
        }),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
