//! Models quantized by onnxruntime's `quantize_static` (tests/onnx-ort, made by
//! its generate.py): QDQ S8S8, QDQ U8S8 and QOperator U8S8 (QLinearConv,
//! QLinearGlobalAveragePool, QGemm of the com.microsoft domain) compile to int8
//! kernels and match the QDQ definition (onnxruntime with graph optimizations
//! off: float math between Quantize/DequantizeLinear) within 1 LSB.
//! onnxruntime's own optimized int8 kernels are further from that definition
//! on this model (several LSB); the test prints both distances.

use edgerun::format::write::AlignedBytes;
use edgerun::{Model, OpKind};
use edgerun_compiler::conformance::case_dirs;
use edgerun_compiler::host::HostModel;
use edgerun_compiler::tensor::{from_pb_bytes, from_proto};
use std::path::Path;

#[test]
fn onnxruntime_quantized_models_within_one_lsb_of_the_definition() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx-ort/cases");
    let dirs = case_dirs(&root).unwrap();
    assert_eq!(dirs.len(), 6);
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let onnx =
            edgerun_compiler::load_model(&std::fs::read(d.join("model.onnx")).unwrap()).unwrap();
        let g = onnx.graph.as_ref().unwrap();
        let dq = g
            .node
            .iter()
            .find(|n| n.output[0] == g.output[0].name)
            .unwrap();
        assert_eq!(dq.op_type, "DequantizeLinear");
        let scale_t = g
            .initializer
            .iter()
            .find(|t| t.name == dq.input[1])
            .unwrap();
        let scale = from_proto(scale_t).unwrap().to_f32()[0];

        let compiled = edgerun_compiler::compile_model(&onnx, &Default::default()).unwrap();
        let aligned = AlignedBytes::new(&compiled.bytes);
        let kinds: Vec<OpKind> = Model::parse(&aligned)
            .unwrap()
            .ops()
            .map(|r| r.unwrap().op.kind())
            .collect();
        for k in [OpKind::ConvF32, OpKind::FcF32, OpKind::PoolF32] {
            assert!(!kinds.contains(&k), "{name}: {k:?} in {kinds:?}");
        }
        let mut host = HostModel::new(&compiled.bytes).unwrap();
        let mut sets = 0;
        let mut worst = 0f32;
        let mut ort_worst = 0f32;
        for k in 0.. {
            let set = d.join(format!("test_data_set_{k}"));
            if !set.exists() {
                break;
            }
            let x = from_pb_bytes(&std::fs::read(set.join("input_0.pb")).unwrap())
                .unwrap()
                .1;
            let want = from_pb_bytes(&std::fs::read(set.join("output_0.pb")).unwrap())
                .unwrap()
                .1
                .to_f32();
            let got = host.run(&[x]).unwrap().remove(0).to_f32();
            let ort = from_pb_bytes(&std::fs::read(set.join("ort_output_0.pb")).unwrap())
                .unwrap()
                .1
                .to_f32();
            for ((a, b), o) in got.iter().zip(&want).zip(&ort) {
                worst = worst.max((a - b).abs() / scale);
                ort_worst = ort_worst.max((o - b).abs() / scale);
            }
            sets += 1;
        }
        println!(
            "{name}: {sets} inputs, edgerun {worst:.0} LSB and onnxruntime {ort_worst:.0} LSB from the QDQ definition"
        );
        assert_eq!(sets, 20);
        assert!(
            worst <= 1.0 + 1e-3,
            "{name}: {worst} LSB from the QDQ definition"
        );
    }
}
