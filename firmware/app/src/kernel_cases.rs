//! Deterministic random cases for the int8 kernels (feature `kernel-cases`):
//! conv (strides, pads, dilations, groups, depthwise, first layers with one
//! input channel, 1x1, odd channel counts, rows of every length modulo 4,
//! windows longer than the DSP rows), fc, max and average pooling, and
//! requantization, with zero points, per-channel multipliers and clamps.
//!
//! The same code runs on both sides of the on-target kernel tests: a board's
//! build script ([`crate::codegen::write_kernel_vectors`]) draws the cases on
//! the host and runs the runtime's scalar reference kernels on them, and the
//! test on the target (`qemu-mps2-an386/tests/kernels.rs`, defmt-test) draws
//! the very same cases from the same seeds, runs the kernels built for the
//! target (DSP twins and scalar) and compares their output with the host's,
//! byte for byte. Only the expected outputs are baked into flash.

// Test-case generation, not model or sensor input: every slice bound below is
// checked against the buffer sizes when the case is drawn.
#![allow(clippy::indexing_slicing)]

use edgerun::Error;
use edgerun::format::schema::{Buf, ConvGeom, FcI8, Mem, PoolGeom, PoolKind, Requant};
use edgerun::kernels::conv::ConvI8Fn;
use edgerun::kernels::fc::FcI8Fn;
use edgerun::kernels::{RequantParams, pool};

/// Input elements a case may have.
pub const IN_MAX: usize = 6144;
/// Weight elements a case may have.
pub const W_MAX: usize = 12288;
/// Output elements a case may have.
pub const OUT_MAX: usize = 6144;
/// Output channels a case may have.
pub const CH_MAX: usize = 64;

/// Seeds of the case streams, one per kernel, so that each test can run alone.
pub const CONV_SEED: u32 = 0x2545_f491;
pub const FC_SEED: u32 = 0x9e37_79b9;
pub const POOL_SEED: u32 = 0x85eb_ca6b;
pub const REQUANT_SEED: u32 = 0xc2b2_ae35;

/// xorshift32: the stream of every case.
#[derive(Debug, Clone)]
pub struct Rng(u32);

impl Rng {
    /// A stream from a nonzero seed.
    pub fn new(seed: u32) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform in `lo..=hi` (`lo <= hi`).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.next_u32() % (hi - lo + 1)
    }
    fn i8(&mut self) -> i8 {
        self.next_u32() as i8
    }
    fn fill(&mut self, xs: &mut [i8]) {
        for x in xs {
            *x = self.i8();
        }
    }
    fn coin(&mut self) -> bool {
        self.next_u32().is_multiple_of(2)
    }
}

/// The buffers a case lives in.
pub struct Scratch {
    input: [i8; IN_MAX],
    weights: [i8; W_MAX],
    bias: [i32; CH_MAX],
    mult: [i32; CH_MAX],
    shift: [i32; CH_MAX],
}

