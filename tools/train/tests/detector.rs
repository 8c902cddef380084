//! The detector: a short training run on scenes of vendored digits lowers the
//! loss, and its ONNX export, compiled by edgerun and run on the f32 runtime
//! and in tract, reproduces burn's scores and boxes.

mod common;

use common::{tiny_mnist, tmp_dir};
use edgerun_compiler::detector::DetectorSpec;
use edgerun_data::scenes::{SceneConfig, scenes};
use edgerun_train::detector::{
    DetectorConfig, SIZE, default_spec, export_detector, load_detector, train_detector,
    verify_detector,
};
use tract_onnx::prelude::*;

#[test]
fn trains_exports_and_reproduces() {
    let data = tiny_mnist();
    let dir = tmp_dir("detector");
    let cfg = DetectorConfig {
        epochs: 2,
        train_scenes: 96,
        eval_scenes: 8,
        batch_size: 16,
        ..DetectorConfig::default()
    };
    let (model, report) = train_detector(&cfg, &data.train, &data.test, &dir, false).unwrap();
    assert_eq!(report.history.len(), 2);
    let (first, last) = (&report.history[0], &report.history[1]);
    assert!(
        last.class_loss < first.class_loss,
        "class loss {} -> {}",
        first.class_loss,
        last.class_loss
    );
    assert!(report.anchors > 0 && report.info.macs < 100_000_000);
    // The saved weights are the returned model.
    let reloaded = load_detector(&dir).unwrap();

    let onnx = export_detector(&model).unwrap();
    let spec = DetectorSpec::from_model(&edgerun_compiler::load_model(&onnx).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(spec, default_spec());
    let sample = scenes(&data.test, &SceneConfig::default(), 5, 4).unwrap();
    let diff = verify_detector(&model, &onnx, &sample).unwrap();
    assert!(diff < 1e-4, "edgerun vs burn: {diff}");
    assert!(verify_detector(&reloaded, &onnx, &sample).unwrap() < 1e-4);

    // tract runs the same file to the same scores.
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let compiled = edgerun_compiler::compile(&onnx, &Default::default()).unwrap();
    let mut host = edgerun_compiler::host::HostModel::new(&compiled.bytes).unwrap();
    let anchors = spec.anchor_count().unwrap();
    for scene in &sample {
        let x: Vec<f32> = scene.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let t = Tensor::from_shape(&[1, 1, SIZE, SIZE], &x).unwrap();
        let out = plan.run(tvec!(t.into())).unwrap();
        assert_eq!(out[0].shape(), &[1, anchors, 11]);
        assert_eq!(out[1].shape(), &[1, anchors, 4]);
        let ours = host
            .run(&[edgerun_compiler::Tensor::f32(vec![1, 1, SIZE, SIZE], x)])
            .unwrap();
        for (theirs, ours) in out.iter().zip(&ours) {
            let theirs = theirs.to_plain_array_view::<f32>().unwrap();
            for (a, b) in theirs.iter().zip(ours.to_f32()) {
                assert!((a - b).abs() < 1e-4, "tract {a} vs edgerun {b}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
