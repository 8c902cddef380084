//! The `.edge` writer (used by the compiler; needs `alloc`).

use super::schema::{AnchorLevelRecord, DetectorRecord, Meta, OpRecord, PackKind, TensorDesc};
use super::{ALIGN, HEADER_LEN, MAGIC, VERSION_MAJOR, VERSION_MINOR, checksum};
use alloc::vec::Vec;
use serde::Serialize;

/// Everything a model file holds, borrowed from the compiler's data.
pub struct ModelParts<'a> {
    pub name: &'a str,
    pub arena_bytes: u32,
    pub inputs: &'a [TensorDesc<'a>],
    pub outputs: &'a [TensorDesc<'a>],
    pub ops: &'a [OpRecord<'a>],
    pub tensors: &'a [TensorDesc<'a>],
    /// Constant data; every blob [`super::schema::Buf`] points into it.
    pub blob: &'a [u8],
}

/// A detection model's record (see [`DetectorRecord`]), borrowed from the
/// compiler's data.
pub struct DetectorParts<'a> {
    pub input_size: u32,
    pub variances: [f32; 4],
    pub scores_output: u32,
    pub boxes_output: u32,
    pub classes: &'a [&'a str],
    pub levels: &'a [AnchorLevelRecord],
}

/// Errors of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// postcard refused a value.
    Encode,
    /// The file would exceed 4 GiB.
    TooLarge,
}

fn stream<T: Serialize>(items: &[T]) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::new();
    for item in items {
        let rec = postcard::to_allocvec(item).map_err(|_| WriteError::Encode)?;
        let framed = postcard::to_allocvec(&rec.as_slice()).map_err(|_| WriteError::Encode)?;
        out.extend_from_slice(&framed);
    }
    Ok(out)
}

fn u32_of(n: usize) -> Result<u32, WriteError> {
    u32::try_from(n).map_err(|_| WriteError::TooLarge)
}

/// Serialize a model. The blob is placed at a 16-byte aligned offset.
pub fn write_model(parts: &ModelParts<'_>) -> Result<Vec<u8>, WriteError> {
    write_model_with_detector(parts, None)
}

/// [`write_model`] for a detection model: its [`DetectorRecord`] follows
/// `Meta` in the metadata section. [`crate::Model::parse`] checks it against
/// the model's input and outputs.
pub fn write_model_with_detector(
    parts: &ModelParts<'_>,
    detector: Option<&DetectorParts<'_>>,
) -> Result<Vec<u8>, WriteError> {
    let inputs = stream(parts.inputs)?;
    let outputs = stream(parts.outputs)?;
    let ops = stream(parts.ops)?;
    let tensors = stream(parts.tensors)?;
    let meta = Meta {
        name: parts.name,
        arena_bytes: parts.arena_bytes,
        num_inputs: u32_of(parts.inputs.len())?,
        inputs: &inputs,
        num_outputs: u32_of(parts.outputs.len())?,
        outputs: &outputs,
        num_ops: u32_of(parts.ops.len())?,
        ops: &ops,
        num_tensors: u32_of(parts.tensors.len())?,
        tensors: &tensors,
    };
    let mut trailer = Vec::new();
    if let Some(d) = detector {
        let classes = stream(d.classes)?;
        let levels = stream(d.levels)?;
        let record = DetectorRecord {
            input_size: d.input_size,
            variances: d.variances,
            scores_output: d.scores_output,
            boxes_output: d.boxes_output,
            num_classes: u32_of(d.classes.len())?,
            classes: &classes,
            num_levels: u32_of(d.levels.len())?,
            levels: &levels,
        };
        trailer = postcard::to_allocvec(&record).map_err(|_| WriteError::Encode)?;
    }
    assemble(&meta, &trailer, parts.blob)
}

