//! The shared test frame of the int8 kernels (as tract's `linalg/src/frame`).
//!
//! Each operator folder lists its kernel twins (`conv::TWINS`, `fc::TWINS`): the
//! scalar reference and every SIMD variant, each with a probe that says whether
//! this build and this CPU can run it. The property tests here run every twin on
//! the same random cases and require the result of the independent reference,
//! byte for byte. Declaring a twin in the list is what brings its tests; a twin
//! the CPU cannot run is skipped, and the skip is printed (`cargo test -- --nocapture`
//! shows it) and counted, never passed silently.
//!
//! A test run can also demand which twins run: `EDGERUN_REQUIRE_TWINS=neon,sdot`
//! fails [`twin_expectations`] unless every listed twin exists for every op and
//! can run here; `EDGERUN_EXPECT_SKIP=sdot` fails it unless every listed twin
//! is skipped (e.g. SDOT on a Cortex-A72 in QEMU: the run-time check must say
//! no). `tests/run-all.sh` uses both for the aarch64 runs.

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

/// The probe of an AVX2 twin: `Ok(f)` when this CPU has AVX2.
#[cfg(target_arch = "x86_64")]
pub(crate) fn if_avx2<F>(f: F) -> Result<F, &'static str> {
    if crate::kernels::avx2::available() {
        Ok(f)
    } else {
        Err("this CPU has no AVX2")
    }
}

/// The probe of an `sdot` twin: `Ok(f)` when this CPU has SDOT.
#[cfg(edgerun_neon)]
pub(crate) fn if_sdot<F>(f: F) -> Result<F, &'static str> {
    match crate::kernels::neon::Sdot::detect() {
        Some(_) => Ok(f),
        None => Err("this CPU has no SDOT (dotprod)"),
    }
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

/// Comma-separated twin names in the environment variable `var` (none if unset).
fn listed(var: &str) -> std::vec::Vec<std::string::String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(std::string::String::from)
        .collect()
}

/// For every op: each twin's name and `Err(reason)` when it cannot run here.
fn probes() -> std::vec::Vec<(&'static str, &'static str, Result<(), &'static str>)> {
    let mut all = std::vec::Vec::new();
    for t in crate::kernels::conv::TWINS {
        all.push(("conv", t.name, (t.probe)().map(|_| ())));
    }
    for t in crate::kernels::fc::TWINS {
        all.push(("fc", t.name, (t.probe)().map(|_| ())));
    }
    all
}

/// The twins named in `EDGERUN_REQUIRE_TWINS` run here, those in
/// `EDGERUN_EXPECT_SKIP` are skipped, for every op (see the module docs).
#[test]
fn twin_expectations() {
    let all = probes();
    for (var, want_run) in [
        ("EDGERUN_REQUIRE_TWINS", true),
        ("EDGERUN_EXPECT_SKIP", false),
    ] {
        for name in listed(var) {
            for op in ["conv", "fc"] {
                let Some((_, _, probe)) = all.iter().find(|t| t.0 == op && t.1 == name) else {
                    panic!("{var}: {op} has no twin named {name:?}");
                };
                match (want_run, probe) {
                    (true, Err(why)) => panic!("{var}: {op}/{name} is skipped here: {why}"),
                    (false, Ok(())) => panic!("{var}: {op}/{name} runs here"),
                    (true, Ok(())) => std::eprintln!("RUN {op}/{name} (required)"),
                    (false, Err(why)) => std::eprintln!("SKIP {op}/{name}: {why} (expected)"),
                }
            }
        }
    }
}
