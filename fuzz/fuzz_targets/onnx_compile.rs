//! ONNX bytes into the compiler (protobuf decode, import, lowering, planning,
//! the `.edge` writer). A model that compiles must validate in the runtime and
//! run: a compiled model the runtime rejects is a compiler bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(compiled) = edgerun_compiler::compile(data, &Default::default()) else {
        return;
    };
    assert!(
        edgerun_fuzz::run_edge(&compiled.bytes, 0),
        "the compiler wrote a model the runtime rejects"
    );
});
