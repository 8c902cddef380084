//! The int8 kernels, one criterion group per layer shape
//! (`edgerun_benches::kernels::cases`: LeNet-5, ResNet-8 and detector layers),
//! one benchmark per twin this build and CPU run: the scalar reference
//! against AVX2 (x86_64), NEON and SDOT (aarch64).
//!
//!     cargo bench -p edgerun-benches --bench kernels
//!     cargo bench -p edgerun-benches --bench kernels -- 'resnet8 conv'   # a filter

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgerun_benches::kernels::{Twin, cases, twins};

fn bench_kernels(c: &mut Criterion) {
    let twins = twins();
    for mut case in cases() {
        let mut group = c.benchmark_group(case.name);
        group.throughput(Throughput::Elements(case.work as u64));
        let runnable: Vec<Twin> = twins.iter().filter(|t| case.has(t)).copied().collect();
        for twin in &runnable {
            if let Err(e) = case.run(twin) {
                eprintln!("{e}: skipped");
                continue;
            }
            group.bench_function(twin.name, |b| b.iter(|| case.run(twin)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench_kernels);
criterion_main!(benches);
