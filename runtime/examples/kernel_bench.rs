//! Micro-benchmark of the int8 conv, fc, Add and max pool kernels, scalar against the SIMD
//! twins this CPU runs (AVX2 on x86_64; NEON, and SDOT where the CPU has it, on
//! aarch64), on the layer shapes of LeNet-5 and of an MLPerf-Tiny-style ResNet-8
//! (32x32x3 input, 16/32/64 channels): median time of 200 runs, GMAC/s (for Add:
//! G elements/s; for pooling, G outputs/s) and the speed-up over scalar (std only, no harness; 1 thread):
//!
//!     cargo run --release -p edgerun-runtime --features std --example kernel_bench
//!
//! On a Raspberry Pi, run that command there, or cross-build it here and copy it:
//!
//!     cargo build --release -p edgerun-runtime --features std --example kernel_bench \
//!         --target aarch64-unknown-linux-gnu
//!     scp target/aarch64-unknown-linux-gnu/release/examples/kernel_bench pi@raspberrypi:

use edgerun::format::schema::{
    BinaryI8, BinaryKind, Buf, ConvGeom, FcI8, MAX_RANK, Mem, PoolGeom, PoolKind, Requant,
};
use edgerun::kernels::RequantParams;
use edgerun::kernels::{binary, conv, fc, pool};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 200;

/// A SIMD twin of the conv and fc kernels.
struct Twin {
    name: &'static str,
    conv: conv::ConvI8Fn,
    fc: fc::FcI8Fn,
    /// The int8 Add / Mul twin, when there is one.
    binary: Option<binary::BinaryI8Fn>,
    /// The int8 pooling twin, when there is one.
    pool: Option<pool::PoolI8Fn>,
}

/// The SIMD twins this CPU runs.
fn twins() -> Vec<Twin> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        v.push(Twin {
            name: "avx2",
            conv: conv::avx2::conv_i8,
            fc: fc::avx2::fc_i8,
            binary: Some(binary::avx2::binary_i8),
            pool: Some(pool::avx2::pool_i8),
        });
    }
    #[cfg(edgerun_neon)]
    {
        v.push(Twin {
            name: "neon",
            conv: conv::neon::conv_i8,
            fc: fc::neon::fc_i8,
            binary: None,
            pool: None,
        });
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            v.push(Twin {
                name: "sdot",
                conv: conv::neon::conv_i8_sdot,
                fc: fc::neon::fc_i8_sdot,
                binary: None,
                pool: None,
            });
        }
    }
    v
}

fn median_us(mut f: impl FnMut()) -> f64 {
    f();
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

fn bytes(n: usize, seed: u32) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn conv_case(
    twins: &[Twin],
    name: &str,
    hw: u32,
    in_c: u32,
    out_c: u32,
    k: u32,
    stride: u32,
    pad: u32,
) {
    let out_hw = (hw + 2 * pad - k) / stride + 1;
    let g = ConvGeom {
        n: 1,
        in_h: hw,
        in_w: hw,
        in_c,
        out_h: out_hw,
        out_w: out_hw,
        out_c,
        k_h: k,
        k_w: k,
        stride_h: stride,
        stride_w: stride,
        dil_h: 1,
        dil_w: 1,
        pad_top: pad,
        pad_left: pad,
        groups: 1,
    };
    let input = bytes((hw * hw * in_c) as usize, 1);
    let weights = bytes((out_c * k * k * in_c) as usize, 2);
    let bias = vec![100i32; out_c as usize];
    let (mult, shift) = (vec![1 << 30; out_c as usize], vec![-8; out_c as usize]);
    let rq = RequantParams {
        mult: &mult,
        shift: &shift,
        output_offset: -3,
        act_min: -128,
        act_max: 127,
    };
    let mut out = vec![0i8; (out_hw * out_hw * out_c) as usize];
    let macs = (out_hw * out_hw * out_c * k * k * in_c) as f64;
    let mut run = |f: conv::ConvI8Fn| {
        median_us(|| {
            f(
                &g,
                black_box(&input),
                &weights,
                Some(&bias),
                5,
                0,
                &rq,
                &mut out,
            )
            .unwrap();
        })
    };
    let s = run(conv::scalar::conv_i8);
    let t: Vec<f64> = twins.iter().map(|t| run(t.conv)).collect();
    report(twins, name, macs, s, &t);
}

fn fc_case(twins: &[Twin], name: &str, k: u32, n: u32) {
    let no = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };
    let p = FcI8 {
        rows: 1,
        k,
        n,
        input: no,
        weights: no,
        bias: None,
        output: no,
        input_offset: 5,
        weight_offset: 0,
        rq: Requant {
            mult: no,
            shift: no,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        },
    };
    let input = bytes(k as usize, 3);
    let weights = bytes((k * n) as usize, 4);
    let (mult, shift) = (vec![1 << 30; n as usize], vec![-8; n as usize]);
    let rq = RequantParams {
        mult: &mult,
        shift: &shift,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let mut out = vec![0i8; n as usize];
    let mut run = |f: fc::FcI8Fn| {
        median_us(|| f(&p, black_box(&input), &weights, None, &rq, &mut out).unwrap())
    };
    let s = run(fc::scalar::fc_i8);
    let t: Vec<f64> = twins.iter().map(|t| run(t.fc)).collect();
    report(twins, name, (k * n) as f64, s, &t);
}

/// A residual Add of two `c x hw x hw` tensors (no broadcast) with TFLite-style
/// parameters (left shift 20, input scales 0.5 and 0.375, output 2^-19 * 0.6).
fn add_case(twins: &[Twin], name: &str, hw: u32, c: u32) {
    let no = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };
    let mut shape = [1u32; MAX_RANK];
    shape[MAX_RANK - 3..].copy_from_slice(&[hw, hw, c]);
    let stride = {
        let mut s = [0u32; MAX_RANK];
        s[MAX_RANK - 3..].copy_from_slice(&[hw * c, c, 1]);
        s
    };
    let p = BinaryI8 {
        kind: BinaryKind::Add,
        shape,
        a_stride: stride,
        b_stride: stride,
        a: no,
        b: no,
        output: no,
        a_offset: 3,
        b_offset: -5,
        left_shift: 20,
        a_mult: 1 << 30,
        a_shift: 0,
        b_mult: 1_610_612_736,
        b_shift: -1,
        rq: Requant {
            mult: no,
            shift: no,
            output_offset: -2,
            act_min: -128,
            act_max: 127,
        },
    };
    let n = (hw * hw * c) as usize;
    let (a, b) = (bytes(n, 5), bytes(n, 6));
    let rq = RequantParams {
        mult: &[1_288_490_189],
        shift: &[-19],
        output_offset: -2,
        act_min: -128,
        act_max: 127,
    };
    let mut out = vec![0i8; n];
    let mut run =
        |f: binary::BinaryI8Fn| median_us(|| f(&p, black_box(&a), &b, &rq, &mut out).unwrap());
    let s = run(binary::scalar::binary_i8);
    let (with, t): (Vec<Twin>, Vec<f64>) = twins
        .iter()
        .filter_map(|t| {
            let f = t.binary?;
            Some((Twin { binary: None, ..*t }, run(f)))
        })
        .unzip();
    report(&with, name, n as f64, s, &t);
}

