//! The shipped zoo (LeNet-5, ResNet-8, VGG): the float ONNX, the QDQ int8 ONNX and the int8 `.edge`
//! load, run, and classify the vendored MNIST test digits (500) at their
//! measured accuracy, and the int8 model agrees with the float one.

use edgerun_compiler::Tensor;
use edgerun_compiler::host::HostModel;
use std::path::Path;

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

fn predictions(edge: &[u8]) -> Vec<usize> {
    let s = edgerun_data::mnist::vendored_subset().unwrap();
    let mut h = HostModel::new(edge).unwrap();
    (0..s.n)
        .map(|i| {
            let x = Tensor::f32(
                vec![1, 1, 28, 28],
                s.image(i)
                    .unwrap()
                    .iter()
                    .map(|&p| p as f32 / 255.0)
                    .collect(),
            );
            argmax(&h.run(&[x]).unwrap()[0].to_f32())
        })
        .collect()
}

/// `name.onnx`, `name.int8.onnx` and `name.edge` on the 500 vendored digits.
fn check_model(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let labels = edgerun_data::mnist::vendored_subset().unwrap().labels;
    let compiled = |file: String| {
        predictions(
            &edgerun_compiler::compile(
                &std::fs::read(dir.join(file)).unwrap(),
                &Default::default(),
            )
            .unwrap()
            .bytes,
        )
    };
    let float = compiled(format!("{name}.onnx"));
    let qdq = compiled(format!("{name}.int8.onnx"));
    let edge = predictions(&std::fs::read(dir.join(format!("{name}.edge"))).unwrap());
    let acc = |p: &[usize]| {
        p.iter()
            .zip(&labels)
            .filter(|(a, b)| **a == **b as usize)
            .count()
    };
    assert!(acc(&float) >= 495, "{name}: float {} / 500", acc(&float));
    assert!(acc(&edge) >= 495, "{name}: int8 {} / 500", acc(&edge));
    // The shipped .edge is the compiled QDQ model.
    assert_eq!(qdq, edge, "{name}");
    let agree = float.iter().zip(&edge).filter(|(a, b)| a == b).count();
    assert!(agree >= 497, "{name}: float/int8 agree on {agree} / 500");
}

#[test]
fn lenet5_float_int8_and_edge() {
    check_model("lenet5");
}

#[test]
fn resnet8_float_int8_and_edge() {
    check_model("resnet8");
}

#[test]
fn vgg_float_int8_and_edge() {
    check_model("vgg");
}

#[test]
fn alexnet_float_int8_and_edge() {
    check_model("alexnet");
}
