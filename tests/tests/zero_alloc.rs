//! Running a model allocates nothing: parse, bind an arena and invoke under a
//! counting global allocator.

use edgerun::format::write::AlignedBytes;
use edgerun::{Interpreter, Model};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A compiled node-test case and the bytes of its runtime inputs.
fn compiled(case: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx-node/cases")
        .join(case);
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let model = edgerun_compiler::load_model(&bytes).unwrap();
    let graph = model.graph.as_ref().unwrap();
    let names = edgerun_compiler::inputs_needing_constants(&model);
    let mut opts = edgerun_compiler::CompileOptions::default();
    let mut inputs = Vec::new();
    for (i, vi) in graph.input.iter().enumerate() {
        let pb = std::fs::read(dir.join(format!("test_data_set_0/input_{i}.pb"))).unwrap();
        let t = edgerun_compiler::tensor::from_pb_bytes(&pb).unwrap().1;
        if names.contains(&vi.name) {
            opts.bind.push((vi.name.clone(), t));
        } else {
            inputs.push(t.to_bytes());
        }
    }
    let edge = edgerun_compiler::compile_model(&model, &opts)
        .unwrap()
        .bytes;
    (edge, inputs)
}

/// One test (the allocation counter is global, so cases run one after another).
#[test]
fn invoke_does_not_allocate() {
    let mut arena = vec![0u8; 1 << 16];
    for (case, out_len) in [
        ("test_qlinearconv", 49),
        ("test_nonmaxsuppression_two_batches", 4 * 3 * 4),
    ] {
        let (edge, inputs) = compiled(case);
        let aligned = AlignedBytes::new(&edge);

        let before = ALLOCS.load(Ordering::SeqCst);
        let model = Model::parse(&aligned).unwrap();
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        for (i, x) in inputs.iter().enumerate() {
            interp.input_bytes_mut(i).unwrap().copy_from_slice(x);
        }
        for _ in 0..3 {
            interp.invoke().unwrap();
        }
        let got_len = interp.output_bytes(0).unwrap().len();
        let rows = interp.output_rows(0).unwrap();
        let after = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "{case}: parse + invoke allocated");
        assert_eq!(got_len, out_len, "{case}");
        if case.contains("nonmaxsuppression") {
            assert_eq!(rows, Some(4));
        }
    }
}
