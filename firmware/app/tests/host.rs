//! The application on the host: the shipped LeNet-5 baked by `codegen`, run by
//! `run_model` with a mock clock, exactly as the firmware runs it.
// Test code: a failed unwrap or index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use edgerun::QuantizedKernels;
use edgerun_fw::codegen::{Bake, Dataset};
use edgerun_fw::{
    AppError, BakedFrames, BakedModel, Clock, Frame, FrameSource, Preprocess, SourceError, Unit,
};
use std::path::{Path, PathBuf};

const FRAMES: usize = 40;

/// Advances by `step` on every read.
struct MockClock {
    t: u64,
    step: u64,
}

impl Clock for MockClock {
    const UNIT: Unit = Unit::Ticks;
    fn now(&mut self) -> u64 {
        self.t += self.step;
        self.t
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// The model, 16-byte aligned and 'static.
fn model_bytes() -> &'static [u8] {
    let bytes = std::fs::read(root().join("models/lenet5.edge")).unwrap();
    let words = bytes.len().div_ceil(16);
    let buf: &'static mut [u128] = Box::leak(vec![0u128; words].into_boxed_slice());
    let all: &'static mut [u8] = bytemuck_bytes(buf);
    all[..bytes.len()].copy_from_slice(&bytes);
    &all[..bytes.len()]
}

fn bytemuck_bytes(words: &'static mut [u128]) -> &'static mut [u8] {
    let len = words.len() * 16;
    // SAFETY: u128 has no padding and every byte pattern is a valid u8; the
    // slice covers exactly the same memory and keeps the 'static borrow.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// Bake LeNet-5 into a fresh directory and load what was written.
fn baked(name: &str) -> (BakedModel, String) {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&out).unwrap();
    let summary = Bake::new(root())
        .frames(FRAMES)
        .model(
            "lenet5",
            "models/lenet5.edge",
            Dataset::MnistTest,
            Preprocess::Divide(255.0),
        )
        .write(&out)
        .unwrap();
    assert_eq!(summary.len(), 1);
    let read = |f: &str| leak(std::fs::read(out.join(f)).unwrap());
    let model = BakedModel {
        name: "lenet5",
        bytes: model_bytes(),
        arena_bytes: summary[0].arena_bytes,
        macs: summary[0].macs,
        preprocess: Preprocess::Divide(255.0),
        frames: BakedFrames {
            count: FRAMES,
            frame_bytes: 784,
            output_bytes: 40,
            images: read("mnist_test.images.bin"),
            labels: read("mnist_test.labels.bin"),
            expected: read("model0.expected.bin"),
        },
        host_correct: summary[0].host_correct as u32,
    };
    let code = std::fs::read_to_string(out.join("baked.rs")).unwrap();
    (model, code)
}

#[test]
fn codegen_writes_the_table_and_data() {
    let (m, code) = baked("codegen");
    assert!(
        code.contains("pub const ARENA_BYTES: usize = 9072;"),
        "{code}"
    );
    assert!(code.contains("pub static MODELS: [::edgerun_fw::BakedModel; 1]"));
    assert!(code.contains("f32::from_bits(0x437f0000)"));
    assert_eq!(m.frames.images.len(), FRAMES * 784);
    assert_eq!(m.frames.labels.len(), FRAMES);
    assert_eq!(m.frames.expected.len(), FRAMES * 40);
    assert_eq!((m.arena_bytes, m.macs), (9072, 416_520));
    assert!(m.host_correct as usize >= FRAMES - 1);

    // The kernel set is exactly LeNet-5's operator kinds.
    let model = edgerun::Model::parse(model_bytes()).unwrap();
    let mut kinds: Vec<String> = model
        .ops()
        .map(|r| format!("K::{:?}", r.unwrap().op.kind()))
        .collect();
    let line = code
        .lines()
        .find(|l| l.contains("matches!(kind, "))
        .expect("a BakedKernels::includes line");
    let mut listed: Vec<&str> = line
        .trim()
        .trim_start_matches("matches!(kind, ")
        .trim_end_matches(')')
        .split(" | ")
        .collect();
    listed.sort_unstable();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(listed, kinds, "{code}");
    assert!(code.contains("const FLOAT: bool = false;"), "{code}");
}

/// An IDX file of unsigned bytes with dimensions `dims`.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn idx_frames_bake_like_the_vendored_digits_with_or_without_labels() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("idx-frames");
    std::fs::create_dir_all(&out).unwrap();
    let (reference, _) = baked("idx-reference");
    // The first 7 vendored digits as an edge-run frames file.
    let n = 7;
    let images = out.join("frames.idx");
    let labels = out.join("labels.idx");
    std::fs::write(
        &images,
        idx(&[n, 28, 28], &reference.frames.images[..n as usize * 784]),
    )
    .unwrap();
    std::fs::write(&labels, idx(&[n], &reference.frames.labels[..n as usize])).unwrap();
    for with_labels in [true, false] {
        let summary = Bake::new(root())
            .frames(100) // more than the file holds: all 7 are baked
            .model(
                "frames",
                "models/lenet5.edge",
                Dataset::Idx {
                    images: images.clone(),
                    labels: with_labels.then(|| labels.clone()),
                },
                Preprocess::Divide(255.0),
            )
            .write(&out)
            .unwrap();
        assert_eq!(summary[0].frames, n as usize);
        let expected = std::fs::read(out.join("model0.expected.bin")).unwrap();
        assert_eq!(expected, reference.frames.expected[..n as usize * 40]);
        let code = std::fs::read_to_string(out.join("baked.rs")).unwrap();
        assert!(code.contains("count: 7,"), "{code}");
        let baked_labels = std::fs::read(out.join("frames.labels.bin")).unwrap();
        if with_labels {
            assert_eq!(baked_labels, reference.frames.labels[..n as usize]);
            assert!(summary[0].host_correct >= 6);
        } else {
            assert!(baked_labels.is_empty());
            assert_eq!(summary[0].host_correct, 0);
        }
    }
    // A frames file of the wrong element type, or too few labels: build errors.
    std::fs::write(&images, [0u8, 0, 9, 1, 0, 0, 0, 0]).unwrap();
    let bad = Bake::new(root())
        .model(
            "frames",
            "models/lenet5.edge",
            Dataset::Idx {
                images: images.clone(),
                labels: None,
            },
            Preprocess::Divide(255.0),
        )
        .write(&out);
    assert!(bad.unwrap_err().to_string().contains("unsigned bytes"));
}

/// A kernel set that leaves out int8 conv (as `BakedKernels` leaves out the
/// kinds its models do not use).
struct NoConv;
impl edgerun::KernelSet for NoConv {
    const FLOAT: bool = false;
    fn includes(kind: edgerun::OpKind) -> bool {
        kind != edgerun::OpKind::ConvI8 && !kind.is_float_compute()
    }
}

#[test]
fn a_kind_outside_a_per_kind_set_is_refused_before_any_frame() {
    let (m, _) = baked("per-kind");
    let mut arena = vec![0u8; m.arena_bytes + 16];
    let mut clock = MockClock { t: 0, step: 1 };
    let e = m
        .run(NoConv, &mut arena, &mut clock, |_| {
            panic!("no frame may run")
        })
        .unwrap_err();
    assert_eq!(
        e,
        AppError::Runtime(edgerun::Error::KernelNotBuilt(edgerun::OpKind::ConvI8))
    );
}

#[test]
fn lenet5_runs_bit_exact_with_a_mock_clock() {
    let (m, _) = baked("run");
    let mut arena = vec![0u8; m.arena_bytes + 15];
    let mut clock = MockClock { t: 0, step: 7 };
    let mut seen = 0;
    let r = m
        .run(QuantizedKernels, &mut arena, &mut clock, |_| seen += 1)
        .unwrap();
    assert!(m.passed(&r), "{r:?}");
    assert_eq!(seen, FRAMES);
    assert_eq!((r.frames, r.checked, r.mismatches), (FRAMES, FRAMES, 0));
    assert_eq!(r.correct, m.host_correct as usize);
    assert_eq!((r.macs, r.arena_bytes, r.ops.len()), (416_520, 9072, 13));
    assert_eq!(r.ops.iter().map(|o| o.macs).sum::<u64>(), 416_520);
    assert_eq!(r.ops[1].kind.name(), "conv_i8");
    assert_eq!(r.ops[1].macs, 117_600);
    // One read before and after the inference and two per operator.
    for op in &r.ops {
        assert_eq!((op.min, op.max, op.total), (7, 7, 7 * FRAMES as u64));
    }
    assert_eq!((r.min, r.max, r.mean()), (7 * 27, 7 * 27, 7 * 27));
    assert_eq!(r.ops_mean(), 7 * 13);
}

#[test]
fn a_wrong_expected_byte_fails_the_frame_not_the_run() {
    let (mut m, _) = baked("mismatch");
    let mut expected = m.frames.expected.to_vec();
    expected[3 * 40 + 5] ^= 1;
    m.frames.expected = leak(expected);
    let mut arena = vec![0u8; m.arena_bytes + 15];
    let r = m
        .run(
            QuantizedKernels,
            &mut arena,
            &mut MockClock { t: 0, step: 1 },
            |_| {},
        )
        .unwrap();
    assert_eq!((r.frames, r.mismatches), (FRAMES, 1));
    assert_eq!(r.failures.len(), 1);
    assert_eq!(
        (r.failures[0].index, r.failures[0].bit_exact),
        (3, Some(false))
    );
    assert!(!r.bit_exact());
    assert!(!m.passed(&r));
}

#[test]
fn a_small_arena_is_a_typed_error() {
    let (m, _) = baked("arena");
    let mut arena = vec![0u8; 4096];
    let e = m
        .run(
            QuantizedKernels,
            &mut arena,
            &mut MockClock { t: 0, step: 1 },
            |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            AppError::Runtime(edgerun::Error::ArenaTooSmall { got: 4096, .. })
        ),
        "{e:?}"
    );
}

