//! Inputs shared by the criterion benchmarks in `benches/`: deterministic
//! detection candidates, the shipped `.edge` models and the int8 kernel
//! cases ([`kernels`], also run by `examples/kernel_bench.rs`).

pub mod kernels;

use edgerun::detect::{Box, Candidate};

/// A xorshift generator: the same candidates on every run and machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `n` candidates over `classes` classes: boxes of side 0.05..0.3 anywhere in
/// the unit square, in clusters of about five overlapping boxes (as a detector
/// head gives around each object), scores uniform in `[0, 1)`.
pub fn candidates(n: usize, classes: u32, seed: u64) -> Vec<Candidate> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (cx, cy) = (r.next_f32(), r.next_f32());
        let side = 0.05 + 0.25 * r.next_f32();
        let class = ((r.next_f32() * classes as f32) as u32).min(classes - 1);
        for _ in 0..5 {
            if out.len() == n {
                break;
            }
            let jx = (r.next_f32() - 0.5) * side * 0.3;
            let jy = (r.next_f32() - 0.5) * side * 0.3;
            let (x0, y0) = (cx + jx - side / 2.0, cy + jy - side / 2.0);
            out.push(Candidate {
                bbox: Box::new(x0, y0, x0 + side, y0 + side),
                score: r.next_f32(),
                class,
            });
        }
    }
    out
}

/// The bytes of a shipped model, `models/NAME.edge`.
pub fn model_bytes(name: &str) -> std::io::Result<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(format!("{name}.edge"));
    std::fs::read(path)
}
