//! The shipped detector (`models/detector.onnx`, `detector.int8.onnx`,
//! `detector.edge`): on 60 scenes drawn from the 500 vendored MNIST test digits
//! (no download), through the native runtime, its decode and its NMS, the float
//! model finds the digits (COCO mAP@0.5 near its measured 0.90 on the real test
//! scenes) and the int8 model scores within a few points of it; the `.edge` file
//! is the compiled int8 ONNX.

use edgerun_compiler::detector::{DetectorSpec, PostConfig};
use edgerun_compiler::host::HostModel;
use edgerun_data::map::{GroundTruth, Prediction, evaluate};
use edgerun_data::scenes::{SceneConfig, scenes};
use std::path::Path;

fn models() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn map50(file: &str) -> f64 {
    let bytes = std::fs::read(models().join(file)).unwrap();
    let proto = edgerun_compiler::load_model(&bytes).unwrap();
    let spec = DetectorSpec::from_model(&proto).unwrap().unwrap();
    let edge = edgerun_compiler::compile_model(&proto, &Default::default())
        .unwrap()
        .bytes;
    if file.ends_with(".int8.onnx") {
        assert_eq!(edge, std::fs::read(models().join("detector.edge")).unwrap());
    }
    let mut host = HostModel::new(&edge).unwrap();
    let anchors = spec.anchors().unwrap();
    let digits = edgerun_data::mnist::vendored_subset().unwrap();
    let test = scenes(&digits, &SceneConfig::default(), 11, 60).unwrap();
    let (mut gts, mut preds) = (Vec::new(), Vec::new());
    for (i, s) in test.iter().enumerate() {
        let x: Vec<f32> = s.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
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
        gts.extend(s.boxes.iter().map(|b| GroundTruth {
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
    evaluate(&gts, &preds).map_50
}

#[test]
fn shipped_detector_finds_digits_in_float_and_int8() {
    let float = map50("detector.onnx");
    let int8 = map50("detector.int8.onnx");
    eprintln!("mAP@0.5 on 60 vendored-digit scenes: float {float:.4}, int8 {int8:.4}");
    assert!(float > 0.8, "float mAP@0.5 {float}");
    assert!((float - int8).abs() < 0.05, "float {float} vs int8 {int8}");
}
