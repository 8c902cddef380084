//! On-target kernel tests: the DSP kernels (SMLAD/SXTB16 assembly, as linked into
//! the firmware) against the scalar reference kernels, bit for bit, on random
//! geometries (strides, pads, dilations, groups, depthwise, first layers with one
//! input channel, 1x1, odd channel counts, rows of every length modulo 4, windows
//! longer than the DSP rows), zero points, per-channel multipliers and clamps.
//!
//! The host runs the same kernels with emulated instructions in the runtime's test
//! frame (`cargo test -p edgerun-runtime`); this binary runs the real instructions
//! under QEMU. It exits with failure at the first mismatch, after printing the case.
//!
//!     cd firmware/qemu-mps2-an386 && cargo build --release && \
//!       qemu-system-arm -cpu cortex-m4 -M mps2-an386 -nographic \
//!         -semihosting-config enable=on,target=native \
//!         -kernel ../target/thumbv7em-none-eabihf/release/kernel-tests | \
//!       defmt-print -e ../target/thumbv7em-none-eabihf/release/kernel-tests
//!
//! (`firmware/run-qemu.sh` does this and checks the result.)
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
// A test binary: the buffers are sized for the cases it generates, and a panic is
// a failure report (the panic handler exits QEMU with failure).
#![allow(clippy::indexing_slicing)]

use cortex_m_rt::entry;
use defmt_semihosting as _;
use edgerun::format::schema::{Buf, ConvGeom, FcI8, Mem, Requant};
use edgerun::kernels::RequantParams;
use edgerun::kernels::{conv, fc};
use edgerun_fw::edgerun;

#[path = "../board.rs"]
mod board;
use board::exit;

/// Random cases of each operator.
const CONV_CASES: u32 = 10_000;
const FC_CASES: u32 = 3_000;

const IN_MAX: usize = 6144;
const W_MAX: usize = 12288;
const OUT_MAX: usize = 6144;
const CH_MAX: usize = 64;

/// xorshift32.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.next() % (hi - lo + 1)
    }
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    fn fill(&mut self, xs: &mut [i8]) {
        for x in xs {
            *x = self.i8();
        }
    }
}

/// Output size along one axis, or `None` when no window fits; the end pad grows
/// as needed and windows starting inside the end padding are dropped (as the
/// runtime's geometry check requires).
fn axis(inp: u32, k: u32, s: u32, d: u32, pb: u32, pe: u32) -> Option<u32> {
    let eff = (k - 1) * d + 1;
    let pe = pe.max(eff.saturating_sub(inp + pb));
    let mut out = (inp + pb + pe).checked_sub(eff)? / s + 1;
    while out > 1 && (out - 1) * s >= inp + pb {
        out -= 1;
    }
    Some(out)
}

/// Requantization of `ch` channels: multipliers in `[2^30, 2^31)` with shifts that
/// keep most outputs inside the int8 range, an output zero point and a clamp.
struct Rq {
    mult: [i32; CH_MAX],
    shift: [i32; CH_MAX],
    out_off: i32,
    lo: i32,
    hi: i32,
}

impl Rq {
    fn random(r: &mut Rng, ch: usize) -> Self {
        let mut rq = Rq {
            mult: [0; CH_MAX],
            shift: [0; CH_MAX],
            out_off: r.i8() as i32,
            lo: -128,
            hi: 127,
        };
        for c in 0..ch.min(CH_MAX) {
            rq.mult[c] = (0x4000_0000 | (r.next() >> 2)) as i32;
            rq.shift[c] = -(r.range(4, 14) as i32);
        }
        if r.next().is_multiple_of(2) {
            let (a, b) = (r.i8() as i32, r.i8() as i32);
            (rq.lo, rq.hi) = (a.min(b), a.max(b));
        }
        rq
    }
    fn params(&self, ch: usize) -> RequantParams<'_> {
        RequantParams {
            mult: &self.mult[..ch],
            shift: &self.shift[..ch],
            output_offset: self.out_off,
            act_min: self.lo,
            act_max: self.hi,
        }
    }
}

/// A random conv geometry of one of five kinds (general, dense, first layer,
/// pointwise, depthwise), or `None` when it does not fit the buffers.
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
        _ => (1, r.range(26, 32), r.range(1, 5), (5, 5), (1, 1), (1, 1)), // window > 640
    };
    let pads = if kind == 3 {
        (0, 0, 0, 0)
    } else {
        (r.range(0, 2), r.range(0, 2), r.range(0, 2), r.range(0, 2))
    };
    let out_h = axis(in_h, k.0, s.0, d.0, pads.0, pads.2)?;
    let out_w = axis(in_w, k.1, s.1, d.1, pads.1, pads.3)?;
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

const NO_BUF: Buf = Buf {
    mem: Mem::Arena,
    offset: 0,
    len: 0,
};

