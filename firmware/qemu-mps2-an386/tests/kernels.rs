//! On-target tests of the runtime's int8 kernels (defmt-test, in QEMU): conv
//! and fc (the DSP twins, SMLAD/SXTB16 assembly as linked into the firmware,
//! and the scalar kernels built for the target), pooling and requantization,
//! each against the outputs the host computed with the scalar reference, byte
//! for byte.
//!
//! The cases come from `edgerun_fw::kernel_cases`: the build script draws them
//! on the host, runs the reference kernels and bakes only the outputs
//! (`edgerun_fw::codegen::write_kernel_vectors`); this test draws the same
//! cases from the same seeds. The first difference fails the test, after
//! printing the case.
//!
//!     bash firmware/run-qemu.sh    # builds, runs and checks it, with the firmware
//!     # or by hand:
//!     cd firmware/qemu-mps2-an386 && cargo test --release --test kernels   # raw defmt frames
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
// A test: the output buffer is sized for every case the generator draws, and a
// panic is a failure report (the panic handler exits QEMU with failure).
#![allow(clippy::indexing_slicing)]

use defmt_semihosting as _;

#[path = "../src/board.rs"]
mod board;

use edgerun_fw::edgerun::Error;
use edgerun_fw::edgerun::kernels::{conv::ConvI8Fn, fc::FcI8Fn};
use edgerun_fw::kernel_cases::{self as kc, OUT_MAX, Rng, Scratch};
use vectors::{CONV_CASES, CONV_EXPECTED, FC_CASES, FC_EXPECTED};

mod vectors {
    include!(concat!(env!("OUT_DIR"), "/kernel_vectors.rs"));
}

/// Compare `got` with the next `got.len()` bytes of `rest` and advance it;
/// fail with the case on a difference, or when the vectors run out.
fn expect(op: &str, twin: &str, case: usize, got: &[i8], rest: &mut &[u8]) {
    let Some((want, tail)) = rest.split_at_checked(got.len()) else {
        defmt::panic!(
            "EDGERUN kernel_vectors_short op={=str} case={=usize}",
            op,
            case
        );
    };
    *rest = tail;
    if let Some(at) = got.iter().zip(want).position(|(&g, &w)| g as u8 != w) {
        defmt::error!(
            "EDGERUN kernel_mismatch op={=str} twin={=str} case={=usize} first_difference={=usize} len={=usize}",
            op,
            twin,
            case,
            at,
            got.len()
        );
        let show = got.len().min(64);
        defmt::error!("host (bytes)={=[u8]}", want.get(..show).unwrap_or(want));
        defmt::error!("target      ={}", got.get(..show).unwrap_or(got));
        defmt::panic!("{=str} ({=str}) differs from the host", op, twin);
    }
}

/// All vectors used: the host and the target drew the same number of outputs.
fn finish(op: &str, twin: &str, cases: usize, rest: &[u8]) {
    defmt::assert!(
        rest.is_empty(),
        "{=str}: {=usize} expected bytes left over",
        op,
        rest.len()
    );
    defmt::info!(
        "EDGERUN kernel_test op={=str} twin={=str} cases={=usize} status=PASS",
        op,
        twin,
        cases
    );
}

/// Draw `cases` cases with `run` (which draws case `i`, runs a kernel on it
/// into `out` and returns the output length) and compare each output with the
/// next bytes of `expected`.
fn check(
    op: &str,
    twin: &str,
    cases: usize,
    expected: &[u8],
    mut run: impl FnMut(usize, &mut [i8]) -> Result<usize, Error>,
) {
    let mut out = [0i8; OUT_MAX];
    let mut rest = expected;
    for i in 0..cases {
        match run(i, &mut out) {
            Ok(n) => expect(op, twin, i, &out[..n], &mut rest),
            Err(e) => defmt::panic!("{=str} ({=str}) refused case {=usize}: {}", op, twin, i, e),
        }
    }
    finish(op, twin, cases, rest);
}

fn conv_with(twin: &str, kernel: ConvI8Fn) {
    let (mut r, mut s) = (Rng::new(kc::CONV_SEED), Scratch::new());
    check("conv", twin, CONV_CASES, &CONV_EXPECTED, |_, out| {
        let c = kc::conv(&mut r, &mut s);
        c.run(kernel, out).map(|()| c.out_len)
    });
}

fn fc_with(twin: &str, kernel: FcI8Fn) {
    let (mut r, mut s) = (Rng::new(kc::FC_SEED), Scratch::new());
    check("fc", twin, FC_CASES, &FC_EXPECTED, |_, out| {
        let c = kc::fc(&mut r, &mut s);
        c.run(kernel, out).map(|()| c.out_len)
    });
}

/// Room for any case's weights in the DSP layout: at most `(n + 1) * (len + 3)`
/// values for `n` rows of `len`, with `n * len <= W_MAX`, `n <= CH_MAX` and
/// `len <= DSP_ROW_MAX` for the layers the DSP kernels run.
const PACKED_MAX: usize = kc::W_MAX + 4 * kc::CH_MAX + 2 * 644;

/// `i16` values at a 16-byte aligned address, as packs are in a model's blob.
#[repr(C, align(16))]
struct Packed([i16; PACKED_MAX]);

