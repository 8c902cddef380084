//! The report format (round trip, rejection of malformed and foreign JSON),
//! the firmware log converter on a real QEMU log, the host producer on the
//! shipped LeNet-5, and the rendering of hand-written fixtures.

use edgerun_report::render::{self, Format, PLOT_WIDTH, TEXT_BAR};
use edgerun_report::{Report, ReportError, Unit, firmware, host};
use std::path::{Path, PathBuf};

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
fn fixture(name: &str) -> String {
    std::fs::read_to_string(here().join("tests/fixtures").join(name)).unwrap()
}
fn models() -> PathBuf {
    here().join("../../models")
}

#[test]
fn a_report_survives_a_round_trip() {
    for name in ["m4-tiny.json", "host-tiny.json"] {
        let r = Report::from_json(&fixture(name)).unwrap();
        let again = Report::from_json(&r.to_json().unwrap()).unwrap();
        assert_eq!(r, again, "{name}");
    }
    let r = Report::from_json(&fixture("m4-tiny.json")).unwrap();
    assert_eq!(r.unit, Unit::Instructions);
    assert_eq!(r.ops[1].output_shape, vec![1, 4, 4, 2]);
    assert_eq!(r.memory.code_bytes, Some(40000));
    let dir = std::env::temp_dir().join(format!("edgerun-report-rt-{}", std::process::id()));
    let path = dir.join("sub/r.json");
    r.write(&path).unwrap();
    assert_eq!(Report::read(&path).unwrap(), r);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `fixture` with `from` replaced by `to` (exactly once).
fn edited(from: &str, to: &str) -> String {
    let text = fixture("m4-tiny.json");
    assert_eq!(text.matches(from).count(), 1, "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn malformed_and_foreign_reports_are_typed_errors() {
    type Case = (&'static str, String, fn(&ReportError) -> bool);
    let cases: Vec<Case> = vec![
        ("empty", String::new(), |e| {
            matches!(e, ReportError::Json(_))
        }),
        (
            "truncated",
            fixture("m4-tiny.json")[..300].to_string(),
            |e| matches!(e, ReportError::Json(_)),
        ),
        ("array", "[1, 2, 3]".into(), |e| {
            matches!(e, ReportError::NotAReport)
        }),
        (
            "foreign JSON",
            r#"{"model":"x","median_us":3.5}"#.into(),
            |e| matches!(e, ReportError::NotAReport),
        ),
        (
            "another schema",
            edited("\"edgerun.bench-report\"", "\"other\""),
            |e| matches!(e, ReportError::NotAReport),
        ),
        (
            "a newer version",
            edited("\"schema_version\": 1", "\"schema_version\": 2"),
            |e| matches!(e, ReportError::UnsupportedVersion { found: 2 }),
        ),
        (
            "a version that is not a number",
            edited("\"schema_version\": 1", "\"schema_version\": \"1\""),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        (
            "an unknown unit",
            edited("\"instructions\"", "\"ms\""),
            |e| matches!(e, ReportError::Schema(_)),
        ),
        ("a missing field", edited("\"runs\": 10,", ""), |e| {
            matches!(e, ReportError::Schema(_))
        }),
        (
            "a string cost",
            edited("\"cost\": 5000,", "\"cost\": \"5000\","),
            |e| matches!(e, ReportError::Schema(_)),
        ),
        (
            "a negative cost",
            edited("\"cost\": 5000,", "\"cost\": -5000,"),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        (
            "a cost above its max",
            edited("\"cost\": 1000,", "\"cost\": 1100,"),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        (
            "operators out of order",
            edited("\"index\": 2", "\"index\": 7"),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        (
            "MACs that do not add up",
            edited("\"macs\": 2000", "\"macs\": 2001"),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        (
            "a short hash",
            edited(
                "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"",
                "\"0011\"",
            ),
            |e| matches!(e, ReportError::Invalid(_)),
        ),
        ("no runs", edited("\"runs\": 10", "\"runs\": 0"), |e| {
            matches!(e, ReportError::Invalid(_))
        }),
        (
            "a huge number",
            edited("\"cost\": 5000,", "\"cost\": 1e999,"),
            |e| matches!(e, ReportError::Json(_)),
        ),
        ("deep nesting", "[".repeat(100_000), |e| {
            matches!(e, ReportError::Json(_))
        }),
    ];
    for (what, text, want) in cases {
        match Report::from_json(&text) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => assert!(want(&e), "{what}: {e:?}"),
        }
    }
}

/// The decoded defmt log of a real `bash firmware/run-qemu.sh` (LeNet-5 and
/// ResNet-8, 500 digits each), with the flash line the script appends.
#[test]
fn a_firmware_log_becomes_one_report_per_model() {
    let log = fixture("qemu-run.log");
    let run = firmware::parse_log(&log).unwrap();
    assert_eq!(run.target.board, "qemu-mps2-an386");
    assert_eq!(run.target.clock_hz, None);
    assert_eq!(run.code_bytes, Some(43448));
    let reports = firmware::reports(&run, &models(), "test").unwrap();
    assert_eq!(reports.len(), 2);
    let lenet = &reports[0];
    assert_eq!(lenet.model.name, "lenet5");
    assert_eq!(lenet.unit, Unit::Instructions);
    assert_eq!(lenet.runs, 500);
    // The numbers of the log's lines.
    assert_eq!(lenet.total.cost, 1_973_802.0);
    assert_eq!(
        (lenet.total.min, lenet.total.max),
        (Some(1_973_800.0), Some(1_973_840.0))
    );
    assert_eq!(lenet.ops.len(), 13);
    assert_eq!(lenet.ops[1].name, "node_1");
    assert_eq!(lenet.ops[1].cost, 926_524.0);
    assert_eq!(lenet.ops[1].macs, 117_600);
    assert_eq!(lenet.memory.arena_bytes, 9072);
    assert_eq!(lenet.memory.code_bytes, Some(43448));
    // From the .edge file (its tensor list, in the ONNX layout): 5x5 conv to
    // 6 channels, same padding on 28x28.
    assert_eq!(lenet.ops[1].output_shape, vec![1, 6, 28, 28]);
    // The firmware baked the shipped file packed for the DSP kernel.
    let file = std::fs::read(models().join("lenet5.edge")).unwrap();
    let lean = edgerun::format::write::for_cortex_m(&file).unwrap();
    assert_eq!(lenet.model.sha256, edgerun_report::sha256_hex(&lean));
    assert_eq!(lenet.memory.model_bytes, Some(lean.len() as u64));
    let resnet = &reports[1];
    assert_eq!(resnet.model.name, "resnet8");
    assert_eq!(resnet.total.cost, 14_008_865.0);
    assert_eq!(resnet.model.macs, 9_349_056);
}

#[test]
fn a_firmware_log_that_does_not_match_its_model_or_failed_is_refused() {
    let log = fixture("qemu-run.log");
    // Another model under the name lenet5: its size differs from the log's.
    let dir = std::env::temp_dir().join(format!("edgerun-report-fw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(models().join("resnet8.edge"), dir.join("lenet5.edge")).unwrap();
    std::fs::copy(models().join("resnet8.edge"), dir.join("resnet8.edge")).unwrap();
    let run = firmware::parse_log(&log).unwrap();
    let e = firmware::reports(&run, &dir, "test").unwrap_err();
    assert!(matches!(e, ReportError::Model(_)), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();

    let failed = log.replacen("status=PASS", "status=FAIL", 1);
    assert!(matches!(
        firmware::parse_log(&failed),
        Err(ReportError::Log { .. })
    ));
    let cut = &log[..log.find("EDGERUN result model=resnet8").unwrap()];
    assert!(matches!(
        firmware::parse_log(cut),
        Err(ReportError::Log { .. })
    ));
    let no_target: String = log
        .lines()
        .filter(|l| !l.contains("EDGERUN target"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(matches!(
        firmware::parse_log(&no_target),
        Err(ReportError::Log { .. })
    ));
    let garbled = log.replacen("instructions=926524", "instructions=92x524", 1);
    assert!(matches!(
        firmware::parse_log(&garbled),
        Err(ReportError::Log { .. })
    ));
}

#[test]
fn the_host_producer_times_every_operator_of_lenet5() {
    let bytes = std::fs::read(models().join("lenet5.edge")).unwrap();
    let b = host::bench(&bytes, "lenet5", 5, 1, Some("test")).unwrap();
    let r = b.report.unwrap();
    r.validate().unwrap();
    // 13 operators (`edge-tools inspect`); MACs by hand: 28*28*6*25 +
    // 10*10*16*150 + 400*120 + 120*84 + 84*10.
    assert_eq!(r.ops.len(), 13);
    assert_eq!(r.model.macs, 416_520);
    assert_eq!(b.macs, 416_520);
    assert_eq!(r.runs, 5);
    assert_eq!(r.memory.arena_bytes, 9072);
    // The identity of the model: its file packed for the DSP kernel.
    let lean = edgerun::format::write::for_cortex_m(&bytes).unwrap();
    assert_eq!(r.model.sha256, edgerun_report::sha256_hex(&lean));
    // The total is the median of the runs bench returned.
    assert_eq!(r.total.cost, b.us[2] * 1e3);
    // Every operator ran and was timed, within the runs' totals.
    for op in &r.ops {
        assert!(op.min <= Some(op.cost) && Some(op.cost) <= op.max, "{op:?}");
        assert!(op.max <= r.total.max, "{op:?}");
    }
    assert!(r.ops[1].cost > 0.0);
    assert_eq!(Report::from_json(&r.to_json().unwrap()).unwrap(), r);
    // Without a producer: timings only.
    assert!(
        host::bench(&bytes, "lenet5", 1, 1, None)
            .unwrap()
            .report
            .is_none()
    );
    assert!(host::bench(b"EDGE junk", "x", 1, 1, None).is_err());
}

#[test]
fn median_of_odd_and_even_counts() {
    let c = host::median_cost(&mut [5.0, 1.0, 3.0]);
    assert_eq!((c.cost, c.min, c.max), (3.0, Some(1.0), Some(5.0)));
    assert_eq!(host::median_cost(&mut [4.0, 1.0, 2.0, 3.0]).cost, 2.5);
    assert_eq!(host::median_cost(&mut []).cost, 0.0);
}

fn tiny() -> Vec<Report> {
    ["m4-tiny.json", "host-tiny.json"]
        .iter()
        .map(|n| Report::from_json(&fixture(n)).unwrap())
        .collect()
}

/// `(data-value, width)` of every bar of an SVG.
fn bars(svg: &str) -> Vec<(f64, f64)> {
    svg.split("<rect class=\"bar\"")
        .skip(1)
        .map(|r| {
            let attr = |name: &str| -> f64 {
                let start = r.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                let end = start + r[start..].find('"').unwrap();
                r[start..end].parse().unwrap()
            };
            (attr("data-value"), attr("width"))
        })
        .collect()
}

#[test]
fn chart_bars_are_proportional_to_their_numbers() {
    let r = tiny();
    // Instructions of the fixture's three ops: 2000, 5000, 1000.
    let svg = render::cost_chart(0, &r[0]).svg();
    let b = bars(&svg);
    assert_eq!(
        b.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![2000.0, 5000.0, 1000.0]
    );
    for ((_, w), want) in b.iter().zip([0.4, 1.0, 0.2]) {
        assert!((w - want * PLOT_WIDTH).abs() < 1e-3, "{w} vs {want}");
    }
    // Per MAC: conv 5000/1000 = 5, fc 1000/2000 = 0.5 (the quantize has no MACs).
    let b = bars(&render::per_mac_chart(0, &r[0]).svg());
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].0, b[1].0), (5.0, 0.5));
    assert!((b[1].1 - 0.1 * PLOT_WIDTH).abs() < 1e-3);
    // Shares: M4 20/50/10 %, host 50/600 = 8.33, 50, 25 %; one scale (50 %).
    let group = [(0, &r[0]), (1, &r[1])];
    let b = bars(&render::share_chart(&group).svg());
    let want = [20.0, 50.0 / 6.0, 50.0, 50.0, 10.0, 25.0];
    assert_eq!(b.len(), 6);
    for ((v, w), want) in b.iter().zip(want) {
        assert!((v - want).abs() < 1e-9, "{v} vs {want}");
        assert!((w - want / 50.0 * PLOT_WIDTH).abs() < 1e-3);
    }
    // Memory: arena 1024, code 40000, weights 3500; the host has no code bar.
    let b = bars(&render::memory_chart(&r).svg());
    let values: Vec<f64> = b.iter().map(|x| x.0).collect();
    assert_eq!(values, vec![1024.0, 40000.0, 3500.0, 1024.0, 3500.0]);
    assert!((b[2].1 - 3500.0 / 40000.0 * PLOT_WIDTH).abs() < 1e-3);
}

#[test]
fn markdown_has_the_tables_values_and_text_bars() {
    let md = render::render(&tiny(), Format::Markdown);
    // The per-layer row of conv1: MACs, then per report cost, % and per MAC.
    assert!(
        md.contains("| 1 | conv1 | conv_i8 | [1, 4, 4, 2] | 1,000 | 5,000 | 50.0 | 5.00 | 300 | 50.0 | 0.30 |"),
        "{md}"
    );
    assert!(
        md.contains(
            "|  | whole inference |  |  | 3,000 | 10,000 | 100.0 | 3.33 | 600 | 100.0 | 0.20 |"
        ),
        "{md}"
    );
    // The sum of the layers: 8000 of 10000 instructions, 500 of 600 ns.
    assert!(
        md.contains(
            "|  | sum of the layers |  |  | 3,000 | 8,000 | 80.0 | 2.67 | 500 | 83.3 | 0.17 |"
        ),
        "{md}"
    );
    // The runs table: the host's clock and the M4's code bytes.
    assert!(md.contains("Test CPU &lt;x86> @ 3,000 MHz"), "{md}");
    assert!(md.contains("| 1,024 | 40,000 | 4,096 | 3,500 |"), "{md}");
    // Text bars: the largest share (50 %) is a full bar, 25 % half of one.
    let full = "█".repeat(TEXT_BAR);
    assert!(md.contains(&format!("`{full}` 50.0%")), "{md}");
    assert!(
        md.contains(&format!("`{}` 25.0%", "█".repeat(TEXT_BAR / 2))),
        "{md}"
    );
}

#[test]
fn html_is_self_contained_and_escaped() {
    let html = render::render(&tiny(), Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert!(html.contains("Test CPU &lt;x86&gt;"));
    // Memory, share, and per report cost and per-MAC charts.
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("<td>5,000</td><td>50.0</td><td>5.00</td>"));
}

#[test]
fn output_format_comes_from_the_extension() {
    assert_eq!(
        Format::from_path(Path::new("a/r.md")).unwrap(),
        Format::Markdown
    );
    assert_eq!(
        Format::from_path(Path::new("r.html")).unwrap(),
        Format::Html
    );
    assert!(Format::from_path(Path::new("r.pdf")).is_err());
}
