//! The detector record of `.edge` (format 1.2): written by the compiler,
//! read in place by the runtime, validated against the model's input and
//! outputs. Round trips, files without one, and truncated or invalid records
//! (typed errors, never a panic).

use edgerun::detect::{AnchorLevel, Box, generate_anchors};
use edgerun::format::schema::{
    AnchorLevelRecord, Buf, DType, MAX_ANCHOR_SHAPES, Mem, Shape, TensorDesc,
};
use edgerun::format::write::{
    AlignedBytes, DetectorParts, ModelParts, write_model, write_model_with_detector,
};
use edgerun::{Error, Model};
use edgerun_compiler::detector::DetectorSpec;
use std::path::Path;

fn desc<'a>(name: &'a str, dims: &[u32], offset: u32) -> TensorDesc<'a> {
    let mut d = [1u32; 6];
    d[..dims.len()].copy_from_slice(dims);
    let len = dims.iter().product::<u32>() * 4;
    TensorDesc {
        name,
        dtype: DType::F32,
        shape: Shape {
            rank: dims.len() as u8,
            dims: d,
        },
        quant: None,
        buf: Buf {
            mem: Mem::Arena,
            offset,
            len,
        },
    }
}

fn level(rows: u32, cols: u32, sizes: &[f32], ratios: &[f32]) -> AnchorLevelRecord {
    let mut r = AnchorLevelRecord {
        rows,
        cols,
        num_sizes: sizes.len() as u8,
        sizes: [0.0; MAX_ANCHOR_SHAPES],
        num_ratios: ratios.len() as u8,
        ratios: [0.0; MAX_ANCHOR_SHAPES],
    };
    r.sizes[..sizes.len()].copy_from_slice(sizes);
    r.ratios[..ratios.len()].copy_from_slice(ratios);
    r
}

/// Two levels: 2x2 cells with 2 sizes and 2 ratios (3 anchors a cell) and
/// one cell with one anchor: 13 anchors, 2 classes.
fn levels() -> Vec<AnchorLevelRecord> {
    vec![
        level(2, 2, &[0.3, 0.4], &[1.0, 2.0]),
        level(1, 1, &[0.8], &[1.0]),
    ]
}

const ANCHORS: u32 = 13;

/// An 8x8 model whose outputs have a detector head's sizes, and its record.
fn write(parts: Option<&DetectorParts<'_>>) -> Vec<u8> {
    let inputs = [desc("image", &[1, 1, 8, 8], 0)];
    let outputs = [
        desc("scores", &[1, ANCHORS, 3], 256),
        desc("boxes", &[1, ANCHORS, 4], 416),
    ];
    let model = ModelParts {
        name: "det",
        arena_bytes: 640,
        inputs: &inputs,
        outputs: &outputs,
        ops: &[],
        tensors: &[],
        blob: &[],
    };
    match parts {
        Some(p) => write_model_with_detector(&model, Some(p)).unwrap(),
        None => write_model(&model).unwrap(),
    }
}

fn parts<'a>(classes: &'a [&'a str], levels: &'a [AnchorLevelRecord]) -> DetectorParts<'a> {
    DetectorParts {
        input_size: 8,
        variances: [0.1, 0.1, 0.2, 0.2],
        scores_output: 0,
        boxes_output: 1,
        classes,
        levels,
    }
}

fn parse(bytes: &[u8]) -> Result<(), Error> {
    Model::parse(&AlignedBytes::new(bytes)).map(|_| ())
}

