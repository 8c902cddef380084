//! Micro-benchmark of NMS on 1,000 random candidates (std only, no harness):
//! prints the median time of 200 runs.
//!
//!     cargo run --release -p edgerun-runtime --example nms_bench

use edgerun::detect::{Box, Candidate, Detection, NmsConfig, nms};
use edgerun::format::schema::{Buf, Mem, NmsOp};
use edgerun::kernels::nms::float::{nms_f32, nms_lens};
use std::hint::black_box;
use std::time::Instant;

const CANDIDATES: usize = 1000;
const RUNS: usize = 200;

/// Deterministic xorshift64* in [0, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn median_us(mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut t: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[RUNS / 2]
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let candidates: Vec<Candidate> = (0..CANDIDATES)
        .map(|_| {
            let (cx, cy) = (rng.next(), rng.next());
            let (w, h) = (0.02 + 0.2 * rng.next(), 0.02 + 0.2 * rng.next());
            Candidate {
                bbox: Box::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
                score: rng.next(),
                class: (rng.next() * 4.0) as u32,
            }
        })
        .collect();

    // The library NMS: 4 classes, IoU 0.5, score > 0.05, at most 100 detections.
    let config = NmsConfig {
        score_threshold: Some(0.05),
        max_total: 100,
        ..NmsConfig::new(0.5)
    };
    let mut scratch = vec![0u32; CANDIDATES];
    let mut out: heapless::Vec<Detection, 100> = heapless::Vec::new();
    let t = median_us(|| {
        nms(black_box(&candidates), &config, &mut scratch, &mut out).unwrap();
        black_box(&out);
    });
    println!(
        "detect::nms: {CANDIDATES} candidates, 4 classes, IoU 0.5, score > 0.05, <= 100 kept: \
         median {t:.1} us over {RUNS} runs ({} kept)",
        out.len()
    );

    // The ONNX operator's kernel: 1 batch, 1 class, 1,000 boxes, at most 100.
    let boxes: Vec<f32> = candidates
        .iter()
        .flat_map(|c| [c.bbox.y0, c.bbox.x0, c.bbox.y1, c.bbox.x1])
        .collect();
    let scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
    let buf = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };
    let op = NmsOp {
        num_batches: 1,
        num_classes: 1,
        num_boxes: CANDIDATES as u32,
        center_point_box: false,
        max_per_class: 100,
        iou_threshold: 0.5,
        score_threshold: Some(0.05),
        boxes: buf,
        scores: buf,
        output: buf,
    };
    let mut work = vec![0i32; nms_lens(&op).unwrap().output];
    let mut kept = 0;
    let t = median_us(|| {
        kept = nms_f32(&op, black_box(&boxes), black_box(&scores), &mut work).unwrap();
    });
    println!(
        "ONNX NonMaxSuppression kernel: {CANDIDATES} boxes, 1 class, IoU 0.5, score > 0.05, \
         <= 100 kept: median {t:.1} us over {RUNS} runs ({kept} kept)"
    );
}
