//! The post-training quantizer on a float CNN with BatchNorm, Dropout and
//! Identity (tests/onnx-qdq/float/cnn_bn.onnx, random weights): BatchNorm
//! folding is exact, the QDQ result runs on int8 kernels only and stays close to
//! the float model on held-out real MNIST digits, and tract (another engine)
//! loads the QDQ file and agrees with edgerun.

use edgerun::format::write::AlignedBytes;
use edgerun::{Model, OpKind};
use edgerun_compiler::host::HostModel;
use edgerun_compiler::quantize::ranges::Method;
use edgerun_compiler::quantize::{QuantizeOptions, activation_plan, calibrate, prepare, quantize};
use edgerun_compiler::{Tensor, compile_model, load_model};
use std::path::Path;

fn model() -> edgerun_compiler::ModelProto {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx-qdq/float/cnn_bn.onnx");
    load_model(&std::fs::read(p).unwrap()).unwrap()
}

fn digits(range: std::ops::Range<usize>) -> Vec<Tensor> {
    let s = edgerun_data::mnist::vendored_subset().unwrap();
    range
        .map(|i| {
            Tensor::f32(
                vec![1, 1, 28, 28],
                s.image(i)
                    .unwrap()
                    .iter()
                    .map(|&p| p as f32 / 255.0)
                    .collect(),
            )
        })
        .collect()
}

fn run_all(m: &edgerun_compiler::ModelProto, xs: &[Tensor]) -> Vec<Vec<f32>> {
    let c = compile_model(m, &Default::default()).unwrap();
    let mut h = HostModel::new(&c.bytes).unwrap();
    xs.iter()
        .map(|x| h.run(std::slice::from_ref(x)).unwrap()[0].to_f32())
        .collect()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

#[test]
fn batchnorm_folding_is_exact() {
    let m = model();
    let mut p = m.clone();
    assert_eq!(prepare(&mut p).unwrap(), (2, 2));
    let ops: Vec<&str> = p
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert!(
        !ops.contains(&"BatchNormalization")
            && !ops.contains(&"Dropout")
            && !ops.contains(&"Identity"),
        "{ops:?}"
    );
    let xs = digits(0..50);
    for (a, b) in run_all(&m, &xs).iter().zip(run_all(&p, &xs)) {
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} vs {y}");
        }
    }
}

#[test]
fn quantized_model_runs_int8_and_tracks_float() {
    let m = model();
    let calib = digits(0..200);
    let held_out = digits(200..500);
    let float = run_all(&m, &held_out);
    for method in [
        Method::MinMax,
        Method::Percentile(0.9999),
        Method::Entropy,
        Method::Mse,
    ] {
        let opts = QuantizeOptions {
            method,
            ..Default::default()
        };
        let (q, report) = quantize(&m, &calib, &opts, |_, _| {}).unwrap();
        assert_eq!(report.folded_batchnorms, 2);
        assert_eq!(report.quantized_ops, 3);
        let compiled = compile_model(&q, &Default::default()).unwrap();
        let aligned = AlignedBytes::new(&compiled.bytes);
        let kinds: Vec<OpKind> = Model::parse(&aligned)
            .unwrap()
            .ops()
            .map(|r| r.unwrap().op.kind())
            .collect();
        for k in [
            OpKind::ConvF32,
            OpKind::FcF32,
            OpKind::PoolF32,
            OpKind::BinaryF32,
        ] {
            assert!(!kinds.contains(&k), "{method:?}: {k:?} in {kinds:?}");
        }
        let int8 = run_all(&q, &held_out);
        let (mut sig, mut noise, mut agree) = (0f64, 0f64, 0usize);
        for (f, i) in float.iter().zip(&int8) {
            for (a, b) in f.iter().zip(i) {
                sig += (*a as f64).powi(2);
                noise += (*a as f64 - *b as f64).powi(2);
            }
            agree += (argmax(f) == argmax(i)) as usize;
        }
        let sqnr = 10.0 * (sig / noise.max(1e-30)).log10();
        let agreement = agree as f64 / held_out.len() as f64;
        println!(
            "{method:?}: SQNR {sqnr:.1} dB, top-1 agreement {:.1}%",
            agreement * 100.0
        );
        // Random weights give near-tied logits, so top-1 agreement is a weak
        // signal here; the signal-to-quantization-noise ratio is the real check.
        // Entropy (TensorRT's KL method) clips this random net's heavy-tailed ReLU
        // outputs hard (to ~15% of their range), so it is only checked to run on
        // int8; the others must keep the float signal.
        if method != Method::Entropy {
            assert!(sqnr > 30.0, "{method:?}: SQNR {sqnr}");
            assert!(agreement >= 0.9, "{method:?}: agreement {agreement}");
        }
    }
}