/// The DSP conv kernel given each case's weights packed ahead of time
/// (`pack::pack_dsp`, as the firmware's build packs a model's), on the cases of
/// `conv_with`: the host's outputs. Returns how many cases ran packed (the
/// others, which the DSP kernel hands to the scalar kernel, run without packs).
fn conv_dsp() -> usize {
    use edgerun_fw::edgerun::kernels::conv::{dsp, pack};
    let (mut r, mut s) = (Rng::new(kc::CONV_SEED), Scratch::new());
    let mut buf = Packed([0; PACKED_MAX]);
    let mut packed_cases = 0;
    check("conv", "dsp", CONV_CASES, &CONV_EXPECTED, |_, out| {
        let c = kc::conv(&mut r, &mut s);
        let out = out.get_mut(..c.out_len).ok_or(Error::BadGeometry)?;
        let packed = match pack::dsp_packed_len(&c.geom) {
            Some(n) if pack::dsp_runs(&c.geom, c.weight_offset) => {
                let dst = buf.0.get_mut(..n).ok_or(Error::BadGeometry)?;
                pack::pack_dsp(&c.geom, c.weights, dst)?;
                packed_cases += 1;
                Some(&*dst)
            }
            _ => None,
        };
        dsp::conv_i8(
            &c.geom,
            c.input,
            c.weights,
            packed,
            c.bias,
            c.input_offset,
            c.weight_offset,
            &c.rq,
            out,
        )
        .map(|()| c.out_len)
    });
    packed_cases
}

/// The DSP fc kernel given each case's weights packed ahead of time
/// (`pack::pack_dsp_rows`), on the cases of `fc_with`, as [`conv_dsp`].
fn fc_dsp() -> usize {
    use edgerun_fw::edgerun::kernels::{conv::pack, fc::dsp};
    let (mut r, mut s) = (Rng::new(kc::FC_SEED), Scratch::new());
    let mut buf = Packed([0; PACKED_MAX]);
    let mut packed_cases = 0;
    check("fc", "dsp", FC_CASES, &FC_EXPECTED, |_, out| {
        let c = kc::fc(&mut r, &mut s);
        let out = out.get_mut(..c.out_len).ok_or(Error::BadGeometry)?;
        let (n, k) = (c.op.n as usize, c.op.k as usize);
        let packed = match pack::dsp_rows_len(n, k) {
            Some(len) if pack::dsp_fc_runs(&c.op) => {
                let dst = buf.0.get_mut(..len).ok_or(Error::BadGeometry)?;
                pack::pack_dsp_rows(c.weights, n, k, dst)?;
                packed_cases += 1;
                Some(&*dst)
            }
            _ => None,
        };
        dsp::fc_i8(&c.op, c.input, c.weights, packed, c.bias, &c.rq, out).map(|()| c.out_len)
    });
    packed_cases
}

#[defmt_test::tests]
mod tests {
    use super::vectors::{
        CONV_CASES, FC_CASES, POOL_CASES, POOL_EXPECTED, REQUANT_CASES, REQUANT_EXPECTED,
    };
    use super::{check, conv_with, fc_with, finish};
    use edgerun_fw::edgerun::kernels::{conv, fc};
    use edgerun_fw::edgerun::quant;
    use edgerun_fw::kernel_cases::{self as kc, Rng, Scratch};

    #[test]
    fn conv_dsp_matches_host() {
        let packed = super::conv_dsp();
        // Many cases are convolutions the DSP kernel runs (the others, grouped,
        // dilated or with a weight zero point, go to the scalar kernel).
        defmt::assert!(
            packed >= CONV_CASES / 8,
            "only {=usize} cases ran packed",
            packed
        );
    }

    #[test]
    fn conv_scalar_matches_host() {
        conv_with("scalar", conv::scalar::conv_i8);
    }

    #[test]
    fn fc_dsp_matches_host() {
        let packed = super::fc_dsp();
        // Every fourth length is a multiple of 4; half the cases have a weight
        // zero point (those run the scalar kernel).
        defmt::assert!(
            packed >= FC_CASES / 16,
            "only {=usize} cases ran packed",
            packed
        );
    }

    #[test]
    fn fc_scalar_matches_host() {
        fc_with("scalar", fc::scalar::fc_i8);
    }

    #[test]
    fn pool_matches_host() {
        let (mut r, mut s) = (Rng::new(kc::POOL_SEED), Scratch::new());
        check("pool", "scalar", POOL_CASES, &POOL_EXPECTED, |_, out| {
            let c = kc::pool(&mut r, &mut s);
            c.run(out).map(|()| c.out_len)
        });
    }

    #[test]
    fn requantize_matches_host() {
        let mut r = Rng::new(kc::REQUANT_SEED);
        let mut rest: &[u8] = &REQUANT_EXPECTED;
        for i in 0..REQUANT_CASES {
            let (acc, mult, shift) = kc::requant(&mut r);
            let got = quant::requantize(acc, mult, shift);
            let bytes = got.to_le_bytes();
            let Some((want, tail)) = rest.split_first_chunk::<4>() else {
                defmt::panic!("requantize: vectors end at case {=usize}", i);
            };
            rest = tail;
            if *want != bytes {
                defmt::panic!(
                    "EDGERUN kernel_mismatch op=requantize case={=usize} acc={=i32} mult={=i32} shift={=i32} host={=i32} target={=i32}",
                    i,
                    acc,
                    mult,
                    shift,
                    i32::from_le_bytes(*want),
                    got
                );
            }
        }
        finish("requantize", "scalar", REQUANT_CASES, rest);
    }
}
