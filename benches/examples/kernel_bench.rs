//! Micro-benchmark of the int8 conv, fc, Add and max pool kernels, the scalar
//! reference against the SIMD twins this CPU runs (AVX2 on x86_64; NEON, and
//! SDOT where the CPU has it, on aarch64), on the layer shapes of LeNet-5, of
//! an MLPerf-Tiny-style ResNet-8 and of the detector (`edgerun_benches::kernels`,
//! the cases of the criterion bench `benches/kernels.rs`): median time of 200
//! calls, the rate (G MACs, elements or outputs per second, as the line
//! says) and the speed-up over scalar. No harness, one thread:
//!
//!     cargo run --release -p edgerun-benches --example kernel_bench
//!
//! On a Raspberry Pi, run that command there, or cross-build it here and copy it:
//!
//!     cargo build --release -p edgerun-benches --example kernel_bench \
//!         --target aarch64-unknown-linux-gnu
//!     scp target/aarch64-unknown-linux-gnu/release/examples/kernel_bench pi@raspberrypi:

use edgerun_benches::kernels::{Case, Twin, cases, twins};
use std::process::ExitCode;
use std::time::Instant;

const RUNS: usize = 200;

/// Median µs of [`RUNS`] calls of `twin` on `case` (after one warm-up call).
fn median_us(case: &mut Case, twin: &Twin) -> Result<f64, String> {
    case.run(twin)?;
    let mut t = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        case.run(twin)?;
        t.push(start.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    Ok(t.get(RUNS / 2).copied().unwrap_or(f64::NAN))
}

fn main() -> ExitCode {
    let twins = twins();
    let names: Vec<&str> = twins.iter().skip(1).map(|t| t.name).collect();
    println!("SIMD twins on this CPU: {names:?}");
    for mut case in cases() {
        let mut line = format!("{:<32} {:>9.0} {:<8}", case.name, case.work, case.what);
        let mut scalar = None;
        let runnable: Vec<Twin> = twins.iter().filter(|t| case.has(t)).copied().collect();
        for twin in &runnable {
            let us = match median_us(&mut case, twin) {
                Ok(us) => us,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let rate = case.work / us / 1e3;
            line += &format!("  {} {us:>8.1} us {rate:>6.2} G/s", twin.name);
            match scalar {
                None => scalar = Some(us),
                Some(s) => line += &format!(" x{:.1}", s / us),
            }
        }
        println!("{line}");
    }
    ExitCode::SUCCESS
}
