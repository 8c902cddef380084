//! The `.edge` reader against truncated and corrupted files: every failure is a
//! typed error, never a panic or an out-of-bounds read; a corrupted model that
//! still validates runs without panicking.

use edgerun::format::write::AlignedBytes;
use edgerun::{Error, Interpreter, Model};
use edgerun_compiler::conformance::case_dirs;
use std::path::Path;

fn compiled(case: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx-node/cases")
        .join(case);
    try_compiled(&dir).unwrap()
}

fn try_compiled(dir: &Path) -> Result<Vec<u8>, edgerun_compiler::CompileError> {
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let model = edgerun_compiler::load_model(&bytes)?;
    // Bind every weight-like input from the test data so the model compiles.
    let names = edgerun_compiler::inputs_needing_constants(&model);
    let graph = model.graph.as_ref().unwrap();
    let mut opts = edgerun_compiler::CompileOptions::default();
    for (i, vi) in graph.input.iter().enumerate() {
        if names.contains(&vi.name) {
            let pb = std::fs::read(dir.join(format!("test_data_set_0/input_{i}.pb"))).unwrap();
            opts.bind.push((
                vi.name.clone(),
                edgerun_compiler::tensor::from_pb_bytes(&pb)?.1,
            ));
        }
    }
    Ok(edgerun_compiler::compile_model(&model, &opts)?.bytes)
}

fn reseal(bytes: &mut [u8]) {
    let sum = edgerun::format::checksum(&bytes[32..]);
    bytes[12..16].copy_from_slice(&sum.to_le_bytes());
}

fn try_run(bytes: &[u8]) {
    let aligned = AlignedBytes::new(bytes);
    if let Ok(model) = Model::parse(&aligned) {
        let mut arena = vec![0u8; model.arena_bytes_unaligned().min(1 << 24)];
        if let Ok(mut interp) = Interpreter::new(&model, &mut arena) {
            let _ = interp.invoke();
            for i in 0..model.num_outputs() {
                let _ = interp.output_rows(i);
            }
        }
    }
}

#[test]
fn valid_models_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx-node/cases");
    assert!(!case_dirs(&root).unwrap().is_empty());
    for case in [
        "test_conv_with_strides_padding",
        "test_qlinearconv",
        "test_concat_3d_axis_1",
        "test_resize_upsample_scales_nearest",
        "test_nonmaxsuppression_two_classes",
    ] {
        let b = compiled(case);
        let aligned = AlignedBytes::new(&b);
        Model::parse(&aligned).unwrap();
    }
}

#[test]
fn every_truncation_is_an_error() {
    let b = compiled("test_conv_with_strides_padding");
    for len in 0..b.len() {
        let aligned = AlignedBytes::new(&b[..len]);
        let err = Model::parse(&aligned)
            .err()
            .unwrap_or_else(|| panic!("truncated to {len} parsed"));
        assert!(
            matches!(
                err,
                Error::Truncated | Error::ChecksumMismatch | Error::OutOfBounds | Error::Decode
            ),
            "len {len}: {err:?}"
        );
    }
}

#[test]
fn header_errors_are_typed() {
    let b = compiled("test_conv_with_strides_padding");
    let mut bad = b.clone();
    bad[0] = b'X';
    assert_eq!(
        Model::parse(&AlignedBytes::new(&bad)).err(),
        Some(Error::BadMagic)
    );
    let mut bad = b.clone();
    bad[4] = 9;
    assert!(matches!(
        Model::parse(&AlignedBytes::new(&bad)).err(),
        Some(Error::UnsupportedVersion { major: 9, .. })
    ));
    let mut bad = b.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    assert_eq!(
        Model::parse(&AlignedBytes::new(&bad)).err(),
        Some(Error::ChecksumMismatch)
    );
    // A misaligned start.
    let mut shifted = vec![0u8; b.len() + 1];
    shifted[1..].copy_from_slice(&b);
    let aligned = AlignedBytes::new(&shifted);
    assert_eq!(
        Model::parse(&aligned[1..]).err(),
        Some(Error::MisalignedModel)
    );
}

