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

/// tract (an independent engine) runs the shipped int8 QDQ ONNX to the same
/// count as edgerun's runtime; tract refuses `.edge` files with a message.
#[test]
fn eval_backends_agree_on_the_shipped_int8_onnx() {
    let mut counts = vec![];
    for backend in ["native", "tract"] {
        let o = edge_tools(&[
            "eval",
            "models/lenet5.int8.onnx",
            "--data",
            "vendored",
            "--json",
            "--backend",
            backend,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = stdout(&o);
        let name = if backend == "native" {
            "edgerun"
        } else {
            "tract"
        };
        assert!(out.contains(&format!("\"backend\":\"{name}\"")), "{out}");
        let correct = out
            .split("\"correct\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no count in {out}"));
        counts.push(correct);
    }
    assert_eq!(counts[0], counts[1], "native vs tract");
    assert!(counts[0] >= 495, "{counts:?}");
    let o = edge_tools(&["eval", "models/lenet5.edge", "--backend", "tract"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not .edge files"));
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
        &["train", "googlenet", "--epochs", "1"],
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

/// `bench --report` on the shipped LeNet-5, then `report` with the QEMU
/// Cortex-M4 run of the same model (tools/report/tests/fixtures/qemu-run.log,
/// a real run-qemu.sh log): one model, two runs side by side.
#[test]
fn bench_report_then_report_compares_host_and_firmware() {
    let dir = std::env::temp_dir().join(format!("edge-tools-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let host = dir.join("host-lenet5.json");
    let o = edge_tools(&[
        "bench",
        "models/lenet5.edge",
        "--runs",
        "3",
        "--report",
        host.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = edgerun_report::Report::read(&host).unwrap();
    // `edge-tools inspect models/lenet5.edge`: 13 operators, 416,520 MACs.
    assert_eq!((r.ops.len(), r.model.macs), (13, 416_520));
    assert_eq!(r.unit, edgerun_report::Unit::Ns);
    assert_eq!(r.runs, 3);
    // The hash of the file packed for the DSP kernel (what the firmware bakes).
    let file = std::fs::read(root().join("models/lenet5.edge")).unwrap();
    let lean = edgerun::format::write::for_cortex_m(&file).unwrap();
    assert_eq!(r.model.sha256, edgerun_report::sha256_hex(&lean));

    let log =
        std::fs::read_to_string(root().join("tools/report/tests/fixtures/qemu-run.log")).unwrap();
    let run = edgerun_report::firmware::parse_log(&log).unwrap();
    let fw = edgerun_report::firmware::reports(&run, &root().join("models"), "test").unwrap();
    let m4 = dir.join("m4-lenet5.json");
    fw[0].write(&m4).unwrap();

    let md = dir.join("r.md");
    let html = dir.join("r.html");
    for out in [&md, &html] {
        let o = edge_tools(&[
            "report",
            host.to_str().unwrap(),
            m4.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout(&o).contains("(2 reports)"), "{}", stdout(&o));
    }
    let md = std::fs::read_to_string(&md).unwrap();
    // Same hash: one section, both runs' columns; the conv's instructions from the log.
    assert_eq!(md.matches("\n## lenet5 (sha256").count(), 1, "{md}");
    assert!(
        md.contains("| [1] ns | [1] % | [1] per MAC | [2] instructions |"),
        "{md}"
    );
    assert!(
        md.contains("| 1 | node_1 | conv_i8 | [1, 6, 28, 28] | 117,600 |"),
        "{md}"
    );
    assert!(md.contains("| 926,524 | 46.9 | 7.88 |"), "{md}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));

    // Foreign JSON and a wrong output: exit code 2 and a message.
    let foreign = dir.join("eval.json");
    std::fs::write(&foreign, r#"{"model":"x","images":500,"correct":499}"#).unwrap();
    let cases: [(&[&str], &str); 2] = [
        (
            &["report", foreign.to_str().unwrap(), "-o", "x.md"],
            "not an edgerun benchmark report",
        ),
        (
            &["report", host.to_str().unwrap(), "-o", "x.pdf"],
            "must end in .md or .html",
        ),
    ];
    for (args, want) in cases {
        let o = edge_tools(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bench --threads 2`: the same model on two threads, said in the text and
/// the JSON; with `--report` (per-operator times, one thread) it refuses.
#[test]
fn bench_threads_are_reported_and_refused_with_report() {
    let o = edge_tools(&[
        "bench",
        "models/lenet5.edge",
        "--runs",
        "3",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("over 3 runs on 2 threads"),
        "{}",
        stdout(&o)
    );
    let o = edge_tools(&[
        "bench",
        "models/lenet5.edge",
        "--runs",
        "3",
        "--threads",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("\"threads\":2,"), "{}", stdout(&o));
    let o = edge_tools(&[
        "bench",
        "models/lenet5.edge",
        "--threads",
        "2",
        "--report",
        "unused.json",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("drop --threads"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A reader that stops early (`edge-tools inspect m.edge | head -1`) ends the
/// process quietly, by SIGPIPE as it ends other Unix tools, not with a panic
/// in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-tools"))
        .current_dir(root())
        .args(["inspect", "models/detector.edge"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The read end closed before the process writes its 40-odd lines.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // SIGPIPE is 13 on Linux and macOS.
    assert_eq!(o.status.signal(), Some(13), "{:?}: {err}", o.status);
}
