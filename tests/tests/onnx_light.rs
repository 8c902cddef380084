//! The nine full-size classic graphs of PyPI onnx 1.23.2's wheel
//! (`tests/onnx-light`, see its README): each runs through compile + the native
//! f32 runtime and must match the expected outputs, the wheel's `output_0` and
//! onnxruntime's logits `output_1`, within the ONNX backend runner's tolerance
//! (`|got - want| <= 1e-7 + 1e-3 * |want|`, the `rtol`/`atol` onnx's runner
//! uses for these models).

use edgerun_compiler::conformance::{Outcome, case_dirs, run_case};
use std::path::Path;

fn run(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx-light")
        .join(name);
    match run_case(&dir) {
        Outcome::Pass { max_abs_err } => println!("{name}: pass (max abs err {max_abs_err:e})"),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn all_nine_are_vendored() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx-light");
    let names: Vec<String> = case_dirs(&root)
        .unwrap()
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "bvlc_alexnet",
            "densenet121",
            "inception_v1",
            "inception_v2",
            "resnet50",
            "shufflenet",
            "squeezenet",
            "vgg19",
            "zfnet512"
        ]
    );
}

#[test]
fn bvlc_alexnet() {
    run("bvlc_alexnet");
}
#[test]
fn zfnet512() {
    run("zfnet512");
}
#[test]
fn vgg19() {
    run("vgg19");
}
#[test]
fn resnet50() {
    run("resnet50");
}
#[test]
fn squeezenet() {
    run("squeezenet");
}
#[test]
fn inception_v1() {
    run("inception_v1");
}
#[test]
fn inception_v2() {
    run("inception_v2");
}
#[test]
fn densenet121() {
    run("densenet121");
}
#[test]
fn shufflenet() {
    run("shufflenet");
}