#[test]
fn detector_record_round_trips() {
    let lv = levels();
    let bytes = write(Some(&parts(&["cat", "dog"], &lv)));
    assert_eq!(
        &bytes[4..8],
        &[1, 0, 5, 0],
        "the writer's format, 1.5 (the record came in 1.2)"
    );
    let aligned = AlignedBytes::new(&bytes);
    let model = Model::parse(&aligned).unwrap();
    let d = model.detector().unwrap();
    assert_eq!(d.input_size, 8);
    assert_eq!(d.variances, [0.1, 0.1, 0.2, 0.2]);
    assert_eq!((d.scores_output, d.boxes_output, d.num_classes), (0, 1, 2));
    let names: Vec<&str> = d.classes().collect::<Result<_, _>>().unwrap();
    assert_eq!(names, ["cat", "dog"]);
    assert_eq!(d.class_name(1), Some("dog"));
    assert_eq!(d.class_name(2), None);
    let read: Vec<AnchorLevelRecord> = d.levels().collect::<Result<_, _>>().unwrap();
    assert_eq!(read, lv);
    // The anchors are the runtime's own generator on the levels as given.
    assert_eq!(d.anchor_count(), Ok(ANCHORS as usize));
    let mut ours = [Box::default(); 14];
    assert_eq!(d.generate_anchors(&mut ours), Ok(13));
    let direct = [
        AnchorLevel {
            rows: 2,
            cols: 2,
            sizes: &[0.3, 0.4],
            ratios: &[1.0, 2.0],
        },
        AnchorLevel {
            rows: 1,
            cols: 1,
            sizes: &[0.8],
            ratios: &[1.0],
        },
    ];
    let mut want = [Box::default(); 13];
    generate_anchors(&direct, &mut want).unwrap();
    assert_eq!(ours[..13], want);
    assert_eq!(
        d.generate_anchors(&mut ours[..12]),
        Err(Error::BufferTooSmall {
            needed: 13,
            got: 12
        })
    );
    let cfg = d.decode_config(0.4);
    assert_eq!(
        (cfg.score_threshold, cfg.variances, cfg.background_class),
        (0.4, [0.1, 0.1, 0.2, 0.2], Some(0))
    );
}

#[test]
fn models_without_a_record_have_none() {
    let bytes = write(None);
    assert_eq!(
        Model::parse(&AlignedBytes::new(&bytes)).unwrap().detector(),
        None
    );
    // A file of format 1.1 (before the record) still reads.
    let lenet =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lenet5.edge")).unwrap();
    let aligned = AlignedBytes::new(&lenet);
    let m = Model::parse(&aligned).unwrap();
    assert_eq!(m.detector(), None);
}