impl Scratch {
    pub const fn new() -> Self {
        Scratch {
            input: [0; IN_MAX],
            weights: [0; W_MAX],
            bias: [0; CH_MAX],
            mult: [0; CH_MAX],
            shift: [0; CH_MAX],
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Requantization of `ch` channels: multipliers in `[2^30, 2^31)` with shifts
/// that keep most outputs inside the int8 range, an output zero point and,
/// half of the time, a clamp narrower than int8.
struct Rq {
    output_offset: i32,
    act_min: i32,
    act_max: i32,
}

impl Rq {
    fn draw(r: &mut Rng, mult: &mut [i32], shift: &mut [i32]) -> Self {
        let mut rq = Rq {
            output_offset: r.i8() as i32,
            act_min: -128,
            act_max: 127,
        };
        for (m, s) in mult.iter_mut().zip(shift.iter_mut()) {
            *m = (0x4000_0000 | (r.next_u32() >> 2)) as i32;
            *s = -(r.range(4, 14) as i32);
        }
        if r.coin() {
            let (a, b) = (r.i8() as i32, r.i8() as i32);
            (rq.act_min, rq.act_max) = (a.min(b), a.max(b));
        }
        rq
    }
    fn params<'s>(&self, mult: &'s [i32], shift: &'s [i32]) -> RequantParams<'s> {
        RequantParams {
            mult,
            shift,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }
}

/// Output size along one axis, or `None` when no window fits; the end pad
/// grows as needed and windows starting inside the end padding are dropped
/// (as the runtime's geometry checks require). Returns the end pad too.
fn axis(inp: u32, k: u32, s: u32, d: u32, pb: u32, pe: u32) -> Option<(u32, u32)> {
    let eff = (k - 1) * d + 1;
    let pe = pe.max(eff.saturating_sub(inp + pb));
    let mut out = (inp + pb + pe).checked_sub(eff)? / s + 1;
    while out > 1 && (out - 1) * s >= inp + pb {
        out -= 1;
    }
    Some((out, pe))
}

/// One conv case, borrowing its [`Scratch`].
pub struct ConvCase<'s> {
    /// Which of the six shapes it was drawn as (for failure reports).
    pub kind: u32,
    pub geom: ConvGeom,
    pub input: &'s [i8],
    pub weights: &'s [i8],
    pub bias: Option<&'s [i32]>,
    pub input_offset: i32,
    pub weight_offset: i32,
    pub rq: RequantParams<'s>,
    /// Output elements.
    pub out_len: usize,
}

impl ConvCase<'_> {
    /// Run `kernel` on the case, writing the first [`Self::out_len`] elements of `out`.
    pub fn run(&self, kernel: ConvI8Fn, out: &mut [i8]) -> Result<(), Error> {
        let out = out.get_mut(..self.out_len).ok_or(Error::BadGeometry)?;
        kernel(
            &self.geom,
            self.input,
            self.weights,
            self.bias,
            self.input_offset,
            self.weight_offset,
            &self.rq,
            out,
        )
    }
}

/// A conv geometry of one of six kinds (general, dense, first layer,
/// pointwise, depthwise, window over 640 values), or `None` when it does not
/// fit the buffers.
fn conv_geom(r: &mut Rng) -> Option<(u32, ConvGeom)> {
    let kind = r.range(0, 5);
    let n = r.range(1, 2);
    let (mut in_h, mut in_w) = (r.range(1, 8), r.range(1, 8));
    let (groups, icg, ocg, k, s, d) = match kind {
        0 => (
            r.range(1, 3),
            r.range(1, 3),
            r.range(1, 3),
            (r.range(1, 3), r.range(1, 3)),
            (r.range(1, 2), r.range(1, 2)),
            (r.range(1, 2), r.range(1, 2)),
        ),
        1 => (
            1,
            r.range(1, 24),
            r.range(1, 12),
            (r.range(1, 5), r.range(1, 5)),
            (r.range(1, 2), r.range(1, 2)),
            (r.range(1, 2), r.range(1, 2)),
        ),
        2 => {
            (in_h, in_w) = (r.range(5, 14), r.range(5, 14));
            let k = r.range(3, 5);
            (1, 1, r.range(1, 8), (k, k), (1, 1), (1, 1))
        }
        3 => (1, r.range(1, 32), r.range(1, 16), (1, 1), (1, 1), (1, 1)),
        4 => {
            let c = r.range(1, 16);
            (
                c,
                1,
                r.range(1, 2),
                (3, 3),
                (r.range(1, 2), r.range(1, 2)),
                (1, 1),
            )
        }
        _ => (1, r.range(26, 32), r.range(1, 5), (5, 5), (1, 1), (1, 1)),
    };
    let pads = if kind == 3 {
        (0, 0, 0, 0)
    } else {
        (r.range(0, 2), r.range(0, 2), r.range(0, 2), r.range(0, 2))
    };
    let (out_h, _) = axis(in_h, k.0, s.0, d.0, pads.0, pads.2)?;
    let (out_w, _) = axis(in_w, k.1, s.1, d.1, pads.1, pads.3)?;
    let g = ConvGeom {
        n,
        in_h,
        in_w,
        in_c: groups * icg,
        out_h,
        out_w,
        out_c: groups * ocg,
        k_h: k.0,
        k_w: k.1,
        stride_h: s.0,
        stride_w: s.1,
        dil_h: d.0,
        dil_w: d.1,
        pad_top: pads.0,
        pad_left: pads.1,
        groups,
    };
    let il = (n * in_h * in_w * g.in_c) as usize;
    let wl = (g.out_c * k.0 * k.1 * icg) as usize;
    let ol = (n * out_h * out_w * g.out_c) as usize;
    (il <= IN_MAX && wl <= W_MAX && ol <= OUT_MAX && g.out_c as usize <= CH_MAX)
        .then_some((kind, g))
}

/// The next conv case of the stream `r`.
pub fn conv<'s>(r: &mut Rng, s: &'s mut Scratch) -> ConvCase<'s> {
    let (kind, g) = loop {
        if let Some(kg) = conv_geom(r) {
            break kg;
        }
    };
    let icg = (g.in_c / g.groups) as usize;
    let il = (g.n * g.in_h * g.in_w * g.in_c) as usize;
    let wl = g.out_c as usize * (g.k_h * g.k_w) as usize * icg;
    let oc = g.out_c as usize;
    r.fill(&mut s.input[..il]);
    r.fill(&mut s.weights[..wl]);
    for b in &mut s.bias[..oc] {
        *b = (r.next_u32() % 80_001) as i32 - 40_000;
    }
    let with_bias = !r.next_u32().is_multiple_of(4);
    let input_offset = -(r.i8() as i32);
    let weight_offset = if r.coin() { 0 } else { -(r.i8() as i32) };
    let rq = Rq::draw(r, &mut s.mult[..oc], &mut s.shift[..oc]);
    ConvCase {
        kind,
        geom: g,
        input: &s.input[..il],
        weights: &s.weights[..wl],
        bias: with_bias.then_some(&s.bias[..oc]),
        input_offset,
        weight_offset,
        rq: rq.params(&s.mult[..oc], &s.shift[..oc]),
        out_len: (g.n * g.out_h * g.out_w * g.out_c) as usize,
    }
}

