//! The reader and the interpreter on the shipped int8 LeNet-5, inside the
//! runtime crate so that Miri can run them (`tests/miri.sh`): the model
//! classifies vendored MNIST test digits as labelled, and truncated or
//! corrupted copies give typed errors. The wider corruption tests over many
//! models are in `tests/tests/format.rs`.

extern crate std;

use super::{HEADER_LEN, Model, checksum};
use crate::error::Error;
use crate::interp::Interpreter;
use std::vec;
use std::vec::Vec;

const LENET5: &[u8] = include_bytes!("../../../models/lenet5.edge");
#[cfg(feature = "alloc")]
const RESNET8: &[u8] = include_bytes!("../../../models/resnet8.edge");
const IMAGES: &[u8] = include_bytes!("../../../tools/data/vendor/t10k-images-first500-idx3-ubyte");
const LABELS: &[u8] = include_bytes!("../../../tools/data/vendor/t10k-labels-first500-idx1-ubyte");

/// `bytes` copied to a 16-byte aligned buffer (the model is read in place).
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

fn view(words: &[u128], len: usize) -> &[u8] {
    &bytemuck::cast_slice::<u128, u8>(words)[..len]
}

/// Recompute the checksum after an edit, so validation has to catch it.
fn reseal(bytes: &mut [u8]) {
    let sum = checksum(&bytes[HEADER_LEN..]);
    bytes[12..16].copy_from_slice(&sum.to_le_bytes());
}

/// Parse and, if that succeeds, run once: never a panic. Under Miri only the
/// reader, the validator and the arena binding run: a full inference per
/// corrupted model would take hours there, and `lenet5_classifies_vendored_digits`
/// and the kernels' frame already run the kernels under Miri.
fn try_run(bytes: &[u8]) -> Result<(), Error> {
    let words = aligned(bytes);
    let model = Model::parse(view(&words, bytes.len()))?;
    // A corrupted plan may ask for a huge arena: cap it (a small arena is a
    // typed error). Zeroing a megabyte per model is minutes under Miri.
    let cap = if cfg!(miri) { 1 << 15 } else { 1 << 20 };
    let mut arena = vec![0u8; model.arena_bytes_unaligned().min(cap)];
    let mut interp = Interpreter::new(&model, &mut arena)?;
    if cfg!(miri) { Ok(()) } else { interp.invoke() }
}

#[test]
fn lenet5_classifies_vendored_digits() {
    let words = aligned(LENET5);
    let model = Model::parse(view(&words, LENET5.len())).unwrap();
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    let digits = if cfg!(miri) { 1 } else { 20 };
    for i in 0..digits {
        let pixels = &IMAGES[16 + i * 784..16 + (i + 1) * 784];
        for (x, &p) in interp.input_f32_mut(0).unwrap().iter_mut().zip(pixels) {
            *x = p as f32 / 255.0;
        }
        interp.invoke().unwrap();
        let logits = interp.output_f32(0).unwrap();
        let best = (0..10).fold(0, |b, c| if logits[c] > logits[b] { c } else { b });
        // LeNet-5 gets all of the first 20 vendored digits right (99.36% on 10k).
        assert_eq!(best, LABELS[8 + i] as usize, "digit {i}: {logits:?}");
    }
}