/// Flip every bit of the structured part (checksum recomputed, so the structural
/// validation is what has to catch it): parse and run must never panic.
#[test]
fn every_bit_flip_in_metadata_is_handled() {
    for case in [
        "test_conv_with_strides_padding",
        "test_qlinearconv",
        "test_transpose_all_permutations_3",
        "test_resize_downsample_scales_nearest",
        "test_nonmaxsuppression_two_batches",
    ] {
        let b = compiled(case);
        let meta_end = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize
            + u32::from_le_bytes(b[20..24].try_into().unwrap()) as usize;
        assert!(meta_end > 100, "metadata of {case} is {meta_end} bytes");
        for byte in 16..meta_end {
            for bit in 0..8 {
                let mut m = b.clone();
                m[byte] ^= 1 << bit;
                reseal(&mut m);
                try_run(&m);
            }
        }
    }
}

#[test]
fn small_arena_is_an_error() {
    let b = compiled("test_conv_with_strides_padding");
    let aligned = AlignedBytes::new(&b);
    let model = Model::parse(&aligned).unwrap();
    let mut arena = vec![0u8; model.arena_bytes() / 2];
    assert!(matches!(
        Interpreter::new(&model, &mut arena).err(),
        Some(Error::ArenaTooSmall { .. })
    ));
}

/// Records of a stream, decoded by postcard through serde (the encoder's
/// own library): the reference for the runtime's hand-written reader.
fn postcard_records<'a, T: serde::Deserialize<'a>>(mut stream: &'a [u8]) -> Vec<T> {
    let mut out = Vec::new();
    while !stream.is_empty() {
        let (rec, rest) = postcard::take_from_bytes::<&[u8]>(stream).unwrap();
        out.push(postcard::from_bytes(rec).unwrap());
        stream = rest;
    }
    out
}

/// The runtime reads `.edge` records by hand (`format/read.rs`); on every
/// model of the repository and every ONNX test case that compiles, it must
/// read what postcard reads: the metadata, every tensor and every operator.
#[test]
fn the_record_reader_matches_postcard() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<Vec<u8>> = ["lenet5", "resnet8", "vgg", "alexnet", "detector"]
        .iter()
        .map(|m| std::fs::read(root.join(format!("../models/{m}.edge"))).unwrap())
        .collect();
    for cases in ["onnx-node/cases", "onnx-qdq/cases", "onnx-ort/cases"] {
        for dir in case_dirs(&root.join(cases)).unwrap() {
            if let Ok(b) = try_compiled(&dir) {
                files.push(b);
            }
        }
    }
    let mut kinds = std::collections::BTreeSet::new();
    for b in &files {
        let aligned = AlignedBytes::new(b);
        let model = Model::parse(&aligned).unwrap();
        let at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        let (meta, rest): (edgerun::format::schema::Meta<'_>, _) =
            postcard::take_from_bytes(&b[at(16)..at(16) + at(20)]).unwrap();
        assert_eq!(*model.meta(), meta);
        // The detector record after `Meta` (format 1.2), when there is one.
        let detector = (!rest.is_empty()).then(|| {
            postcard::from_bytes::<edgerun::format::schema::DetectorRecord<'_>>(rest).unwrap()
        });
        assert_eq!(model.detector(), detector);
        if let Some(d) = detector {
            let levels: Vec<edgerun::format::schema::AnchorLevelRecord> =
                postcard_records(d.levels);
            assert_eq!(d.levels().collect::<Result<Vec<_>, _>>().unwrap(), levels);
            let classes: Vec<&str> = postcard_records(d.classes);
            assert_eq!(d.classes().collect::<Result<Vec<_>, _>>().unwrap(), classes);
        }
        let ops: Vec<edgerun::format::schema::OpRecord<'_>> = postcard_records(meta.ops);
        let ours: Vec<_> = model.ops().collect::<Result<_, _>>().unwrap();
        assert_eq!(ours, ops);
        let tensors: Vec<edgerun::format::schema::TensorDesc<'_>> = postcard_records(meta.tensors);
        let ours: Vec<_> = model.tensors().collect::<Result<_, _>>().unwrap();
        assert_eq!(ours, tensors);
        let inputs: Vec<edgerun::format::schema::TensorDesc<'_>> = postcard_records(meta.inputs);
        for (i, d) in inputs.iter().enumerate() {
            assert_eq!(model.input(i).unwrap(), *d);
        }
        kinds.extend(ops.iter().map(|r| r.op.kind().name()));
    }
    // Every operator kind the runtime has.
    assert_eq!(kinds.len(), 21, "{kinds:?}");
}

