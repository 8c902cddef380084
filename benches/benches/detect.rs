//! Detection post-processing: NMS over 1,000 candidates (the detection
//! issue's goal: microseconds, not milliseconds), and decoding an int8 head
//! the size of the shipped detector's (567 anchors, 11 classes).

use criterion::{Criterion, criterion_group, criterion_main};
use edgerun::detect::{
    Box, Candidate, DecodeConfig, Detection, NmsConfig, QuantizedHead, decode_quantized, nms,
};
use edgerun::format::schema::QParams;
use edgerun_benches::{Rng, candidates};
use std::hint::black_box;

fn bench_nms(c: &mut Criterion) {
    let cands = candidates(1000, 10, 7);
    let mut scratch = vec![0u32; cands.len()];
    for (name, agnostic) in [("per-class", false), ("class-agnostic", true)] {
        let cfg = NmsConfig {
            score_threshold: Some(0.05),
            iou_threshold: 0.45,
            max_per_class: 100,
            max_total: 100,
            class_agnostic: agnostic,
        };
        c.bench_function(&format!("nms 1000 candidates {name}"), |b| {
            b.iter(|| {
                let mut out = heapless::Vec::<Detection, 100>::new();
                let r = nms(black_box(&cands), &cfg, &mut scratch, &mut out);
                black_box((r, out.len()))
            })
        });
    }
}

fn bench_decode(c: &mut Criterion) {
    const ANCHORS: usize = 567;
    const CLASSES: usize = 11;
    let mut r = Rng::new(3);
    // Mostly background, as a trained head: a few anchors above threshold.
    let scores: Vec<i8> = (0..ANCHORS * CLASSES)
        .map(|i| {
            if i % CLASSES == 0 {
                100
            } else if r.next_f32() < 0.01 {
                20
            } else {
                -120
            }
        })
        .collect();
    let offsets: Vec<i8> = (0..ANCHORS * 4)
        .map(|_| (r.next_f32() * 60.0 - 30.0) as i8)
        .collect();
    let anchors: Vec<Box> = (0..ANCHORS)
        .map(|i| {
            let x = (i % 24) as f32 / 24.0;
            let y = (i / 24) as f32 / 24.0;
            Box::new(x, y, x + 0.1, y + 0.15)
        })
        .collect();
    let head = QuantizedHead {
        scores: &scores,
        score_quant: QParams {
            scale: 1.0 / 256.0,
            zero_point: -128,
        },
        offsets: &offsets,
        offset_quant: QParams {
            scale: 0.05,
            zero_point: 0,
        },
        num_classes: CLASSES,
    };
    let cfg = DecodeConfig {
        score_threshold: 0.5,
        variances: [0.1, 0.1, 0.2, 0.2],
        background_class: Some(0),
    };
    let mut out = vec![Candidate::default(); ANCHORS * CLASSES];
    c.bench_function("decode int8 head 567x11", |b| {
        b.iter(|| black_box(decode_quantized(black_box(&head), &anchors, &cfg, &mut out)))
    });
}

criterion_group!(benches, bench_nms, bench_decode);
criterion_main!(benches);
