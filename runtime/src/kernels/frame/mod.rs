//! The shared test frame of the int8 kernels (as tract's `linalg/src/frame`).
//!
//! Each operator folder lists its kernel twins (`conv::TWINS`, `fc::TWINS`): the
//! scalar reference and every SIMD variant, each with a probe that says whether
//! this build and this CPU can run it. The property tests here run every twin on
//! the same random cases and require the result of the independent reference,
//! byte for byte. Declaring a twin in the list is what brings its tests; a twin
//! the CPU cannot run is skipped, and the skip is printed (`cargo test -- --nocapture`
//! shows it) and counted, never passed silently.

#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
pub(crate) mod conv;
#[allow(clippy::unwrap_used)]
pub(crate) mod fc;

extern crate std;

use std::sync::Mutex;

/// Random cases per property test: 64, or `PROPTEST_CASES` (e.g. 5000 for a
/// longer hunt after changing a kernel).
pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::proptest_cases(64))
}

/// A kernel twin: a name, and the kernel when this build and CPU can run it
/// (`Err(reason)` otherwise).
pub struct Twin<F> {
    pub name: &'static str,
    pub probe: fn() -> Result<F, &'static str>,
}

/// Twins already reported as skipped (each is reported once per test binary).
static SKIPPED: Mutex<std::vec::Vec<(&'static str, &'static str)>> =
    Mutex::new(std::vec::Vec::new());

/// The runnable twins of `twins`; prints `SKIP <op>/<twin>: <reason>` once for each
/// twin that cannot run here.
pub(crate) fn runnable<F: Copy>(
    op: &'static str,
    twins: &[Twin<F>],
) -> std::vec::Vec<(&'static str, F)> {
    let mut run = std::vec::Vec::new();
    for t in twins {
        match (t.probe)() {
            Ok(f) => run.push((t.name, f)),
            Err(why) => {
                let mut s = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
                if !s.contains(&(op, t.name)) {
                    s.push((op, t.name));
                    std::eprintln!("SKIP {op}/{}: {why}", t.name);
                }
            }
        }
    }
    run
}
