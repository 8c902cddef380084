//! Malformed ONNX input ends in a typed error, never a panic: garbage bytes,
//! nodes without inputs or outputs, and every single-byte corruption of small
//! real models (float, QOperator, QDQ).

use edgerun_compiler::{CompileError, compile};
use std::path::Path;

fn case(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn garbage_is_a_protobuf_error() {
    assert!(matches!(
        compile(b"\xff\xff\xff not onnx", &Default::default()),
        Err(CompileError::Protobuf(_))
    ));
    assert!(compile(b"", &Default::default()).is_err());
}

#[test]
fn nodes_without_inputs_or_outputs_are_rejected() {
    use edgerun_compiler::ModelProto;
    let m: ModelProto = edgerun_compiler::load_model(&case("onnx-qdq/float/cnn_bn.onnx")).unwrap();
    let mut no_output = m.clone();
    no_output.graph.as_mut().unwrap().node[0].output.clear();
    assert!(matches!(
        edgerun_compiler::compile_model(&no_output, &Default::default()),
        Err(CompileError::Invalid(_))
    ));
    let mut no_input = m.clone();
    no_input.graph.as_mut().unwrap().node[0].input.clear();
    assert!(matches!(
        edgerun_compiler::compile_model(&no_input, &Default::default()),
        Err(CompileError::Invalid(_))
    ));
}

#[test]
fn every_byte_corruption_is_handled() {
    for rel in [
        "onnx-qdq/float/cnn_bn.onnx",
        "onnx-qdq/cases/qdq_conv_relu_s8/model.onnx",
        "onnx-ort/cases/ort_qoperator_u8s8/model.onnx",
    ] {
        let good = case(rel);
        assert!(
            compile(&good, &Default::default()).is_ok(),
            "{rel} compiles"
        );
        // Every byte of the structure; weights are long runs, sample them.
        let step = if good.len() > 4000 { 7 } else { 1 };
        for i in (0..good.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] ^= flip;
                let _ = compile(&b, &Default::default());
            }
        }
    }
}

#[test]
fn absurd_dimensions_are_errors() {
    use edgerun_compiler::pb::tensor_shape_proto::dimension::Value;
    use edgerun_compiler::pb::type_proto;
    let m = edgerun_compiler::load_model(&case("onnx-qdq/float/cnn_bn.onnx")).unwrap();
    for dims in [
        [1i64 << 40, 1, 1 << 40, 28],
        [1, 1, 1 << 31, 1 << 31],
        [i64::MAX, 1, 28, 28],
    ] {
        let mut big = m.clone();
        let input = &mut big.graph.as_mut().unwrap().input[0];
        if let Some(type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            for (d, v) in t.shape.as_mut().unwrap().dim.iter_mut().zip(dims) {
                d.value = Some(Value::DimValue(v));
            }
        }
        assert!(
            edgerun_compiler::compile_model(&big, &Default::default()).is_err(),
            "{dims:?}"
        );
    }
}

/// An operator edgerun does not implement, or one no ONNX version defines, is
/// `CompileError::Unsupported` naming the node and the operator.
#[test]
fn unsupported_ops_are_typed_errors() {
    let m = edgerun_compiler::load_model(&case("onnx-qdq/float/cnn_bn.onnx")).unwrap();
    for op in ["LSTM", "NoSuchOperator"] {
        let mut bad = m.clone();
        let node = &mut bad.graph.as_mut().unwrap().node[0];
        node.op_type = op.into();
        // An unnamed node is reported by its first output.
        let output = node.output[0].clone();
        assert!(node.name.is_empty());
        match edgerun_compiler::compile_model(&bad, &Default::default()) {
            Err(CompileError::Unsupported { op: o, node: n, .. }) => {
                assert_eq!((o.as_str(), n), (op, output));
            }
            other => panic!("{op}: {other:?}"),
        }
    }
}

/// ONNX inputs that crashed the `onnx_compile` fuzz target (`fuzz/`), kept as
/// regression tests. `qdq-lookahead-node-without-output`: a QuantizeLinear
/// without outputs after a conv; the QDQ fusion looked ahead at it and
/// indexed its first output (a panic). Now the fusion declines and the node
/// is rejected in its turn.
#[test]
fn onnx_fuzz_regressions_are_errors_not_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions/onnx_compile");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let err = compile(&std::fs::read(&path).unwrap(), &Default::default())
            .err()
            .unwrap_or_else(|| panic!("{} compiled", path.display()));
        assert!(
            matches!(err, CompileError::Invalid(_)),
            "{}: {err}",
            path.display()
        );
        n += 1;
    }
    assert!(n > 0);
}
