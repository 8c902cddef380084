//! The shipped models: the float ONNX, the QDQ int8 ONNX and the int8 `.edge`
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

#[test]
fn lenet5_float_int8_and_edge() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let labels = edgerun_data::mnist::vendored_subset().unwrap().labels;
    let float = predictions(
        &edgerun_compiler::compile(
            &std::fs::read(dir.join("lenet5.onnx")).unwrap(),
            &Default::default(),
        )
        .unwrap()
        .bytes,
    );
    let qdq = predictions(
        &edgerun_compiler::compile(
            &std::fs::read(dir.join("lenet5.int8.onnx")).unwrap(),
            &Default::default(),
        )
        .unwrap()
        .bytes,
    );
    let edge = predictions(&std::fs::read(dir.join("lenet5.edge")).unwrap());
    let acc = |p: &[usize]| {
        p.iter()
            .zip(&labels)
            .filter(|(a, b)| **a == **b as usize)
            .count()
    };
    assert!(acc(&float) >= 495, "float {} / 500", acc(&float));
    assert!(acc(&edge) >= 495, "int8 {} / 500", acc(&edge));
    // The shipped .edge is the compiled QDQ model.
    assert_eq!(qdq, edge);
    let agree = float.iter().zip(&edge).filter(|(a, b)| a == b).count();
    assert!(agree >= 497, "float/int8 agree on {agree} / 500");
}
