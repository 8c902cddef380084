//! End-to-end runs of the `edge-run` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test. Cross-tested (aarch64 under qemu-aarch64, see
/// tests/run-all.sh), a child process needs the emulator too: the command in
/// `EDGE_RUN_TEST_RUNNER`, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`.
fn bin() -> Command {
    let exe = env!("CARGO_BIN_EXE_edge-run");
    match std::env::var("EDGE_RUN_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = Command::new(words.next().unwrap_or_default());
            c.args(words).arg(exe);
            c
        }
        _ => Command::new(exe),
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> PathBuf {
    repo().join("tests/onnx-qdq/float/cnn_bn.onnx")
}

#[cfg(feature = "tract")]
#[test]
fn json_schema_and_native_tract_agreement() {
    let m = model();
    let m = m.to_str().unwrap();
    let native = run_json(&[
        m,
        "sim:mnist",
        "--frames",
        "40",
        "--json",
        "--backend",
        "native",
    ])
    .0;
    let tract = run_json(&[
        m,
        "sim:mnist",
        "--frames",
        "40",
        "--json",
        "--backend",
        "tract",
    ])
    .0;
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
    future[4] = 2; // major version 2, the file's minor version kept
    let minor = u16::from_le_bytes([good[6], good[7]]);
    let version = format!("version 2.{minor}");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("garbage", b"EDGE garbage".to_vec(), "truncated"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("flipped", flipped, "checksum"),
        ("future", future, &version),
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("camera /dev/video0"), "{err}");
    assert!(err.contains("video devices found: "), "{err}");
    let out = bin()
        .args([
            model().to_str().unwrap(),
            "camera:/dev/edge-run-no-such-camera",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/edge-run-no-such-camera"), "{err}");
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
    // `edge-tools inspect models/lenet5.edge`: 13 operators, 416,520 MACs.
    assert_eq!((r.ops.len(), r.model.macs), (13, 416_520));
    assert!(r.ops.iter().all(|op| op.max.is_some()), "every op timed");
    std::fs::remove_dir_all(&dir).unwrap();

    // tract has no per-operator hook: refused, before any frame.
    if !cfg!(feature = "tract") {
        return;
    }
    let o = bin()
        .args([model().to_str().unwrap(), "--backend", "tract", "--report"])
        .arg(dir.join("t.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--report needs the native backend"));
}

fn detector() -> PathBuf {
    repo().join("models/detector.edge")
}

fn run_json(args: &[&str]) -> (Vec<serde_json::Value>, String) {
    json_of(bin().args(args))
}

/// Run `cmd`, which must succeed; its JSON lines and its stderr.
fn json_of(cmd: &mut Command) -> (Vec<serde_json::Value>, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, err)
}

/// The shipped detector on the simulated scenes: per frame, the boxes the
/// library computes (the runtime's decode and NMS through `DetectorSpec`) on
/// the same scenes, and at the end their COCO mAP, both recomputed here.
#[test]
fn detector_on_sim_scenes_matches_the_library_and_its_map() {
    use edgerun_compiler::detector::{DetectorSpec, PostConfig};
    use edgerun_data::map::{GroundTruth, Prediction, evaluate};
    const N: usize = 40;
    let (lines, _) = run_json(&[
        detector().to_str().unwrap(),
        "sim:scenes",
        "--frames",
        &N.to_string(),
        "--json",
    ]);
    assert_eq!(lines.len(), N + 1);
    // The reference: the same scenes, model and post-processing, by hand.
    let bytes = std::fs::read(detector()).unwrap();
    let mut host = edgerun_compiler::host::HostModel::new(&bytes).unwrap();
    let spec = DetectorSpec::from_edge(&host.model().unwrap())
        .unwrap()
        .unwrap();
    let anchors = spec.anchors().unwrap();
    let digits = edge_run::source::test_digits().unwrap();
    let scenes = edgerun_data::scenes::scenes(
        &digits,
        &Default::default(),
        edgerun_data::scenes::TEST_SEED,
        N,
    )
    .unwrap();
    let (mut gts, mut preds) = (Vec::new(), Vec::new());
    for (i, (scene, line)) in scenes.iter().zip(&lines).enumerate() {
        let x: Vec<f32> = scene.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let out = host
            .run(&[edgerun_compiler::Tensor::f32(vec![1, 1, 96, 96], x)])
            .unwrap();
        let dets = spec
            .postprocess(
                &anchors,
                &out[0].to_f32(),
                &out[1].to_f32(),
                &PostConfig::EVAL,
            )
            .unwrap();
        let shown: Vec<_> = dets.iter().filter(|d| d.score >= 0.5).collect();
        let got = line["detections"].as_array().unwrap();
        assert_eq!(got.len(), shown.len(), "frame {i}: {line}");
        for (g, d) in got.iter().zip(&shown) {
            assert_eq!(g["class"], d.class);
            assert_eq!(g["name"], d.class.to_string());
            assert!((g["score"].as_f64().unwrap() - f64::from(d.score)).abs() < 1e-5);
            let b = g["box"].as_array().unwrap();
            for (v, w) in b.iter().zip([d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1]) {
                assert!((v.as_f64().unwrap() - f64::from(w)).abs() < 0.01, "{line}");
            }
        }
        assert_eq!(line["truth"].as_array().unwrap().len(), scene.boxes.len());
        gts.extend(scene.boxes.iter().map(|b| GroundTruth {
            image: i as u64,
            class: b.class,
            bbox: [b.x0, b.y0, b.x1, b.y1],
        }));
        preds.extend(dets.iter().map(|d| Prediction {
            image: i as u64,
            class: d.class as u8,
            score: d.score,
            bbox: [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1],
        }));
    }
    let want = evaluate(&gts, &preds);
    let s = &lines[N];
    assert_eq!(s["summary"], true);
    assert_eq!(s["map_frames"], N);
    let map = s["map_50"].as_f64().unwrap();
    assert!((map - want.map_50).abs() < 1e-6, "{map} vs {}", want.map_50);
    // The shipped detector's measured level (0.903 on 1,000 test scenes).
    assert!(map > 0.8, "mAP@0.5 {map}");
    assert!(s["fps"].as_f64().unwrap() > 0.0);
}

/// The float detector on tract and on the native runtime: the same confident
/// boxes.
#[cfg(feature = "tract")]
#[test]
fn detector_backends_agree() {
    let m = repo().join("models/detector.onnx");
    let run = |backend: &str| {
        run_json(&[
            m.to_str().unwrap(),
            "sim:scenes",
            "--frames",
            "8",
            "--json",
            "--threshold",
            "0.7",
            "--backend",
            backend,
        ])
        .0
    };
    let (native, tract) = (run("native"), run("tract"));
    assert_eq!(tract[8]["backend"], "tract");
    let mut compared = 0;
    for (a, b) in native.iter().zip(&tract).take(8) {
        let (da, db) = (
            a["detections"].as_array().unwrap(),
            b["detections"].as_array().unwrap(),
        );
        for d in da.iter().filter(|d| d["score"].as_f64().unwrap() > 0.75) {
            let close = db.iter().any(|e| {
                e["class"] == d["class"]
                    && (0..4).all(|k| {
                        (e["box"][k].as_f64().unwrap() - d["box"][k].as_f64().unwrap()).abs() < 0.05
                    })
            });
            assert!(close, "{d} not in {b}");
            compared += 1;
        }
    }
    assert!(compared > 10, "{compared}");
}

/// `--save`: one PNG per frame, with the classifier's top-1 label in a tab of
/// its class colour at the top-left, or the detector's boxes outlined.
#[test]
fn save_writes_annotated_frames() {
    use edge_run::annotate::COLORS;
    let dir = std::env::temp_dir().join(format!("edge-run-save-{}", std::process::id()));
    let lenet = repo().join("models/lenet5.edge");
    let (lines, _) = run_json(&[
        lenet.to_str().unwrap(),
        "sim:mnist",
        "--frames",
        "3",
        "--json",
        "--save",
        dir.to_str().unwrap(),
    ]);
    for (i, line) in lines.iter().take(3).enumerate() {
        let class = line["top"][0]["class"].as_u64().unwrap() as usize;
        let name = format!("{i:06}_sim_mnist_{i}.png");
        let img = image::open(dir.join(&name)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (28, 28));
        assert_eq!(
            img.get_pixel(0, 0).0,
            COLORS[class % COLORS.len()],
            "{name}"
        );
    }
    let det_dir = dir.join("det");
    let (lines, _) = run_json(&[
        detector().to_str().unwrap(),
        "sim:scenes",
        "--frames",
        "2",
        "--json",
        "--save",
        det_dir.to_str().unwrap(),
    ]);
    let mut outlined = 0;
    for (i, line) in lines.iter().take(2).enumerate() {
        let img = image::open(det_dir.join(format!("{i:06}_sim_scenes_{i}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (96, 96));
        for d in line["detections"].as_array().unwrap() {
            let class = d["class"].as_u64().unwrap() as usize;
            let b: Vec<f64> = (0..4).map(|k| d["box"][k].as_f64().unwrap()).collect();
            // The bottom-left corner of the outline (not under a label tab).
            if b[0] >= 0.0 && b[0] < 95.5 && b[3] >= 1.0 && b[3] <= 96.0 {
                let (x, y) = (b[0].round() as u32, b[3].round() as u32 - 1);
                let px = img.get_pixel(x, y).0;
                // Another box may be drawn over it: some class colour.
                assert!(COLORS.contains(&px), "{px:?} at {x},{y} for class {class}");
                outlined += 1;
            }
        }
    }
    assert!(outlined > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--board`: the detector's 140 KB arena overruns a 128 KB Cortex-M4 (exit 4,
/// the overrun printed), fits a Cortex-M7, where the no_std path gives the
/// native run's detections; LeNet-5 fits the M4 with the same classes.
#[test]
fn board_budgets_and_the_no_std_path() {
    let det = detector();
    let out = bin()
        .args([det.to_str().unwrap(), "sim:scenes", "--board", "cortex-m4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("RAM:") && text.contains("OVERRUN by"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit cortex-m4"));
    let args = |board: Option<&str>| {
        let mut a = vec![det.to_str().unwrap().to_string(), "sim:scenes".into()];
        a.extend(["--frames", "4", "--json"].map(String::from));
        if let Some(b) = board {
            // The firmware in QEMU has its own test.
            a.extend(["--board", b, "--qemu", "off"].map(String::from));
        }
        a
    };
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(|s| s.as_str()).collect()
    }
    let (native, _) = run_json(&strs(&args(None)));
    let (m7, err) = run_json(&strs(&args(Some("cortex-m7"))));
    assert!(err.contains("fits"), "{err}");
    assert_eq!(m7[4]["backend"], "no_std board path");
    for (a, b) in native.iter().zip(&m7).take(4) {
        assert_eq!(a["detections"], b["detections"]);
    }
    let lenet = repo().join("models/lenet5.edge");
    let l = lenet.to_str().unwrap();
    let (native, _) = run_json(&[l, "sim:mnist", "--frames", "20", "--json"]);
    let (m4, _) = run_json(&[
        l,
        "sim:mnist",
        "--frames",
        "20",
        "--json",
        "--board",
        "cortex-m4",
        "--qemu",
        "off",
    ]);
    for (a, b) in native.iter().zip(&m4).take(20) {
        assert_eq!(a["top"][0]["class"], b["top"][0]["class"]);
    }
    if cfg!(target_arch = "aarch64") {
        // The Pi is this machine: it runs natively, with the same answers.
        let (pi, err) = run_json(&[
            l,
            "sim:mnist",
            "--frames",
            "20",
            "--json",
            "--board",
            "rpi4",
        ]);
        assert!(err.contains("this machine is aarch64"), "{err}");
        for (a, b) in native.iter().zip(&pi).take(20) {
            assert_eq!(a["top"], b["top"]);
        }
        return;
    }
    // A Pi board with no aarch64 build at hand: how to run it, exit 1.
    let out = bin()
        .args([l, "sim:mnist", "--board", "rpi4"])
        .env("CARGO_TARGET_DIR", "/nonexistent-edge-run-target")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("QEMU_CPU=cortex-a72 qemu-aarch64"), "{err}");
}

/// `--board rpi4` on x86 runs the aarch64 build (tests/run-all.sh builds it
/// first and sets `EDGE_RUN_REQUIRE_AARCH64`) under qemu-aarch64 as a
/// Cortex-A72: the same top classes as the native x86 run.
#[test]
fn pi_board_runs_the_aarch64_build_under_qemu() {
    if cfg!(target_arch = "aarch64") {
        return;
    }
    let built = repo().join("target/aarch64-unknown-linux-gnu/debug/edge-run");
    if !built.exists() {
        assert!(
            std::env::var_os("EDGE_RUN_REQUIRE_AARCH64").is_none(),
            "{} is missing",
            built.display()
        );
        eprintln!("skipped: no aarch64 build of edge-run");
        return;
    }
    let lenet = repo().join("models/lenet5.edge");
    let l = lenet.to_str().unwrap();
    let args = [l, "sim:mnist", "--frames", "10", "--json"];
    let (native, _) = run_json(&args);
    let (pi, err) = json_of(
        bin()
            .args(args)
            .args(["--board", "rpi4"])
            .env("CARGO_TARGET_DIR", repo().join("target")),
    );
    assert!(err.contains("under qemu-aarch64 as a Cortex-A72"), "{err}");
    assert_eq!(pi.len(), native.len());
    for (a, b) in native.iter().zip(&pi).take(10) {
        assert_eq!(a["top"], b["top"]);
    }
}

/// `--threads N` infers N frames at once on N copies of the model: the same
/// results in the same order as one thread, natively, on a board's no_std
/// path and for a detector.
#[test]
fn threads_give_the_same_results_in_frame_order() {
    let without_latency = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("latency_ms");
            for k in ["fps", "p50_ms", "p95_ms"] {
                o.remove(k);
            }
        }
        v
    };
    let lenet = repo().join("models/lenet5.edge");
    let det = detector();
    let cases: [Vec<&str>; 2] = [
        vec![
            lenet.to_str().unwrap(),
            "sim:mnist",
            "--frames",
            "23",
            "--json",
        ],
        vec![
            det.to_str().unwrap(),
            "sim:scenes",
            "--frames",
            "5",
            "--json",
            "--board",
            "cortex-m7",
            "--qemu",
            "off",
        ],
    ];
    for args in cases {
        let (one, _) = run_json(&args);
        let mut more = args.clone();
        more.extend(["--threads", "3"]);
        let (three, _) = run_json(&more);
        assert_eq!(one.len(), three.len());
        for (a, b) in one.into_iter().zip(three) {
            assert_eq!(without_latency(a), without_latency(b));
        }
    }
    let out = bin()
        .args([
            lenet.to_str().unwrap(),
            "--threads",
            "2",
            "--report",
            "/tmp/x.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

/// `--board cortex-m4` bakes the model and the frames into the real firmware
/// and runs it in qemu-system-arm: every output bit-exact with the host
/// runtime (the firmware checks), the same correct count as the no_std path
/// on the same digits, and instruction counts whose operators add up to the
/// inference. Skipped when QEMU, defmt-print or the thumbv7em target are
/// missing, unless EDGE_RUN_REQUIRE_QEMU=1 (the test command sets it after
/// firmware/run-qemu.sh installed them).
#[test]
fn mcu_board_runs_the_real_firmware_in_qemu() {
    let required = std::env::var_os("EDGE_RUN_REQUIRE_QEMU").is_some();
    let found = edge_run::qemu::Firmware::locate();
    if let (Err(missing), false) = (&found, required) {
        eprintln!("skipped: the firmware in QEMU needs {missing:?}");
        return;
    }
    if cfg!(target_arch = "aarch64") && !required {
        return; // the x86 run covers it
    }
    let lenet = repo().join("models/lenet5.edge");
    let l = lenet.to_str().unwrap();
    const N: usize = 12;
    let n = N.to_string();
    let (lines, err) = run_json(&[
        l,
        "sim:mnist",
        "--frames",
        &n,
        "--json",
        "--board",
        "cortex-m4",
        "--qemu",
        "on",
    ]);
    let fw = lines.last().unwrap();
    assert_eq!(fw["firmware"], "qemu-mps2-an386", "{err}");
    assert_eq!(fw["frames"], N);
    assert_eq!(fw["bit_exact"], true);
    assert_eq!(fw["labelled"], N);
    let host_correct = lines[..N]
        .iter()
        .filter(|f| f["top"][0]["class"] == f["label"])
        .count();
    assert_eq!(fw["correct"], host_correct);
    // MACs as the runtime counts them from the file.
    let bytes = std::fs::read(&lenet).unwrap();
    let aligned = edgerun::format::write::AlignedBytes::new(&bytes);
    let model = edgerun::Model::parse(&aligned).unwrap();
    let macs: u64 = model.ops().map(|r| r.unwrap().op.macs()).sum();
    assert_eq!(fw["macs"], macs);
    let total = fw["instructions_per_inference"].as_f64().unwrap();
    let ops: f64 = fw["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["instructions"].as_f64().unwrap())
        .sum();
    assert_eq!(fw["ops"].as_array().unwrap().len(), model.num_ops());
    // The operators are the inference, less the loop around them (about 42k
    // instructions for LeNet-5's 13 records: decoding each, reading the
    // timer around it), 2% of its 2.07 M.
    assert!(ops <= total && ops > 0.97 * total, "{ops} vs {total}");
    assert!(fw["min"].as_f64().unwrap() <= total && total <= fw["max"].as_f64().unwrap());

    // Asked for, but the firmware is not there: exit 5, saying what is missing.
    let out = bin()
        .args([
            l,
            "sim:mnist",
            "--frames",
            "1",
            "--board",
            "cortex-m4",
            "--qemu",
            "on",
        ])
        .env("EDGERUN_FIRMWARE_DIR", "/nonexistent-firmware")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the firmware sources"));
}

/// A full-size classic graph (SqueezeNet 1.1 at 3x224x224, from
/// tests/onnx-light): an MCU board refuses it with its flash and RAM budget
/// and exit code 4; a Pi board runs it.
#[test]
fn classic_graphs_overrun_mcu_boards_and_run_on_a_pi() {
    let model = repo().join("tests/onnx-light/squeezenet/model.onnx");
    let m = model.to_str().unwrap();
    for board in ["cortex-m4", "cortex-m7"] {
        let out = bin()
            .args([m, "sim:mnist", "--frames", "1", "--board", board])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(4), "{text}");
        let overruns: Vec<&str> = text.lines().filter(|l| l.contains("OVERRUN by")).collect();
        assert_eq!(overruns.len(), 2, "flash and RAM both overrun: {text}");
        assert!(overruns[0].contains("flash:") && overruns[1].contains("RAM:"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("does not fit {board}")), "{err}");
    }
    let built = repo().join("target/aarch64-unknown-linux-gnu/debug/edge-run");
    if !cfg!(target_arch = "aarch64") && !built.exists() {
        return; // pi_board_runs_the_aarch64_build_under_qemu says why
    }
    let (lines, _) = json_of(
        bin()
            .args([m, "sim:mnist", "--frames", "1", "--json", "--board", "rpi4"])
            .env("CARGO_TARGET_DIR", repo().join("target")),
    );
    assert_eq!(lines.last().unwrap()["frames"], 1, "{lines:?}");
    // 1000 ImageNet classes.
    assert!(lines[0]["top"][0]["class"].as_u64().unwrap() < 1000);
}