/// A model written by hand around one descriptor or operator.
fn hand_model(
    inputs: &[edgerun::format::schema::TensorDesc<'_>],
    ops: &[edgerun::format::schema::OpRecord<'_>],
) -> AlignedBytes {
    use edgerun::format::write::{ModelParts, write_model};
    AlignedBytes::new(
        &write_model(&ModelParts {
            name: "hand",
            arena_bytes: 64,
            inputs,
            outputs: &[],
            ops,
            tensors: &[],
            blob: &[0; 64],
        })
        .unwrap(),
    )
}

/// Shape products that overflow `usize` (and sizes past the 4 GiB a `u32`
/// offset can address) are `Overflow` or `OutOfBounds`, found by the validator
/// before anything is read or allocated.
#[test]
fn oversized_dimensions_are_typed_errors() {
    use edgerun::format::schema::*;
    let buf = |mem, offset, len| Buf { mem, offset, len };
    let desc = |dims: [u32; 6], len| TensorDesc {
        name: "x",
        dtype: DType::F32,
        shape: Shape { rank: 6, dims },
        quant: None,
        buf: buf(Mem::Arena, 0, len),
    };
    // 2^32^6 elements: the product overflows.
    let m = hand_model(&[desc([u32::MAX; 6], 16)], &[]);
    assert_eq!(Model::parse(&m).err(), Some(Error::Overflow));
    // 2^64 / 4 elements * 4 bytes: the byte count overflows.
    let m = hand_model(&[desc([1 << 16, 1 << 16, 1 << 16, 1 << 14, 1, 1], 16)], &[]);
    assert_eq!(Model::parse(&m).err(), Some(Error::Overflow));
    // Fits usize but not the arena.
    let m = hand_model(&[desc([1 << 15, 1 << 15, 1, 1, 1, 1], 16)], &[]);
    assert_eq!(Model::parse(&m).err(), Some(Error::BadGeometry));
    // A convolution whose input is 2^31 x 2^31 x 2^31 x 2^31.
    let g = ConvGeom {
        n: 1 << 31,
        in_h: 1 << 31,
        in_w: 1 << 31,
        in_c: 1 << 31,
        out_h: 1,
        out_w: 1,
        out_c: 1,
        k_h: 1,
        k_w: 1,
        stride_h: 1,
        stride_w: 1,
        dil_h: 1,
        dil_w: 1,
        pad_top: 0,
        pad_left: 0,
        groups: 1,
    };
    let op = Op::ConvF32(ConvF32 {
        geom: g,
        input: buf(Mem::Arena, 0, 16),
        weights: buf(Mem::Blob, 0, 16),
        bias: None,
        output: buf(Mem::Arena, 32, 16),
        act: ClampF32::NONE,
    });
    let m = hand_model(&[], &[OpRecord { name: "conv", op }]);
    assert_eq!(Model::parse(&m).err(), Some(Error::Overflow));
    // An output window that would need more rows than the padded input has.
    let op = Op::ConvF32(ConvF32 {
        geom: ConvGeom {
            n: 1,
            in_h: 2,
            in_w: 2,
            in_c: 1,
            out_h: u32::MAX,
            ..g
        },
        input: buf(Mem::Arena, 0, 16),
        weights: buf(Mem::Blob, 0, 4),
        bias: None,
        output: buf(Mem::Arena, 32, 16),
        act: ClampF32::NONE,
    });
    let m = hand_model(&[], &[OpRecord { name: "conv", op }]);
    assert!(
        matches!(
            Model::parse(&m).err(),
            Some(Error::BadGeometry | Error::Overflow)
        ),
        "{:?}",
        Model::parse(&m).err()
    );
}

/// Inputs that crashed a fuzz target (`fuzz/`), kept as regression tests: each
/// runs through the reader and the interpreter as given and resealed, as the
/// `edge_raw` target does.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions/edge_raw");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        try_run(&bytes);
        let mut sealed = bytes.clone();
        if sealed.len() >= 32 {
            reseal(&mut sealed);
        }
        try_run(&sealed);
        n += 1;
    }
    assert!(n > 0);
}