fn reseal(bytes: &mut [u8]) {
    let sum = edgerun::format::checksum(&bytes[32..]);
    bytes[12..16].copy_from_slice(&sum.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The metadata section cut anywhere inside the detector record (its length
/// field shortened, the checksum recomputed): `Decode`, never a panic.
#[test]
fn truncated_detector_record_is_a_decode_error() {
    let lv = levels();
    let full = write(Some(&parts(&["cat", "dog"], &lv)));
    let meta_len = u32_at(&full, 20);
    let plain_len = u32_at(&write(None), 20);
    assert!(meta_len > plain_len + 20, "{meta_len} vs {plain_len}");
    for cut in plain_len + 1..meta_len {
        let mut b = full.clone();
        b[20..24].copy_from_slice(&(cut as u32).to_le_bytes());
        reseal(&mut b);
        assert_eq!(parse(&b), Err(Error::Decode), "cut at {cut}");
    }
}

/// Records that decode but disagree with the model or hold invalid values:
/// typed errors from `Model::parse`.
#[test]
fn invalid_detector_records_are_typed_errors() {
    let lv = levels();
    let classes = ["cat", "dog"];
    let good = parts(&classes, &lv);
    assert_eq!(parse(&write(Some(&good))), Ok(()));
    let check = |p: DetectorParts<'_>, want: Error| {
        assert_eq!(parse(&write(Some(&p))), Err(want));
    };
    check(
        DetectorParts {
            variances: [0.1, 0.0, 0.2, 0.2],
            ..parts(&classes, &lv)
        },
        Error::InvalidParameter,
    );
    check(
        DetectorParts {
            variances: [0.1, f32::NAN, 0.2, 0.2],
            ..parts(&classes, &lv)
        },
        Error::InvalidParameter,
    );
    check(
        DetectorParts {
            input_size: 0,
            ..parts(&classes, &lv)
        },
        Error::InvalidParameter,
    );
    // The input is 8x8.
    check(
        DetectorParts {
            input_size: 9,
            ..parts(&classes, &lv)
        },
        Error::BadGeometry,
    );
    check(
        DetectorParts {
            scores_output: 2,
            ..parts(&classes, &lv)
        },
        Error::NoSuchTensor,
    );
    check(
        DetectorParts {
            boxes_output: 0,
            ..parts(&classes, &lv)
        },
        Error::InvalidParameter,
    );
    // Outputs swapped: 13 x 4 scores are not 13 x 3.
    check(
        DetectorParts {
            scores_output: 1,
            boxes_output: 0,
            ..parts(&classes, &lv)
        },
        Error::BadGeometry,
    );
    // One class too many for the scores output.
    check(parts(&["a", "b", "c"], &lv), Error::BadGeometry);
    check(parts(&[], &lv), Error::InvalidParameter);
    check(parts(&classes, &[]), Error::InvalidParameter);
    // Another anchor count than the outputs hold.
    check(
        parts(&classes, &[level(3, 2, &[0.3, 0.4], &[1.0, 2.0])]),
        Error::BadGeometry,
    );
    // Empty, non-positive, non-finite shapes; counts past the arrays.
    for bad in [
        level(2, 2, &[], &[1.0]),
        level(2, 2, &[0.3], &[-1.0]),
        level(2, 2, &[f32::INFINITY], &[1.0]),
        AnchorLevelRecord {
            num_sizes: MAX_ANCHOR_SHAPES as u8 + 1,
            ..level(2, 2, &[0.3], &[1.0])
        },
    ] {
        check(parts(&classes, &[bad]), Error::InvalidParameter);
    }
    check(
        parts(&classes, &[level(u32::MAX, u32::MAX, &[0.3; 8], &[1.0; 8])]),
        Error::Overflow,
    );
}

/// Every single-bit flip inside the detector record, checksum recomputed: a
/// typed error or a model that validates, never a panic.
#[test]
fn bit_flips_in_the_detector_record_never_panic() {
    let lv = levels();
    let full = write(Some(&parts(&["cat", "dog"], &lv)));
    let start = 32 + u32_at(&write(None), 20);
    let end = 32 + u32_at(&full, 20);
    let mut valid = 0;
    for at in start..end {
        for bit in 0..8 {
            let mut b = full.clone();
            b[at] ^= 1 << bit;
            reseal(&mut b);
            let aligned = AlignedBytes::new(&b);
            if let Ok(m) = Model::parse(&aligned) {
                valid += 1;
                let d = m.detector().unwrap();
                let mut anchors = vec![Box::default(); d.anchor_count().unwrap()];
                assert_eq!(d.generate_anchors(&mut anchors), Ok(anchors.len()));
            }
        }
    }
    assert!(valid > 0, "some flips (e.g. of a size) stay valid");
}

/// The compiler writes the ONNX metadata's spec into `.edge`, and the spec
/// read back from the compiled file is the ONNX one.
#[test]
fn compiled_detector_carries_its_spec() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let onnx = std::fs::read(models.join("detector.int8.onnx")).unwrap();
    let proto = edgerun_compiler::load_model(&onnx).unwrap();
    let spec = DetectorSpec::from_model(&proto).unwrap().unwrap();
    let edge = edgerun_compiler::compile_model(&proto, &Default::default())
        .unwrap()
        .bytes;
    let aligned = AlignedBytes::new(&edge);
    let model = Model::parse(&aligned).unwrap();
    assert_eq!(DetectorSpec::from_edge(&model).unwrap(), Some(spec.clone()));
    let d = model.detector().unwrap();
    let mut anchors = vec![Box::default(); d.anchor_count().unwrap()];
    d.generate_anchors(&mut anchors).unwrap();
    assert_eq!(anchors, spec.anchors().unwrap());
    // A model without the metadata gets no record.
    let lenet = std::fs::read(models.join("lenet5.int8.onnx")).unwrap();
    let edge = edgerun_compiler::compile(&lenet, &Default::default())
        .unwrap()
        .bytes;
    let aligned = AlignedBytes::new(&edge);
    assert_eq!(
        DetectorSpec::from_edge(&Model::parse(&aligned).unwrap()).unwrap(),
        None
    );
}