#[entry]
fn main() -> ! {
    let mut input = [0i8; IN_MAX];
    let mut weights = [0i8; W_MAX];
    let mut want = [0i8; OUT_MAX];
    let mut got = [0i8; OUT_MAX];
    let mut bias = [0i32; CH_MAX];
    let mut r = Rng(0x2545_f491);

    let mut conv_cases = 0u32;
    while conv_cases < CONV_CASES {
        let Some((kind, g)) = conv_geom(&mut r) else {
            continue;
        };
        let icg = (g.in_c / g.groups) as usize;
        let (il, wl, ol, oc) = (
            (g.n * g.in_h * g.in_w * g.in_c) as usize,
            g.out_c as usize * (g.k_h * g.k_w) as usize * icg,
            (g.n * g.out_h * g.out_w * g.out_c) as usize,
            g.out_c as usize,
        );
        r.fill(&mut input[..il]);
        r.fill(&mut weights[..wl]);
        for b in &mut bias[..oc] {
            *b = (r.next() % 80_001) as i32 - 40_000;
        }
        let with_bias = !r.next().is_multiple_of(4);
        let in_off = -(r.i8() as i32);
        let w_off = if r.next().is_multiple_of(2) {
            0
        } else {
            -(r.i8() as i32)
        };
        let rq = Rq::random(&mut r, oc);
        let rqp = rq.params(oc);
        let b = with_bias.then_some(&bias[..oc]);
        let (inp, w) = (&input[..il], &weights[..wl]);
        let a = conv::scalar::conv_i8(&g, inp, w, b, in_off, w_off, &rqp, &mut want[..ol]);
        let d = conv::dsp::conv_i8(&g, inp, w, b, in_off, w_off, &rqp, &mut got[..ol]);
        if a != d || want[..ol] != got[..ol] {
            defmt::error!(
                "EDGERUN kernel_mismatch op=conv case={=u32} kind={=u32} n={=u32} in={=u32}x{=u32}x{=u32} out={=u32}x{=u32}x{=u32} k={=u32}x{=u32} stride={=u32}x{=u32} dil={=u32}x{=u32} pad={=u32},{=u32} groups={=u32} in_off={=i32} w_off={=i32} scalar_ok={=bool} dsp_ok={=bool}",
                conv_cases,
                kind,
                g.n,
                g.in_h,
                g.in_w,
                g.in_c,
                g.out_h,
                g.out_w,
                g.out_c,
                g.k_h,
                g.k_w,
                g.stride_h,
                g.stride_w,
                g.dil_h,
                g.dil_w,
                g.pad_top,
                g.pad_left,
                g.groups,
                in_off,
                w_off,
                a.is_ok(),
                d.is_ok()
            );
            defmt::error!("scalar={}", &want[..ol.min(64)]);
            defmt::error!("dsp   ={}", &got[..ol.min(64)]);
            exit(false)
        }
        conv_cases += 1;
    }

    for case in 0..FC_CASES {
        let rows = r.range(1, 4) as usize;
        let k = r.range(0, 700) as usize;
        let n = r.range(1, 12) as usize;
        if rows * k > IN_MAX || n * k > W_MAX {
            continue;
        }
        r.fill(&mut input[..rows * k]);
        r.fill(&mut weights[..n * k]);
        for b in &mut bias[..n] {
            *b = (r.next() % 200_001) as i32 - 100_000;
        }
        let p = FcI8 {
            rows: rows as u32,
            k: k as u32,
            n: n as u32,
            input: NO_BUF,
            weights: NO_BUF,
            bias: None,
            output: NO_BUF,
            input_offset: -(r.i8() as i32),
            weight_offset: if r.next().is_multiple_of(2) {
                0
            } else {
                -(r.i8() as i32)
            },
            rq: Requant {
                mult: NO_BUF,
                shift: NO_BUF,
                output_offset: 0,
                act_min: -128,
                act_max: 127,
            },
        };
        let rq = Rq::random(&mut r, n);
        let rqp = rq.params(n);
        let b = (!r.next().is_multiple_of(4)).then_some(&bias[..n]);
        let (inp, w) = (&input[..rows * k], &weights[..n * k]);
        let a = fc::scalar::fc_i8(&p, inp, w, b, &rqp, &mut want[..rows * n]);
        let d = fc::dsp::fc_i8(&p, inp, w, b, &rqp, &mut got[..rows * n]);
        if a != d || want[..rows * n] != got[..rows * n] {
            defmt::error!(
                "EDGERUN kernel_mismatch op=fc case={=u32} rows={=usize} k={=usize} n={=usize} in_off={=i32} w_off={=i32}",
                case,
                rows,
                k,
                n,
                p.input_offset,
                p.weight_offset
            );
            defmt::error!("scalar={}", &want[..(rows * n).min(64)]);
            defmt::error!("dsp   ={}", &got[..(rows * n).min(64)]);
            exit(false)
        }
    }
    defmt::info!(
        "EDGERUN kernel_tests conv_cases={=u32} fc_cases={=u32} status=PASS",
        conv_cases,
        FC_CASES
    );
    exit(true)
}