#[test]
fn a_corrupt_model_is_a_typed_error() {
    let (mut m, _) = baked("corrupt");
    let mut bytes = m.bytes.to_vec();
    bytes[1000] ^= 0x55;
    // Keep the copy 16-byte aligned.
    let words: &'static mut [u128] = Box::leak(vec![0u128; bytes.len().div_ceil(16)].into());
    let all = bytemuck_bytes(words);
    all[..bytes.len()].copy_from_slice(&bytes);
    m.bytes = &all[..bytes.len()];
    let mut arena = vec![0u8; 16 * 1024];
    let e = m
        .run(
            QuantizedKernels,
            &mut arena,
            &mut MockClock { t: 0, step: 1 },
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e, AppError::Runtime(edgerun::Error::ChecksumMismatch));
}

/// Frames from a mock camera: one good frame, then a short one or an error.
struct MockCamera {
    frames: Vec<Result<Vec<u8>, SourceError>>,
}

impl FrameSource for MockCamera {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        if self.frames.is_empty() {
            return Ok(None);
        }
        let f = self.frames.remove(0)?;
        let pixels = leak(f);
        Ok(Some(Frame {
            pixels,
            label: None,
            expected_output: None,
        }))
    }
}

#[test]
fn camera_frames_without_labels_and_source_errors() {
    let bytes = model_bytes();
    let mut arena = vec![0u8; 9072 + 15];
    let mut clock = MockClock { t: 0, step: 1 };
    let mut cam = MockCamera {
        frames: vec![Ok(vec![0; 784]), Ok(vec![255; 784])],
    };
    let r = edgerun_fw::run_model(
        QuantizedKernels,
        bytes,
        Preprocess::Divide(255.0),
        &mut arena,
        &mut cam,
        &mut clock,
        |_| {},
    )
    .unwrap();
    assert_eq!((r.frames, r.labelled, r.checked), (2, 0, 0));
    assert!(!r.bit_exact());

    let mut cam = MockCamera {
        frames: vec![Ok(vec![0; 784]), Err(SourceError::Timeout)],
    };
    let e = edgerun_fw::run_model(
        QuantizedKernels,
        bytes,
        Preprocess::Divide(255.0),
        &mut arena,
        &mut cam,
        &mut clock,
        |_| {},
    )
    .unwrap_err();
    assert_eq!(e, AppError::Source(SourceError::Timeout));

    let mut cam = MockCamera {
        frames: vec![Ok(vec![0; 783])],
    };
    let e = edgerun_fw::run_model(
        QuantizedKernels,
        bytes,
        Preprocess::Divide(255.0),
        &mut arena,
        &mut cam,
        &mut clock,
        |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e,
        AppError::FrameSize {
            expected: 784,
            got: 783
        }
    );
}