/// `models/lenet5.edge` written again with its int8 convolutions' records
/// edited by `edit` (the metadata, the plan and the blob kept).
fn lenet5_with(edit: impl Fn(&mut edgerun::format::schema::ConvI8)) -> AlignedBytes {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("../models/lenet5.edge")).unwrap();
    model_with(&bytes, |op| {
        if let edgerun::format::schema::Op::ConvI8(p) = op {
            edit(p);
        }
    })
}

/// The model `bytes` rewritten with `edit` applied to every operator.
fn model_with(bytes: &[u8], edit: impl Fn(&mut edgerun::format::schema::Op)) -> AlignedBytes {
    use edgerun::format::schema::{OpRecord, TensorDesc};
    use edgerun::format::write::{ModelParts, write_model};
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(&aligned).unwrap();
    let at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let blob = &bytes[at(24)..at(24) + at(28)];
    let inputs: Vec<TensorDesc<'_>> = (0..model.num_inputs())
        .map(|i| model.input(i).unwrap())
        .collect();
    let outputs: Vec<TensorDesc<'_>> = (0..model.num_outputs())
        .map(|i| model.output(i).unwrap())
        .collect();
    let tensors: Vec<TensorDesc<'_>> = model.tensors().map(Result::unwrap).collect();
    let mut ops: Vec<OpRecord<'_>> = model.ops().map(Result::unwrap).collect();
    for rec in &mut ops {
        edit(&mut rec.op);
    }
    AlignedBytes::new(
        &write_model(&ModelParts {
            name: model.name(),
            arena_bytes: model.meta().arena_bytes,
            inputs: &inputs,
            outputs: &outputs,
            ops: &ops,
            tensors: &tensors,
            blob,
        })
        .unwrap(),
    )
}

/// The logits of the first vendored digits with kernel set `K` (LeNet-5,
/// ResNet-8: both read a 28x28 digit).
fn digit_logits<K: edgerun::KernelSet>(model: &[u8]) -> Vec<Vec<f32>> {
    let model = Model::parse(model).unwrap();
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images =
        std::fs::read(root.join("../tools/data/vendor/t10k-images-first500-idx3-ubyte")).unwrap();
    (0..20)
        .map(|i| {
            let pixels = &images[16 + i * 784..16 + (i + 1) * 784];
            let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
            interp.set_input_f32(0, &x).unwrap();
            interp
                .invoke_with_kernels::<K>(&mut edgerun::NoHook)
                .unwrap();
            interp.output_f32(0).unwrap().to_vec()
        })
        .collect()
}

