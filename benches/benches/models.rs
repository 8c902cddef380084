//! The shipped zoo models (`models/*.edge`, int8) on the native runtime,
//! their operator records decoded once ([`DecodedOps`]): one inference with
//! the scalar reference kernels and one with the fastest kernel twins of this
//! build and CPU (per kernel: `benches/kernels.rs`).

use criterion::{Criterion, criterion_group, criterion_main};
use edgerun::format::write::AlignedBytes;
use edgerun::{DecodedOps, Interpreter, Model, NoHook, ReferenceKernels};
use edgerun_benches::model_bytes;
use std::hint::black_box;

fn bench_models(c: &mut Criterion) {
    for name in ["lenet5", "resnet8", "vgg", "alexnet"] {
        let Ok(bytes) = model_bytes(name) else {
            eprintln!("models/{name}.edge not found: skipped");
            continue;
        };
        let aligned = AlignedBytes::new(&bytes);
        let Ok(model) = Model::parse(&aligned) else {
            eprintln!("models/{name}.edge does not parse: skipped");
            continue;
        };
        let mut arena = vec![0u8; model.arena_bytes_unaligned()];
        let Ok(ops) = DecodedOps::new(&model) else {
            eprintln!("models/{name}.edge: operators do not decode: skipped");
            continue;
        };
        let Ok(mut interp) = Interpreter::with_decoded_ops(&model, &mut arena, &ops) else {
            eprintln!("models/{name}.edge: no interpreter: skipped");
            continue;
        };
        if let Ok(x) = interp.input_f32_mut(0) {
            for (i, v) in x.iter_mut().enumerate() {
                *v = (i % 255) as f32 / 255.0;
            }
        }
        let mut group = c.benchmark_group(format!("{name} int8 inference"));
        group.bench_function("scalar", |b| {
            b.iter(|| black_box(interp.invoke_with_kernels::<ReferenceKernels>(&mut NoHook)))
        });
        group.bench_function(edgerun::kernels::int8_twin(), |b| {
            b.iter(|| black_box(interp.invoke()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_models);
criterion_main!(benches);
