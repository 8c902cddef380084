//! The ONNX backend node tests (vendored from PyPI onnx 1.23.2's generators,
//! see `tests/onnx-node/README.md`) through compile + runtime: every case must
//! pass, except the ones listed in `expected_unsupported.txt`, which must be
//! reported unsupported with the listed reason (so a newly supported case, or a
//! case that starts failing, is noticed).

use edgerun_compiler::conformance::{Outcome, case_dirs, run_case};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn onnx_node_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx-node");
    let expected: BTreeMap<String, String> =
        std::fs::read_to_string(root.join("expected_unsupported.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (name, reason) = l.split_once(": ").unwrap();
                (name.to_string(), reason.to_string())
            })
            .collect();
    let dirs = case_dirs(&root.join("cases")).unwrap();
    assert!(dirs.len() >= 200, "only {} cases found", dirs.len());
    let mut problems = Vec::new();
    let mut passed = 0;
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        match (run_case(d), expected.get(&name)) {
            (Outcome::Pass { .. }, None) => passed += 1,
            (Outcome::Pass { .. }, Some(_)) => problems.push(format!(
                "{name}: now passes; remove it from expected_unsupported.txt"
            )),
            (Outcome::Fail { reason, .. }, _) => problems.push(format!("{name}: FAILED: {reason}")),
            (Outcome::Unsupported { reason }, Some(want)) if &reason == want => {}
            (Outcome::Unsupported { reason }, _) => {
                problems.push(format!("{name}: unsupported: {reason}"))
            }
        }
    }
    println!(
        "{passed} conformance cases passed, {} documented unsupported",
        expected.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