/// The shipped models carry their conv weights packed for AVX2 (format 1.3):
/// the fastest kernels give the reference kernels' logits with them and
/// without them (the AVX2 kernel then packs at each call); the validator
/// refuses packed weights of the wrong length, outside the blob, or for a
/// convolution the AVX2 kernel does not run.
#[test]
fn packed_conv_weights_are_used_and_validated() {
    use edgerun::format::schema::Mem;
    use edgerun::{AllKernels, ReferenceKernels};
    let shipped = lenet5_with(|_| {});
    let model = Model::parse(&shipped).unwrap();
    // Rewritten in the writer's format.
    assert_eq!(model.version(), (1, edgerun::format::VERSION_MINOR));
    let convs = model
        .ops()
        .filter(|r| {
            matches!(
                r.as_ref().unwrap().op,
                edgerun::format::schema::Op::ConvI8(_)
            )
        })
        .count();
    assert_eq!(convs, 2);
    assert!(model.packed_bytes() > 0);
    let want = digit_logits::<ReferenceKernels>(&shipped);
    assert_eq!(digit_logits::<AllKernels>(&shipped), want);
    let unpacked = lenet5_with(|p| p.packed = None);
    assert_eq!(Model::parse(&unpacked).unwrap().packed_bytes(), 0);
    assert_eq!(digit_logits::<AllKernels>(&unpacked), want);
    assert_eq!(digit_logits::<ReferenceKernels>(&unpacked), want);

    let short = lenet5_with(|p| {
        if let Some(pw) = &mut p.packed {
            pw.buf.len -= 4;
        }
    });
    assert_eq!(Model::parse(&short).err(), Some(Error::BadGeometry));
    let in_arena = lenet5_with(|p| {
        if let Some(pw) = &mut p.packed {
            pw.buf.mem = Mem::Arena;
        }
    });
    assert_eq!(Model::parse(&in_arena).err(), Some(Error::InvalidParameter));
    // A weight zero point sends the convolution to the scalar kernel.
    let foreign = lenet5_with(|p| p.weight_offset = 3);
    assert_eq!(Model::parse(&foreign).err(), Some(Error::InvalidParameter));
    let outside = lenet5_with(|p| {
        if let Some(pw) = &mut p.packed {
            pw.buf.offset = u32::MAX - 15;
        }
    });
    assert_eq!(Model::parse(&outside).err(), Some(Error::OutOfBounds));
}

/// The AVX2 family's packs (format 1.5): the compiler packs the 3x3
/// convolutions that the Winograd loop runs and pays for
/// (`kernels::conv::pack::winograd_pays`: ResNet-8's stride-1 layers of 16 or
/// more channels, not its first of one) in `PackKind::Avx2WinogradI16`
/// and the others in `PackKind::Avx2I16`, and the shipped file is what it
/// makes; the fastest kernels give the reference kernels' logits with the
/// packs and without them; the validator refuses a Winograd pack of the wrong
/// length, on a convolution the loop does not run, or named as the block
/// loop's.
#[test]
fn winograd_packs_are_chosen_used_and_validated() {
    use edgerun::format::schema::{Op, PackKind};
    use edgerun::{AllKernels, ReferenceKernels};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let onnx = std::fs::read(root.join("models/resnet8.int8.onnx")).unwrap();
    let compiled = edgerun_compiler::compile(&onnx, &Default::default())
        .unwrap()
        .bytes;
    let shipped = std::fs::read(root.join("models/resnet8.edge")).unwrap();
    assert_eq!(compiled, shipped);
    let aligned = AlignedBytes::new(&shipped);
    let model = Model::parse(&aligned).unwrap();
    let convs: Vec<_> = model
        .ops()
        .filter_map(|r| match r.unwrap().op {
            Op::ConvI8(p) => Some((
                (p.geom.k_h, p.geom.stride_h, p.geom.in_c, p.geom.out_c),
                p.packed.map(|p| p.kind),
            )),
            _ => None,
        })
        .collect();
    for ((k, stride, in_c, out_c), kind) in &convs {
        let winograd = (*k, *stride) == (3, 1) && *in_c >= 16;
        let want = if winograd {
            PackKind::Avx2WinogradI16
        } else {
            PackKind::Avx2I16
        };
        assert_eq!(*kind, Some(want), "{k}x{k} /{stride}, {in_c} -> {out_c}");
    }
    let winograd = |c: &&(_, Option<PackKind>)| c.1 == Some(PackKind::Avx2WinogradI16);
    assert_eq!(convs.iter().filter(winograd).count(), 4);

    let want = digit_logits::<ReferenceKernels>(&aligned);
    assert_eq!(digit_logits::<AllKernels>(&aligned), want);
    let unpacked = edgerun::format::write::without_packed(&shipped).unwrap();
    assert_eq!(
        digit_logits::<AllKernels>(&AlignedBytes::new(&unpacked)),
        want
    );

    let edit = |f: fn(&mut edgerun::format::schema::ConvI8)| {
        model_with(&shipped, move |op| {
            if let Op::ConvI8(p) = op
                && p.packed
                    .is_some_and(|p| p.kind == PackKind::Avx2WinogradI16)
            {
                f(p);
            }
        })
    };
    let short = edit(|p| {
        if let Some(pw) = &mut p.packed {
            pw.buf.len -= 32;
        }
    });
    assert_eq!(Model::parse(&short).err(), Some(Error::BadGeometry));
    let as_blocks = edit(|p| {
        if let Some(pw) = &mut p.packed {
            pw.kind = PackKind::Avx2I16;
        }
    });
    assert_eq!(Model::parse(&as_blocks).err(), Some(Error::BadGeometry));
    // A weight zero point sends the convolution to the scalar kernel.
    let foreign = edit(|p| p.weight_offset = 3);
    assert_eq!(Model::parse(&foreign).err(), Some(Error::InvalidParameter));
}