#[test]
fn tract_loads_the_qdq_model_and_agrees() {
    use tract_onnx::prelude::*;
    let m = model();
    let (q, _) = quantize(&m, &digits(0..100), &QuantizeOptions::default(), |_, _| {}).unwrap();
    let mut bytes = Vec::new();
    prost::Message::encode(&q, &mut bytes).unwrap();
    let tract_model = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let xs = digits(100..160);
    let ours = run_all(&q, &xs);
    let (_, report) =
        quantize(&m, &digits(0..100), &QuantizeOptions::default(), |_, _| {}).unwrap();
    let out_scale = report
        .activations
        .iter()
        .find(|a| a.0 == "logits")
        .unwrap()
        .5;
    for (x, o) in xs.iter().zip(&ours) {
        let t = tract_ndarray::Array4::from_shape_vec((1, 1, 28, 28), x.to_f32()).unwrap();
        let r = tract_model.run(tvec!(t.into_tensor().into())).unwrap();
        let v: Vec<f32> = r[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        for (a, b) in o.iter().zip(&v) {
            assert!(
                (a - b).abs() <= 2.0 * out_scale + 1e-6,
                "edgerun {a} vs tract {b} (scale {out_scale})"
            );
        }
    }
}

/// Calibration ignores NaN and infinite activations: images that are all NaN
/// leave every histogram exactly as the finite images make it, and a
/// calibration set with NaN, +inf and -inf images still gives a model whose
/// scales are finite (it runs on int8 and its logits are finite).
#[test]
fn non_finite_calibration_data_is_ignored() {
    let mut m = model();
    prepare(&mut m).unwrap();
    let plan = activation_plan(m.graph.as_ref().unwrap(), &QuantizeOptions::default());
    assert!(!plan.is_empty());
    let clean = digits(0..20);
    let filled = |v: f32| Tensor::f32(vec![1, 1, 28, 28], vec![v; 784]);
    let mut with_nan = clean.clone();
    with_nan.insert(3, filled(f32::NAN));
    with_nan.push(filled(f32::NAN));
    let a = calibrate(&m, &plan, &clean, |_, _| {}).unwrap();
    let b = calibrate(&m, &plan, &with_nan, |_, _| {}).unwrap();
    assert_eq!(a, b);
    assert!(a.hists.iter().all(|h| h.total() > 0));

    let mut dirty = with_nan;
    dirty.push(filled(f32::INFINITY));
    dirty.push(filled(f32::NEG_INFINITY));
    let mut speckled = clean[0].clone();
    if let edgerun_compiler::Data::F32(v) = &mut speckled.data {
        v[100] = f32::NAN;
        v[200] = f32::INFINITY;
    }
    dirty.push(speckled);
    let (q, _) = quantize(&model(), &dirty, &QuantizeOptions::default(), |_, _| {}).unwrap();
    for logits in run_all(&q, &digits(20..40)) {
        assert!(logits.iter().all(|v| v.is_finite()), "{logits:?}");
    }
}

/// Mean of (float - int8) per output element over `xs`: the systematic error
/// bias correction targets.
fn mean_error(float: &[Vec<f32>], int8: &[Vec<f32>]) -> Vec<f64> {
    let n = float.first().map_or(0, Vec::len);
    let mut e = vec![0f64; n];
    for (f, i) in float.iter().zip(int8) {
        for (k, (a, b)) in f.iter().zip(i).enumerate() {
            e[k] += (*a as f64 - *b as f64) / float.len() as f64;
        }
    }
    e
}

#[test]
fn bias_correction_shrinks_the_systematic_output_error() {
    let m = model();
    let calib = digits(0..200);
    let held_out = digits(200..500);
    let float = run_all(&m, &held_out);
    let mut shifts = vec![];
    for bias_correction in [false, true] {
        let opts = QuantizeOptions {
            per_channel: false,
            bias_correction,
            ..Default::default()
        };
        let (q, report) = quantize(&m, &calib, &opts, |_, _| {}).unwrap();
        assert_eq!(report.bias_corrected, if bias_correction { 3 } else { 0 });
        let e = mean_error(&float, &run_all(&q, &held_out));
        let mean_abs = e.iter().map(|v| v.abs()).sum::<f64>() / e.len() as f64;
        println!("bias correction {bias_correction}: mean |E[float - int8]| {mean_abs:.5}");
        shifts.push(mean_abs);
    }
    assert!(
        shifts[1] < shifts[0],
        "with correction {} vs without {}",
        shifts[1],
        shifts[0]
    );
}

#[test]
fn qdq_model_keeps_no_unused_initializer() {
    let (q, _) = quantize(&model(), &digits(0..20), &Default::default(), |_, _| {}).unwrap();
    let g = q.graph.as_ref().unwrap();
    for init in &g.initializer {
        assert!(
            g.node.iter().any(|n| n.input.contains(&init.name)),
            "initializer '{}' is not used",
            init.name
        );
    }
}

/// burn exports a linear layer as `Add(MatMul(x, W), Reshape(b))`; the
/// quantizer's constant folding turns `Reshape(b)` into an initializer. That
/// constant is quantized on its own range (as onnxruntime's quantizer does),
/// so the shipped LeNet-5 compiles to int8 operators only: no f32 Add
/// between its quantize and dequantize ends.
#[test]
fn folded_constant_biases_are_quantized_to_int8() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lenet5.onnx");
    let float = load_model(&std::fs::read(p).unwrap()).unwrap();
    let (q, report) = quantize(&float, &digits(0..32), &Default::default(), |_, _| {}).unwrap();
    let c = compile_model(&q, &Default::default()).unwrap();
    let bytes = AlignedBytes::new(&c.bytes);
    let m = Model::parse(&bytes).unwrap();
    let kinds: Vec<OpKind> = m.ops().map(|r| r.unwrap().op.kind()).collect();
    let float_ops: Vec<&OpKind> = kinds.iter().filter(|k| k.is_float_compute()).collect();
    assert!(float_ops.is_empty(), "f32 operators: {float_ops:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == OpKind::BinaryI8).count(),
        3,
        "{kinds:?}"
    );
    // The three biases are among the calibrated tensors.
    assert_eq!(report.activations.len(), 15);
    // Their Q/DQ pairs are quantized by the compiler, not on every
    // inference: the only Quantize is the input's, and nothing copies a
    // constant into the arena.
    let count = |k: OpKind| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count(OpKind::Quantize), 1, "{kinds:?}");
    assert_eq!(count(OpKind::CopyChunks), 0, "{kinds:?}");
}

