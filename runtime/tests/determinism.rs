//! Cross-target determinism: the shipped int8 models give the same output bytes
//! on every target and every kernel twin.
//!
//! For each shipped `.edge` model this runs the vendored MNIST test digits (for
//! the detector, 3x3 mosaics of them on its 96x96 canvas), hashes every output
//! byte of every frame (FNV-1a, 64 bit) and compares the digest with
//! `determinism.golden`, which the scalar reference kernels made on x86_64.
//! It checks two kernel sets in the same process: the scalar reference twins
//! (`ReferenceKernels`) and the fastest twin of this build and CPU
//! (`AllKernels`: AVX2 on x86_64 with `std`, NEON or SDOT on aarch64, scalar
//! otherwise). `tests/run-all.sh` runs it on x86_64 with and without the `std`
//! feature and on aarch64 under qemu as a Cortex-A72 (NEON) and a Cortex-A76
//! (SDOT); the Cortex-M firmware checks its outputs against the host's bytes
//! for the same digits (`firmware/run-qemu.sh`) and its build script checks
//! those bytes against this file too.
//!
//! After a shipped model changes, remake the file with the reference kernels:
//!
//!     EDGERUN_BLESS=1 cargo test -p edgerun-runtime --test determinism

use edgerun::digest::Fnv1a;
use edgerun::{AllKernels, Interpreter, KernelSet, Model, NoHook, ReferenceKernels};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Digits per classifier model (the first of the 500 vendored ones); kept small
/// so the aarch64 runs under qemu stay short.
const DIGITS: usize = 100;
/// Detector frames, each a 3x3 mosaic of consecutive digits.
const MOSAICS: usize = 12;
const SIDE: usize = 28;

struct Case {
    name: &'static str,
    path: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "lenet5",
        path: "models/lenet5.edge",
    },
    Case {
        name: "resnet8",
        path: "models/resnet8.edge",
    },
    Case {
        name: "vgg",
        path: "models/vgg.edge",
    },
    Case {
        name: "alexnet",
        path: "models/alexnet.edge",
    },
    Case {
        name: "detector",
        path: "models/detector.edge",
    },
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The vendored digits, one byte per pixel (IDX: a 16-byte header).
fn digits() -> Vec<u8> {
    let path = repo().join("tools/data/vendor/t10k-images-first500-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        bytes.get(..4),
        Some(&[0, 0, 8, 3][..]),
        "not an IDX image file"
    );
    bytes[16..].to_vec()
}

/// The model file in a 16-byte aligned buffer.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut buf = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()].copy_from_slice(bytes);
    buf
}

/// Frames for a model input of `h x w` pixels: the digits themselves (28x28),
/// or 3x3 mosaics of them centred on a larger canvas.
fn frames(h: usize, w: usize, digits: &[u8]) -> Vec<Vec<u8>> {
    let digit = |i: usize| &digits[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
    if (h, w) == (SIDE, SIDE) {
        return (0..DIGITS).map(|i| digit(i).to_vec()).collect();
    }
    assert!(
        h >= 3 * SIDE && w >= 3 * SIDE,
        "no frames for a {h}x{w} input"
    );
    let (top, left) = ((h - 3 * SIDE) / 2, (w - 3 * SIDE) / 2);
    (0..MOSAICS)
        .map(|m| {
            let mut canvas = vec![0u8; h * w];
            for cell in 0..9 {
                let src = digit(m * 9 + cell);
                let (r0, c0) = (top + cell / 3 * SIDE, left + cell % 3 * SIDE);
                for r in 0..SIDE {
                    let row = (r0 + r) * w + c0;
                    canvas[row..row + SIDE].copy_from_slice(&src[r * SIDE..(r + 1) * SIDE]);
                }
            }
            canvas
        })
        .collect()
}

/// How a test runs one inference.
type Invoke<'f> = &'f dyn Fn(&mut Interpreter<'_, '_>) -> Result<(), edgerun::Error>;

/// Digest of every output byte of every frame, each run by `invoke`. The
/// input is f32 `pixel / 255`, as the firmware and `edge-run` feed it.
fn digest(model: &Model<'_>, frames: &[Vec<u8>], invoke: Invoke<'_>) -> u64 {
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(model, &mut arena).expect("arena");
    let mut hash = Fnv1a::new();
    for frame in frames {
        let input: Vec<f32> = frame.iter().map(|&p| f32::from(p) / 255.0).collect();
        interp.set_input_f32(0, &input).expect("input");
        invoke(&mut interp).expect("invoke");
        for o in 0..model.num_outputs() {
            hash.update(interp.output_bytes(o).expect("output"));
        }
    }
    hash.finish()
}

/// `name digest frames` lines, with the kernels of `K`.
fn run<K: KernelSet>() -> String {
    run_with(&|i| i.invoke_with_kernels::<K>(&mut NoHook))
}

/// `name digest frames` lines, each inference run by `invoke`.
fn run_with(invoke: Invoke<'_>) -> String {
    let digits = digits();
    let mut out = String::new();
    for case in CASES {
        let bytes = std::fs::read(repo().join(case.path)).expect(case.path);
        let buf = aligned(&bytes);
        let model = Model::parse(&bytemuck::cast_slice(&buf)[..bytes.len()]).expect(case.path);
        let input = model.input(0).expect("input");
        let dims = input.shape.dims();
        let (h, w) = (dims[dims.len() - 2] as usize, dims[dims.len() - 1] as usize);
        let frames = frames(h, w, &digits);
        let d = digest(&model, &frames, invoke);
        writeln!(out, "{} {d:016x} {}", case.name, frames.len()).unwrap();
    }
    out
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/determinism.golden")
}

fn golden() -> String {
    let text = std::fs::read_to_string(golden_path()).expect("tests/determinism.golden");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn reference_kernels_match_the_golden_digests() {
    let got = run::<ReferenceKernels>();
    if std::env::var_os("EDGERUN_BLESS").is_some() {
        let header = "# name fnv1a64(all output bytes) frames -- made by the scalar reference \
                      kernels; see runtime/tests/determinism.rs\n";
        std::fs::write(golden_path(), format!("{header}{got}")).expect("write golden");
    }
    assert_eq!(
        got,
        golden(),
        "reference kernels on {} differ from the golden digests \
         (after changing a shipped model: EDGERUN_BLESS=1)",
        std::env::consts::ARCH
    );
}

#[test]
fn fastest_twins_match_the_golden_digests() {
    eprintln!("int8 twin on this CPU: {}", edgerun::kernels::int8_twin());
    assert_eq!(
        run::<AllKernels>(),
        golden(),
        "the {} twin on {} differs from the scalar reference's golden digests",
        edgerun::kernels::int8_twin(),
        std::env::consts::ARCH
    );
}

/// The int8 convolutions cut into parts of output rows, computed by three
/// threads (`Interpreter::invoke_threaded`): the same bytes.
#[cfg(feature = "threads")]
#[test]
fn threaded_invocations_match_the_golden_digests() {
    let threads = edgerun::Threads::new(3).expect("threads");
    assert_eq!(
        run_with(&|i| i.invoke_threaded(&threads)),
        golden(),
        "threaded invocations on {} differ from the golden digests",
        std::env::consts::ARCH
    );
}