/// A model packed for the Cortex-M DSP kernels (format 1.4): the compiler's
/// `--pack dsp` and the firmware build's `format::write::for_cortex_m` of the
/// shipped file give the same bytes; the reference kernels give the same logits
/// with and without the packs (on this host they are not read); the validator
/// refuses a DSP pack of the wrong length, an AVX2 pack on a fully connected
/// layer, and a DSP pack on a layer the DSP kernels do not run.
#[test]
fn dsp_packs_of_the_compiler_and_the_writer_agree_and_are_validated() {
    use edgerun::format::schema::{Op, PackKind};
    use edgerun::{AllKernels, ReferenceKernels};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let onnx = std::fs::read(root.join("models/lenet5.int8.onnx")).unwrap();
    let opts = edgerun_compiler::CompileOptions {
        pack: edgerun_compiler::Pack::Dsp,
        ..Default::default()
    };
    let compiled = edgerun_compiler::compile(&onnx, &opts).unwrap().bytes;
    let shipped = std::fs::read(root.join("models/lenet5.edge")).unwrap();
    let m4 = edgerun::format::write::for_cortex_m(&shipped).unwrap();
    assert_eq!(compiled, m4);
    let m4 = AlignedBytes::new(&m4);
    let model = Model::parse(&m4).unwrap();
    let kinds: Vec<_> = model
        .ops()
        .filter_map(|r| match r.unwrap().op {
            Op::ConvI8(p) => Some(p.packed.map(|p| p.kind)),
            Op::FcI8(p) => Some(p.packed.map(|p| p.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![Some(PackKind::DspI16); 5]);
    let want = digit_logits::<ReferenceKernels>(&AlignedBytes::new(&shipped));
    assert_eq!(digit_logits::<ReferenceKernels>(&m4), want);
    assert_eq!(digit_logits::<AllKernels>(&m4), want);

    let fc_pack = |edit: fn(&mut edgerun::format::schema::PackedWeights)| {
        model_with(&m4, move |op| {
            if let Op::FcI8(p) = op
                && let Some(pw) = &mut p.packed
            {
                edit(pw);
            }
        })
    };
    let short = fc_pack(|pw| pw.buf.len -= 16);
    assert_eq!(Model::parse(&short).err(), Some(Error::BadGeometry));
    let avx2 = fc_pack(|pw| pw.kind = PackKind::Avx2I16);
    assert_eq!(Model::parse(&avx2).err(), Some(Error::InvalidParameter));
    // A weight zero point sends the layer to the scalar kernel.
    let foreign = model_with(&m4, |op| {
        if let Op::FcI8(p) = op {
            p.weight_offset = 3;
        }
    });
    assert_eq!(Model::parse(&foreign).err(), Some(Error::InvalidParameter));
    let foreign = model_with(&m4, |op| {
        if let Op::ConvI8(p) = op {
            p.weight_offset = 3;
        }
    });
    assert_eq!(Model::parse(&foreign).err(), Some(Error::InvalidParameter));
}
