//! The `edge-tools` binary end to end: conformance over the vendored ONNX node
//! tests, evaluation of the shipped int8 LeNet-5 on the vendored digits, and
//! clear failures on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn edge_tools(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-tools"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("edge-tools runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn conformance_command_reports_no_failure() {
    let o = edge_tools(&["conformance", "tests/onnx-node/cases", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let summary = out.lines().last().unwrap_or_default();
    assert!(summary.contains("\"failed\":0"), "{summary}");
    let passed: usize = summary
        .split("\"passed\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 150, "{summary}");
}

#[test]
fn eval_of_the_shipped_lenet_matches_its_labels() {
    let o = edge_tools(&["eval", "models/lenet5.edge", "--data", "vendored", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("\"images\":500"), "{out}");
    // 499 of the 500 vendored digits (models/README.md, firmware/README.md).
    assert!(out.contains("\"correct\":499"), "{out}");
}

#[test]
fn bad_inputs_fail_with_a_message_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("edge-tools-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.edge");
    std::fs::write(&junk, b"EDGE but not really a model").unwrap();
    let cases: [&[&str]; 4] = [
        &["inspect", junk.to_str().unwrap()],
        &["compile", "does/not/exist.onnx"],
        &["train", "alexnet", "--epochs", "1"],
        &["finetune", "models/lenet5.onnx", "--task", "inverted"],
    ];
    for args in cases {
        let o = edge_tools(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `data scenes` writes the generator's scenes: COCO boxes equal to the
/// library's, PNG pixels equal to its pixels, the same bytes on a second run.
#[test]
fn data_scenes_writes_coco_annotations_and_pngs() {
    use edgerun_data::coco::CocoFile;
    use edgerun_data::scenes::{SceneConfig, render_scene};
    let dir = std::env::temp_dir().join(format!("edge-tools-scenes-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let args = [
        "data", "scenes", "--split", "vendored", "--count", "6", "--seed", "3", "-o", out, "--png",
    ];
    let o = edge_tools(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("wrote 6 scenes"), "{}", stdout(&o));
    let ann = dir.join("annotations.json");
    let coco = CocoFile::read(&ann).unwrap();
    assert_eq!(coco.images.len(), 6);
    let digits = edgerun_data::mnist::vendored_subset().unwrap();
    for i in 0..6u64 {
        let want = render_scene(&digits, &SceneConfig::default(), 3, i).unwrap();
        assert_eq!(coco.boxes(i), want.boxes);
        let png = image::open(dir.join(format!("images/{i:06}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (96, 96));
        assert_eq!(png.into_raw(), want.pixels);
    }
    let first = std::fs::read(&ann).unwrap();
    assert!(edge_tools(&args).status.success());
    assert_eq!(std::fs::read(&ann).unwrap(), first);

    // Bad options fail with a message.
    for bad in [
        &["data", "scenes", "--split", "val", "-o", out][..],
        &[
            "data",
            "scenes",
            "--split",
            "vendored",
            "--max-digit-px",
            "500",
            "-o",
            out,
        ],
    ] {
        let o = edge_tools(bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.starts_with("error: "), "{bad:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
