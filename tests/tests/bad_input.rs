//! Bad input from the caller at run time (the README's "Bad input" table):
//! wrong input length, dtype or index, and NaN / infinite float inputs, on the
//! shipped int8 LeNet-5 and on a float model. Each ends in a typed error or a
//! defined output.

use edgerun::format::write::AlignedBytes;
use edgerun::{Error, Interpreter, Model};
use edgerun_compiler::host::HostModel;
use edgerun_compiler::{CompileError, Data, Tensor};
use std::path::Path;

fn repo(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

fn lenet5() -> AlignedBytes {
    AlignedBytes::new(&repo("models/lenet5.edge"))
}

/// A float model (Conv, BatchNorm, Relu, pools, Gemm, all in f32).
fn float_cnn() -> Vec<u8> {
    edgerun_compiler::compile(
        &repo("tests/onnx-qdq/float/cnn_bn.onnx"),
        &Default::default(),
    )
    .unwrap()
    .bytes
}

/// Run a model with every input element set to `v`; its first output's bytes.
fn run_filled(edge: &[u8], v: f32) -> Vec<u8> {
    let bytes = AlignedBytes::new(edge);
    let model = Model::parse(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    interp.input_f32_mut(0).unwrap().fill(v);
    interp.invoke().unwrap();
    interp.output_bytes(0).unwrap().to_vec()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn wrong_input_length_dtype_and_index_are_typed_errors() {
    let bytes = lenet5();
    let model = Model::parse(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    assert_eq!(
        interp.set_input_f32(0, &[0.5; 783]),
        Err(Error::WrongLength {
            expected: 784,
            got: 783
        })
    );
    assert_eq!(
        interp.set_input_f32(0, &[0.5; 785]).err(),
        Some(Error::WrongLength {
            expected: 784,
            got: 785
        })
    );
    assert_eq!(interp.input_i8_mut(0).err(), Some(Error::WrongDType));
    assert_eq!(interp.input_u8_mut(0).err(), Some(Error::WrongDType));
    assert_eq!(interp.input_f32_mut(1).err(), Some(Error::NoSuchTensor));
    assert_eq!(interp.output_i8(0).err(), Some(Error::WrongDType));
    assert_eq!(interp.output_f32(1).err(), Some(Error::NoSuchTensor));
    // The interpreter still works after the refused calls.
    interp.set_input_f32(0, &[0.5; 784]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.output_f32(0).unwrap().len(), 10);
}

#[test]
fn host_runner_refuses_wrong_count_shape_and_dtype() {
    let mut host = HostModel::new(&repo("models/lenet5.edge")).unwrap();
    let bad = |r: Result<Vec<Tensor>, CompileError>| {
        assert!(matches!(r, Err(CompileError::Invalid(_))), "{r:?}")
    };
    bad(host.run(&[]));
    let x = Tensor::f32(vec![1, 1, 28, 28], vec![0.0; 784]);
    bad(host.run(&[x.clone(), x.clone()]));
    bad(host.run(&[Tensor::f32(vec![1, 1, 28, 27], vec![0.0; 756])]));
    bad(host.run(&[Tensor {
        shape: vec![1, 1, 28, 28],
        data: Data::U8(vec![0; 784]),
    }]));
    assert_eq!(host.run(&[x]).unwrap()[0].len(), 10);
}

/// NaN quantizes to the input zero point (the value 0.0), infinities saturate
/// like any out-of-range value: the int8 model's outputs are exactly those of
/// the corresponding finite inputs.
#[test]
fn nan_and_inf_inputs_of_an_int8_model_are_defined() {
    let edge = repo("models/lenet5.edge");
    assert_eq!(run_filled(&edge, f32::NAN), run_filled(&edge, 0.0));
    assert_eq!(run_filled(&edge, f32::INFINITY), run_filled(&edge, 1e30));
    assert_eq!(
        run_filled(&edge, f32::NEG_INFINITY),
        run_filled(&edge, -1e30)
    );
    assert_ne!(run_filled(&edge, 1e30), run_filled(&edge, 0.0));
}

/// A float model propagates NaN (IEEE arithmetic, no trap, no panic): every
/// logit of an all-NaN input is NaN, and an infinite input gives non-finite
/// logits. The run itself succeeds.
#[test]
fn nan_and_inf_inputs_of_a_float_model_are_defined() {
    let edge = float_cnn();
    let finite = f32s(&run_filled(&edge, 0.5));
    assert!(finite.iter().all(|v| v.is_finite()));
    let nan = f32s(&run_filled(&edge, f32::NAN));
    assert_eq!(nan.len(), finite.len());
    assert!(nan.iter().all(|v| v.is_nan()), "{nan:?}");
    let inf = f32s(&run_filled(&edge, f32::INFINITY));
    assert!(inf.iter().any(|v| !v.is_finite()), "{inf:?}");
}
