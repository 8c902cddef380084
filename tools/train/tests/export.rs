//! Export round trip: burn -> ONNX -> tract and -> edgerun (compiler + f32
//! runtime) give the same logits as burn on 100 vendored MNIST test images.

mod common;

use common::{tiny_mnist, tmp_dir};
use edgerun_data::mnist::PIXELS;
use edgerun_train::{
    Arch, TrainConfig, export_onnx, export_onnx_bytes, load_checkpoint, logits, train, verify_onnx,
};
use tract_onnx::prelude::*;

const N: usize = 100;

fn tract_logits(onnx: &[u8], images: &[u8], n: usize) -> Vec<f32> {
    let x: Vec<f32> = images[..n * PIXELS]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .unwrap()
        .with_input_fact(0, f32::fact([n, 1, 28, 28]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = Tensor::from_shape(&[n, 1, 28, 28], &x).unwrap();
    let out = plan.run(tvec!(input.into())).unwrap();
    assert_eq!(out[0].shape(), &[n, 10]);
    out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn check_boundary(onnx: &[u8]) {
    let m = edgerun_compiler::load_model(onnx).unwrap();
    assert!(
        m.opset_import
            .iter()
            .any(|o| (o.domain.is_empty() || o.domain == "ai.onnx") && o.version >= 13)
    );
    let g = m.graph.unwrap();
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&str> = g
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !inits.contains(n))
        .collect();
    assert_eq!(inputs, ["input"]);
    assert_eq!(
        g.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["logits"]
    );
    let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
    assert!(
        !ops.contains(&"Softmax") && !ops.contains(&"Transpose"),
        "{ops:?}"
    );
}

#[test]
fn exported_models_match_burn_in_tract_and_edgerun() {
    let data = tiny_mnist();
    let images = &data.train.images[..N * PIXELS];
    for arch in Arch::ALL {
        // One short epoch so that BatchNorm statistics are not the identity.
        let dir = tmp_dir(&format!("export-{arch}"));
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 32,
            train_limit: Some(128),
            test_limit: Some(50),
            ..TrainConfig::new(arch)
        };
        train(&cfg, &data, &dir, false).unwrap();
        let (model, _) = load_checkpoint(&dir).unwrap();
        let want = logits(&model, images, N).unwrap();

        let path = dir.join("model.onnx");
        export_onnx(&model, &path).unwrap();
        let onnx = std::fs::read(&path).unwrap();
        check_boundary(&onnx);
        // AlexNet's local response normalisations are ONNX LRN nodes, not
        // the exp/log arithmetic burn computes them with.
        let ops: Vec<String> = edgerun_compiler::load_model(&onnx)
            .unwrap()
            .graph
            .unwrap()
            .node
            .into_iter()
            .map(|n| n.op_type)
            .collect();
        let lrn = ops.iter().filter(|o| *o == "LRN").count();
        assert_eq!(lrn, model.lrn_layers(), "{arch}: {ops:?}");
        if arch == Arch::AlexNet {
            assert_eq!(lrn, 2);
            assert!(!ops.iter().any(|o| o == "Exp" || o == "Log"), "{ops:?}");
        }

        let got = tract_logits(&onnx, images, N);
        let diff = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "{arch}: tract differs from burn by {diff}");

        let v = verify_onnx(&model, &onnx, images, N).unwrap();
        assert!(
            v.max_abs_diff <= 1e-4,
            "{arch}: edgerun differs from burn by {}",
            v.max_abs_diff
        );
        assert_eq!(v.argmax_mismatches, 0, "{arch}");

        // The model is still usable after the export, and exports again to
        // the same function (tensor names may differ: burn numbers them globally).
        assert_eq!(logits(&model, images, 4).unwrap(), want[..40].to_vec());
        assert_eq!(
            tract_logits(&export_onnx_bytes(&model).unwrap(), images, N),
            got
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