#[test]
fn truncated_lenet5_is_an_error() {
    let meta_end = u32::from_le_bytes(LENET5[16..20].try_into().unwrap()) as usize
        + u32::from_le_bytes(LENET5[20..24].try_into().unwrap()) as usize;
    for len in [
        0,
        1,
        4,
        8,
        31,
        32,
        33,
        100,
        meta_end - 1,
        meta_end,
        LENET5.len() - 1,
    ] {
        let words = aligned(&LENET5[..len]);
        let err = Model::parse(view(&words, len)).err();
        assert!(
            matches!(err, Some(Error::Truncated | Error::ChecksumMismatch)),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn corrupted_lenet5_metadata_never_panics() {
    let meta_end = u32::from_le_bytes(LENET5[16..20].try_into().unwrap()) as usize
        + u32::from_le_bytes(LENET5[20..24].try_into().unwrap()) as usize;
    // Every bit natively would repeat tests/tests/format.rs at 20x the cost;
    // a prime stride visits every byte offset class.
    let step = if cfg!(miri) { 4099 } else { 17 };
    let (mut parsed, mut refused) = (0, 0);
    for bit in (16 * 8..meta_end * 8).step_by(step) {
        let mut m = LENET5.to_vec();
        m[bit / 8] ^= 1 << (bit % 8);
        reseal(&mut m);
        match try_run(&m) {
            Err(_) => refused += 1,
            Ok(()) => parsed += 1,
        }
    }
    assert!(refused > 0 && parsed + refused > 10, "{parsed} {refused}");
}

/// `reparse` skips only the checksum: a wrong checksum field passes it (and
/// fails `parse`), and the structure is still validated.
#[test]
fn reparse_skips_the_checksum_and_nothing_else() {
    let mut bytes = LENET5.to_vec();
    bytes[12] ^= 0xff;
    let words = aligned(&bytes);
    let view_all = view(&words, bytes.len());
    assert_eq!(Model::parse(view_all).err(), Some(Error::ChecksumMismatch));
    let model = Model::reparse(view_all).unwrap();
    assert_eq!(
        model.num_ops(),
        Model::parse(view(&aligned(LENET5), LENET5.len()))
            .unwrap()
            .num_ops()
    );
    // A broken header, a truncated file: errors either way.
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(
        Model::reparse(view(&aligned(&bad), bad.len())).err(),
        Some(Error::BadMagic)
    );
    let cut = bytes.len() / 2;
    assert!(Model::reparse(view(&words, cut)).is_err());
    // An operator table that does not validate.
    let meta = u32::from_le_bytes(LENET5[16..20].try_into().unwrap()) as usize;
    let mut broken = LENET5.to_vec();
    for b in &mut broken[meta..meta + 64] {
        *b = 0xff;
    }
    assert!(Model::reparse(view(&aligned(&broken), broken.len())).is_err());
}

/// Operator records decoded once give the logits of records decoded at every
/// invoke, and belong to their model: another model's are refused.
#[cfg(feature = "alloc")]
#[test]
fn decoded_ops_run_as_the_records_do() {
    use crate::interp::DecodedOps;
    let words = aligned(LENET5);
    let model = Model::parse(view(&words, LENET5.len())).unwrap();
    let ops = DecodedOps::new(&model).unwrap();
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut arena2 = vec![0u8; model.arena_bytes_unaligned()];
    let mut plain = Interpreter::new(&model, &mut arena).unwrap();
    let mut decoded = Interpreter::with_decoded_ops(&model, &mut arena2, &ops).unwrap();
    let digits = if cfg!(miri) { 1 } else { 5 };
    for i in 0..digits {
        let pixels = &IMAGES[16 + i * 784..16 + (i + 1) * 784];
        let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
        plain.set_input_f32(0, &x).unwrap();
        decoded.set_input_f32(0, &x).unwrap();
        plain.invoke().unwrap();
        decoded.invoke().unwrap();
        assert_eq!(plain.output_f32(0).unwrap(), decoded.output_f32(0).unwrap());
    }
    // The same bytes at another address: another model.
    let copy = aligned(LENET5);
    let other = Model::parse(view(&copy, LENET5.len())).unwrap();
    let mut arena3 = vec![0u8; other.arena_bytes_unaligned()];
    assert_eq!(
        Interpreter::with_decoded_ops(&other, &mut arena3, &ops).err(),
        Some(Error::InvalidParameter)
    );
}

/// The model's logits for the first vendored test digit (pixels scaled to
/// `[0, 1]`, as the MNIST models take them).
#[cfg(feature = "alloc")]
fn first_digit_logits(m: &Model<'_>) -> Vec<f32> {
    let mut arena = vec![0u8; m.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(m, &mut arena).unwrap();
    let x: Vec<f32> = IMAGES[16..16 + 784]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    interp.set_input_f32(0, &x).unwrap();
    interp.invoke().unwrap();
    interp.output_f32(0).unwrap().to_vec()
}

/// The shipped LeNet-5 without its AVX2 packs (the file a microcontroller
/// keeps): smaller by at least the packs, no pack left, the same logits.
#[cfg(feature = "alloc")]
#[test]
fn without_packed_keeps_the_logits_and_drops_the_packs() {
    let words = aligned(LENET5);
    let model = Model::parse(view(&words, LENET5.len())).unwrap();
    assert!(model.packed_bytes() > 0);
    let lean = super::write::without_packed(LENET5).unwrap();
    assert!(lean.len() + model.packed_bytes() <= LENET5.len());
    let lean_words = aligned(&lean);
    let lean_model = Model::parse(view(&lean_words, lean.len())).unwrap();
    assert_eq!(lean_model.packed_bytes(), 0);
    assert_eq!(lean_model.num_ops(), model.num_ops());
    assert_eq!(first_digit_logits(&lean_model), first_digit_logits(&model));
    // Without packs there is nothing to drop: the same file again.
    assert_eq!(super::write::without_packed(&lean).unwrap(), lean);
}

/// The shipped LeNet-5 and ResNet-8 as a Cortex-M firmware bakes them: no AVX2
/// pack left, a DSP pack for every convolution and fc layer the DSP kernels run,
/// holding the packer's values for that layer's weights; the same logits; the
/// same bytes when repacked again.
#[cfg(feature = "alloc")]
#[test]
fn for_cortex_m_packs_every_dsp_layer() {
    use super::schema::{Mem, Op, PackKind};
    use crate::kernels::conv::pack;
    // (file, packed convolutions, packed fc layers)
    for (file, convs, fcs) in [(LENET5, 2, 3), (RESNET8, 9, 1)] {
        let m4 = super::write::for_cortex_m(file).unwrap();
        assert_eq!(super::write::for_cortex_m(&m4).unwrap(), m4);
        let words = aligned(&m4);
        let model = Model::parse(view(&words, m4.len())).unwrap();
        let w = |b: super::schema::Buf| {
            assert_eq!(b.mem, Mem::Blob);
            &model.blob()[b.offset as usize..(b.offset + b.len) as usize]
        };
        let mut packed = (0, 0);
        for rec in model.ops() {
            let (pw, want, count) = match rec.unwrap().op {
                Op::ConvI8(p) => {
                    let weights: &[i8] = bytemuck::cast_slice(w(p.weights));
                    let want = pack::packed_dsp(&p.geom, p.weight_offset, weights);
                    (p.packed, want.unwrap(), &mut packed.0)
                }
                Op::FcI8(p) => {
                    let weights: &[i8] = bytemuck::cast_slice(w(p.weights));
                    (
                        p.packed,
                        pack::packed_dsp_fc(&p, weights).unwrap(),
                        &mut packed.1,
                    )
                }
                _ => continue,
            };
            match (pw, want) {
                (Some(pw), Some(want)) => {
                    assert_eq!(pw.kind, PackKind::DspI16);
                    let got: Vec<i16> = w(pw.buf)
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect();
                    assert_eq!(got, want);
                    *count += 1;
                }
                (None, None) => {}
                (got, want) => panic!("pack {got:?}, packer gives one: {}", want.is_some()),
            }
        }
        assert_eq!(packed, (convs, fcs));
        let original = aligned(file);
        let original = Model::parse(view(&original, file.len())).unwrap();
        assert_eq!(first_digit_logits(&model), first_digit_logits(&original));
    }
}
