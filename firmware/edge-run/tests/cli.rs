//! End-to-end runs of the `edge-run` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edge-run"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> PathBuf {
    repo().join("tests/onnx-qdq/float/cnn_bn.onnx")
}

fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_schema_and_native_tract_agreement() {
    let m = model();
    let m = m.to_str().unwrap();
    let native = json_lines(&[
        m,
        "sim:mnist",
        "--frames",
        "40",
        "--json",
        "--backend",
        "native",
    ]);
    let tract = json_lines(&[
        m,
        "sim:mnist",
        "--frames",
        "40",
        "--json",
        "--backend",
        "tract",
    ]);
    assert_eq!(native.len(), 41);
    for (a, b) in native.iter().zip(&tract).take(40) {
        for key in ["frame", "source", "latency_ms", "top", "label"] {
            assert!(a.get(key).is_some(), "missing {key} in {a}");
        }
        let (ta, tb) = (&a["top"][0], &b["top"][0]);
        assert_eq!(ta["class"], tb["class"], "{a} vs {b}");
        assert!((ta["score"].as_f64().unwrap() - tb["score"].as_f64().unwrap()).abs() < 1e-4);
        assert_eq!(a["label"], b["label"]);
    }
    let s = &native[40];
    assert_eq!(s["summary"], true);
    assert_eq!(s["frames"], 40);
    assert_eq!(s["backend"], "native");
    assert!(s["accuracy"].as_f64().is_some());
}

#[test]
fn images_are_read_and_bad_ones_skipped() {
    let dir = std::env::temp_dir().join(format!("edge-run-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = edgerun_data_subset();
    image::GrayImage::from_raw(28, 28, s.clone())
        .unwrap()
        .save(dir.join("a_digit.png"))
        .unwrap();
    // A larger image is resized to the model input.
    image::imageops::resize(
        &image::GrayImage::from_raw(28, 28, s).unwrap(),
        96,
        80,
        image::imageops::FilterType::Triangle,
    )
    .save(dir.join("b_big.png"))
    .unwrap();
    std::fs::write(dir.join("c_broken.png"), b"not a png").unwrap();
    let out = bin()
        .args([model().to_str().unwrap(), dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "two frames and a summary");
    assert_eq!(lines[2]["errors"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("c_broken.png"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn edgerun_data_subset() -> Vec<u8> {
    // First vendored MNIST test digit (a 7), read through the IDX file directly.
    let raw =
        std::fs::read(repo().join("tools/data/vendor/t10k-images-first500-idx3-ubyte")).unwrap();
    raw[16..16 + 784].to_vec()
}

/// A model file that is garbage, truncated, bit-flipped or of a future format
/// version: exit code 2 and the runtime's typed error, never a panic.
#[test]
fn corrupt_model_exits_2_without_panic() {
    let good = std::fs::read(repo().join("models/lenet5.edge")).unwrap();
    let mut flipped = good.clone();
    flipped[5000] ^= 0x10;
    let mut future = good.clone();
    future[4] = 2;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("garbage", b"EDGE garbage".to_vec(), "truncated"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("flipped", flipped, "checksum"),
        ("future", future, "version 2.1"),
    ];
    for (name, bytes, message) in cases {
        let p =
            std::env::temp_dir().join(format!("edge-run-bad-{name}-{}.edge", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        let out = bin().args([p.to_str().unwrap(), "sim"]).output().unwrap();
        std::fs::remove_file(&p).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("error:") && !err.contains("panicked"),
            "{name}: {err}"
        );
        assert!(err.contains(message), "{name}: {err}");
    }
}

/// A 1x1 image is a uniform frame (it runs); an empty file and a PNG of zero
/// width are skipped frames with a message; the run itself succeeds.
#[test]
fn one_pixel_and_empty_images() {
    let dir = std::env::temp_dir().join(format!("edge-run-tiny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    image::GrayImage::from_raw(1, 1, vec![200])
        .unwrap()
        .save(dir.join("a_one.png"))
        .unwrap();
    std::fs::write(dir.join("b_empty.png"), b"").unwrap();
    // A PNG signature and an IHDR chunk that says 0 x 0.
    let mut zero = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    zero.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(dir.join("c_zero.png"), zero).unwrap();
    let out = bin()
        .args([model().to_str().unwrap(), dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one frame and a summary");
    assert!(lines[0]["source"].as_str().unwrap().ends_with("a_one.png"));
    assert_eq!(lines[1]["errors"], 2);
    assert!(
        err.contains("b_empty.png") && err.contains("c_zero.png"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_source_and_camera_are_clear_errors() {
    let out = bin()
        .args([model().to_str().unwrap(), "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    let out = bin()
        .args([model().to_str().unwrap(), "camera"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("camera"));
}

#[test]
fn report_times_every_operator_over_the_frames() {
    let dir = std::env::temp_dir().join(format!("edge-run-report-{}", std::process::id()));
    let out = dir.join("r.json");
    let lenet = repo().join("models/lenet5.edge");
    let o = bin()
        .args([lenet.to_str().unwrap(), "sim:mnist", "--frames", "5", "-q"])
        .arg("--report")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = edgerun_report::Report::read(&out).unwrap();
    assert_eq!(r.producer, "edge-run");
    assert_eq!(r.runs, 5);
    // `edge-tools inspect models/lenet5.edge`: 19 operators, 416,520 MACs.
    assert_eq!((r.ops.len(), r.model.macs), (19, 416_520));
    assert!(r.ops.iter().all(|op| op.max.is_some()), "every op timed");
    std::fs::remove_dir_all(&dir).unwrap();

    // tract has no per-operator hook: refused, before any frame.
    let o = bin()
        .args([model().to_str().unwrap(), "--backend", "tract", "--report"])
        .arg(dir.join("t.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--report needs the native backend"));
}