/// The file of metadata `meta`, the records after it (`trailer`: a
/// detector's) and `blob`.
fn assemble(meta: &Meta<'_>, trailer: &[u8], blob: &[u8]) -> Result<Vec<u8>, WriteError> {
    let mut meta = postcard::to_allocvec(meta).map_err(|_| WriteError::Encode)?;
    meta.extend_from_slice(trailer);
    let meta_offset = HEADER_LEN;
    let blob_offset = (meta_offset + meta.len()).div_ceil(ALIGN) * ALIGN;
    let file_len = blob_offset + blob.len();
    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    out.extend_from_slice(&VERSION_MINOR.to_le_bytes());
    out.extend_from_slice(&u32_of(file_len)?.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // checksum, filled below
    out.extend_from_slice(&u32_of(meta_offset)?.to_le_bytes());
    out.extend_from_slice(&u32_of(meta.len())?.to_le_bytes());
    out.extend_from_slice(&u32_of(blob_offset)?.to_le_bytes());
    out.extend_from_slice(&u32_of(blob.len())?.to_le_bytes());
    out.extend_from_slice(&meta);
    out.resize(blob_offset, 0);
    out.extend_from_slice(blob);
    let sum = checksum(out.get(HEADER_LEN..).unwrap_or_default());
    if let Some(field) = out.get_mut(12..16) {
        field.copy_from_slice(&sum.to_le_bytes());
    }
    Ok(out)
}

/// The model `bytes` without its weights packed ahead of time
/// (`ConvI8::packed`, `FcI8::packed`): [`repacked`] with no kind. A model without packs comes
/// back as it is (the same bytes, so the same hash: callers may strip twice).
pub fn without_packed(bytes: &[u8]) -> Result<Vec<u8>, crate::Error> {
    repacked(bytes, None)
}

/// The model `bytes` as a Cortex-M firmware bakes it: the weights of its
/// convolutions and fully connected layers packed for the DSP kernels and no
/// other packs ([`repacked`] with
/// [`PackKind::DspI16`]). Applied twice, the same bytes (so the same hash).
pub fn for_cortex_m(bytes: &[u8]) -> Result<Vec<u8>, crate::Error> {
    repacked(bytes, Some(PackKind::DspI16))
}

/// The model `bytes` with its weights packed ahead of time for one kernel
/// family: every pack dropped from its operator, the blob cut where the first
/// pack starts when the packs are its tail, as the compiler writes them (else it
/// is kept whole), then, for `Some(kind)`, each convolution and fully connected
/// layer that kind's kernels run packed again at the end of the blob. Only
/// [`PackKind::DspI16`] can be packed here (the AVX2 layouts come from the
/// compiler); `Some(PackKind::Avx2I16)` is [`crate::Error::InvalidParameter`]. A
/// model without packs asked for none comes back as it is. The result is parsed
/// (validated) before it is returned; `bytes` must parse too.
pub fn repacked(bytes: &[u8], kind: Option<PackKind>) -> Result<Vec<u8>, crate::Error> {
    if matches!(kind, Some(PackKind::Avx2I16 | PackKind::Avx2WinogradI16)) {
        return Err(crate::Error::InvalidParameter);
    }
    let encode = |_: WriteError| crate::Error::Overflow;
    let aligned = AlignedBytes::new(bytes);
    let model = crate::Model::parse(&aligned)?;
    let mut cut = None::<usize>;
    let mut ops = Vec::new();
    for rec in model.ops() {
        let mut rec = rec?;
        if let Some(pw) = rec.op.packed_mut().and_then(Option::take) {
            cut = Some(cut.unwrap_or(usize::MAX).min(pw.buf.offset as usize));
        }
        ops.push(rec);
    }
    if cut.is_none() && kind.is_none() {
        // Nothing to drop: the file itself (up to the length its header
        // states, which the parse checked).
        let len = super::read_u32(&aligned, 8)? as usize;
        return aligned
            .get(..len)
            .map(<[u8]>::to_vec)
            .ok_or(crate::Error::Truncated);
    }
    // The records after `Meta` (a detector's), as they are.
    let section = super::section(
        &aligned,
        super::read_u32(&aligned, 16)?,
        super::read_u32(&aligned, 20)?,
    )?;
    let mut reader = super::read::Reader::new(section);
    reader.read::<Meta<'_>>()?;
    let trailer = reader.rest();
    let blob = model.blob();
    let cut_blob = cut.and_then(|c| blob.get(..c)).unwrap_or(blob);
    for (i, base) in [cut_blob, blob].into_iter().enumerate() {
        let mut blob = base.to_vec();
        let mut ops = ops.clone();
        if let Some(kind) = kind {
            match append_packs(ops.iter_mut().map(|r| &mut r.op), &mut blob, kind) {
                Ok(()) => {}
                // Weights past the cut: the whole blob is tried next.
                Err(_) if i == 0 => continue,
                Err(e) => return Err(e),
            }
        }
        let ops = stream(&ops).map_err(encode)?;
        let meta = Meta {
            ops: &ops,
            ..*model.meta()
        };
        let out = assemble(&meta, trailer, &blob).map_err(encode)?;
        if crate::Model::parse(&AlignedBytes::new(&out)).is_ok() {
            return Ok(out);
        }
    }
    Err(crate::Error::OutOfBounds)
}

/// Pack the weights of every operator of `ops` that the kernels of `kind` run
/// and that has no pack yet (int8 convolutions, and for
/// [`PackKind::DspI16`] fully connected layers; weights in the blob; the AVX2
/// family, [`PackKind::Avx2I16`] or [`PackKind::Avx2WinogradI16`], packs the
/// 3x3 convolutions its Winograd loop runs and pays for
/// (`kernels::conv::pack::winograd_pays`) in that loop's kind and the others
/// in [`PackKind::Avx2I16`]): the
/// weights are read from `blob`, each pack is appended to it 16-byte aligned,
/// and the operator points at it. The compiler's `--pack` and [`repacked`] both
/// pack with it. Weights outside `blob` are [`crate::Error::OutOfBounds`].
pub fn append_packs<'a>(
    ops: impl IntoIterator<Item = &'a mut super::schema::Op>,
    blob: &mut Vec<u8>,
    kind: PackKind,
) -> Result<(), crate::Error> {
    use super::schema::{Buf, Mem, Op, PackedWeights};
    use crate::kernels::conv::pack;
    let overflow = |_| crate::Error::Overflow;
    for op in ops {
        let (kind, values) = {
            // The weights, or `None` when they are not constants.
            let weights = |b: Buf| -> Result<Option<&[i8]>, crate::Error> {
                if b.mem != Mem::Blob {
                    return Ok(None);
                }
                let at = b.offset as usize;
                let w = blob.get(at..at.saturating_add(b.len as usize));
                Ok(Some(bytemuck::cast_slice(
                    w.ok_or(crate::Error::OutOfBounds)?,
                )))
            };
            if op.packed().is_some() {
                continue;
            }
            match (&*op, kind) {
                // The AVX2 family: the Winograd loop's pack for the
                // convolutions it runs, the other loops' for the rest.
                (Op::ConvI8(p), PackKind::Avx2I16 | PackKind::Avx2WinogradI16) => {
                    match weights(p.weights)? {
                        Some(w)
                            if pack::winograd_runs(&p.geom, p.weight_offset)
                                && pack::winograd_pays(&p.geom) =>
                        {
                            (
                                PackKind::Avx2WinogradI16,
                                pack::packed_winograd(&p.geom, p.weight_offset, w)?,
                            )
                        }
                        Some(w) => (
                            PackKind::Avx2I16,
                            pack::packed_avx2(&p.geom, p.weight_offset, w)?,
                        ),
                        None => continue,
                    }
                }
                (Op::ConvI8(p), PackKind::DspI16) => match weights(p.weights)? {
                    Some(w) => (kind, pack::packed_dsp(&p.geom, p.weight_offset, w)?),
                    None => continue,
                },
                (Op::FcI8(p), PackKind::DspI16) => match weights(p.weights)? {
                    Some(w) => (kind, pack::packed_dsp_fc(p, w)?),
                    None => continue,
                },
                _ => continue,
            }
        };
        let Some(values) = values else {
            continue;
        };
        let at = blob.len().div_ceil(ALIGN) * ALIGN;
        blob.resize(at, 0);
        blob.extend(values.iter().flat_map(|x| x.to_le_bytes()));
        let buf = Buf {
            mem: Mem::Blob,
            offset: u32::try_from(at).map_err(overflow)?,
            len: u32::try_from(blob.len() - at).map_err(overflow)?,
        };
        if let Some(slot) = op.packed_mut() {
            *slot = Some(PackedWeights { kind, buf });
        }
    }
    Ok(())
}

/// A byte buffer whose start is 16-byte aligned (for models loaded from disk).
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = alloc::vec![0u128; bytes.len().div_ceil(16)];
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        // `words` holds at least `bytes.len()` bytes.
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d = *s;
        }
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }
}

impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let all: &[u8] = bytemuck::cast_slice(&self.words);
        all.get(..self.len).unwrap_or(all)
    }
}