/// A 2x2 stride-2 max pool of a `hw x hw x c` tensor, rescaled (in / out
/// scale 0.9).
fn pool_case(twins: &[Twin], name: &str, hw: u32, c: u32) {
    let g = PoolGeom {
        kind: PoolKind::Max,
        n: 1,
        in_h: hw,
        in_w: hw,
        c,
        out_h: hw / 2,
        out_w: hw / 2,
        k_h: 2,
        k_w: 2,
        stride_h: 2,
        stride_w: 2,
        dil_h: 1,
        dil_w: 1,
        pad_top: 0,
        pad_left: 0,
        pad_bottom: 0,
        pad_right: 0,
        count_include_pad: false,
    };
    let input = bytes((hw * hw * c) as usize, 7);
    let rq = RequantParams {
        mult: &[1_932_735_283],
        shift: &[0],
        output_offset: -128,
        act_min: -128,
        act_max: 127,
    };
    let n = (hw / 2 * hw / 2 * c) as usize;
    let mut out = vec![0i8; n];
    let mut run =
        |f: pool::PoolI8Fn| median_us(|| f(&g, black_box(&input), -128, &rq, &mut out).unwrap());
    let s = run(pool::scalar::pool_i8);
    let (with, t): (Vec<Twin>, Vec<f64>) = twins
        .iter()
        .filter_map(|t| {
            let f = t.pool?;
            Some((Twin { pool: None, ..*t }, run(f)))
        })
        .unzip();
    report(&with, name, n as f64, s, &t);
}

fn report(twins: &[Twin], name: &str, macs: f64, scalar_us: f64, twin_us: &[f64]) {
    print!(
        "{name:<34} {:>9.0} MACs  scalar {scalar_us:>9.1} us {:>6.2} GMAC/s",
        macs,
        macs / scalar_us / 1e3
    );
    for (t, us) in twins.iter().zip(twin_us) {
        print!(
            "  {} {us:>8.1} us {:>6.2} GMAC/s x{:.1}",
            t.name,
            macs / us / 1e3,
            scalar_us / us
        );
    }
    println!();
}

fn main() {
    let t = twins();
    let names: Vec<&str> = t.iter().map(|t| t.name).collect();
    println!("SIMD twins on this CPU: {names:?}");
    conv_case(&t, "lenet conv1 5x5 1->6 28x28 pad2", 28, 1, 6, 5, 1, 2);
    conv_case(&t, "lenet conv2 5x5 6->16 14x14", 14, 6, 16, 5, 1, 0);
    fc_case(&t, "lenet fc 400->120", 400, 120);
    fc_case(&t, "lenet fc 120->84", 120, 84);
    conv_case(&t, "resnet8 conv 3x3 1->16 28x28", 28, 1, 16, 3, 1, 1);
    conv_case(&t, "detector conv 5x5 1->6 96x96", 96, 1, 6, 5, 1, 2);
    conv_case(&t, "resnet8 conv 3x3 3->16 32x32", 32, 3, 16, 3, 1, 1);
    conv_case(&t, "resnet8 conv 3x3 16->16 32x32", 32, 16, 16, 3, 1, 1);
    conv_case(&t, "resnet8 conv 3x3 16->32 s2", 32, 16, 32, 3, 2, 1);
    conv_case(&t, "resnet8 conv 3x3 32->32 16x16", 16, 32, 32, 3, 1, 1);
    conv_case(&t, "resnet8 conv 3x3 64->64 8x8", 8, 64, 64, 3, 1, 1);
    conv_case(&t, "resnet8 conv 1x1 32->64 s2", 16, 32, 64, 1, 2, 0);
    add_case(&t, "add 16x28x28 (elements)", 28, 16);
    add_case(&t, "resnet8 add 32x32x16 (elements)", 32, 16);
    pool_case(&t, "lenet max pool 28x28x6 (outputs)", 28, 6);
    pool_case(&t, "detector max pool 96x96x6 (outputs)", 96, 6);
}