/// A one-operator f32 model (`y = -x`, 4 elements), written by the runtime's writer.
fn float_model() -> &'static [u8] {
    use edgerun::format::schema::*;
    use edgerun::format::write::{ModelParts, write_model};
    let shape = Shape {
        rank: 1,
        dims: [4, 1, 1, 1, 1, 1],
    };
    let buf = |offset| Buf {
        mem: Mem::Arena,
        offset,
        len: 16,
    };
    let desc = |name, offset| TensorDesc {
        name,
        dtype: DType::F32,
        shape,
        quant: None,
        buf: buf(offset),
    };
    let op = OpRecord {
        name: "neg",
        op: Op::UnaryF32(UnaryF32 {
            kind: UnaryKind::Neg,
            len: 4,
            input: buf(0),
            output: buf(16),
            act: ClampF32::NONE,
        }),
    };
    let bytes = write_model(&ModelParts {
        name: "neg",
        arena_bytes: 32,
        inputs: &[desc("x", 0)],
        outputs: &[desc("y", 16)],
        ops: &[op],
        tensors: &[],
        blob: &[],
    })
    .unwrap();
    let words: &'static mut [u128] = Box::leak(vec![0u128; bytes.len().div_ceil(16)].into());
    let all = bytemuck_bytes(words);
    all[..bytes.len()].copy_from_slice(&bytes);
    &all[..bytes.len()]
}

#[test]
fn an_f32_operator_is_refused_by_int8_only_firmware_before_any_frame() {
    let model = float_model();
    let mut arena = vec![0u8; 64];
    let mut clock = MockClock { t: 0, step: 1 };
    let cam = || MockCamera {
        frames: vec![Ok(vec![0, 1, 2, 255])],
    };
    let e = edgerun_fw::run_model(
        QuantizedKernels,
        model,
        Preprocess::Divide(1.0),
        &mut arena,
        &mut cam(),
        &mut clock,
        |_| panic!("no frame may run"),
    )
    .unwrap_err();
    assert_eq!(
        e,
        AppError::Runtime(edgerun::Error::KernelNotBuilt(edgerun::OpKind::UnaryF32))
    );
    let r = edgerun_fw::run_model(
        edgerun::AllKernels,
        model,
        Preprocess::Divide(1.0),
        &mut arena,
        &mut cam(),
        &mut clock,
        |_| {},
    )
    .unwrap();
    assert_eq!((r.frames, r.macs, r.ops.len()), (1, 0, 1));
}