const NO_BUF: Buf = Buf {
    mem: Mem::Arena,
    offset: 0,
    len: 0,
};

/// One fc case (`rows` x `k` input, `n` x `k` weights), borrowing its [`Scratch`].
pub struct FcCase<'s> {
    /// The operator record; only its sizes and offsets matter here.
    pub op: FcI8,
    pub input: &'s [i8],
    pub weights: &'s [i8],
    pub bias: Option<&'s [i32]>,
    pub rq: RequantParams<'s>,
    pub out_len: usize,
}

impl FcCase<'_> {
    /// Run `kernel` on the case, writing the first [`Self::out_len`] elements of `out`.
    pub fn run(&self, kernel: FcI8Fn, out: &mut [i8]) -> Result<(), Error> {
        let out = out.get_mut(..self.out_len).ok_or(Error::BadGeometry)?;
        kernel(&self.op, self.input, self.weights, self.bias, &self.rq, out)
    }
}

/// The next fc case of the stream `r`: 1-4 rows, 0-700 inputs (every length
/// modulo 4), 1-12 outputs.
pub fn fc<'s>(r: &mut Rng, s: &'s mut Scratch) -> FcCase<'s> {
    let (rows, k, n) = loop {
        let rows = r.range(1, 4) as usize;
        let k = r.range(0, 700) as usize;
        let n = r.range(1, 12) as usize;
        if rows * k <= IN_MAX && n * k <= W_MAX {
            break (rows, k, n);
        }
    };
    r.fill(&mut s.input[..rows * k]);
    r.fill(&mut s.weights[..n * k]);
    for b in &mut s.bias[..n] {
        *b = (r.next_u32() % 200_001) as i32 - 100_000;
    }
    let input_offset = -(r.i8() as i32);
    let weight_offset = if r.coin() { 0 } else { -(r.i8() as i32) };
    let rq = Rq::draw(r, &mut s.mult[..n], &mut s.shift[..n]);
    let with_bias = !r.next_u32().is_multiple_of(4);
    FcCase {
        op: FcI8 {
            rows: rows as u32,
            k: k as u32,
            n: n as u32,
            input: NO_BUF,
            weights: NO_BUF,
            bias: None,
            output: NO_BUF,
            input_offset,
            weight_offset,
            rq: Requant {
                mult: NO_BUF,
                shift: NO_BUF,
                output_offset: 0,
                act_min: -128,
                act_max: 127,
            },
            packed: None,
        },
        input: &s.input[..rows * k],
        weights: &s.weights[..n * k],
        bias: with_bias.then_some(&s.bias[..n]),
        rq: rq.params(&s.mult[..n], &s.shift[..n]),
        out_len: rows * n,
    }
}

