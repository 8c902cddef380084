//! ONNX NonMaxSuppression end to end: the runtime's fixed-size output (rows
//! padded with -1, the count from `Interpreter::output_rows`), the host's
//! trimmed int64 tensor, and the compiler refusing a selection that feeds
//! another node.

use edgerun::format::write::AlignedBytes;
use edgerun::{Interpreter, Model};
use edgerun_compiler::tensor::{Data, Tensor, from_pb_bytes};
use edgerun_compiler::{CompileError, CompileOptions, ModelProto, compile_model};
use std::path::{Path, PathBuf};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx-node/cases")
        .join(case)
}

/// The case's model, the options binding its constant inputs, and its runtime
/// inputs.
fn load(case: &str) -> (ModelProto, CompileOptions, Vec<Tensor>) {
    let dir = case_dir(case);
    let model =
        edgerun_compiler::load_model(&std::fs::read(dir.join("model.onnx")).unwrap()).unwrap();
    let names = edgerun_compiler::inputs_needing_constants(&model);
    let mut opts = CompileOptions::default();
    let mut inputs = Vec::new();
    for (i, vi) in model.graph.as_ref().unwrap().input.iter().enumerate() {
        let pb = std::fs::read(dir.join(format!("test_data_set_0/input_{i}.pb"))).unwrap();
        let t = from_pb_bytes(&pb).unwrap().1;
        if names.contains(&vi.name) {
            opts.bind.push((vi.name.clone(), t));
        } else {
            inputs.push(t);
        }
    }
    (model, opts, inputs)
}

#[test]
fn runtime_output_is_padded_and_counted() {
    // Two classes, max 2 per class: 4 of at most 4 rows; then a tighter score
    // threshold through the host.
    let (model, opts, inputs) = load("test_nonmaxsuppression_two_classes");
    let edge = compile_model(&model, &opts).unwrap().bytes;
    let aligned = AlignedBytes::new(&edge);
    let m = Model::parse(&aligned).unwrap();
    let out = m.output(0).unwrap();
    assert_eq!(out.dtype, edgerun::DType::I32);
    assert_eq!(out.shape.dims(), [4, 3]);
    let mut arena = vec![0u8; m.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&m, &mut arena).unwrap();
    for (i, t) in inputs.iter().enumerate() {
        interp
            .input_f32_mut(i)
            .unwrap()
            .copy_from_slice(&t.to_f32());
    }
    interp.invoke().unwrap();
    assert_eq!(interp.output_rows(0), Ok(Some(4)));
    assert_eq!(
        interp.output_i32(0).unwrap(),
        [0, 0, 3, 0, 0, 0, 0, 1, 3, 0, 1, 0]
    );

    // Only box 3 of class 0 scores above 0.92: one row, three rows of -1.
    let mut scores = inputs[1].to_f32();
    scores.iter_mut().for_each(|s| *s = s.min(0.92));
    scores[3] = 0.95;
    let mut opts_t = opts.clone();
    for (name, t) in opts_t.bind.iter_mut() {
        if name == "score_threshold" {
            *t = Tensor::f32(vec![1], vec![0.92]);
        }
    }
    let edge_t = compile_model(&model, &opts_t).unwrap().bytes;
    let aligned_t = AlignedBytes::new(&edge_t);
    let mt = Model::parse(&aligned_t).unwrap();
    let mut arena_t = vec![0u8; mt.arena_bytes_unaligned()];
    let mut it = Interpreter::new(&mt, &mut arena_t).unwrap();
    it.input_f32_mut(0)
        .unwrap()
        .copy_from_slice(&inputs[0].to_f32());
    it.input_f32_mut(1).unwrap().copy_from_slice(&scores);
    it.invoke().unwrap();
    assert_eq!(it.output_rows(0), Ok(Some(1)));
    assert_eq!(
        it.output_i32(0).unwrap(),
        [0, 0, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1]
    );

    // The host trims and widens: int64 [1, 3].
    let mut host = edgerun_compiler::host::HostModel::new(&edge_t).unwrap();
    let got = host
        .run(&[
            inputs[0].clone(),
            Tensor::f32(inputs[1].shape.clone(), scores),
        ])
        .unwrap();
    assert_eq!(
        got,
        [Tensor {
            shape: vec![1, 3],
            data: Data::I64(vec![0, 0, 3]),
        }]
    );
}

#[test]
fn static_outputs_have_no_row_count() {
    let (model, opts, _) = load("test_conv_with_strides_padding");
    let edge = compile_model(&model, &opts).unwrap().bytes;
    let aligned = AlignedBytes::new(&edge);
    let m = Model::parse(&aligned).unwrap();
    let mut arena = vec![0u8; m.arena_bytes_unaligned()];
    let interp = Interpreter::new(&m, &mut arena).unwrap();
    assert_eq!(interp.output_rows(0), Ok(None));
}

#[test]
fn selection_feeding_another_node_is_unsupported() {
    let (mut model, opts, _) = load("test_nonmaxsuppression_suppress_by_IOU");
    let graph = model.graph.as_mut().unwrap();
    let mut identity = graph.node[0].clone();
    identity.op_type = "Identity".into();
    identity.name = "after_nms".into();
    identity.attribute.clear();
    identity.input = vec![graph.node[0].output[0].clone()];
    identity.output = vec!["y".into()];
    graph.node.push(identity);
    graph.output[0].name = "y".into();
    match compile_model(&model, &opts) {
        Err(CompileError::Unsupported { op, reason, .. }) => {
            assert_eq!(op, "NonMaxSuppression");
            assert!(reason.contains("feeds another node"), "{reason}");
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn absent_max_output_selects_nothing() {
    // ONNX: max_output_boxes_per_class defaults to 0, so nothing is selected.
    let (model, mut opts, inputs) = load("test_nonmaxsuppression_suppress_by_IOU");
    opts.bind
        .retain(|(name, _)| name != "max_output_boxes_per_class");
    opts.bind.push((
        "max_output_boxes_per_class".into(),
        Tensor {
            shape: vec![0],
            data: Data::I64(vec![]),
        },
    ));
    let edge = compile_model(&model, &opts).unwrap().bytes;
    let mut host = edgerun_compiler::host::HostModel::new(&edge).unwrap();
    let got = host.run(&inputs).unwrap();
    assert_eq!(
        got,
        [Tensor {
            shape: vec![0, 3],
            data: Data::I64(vec![]),
        }]
    );
}