/// A constant quantized by the compiler holds the bytes the runtime's
/// Quantize op writes. The shipped int8 LeNet-5 and ResNet-8 are compiled
/// twice: as they are (the bias constants quantized ahead of time), and with
/// each of those constants made a runtime tensor (`bias + zero`, `zero` a
/// new graph input fed 0.0), which the runtime's Quantize op then quantizes
/// on every inference. Their outputs must agree bit for bit.
#[test]
fn constants_quantized_at_compile_time_match_the_runtime_quantize_op() {
    use edgerun::OpKind;
    use edgerun_compiler::pb::{
        NodeProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The bias Adds after the fully connected layers: three in LeNet-5, one in ResNet-8.
    for (name, biases) in [("lenet5", 3), ("resnet8", 1)] {
        let q = load_model(&std::fs::read(root.join(format!("models/{name}.int8.onnx"))).unwrap())
            .unwrap();
        let mut rt = q.clone();
        let g = rt.graph.as_mut().unwrap();
        let inits: std::collections::HashSet<String> =
            g.initializer.iter().map(|t| t.name.clone()).collect();
        let mut nodes = Vec::new();
        let mut moved = 0;
        for mut n in std::mem::take(&mut g.node) {
            if n.op_type == "QuantizeLinear" && inits.contains(&n.input[0]) {
                let fed = format!("{}__rt", n.input[0]);
                nodes.push(NodeProto {
                    op_type: "Add".into(),
                    name: format!("{fed}_add"),
                    input: vec![n.input[0].clone(), "zero".into()],
                    output: vec![fed.clone()],
                    ..Default::default()
                });
                n.input[0] = fed;
                moved += 1;
            }
            nodes.push(n);
        }
        g.node = nodes;
        assert_eq!(moved, biases, "{name}: constant quantizers");
        g.input.push(ValueInfoProto {
            name: "zero".into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(TensorShapeProto {
                        dim: vec![tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(1)),
                            ..Default::default()
                        }],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
        let ahead = compile_model(&q, &Default::default()).unwrap();
        let at_run = compile_model(&rt, &Default::default()).unwrap();
        let kinds = |bytes: &[u8]| -> usize {
            let aligned = AlignedBytes::new(bytes);
            let m = Model::parse(&aligned).unwrap();
            m.ops()
                .filter(|r| r.as_ref().unwrap().op.kind() == OpKind::Quantize)
                .count()
        };
        assert_eq!(kinds(&ahead.bytes), 1, "{name}: only the input's");
        assert_eq!(kinds(&at_run.bytes), 1 + moved, "{name}");
        let mut a = HostModel::new(&ahead.bytes).unwrap();
        let mut b = HostModel::new(&at_run.bytes).unwrap();
        let zero = Tensor::f32(vec![1], vec![0.0]);
        for (k, x) in digits(0..64).into_iter().enumerate() {
            let ya = a.run(std::slice::from_ref(&x)).unwrap();
            let yb = b.run(&[x, zero.clone()]).unwrap();
            let bits =
                |t: &[Tensor]| -> Vec<u32> { t[0].to_f32().iter().map(|v| v.to_bits()).collect() };
            assert_eq!(bits(&ya), bits(&yb), "{name} digit {k}");
        }
    }
}