/// One pooling case, borrowing its [`Scratch`].
pub struct PoolCase<'s> {
    pub geom: PoolGeom,
    pub input: &'s [i8],
    pub input_zero_point: i32,
    pub rq: RequantParams<'s>,
    pub out_len: usize,
}

impl PoolCase<'_> {
    /// Run the int8 pooling kernel (there is one, `pool::scalar::pool_i8`),
    /// writing the first [`Self::out_len`] elements of `out`.
    pub fn run(&self, out: &mut [i8]) -> Result<(), Error> {
        let out = out.get_mut(..self.out_len).ok_or(Error::BadGeometry)?;
        pool::scalar::pool_i8(&self.geom, self.input, self.input_zero_point, &self.rq, out)
    }
}

/// The next pooling case of the stream `r`: max or average, 1-5 x 1-5 windows,
/// strides 1-3, dilations 1-2, pads, with or without padded cells counted.
pub fn pool<'s>(r: &mut Rng, s: &'s mut Scratch) -> PoolCase<'s> {
    let g = loop {
        let kind = if r.coin() {
            PoolKind::Max
        } else {
            PoolKind::Avg
        };
        let (n, c) = (r.range(1, 2), r.range(1, 16));
        let (in_h, in_w) = (r.range(1, 12), r.range(1, 12));
        let (k_h, k_w) = (r.range(1, 5), r.range(1, 5));
        let (s_h, s_w) = (r.range(1, 3), r.range(1, 3));
        let (d_h, d_w) = (r.range(1, 2), r.range(1, 2));
        let (pt, pl) = (r.range(0, k_h - 1), r.range(0, k_w - 1));
        let (pb, pr) = (r.range(0, k_h - 1), r.range(0, k_w - 1));
        let count_include_pad = r.coin();
        let (Some((out_h, pb)), Some((out_w, pr))) = (
            axis(in_h, k_h, s_h, d_h, pt, pb),
            axis(in_w, k_w, s_w, d_w, pl, pr),
        ) else {
            continue;
        };
        let g = PoolGeom {
            kind,
            n,
            in_h,
            in_w,
            c,
            out_h,
            out_w,
            k_h,
            k_w,
            stride_h: s_h,
            stride_w: s_w,
            dil_h: d_h,
            dil_w: d_w,
            pad_top: pt,
            pad_left: pl,
            pad_bottom: pb,
            pad_right: pr,
            count_include_pad,
        };
        if ((n * in_h * in_w * c) as usize) <= IN_MAX
            && ((n * out_h * out_w * c) as usize) <= OUT_MAX
        {
            break g;
        }
    };
    let il = (g.n * g.in_h * g.in_w * g.c) as usize;
    r.fill(&mut s.input[..il]);
    let input_zero_point = r.i8() as i32;
    let rq = Rq::draw(r, &mut s.mult[..1], &mut s.shift[..1]);
    // Pooling keeps the scale most of the time: a multiplier of 2^30 with
    // shift 1 is exactly 1.
    if r.coin() {
        (s.mult[0], s.shift[0]) = (0x4000_0000, 1);
    }
    PoolCase {
        geom: g,
        input: &s.input[..il],
        input_zero_point,
        rq: rq.params(&s.mult[..1], &s.shift[..1]),
        out_len: (g.n * g.out_h * g.out_w * g.c) as usize,
    }
}

/// The next requantization case of the stream `r`: `(acc, mult, shift)`.
/// Accumulators of every size, Q31 multipliers (including the extremes) and
/// shifts over the whole documented range `[-31, 30]`, and outside it (which
/// the function clamps).
pub fn requant(r: &mut Rng) -> (i32, i32, i32) {
    let acc = match r.range(0, 3) {
        0 => r.next_u32() as i32,
        1 => (r.next_u32() as i32) >> r.range(8, 24),
        2 => r.range(0, 2000) as i32 - 1000,
        _ => [i32::MIN, i32::MAX, 0, -1, 1][r.range(0, 4) as usize],
    };
    let mult = match r.range(0, 7) {
        0 => [i32::MAX, 0x4000_0000, 0, 1, i32::MIN][r.range(0, 4) as usize],
        _ => (0x4000_0000 | (r.next_u32() >> 2)) as i32,
    };
    let shift = match r.range(0, 9) {
        0 => r.next_u32() as i32 >> 20,
        _ => r.range(0, 61) as i32 - 31,
    };
    (acc, mult, shift)
}
