//! The `.edge` model format.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "EDGE"
//! 4       2     format major version (readers accept only their own major)
//! 6       2     format minor version (grows when fields/ops are appended)
//! 8       4     file length in bytes
//! 12      4     FNV-1a 32 checksum of bytes [32, file length)
//! 16      4     meta offset        20  4  meta length   (postcard `Meta`)
//! 24      4     blob offset (16-aligned)  28  4  blob length (weights, tables)
//! ```
//! The metadata section holds the postcard `Meta` record, then, for a
//! detection model (format 1.2), a `DetectorRecord` (anchors, classes, box
//! encoding; [`Model::detector`]). Readers ignore bytes after the records they
//! know, and a section that ends after `Meta` has no detector.
//! Everything is little-endian. The model is read in place (from flash); its
//! start must be 4-byte aligned (16 recommended for SIMD loads), every blob buffer
//! is 16-aligned inside the file. [`Model::parse`] validates every offset,
//! length, shape and operator geometry once, so that running a model can only
//! fail on caller mistakes, never read out of bounds.

mod read;
pub mod schema;
mod validate;
#[cfg(feature = "alloc")]
pub mod write;

use crate::error::Error;
use read::{Decode, Reader};
use schema::{DetectorRecord, Meta, OpRecord, TensorDesc};

pub const MAGIC: [u8; 4] = *b"EDGE";
pub const VERSION_MAJOR: u16 = 1;
/// 1: `Op::Nms` (ONNX NonMaxSuppression). 2: the detector record after `Meta`.
/// 3: `ConvI8::packed` (weights packed ahead of time for a SIMD kernel).
/// 4: `PackKind::DspI16` and `FcI8::packed` (the Cortex-M DSP kernels).
/// 5: `PackKind::Avx2WinogradI16` (the AVX2 Winograd loop of 3x3 convolutions).
pub const VERSION_MINOR: u16 = 5;
pub const HEADER_LEN: usize = 32;
/// Alignment of blob buffers and of arena offsets.
pub const ALIGN: usize = 16;

/// FNV-1a, 32 bit.
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The `N` bytes at `at`, or [`Error::Truncated`].
fn read_array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], Error> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or(Error::Truncated)
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, Error> {
    read_array(bytes, at).map(u16::from_le_bytes)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, Error> {
    read_array(bytes, at).map(u32::from_le_bytes)
}

fn section(bytes: &[u8], offset: u32, len: u32) -> Result<&[u8], Error> {
    let start = offset as usize;
    let end = start.checked_add(len as usize).ok_or(Error::OutOfBounds)?;
    bytes.get(start..end).ok_or(Error::OutOfBounds)
}

/// Decode one record ([`read`]: postcard's encoding, read by hand), failing
/// with [`Error::Decode`]. Trailing bytes (fields appended by a newer writer)
/// are ignored.
pub(crate) fn decode<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    Reader::new(bytes).read()
}

/// Iterator over a record stream: `varint length + record bytes`, repeated.
#[derive(Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    pub fn new(stream: &'a [u8]) -> Self {
        Records { rest: stream }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut r = Reader::new(self.rest);
        match r.read::<&'a [u8]>() {
            Ok(rec) => {
                self.rest = r.rest();
                Some(Ok(rec))
            }
            Err(_) => {
                self.rest = &[];
                Some(Err(Error::Decode))
            }
        }
    }
}

/// A validated model, borrowing the file's bytes. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Model<'m> {
    meta: Meta<'m>,
    detector: Option<DetectorRecord<'m>>,
    blob: &'m [u8],
    version_minor: u16,
}

impl<'m> Model<'m> {
    /// Check the header, checksum, every buffer and every operator, once.
    pub fn parse(bytes: &'m [u8]) -> Result<Self, Error> {
        Self::parse_checked(bytes, true)
    }

    /// [`Model::parse`] without the checksum, for bytes this program parsed
    /// before and still holds unchanged (a host that keeps its own copy of a
    /// model and parses it again for every inference). The checksum is a pass
    /// over the whole file, about a quarter of a second for a 240 MB model;
    /// the header, buffers and operators are still validated, so bytes that
    /// did change give errors (or wrong numbers), never out-of-bounds access.
    pub fn reparse(bytes: &'m [u8]) -> Result<Self, Error> {
        Self::parse_checked(bytes, false)
    }

    fn parse_checked(bytes: &'m [u8], verify_checksum: bool) -> Result<Self, Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if bytes.get(0..4) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let major = read_u16(bytes, 4)?;
        let minor = read_u16(bytes, 6)?;
        if major != VERSION_MAJOR {
            return Err(Error::UnsupportedVersion { major, minor });
        }
        let file_len = read_u32(bytes, 8)? as usize;
        if file_len < HEADER_LEN || file_len > bytes.len() {
            return Err(Error::Truncated);
        }
        let bytes = bytes.get(..file_len).ok_or(Error::Truncated)?;
        let payload = bytes.get(HEADER_LEN..).ok_or(Error::Truncated)?;
        if verify_checksum && checksum(payload) != read_u32(bytes, 12)? {
            return Err(Error::ChecksumMismatch);
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::MisalignedModel);
        }
        let meta_bytes = section(bytes, read_u32(bytes, 16)?, read_u32(bytes, 20)?)?;
        let blob_offset = read_u32(bytes, 24)?;
        if !(blob_offset as usize).is_multiple_of(ALIGN) {
            return Err(Error::Misaligned);
        }
        let blob = section(bytes, blob_offset, read_u32(bytes, 28)?)?;
        let mut records = Reader::new(meta_bytes);
        let meta: Meta<'m> = records.read()?;
        let detector = if records.rest().is_empty() {
            None
        } else {
            Some(records.read::<DetectorRecord<'m>>()?)
        };
        let model = Model {
            meta,
            detector,
            blob,
            version_minor: minor,
        };
        validate::validate(&model)?;
        Ok(model)
    }

    pub fn meta(&self) -> &Meta<'m> {
        &self.meta
    }
    /// The detector record (anchors, classes, box encoding) of a detection
    /// model, validated against its input and outputs; `None` for other models.
    pub fn detector(&self) -> Option<DetectorRecord<'m>> {
        self.detector
    }
    pub fn name(&self) -> &'m str {
        self.meta.name
    }
    pub fn version(&self) -> (u16, u16) {
        (VERSION_MAJOR, self.version_minor)
    }
    pub(crate) fn blob(&self) -> &'m [u8] {
        self.blob
    }
    /// Bytes of constant data (weights, multipliers, tables).
    pub fn blob_bytes(&self) -> usize {
        self.blob.len()
    }
    /// Bytes of the blob that hold weights packed ahead of time for a SIMD
    /// kernel (`ConvI8::packed`, `FcI8::packed`), part of [`Model::blob_bytes`].
    pub fn packed_bytes(&self) -> usize {
        self.ops()
            .filter_map(|r| r.ok()?.op.packed().map(|pw| pw.buf.len as usize))
            .sum()
    }
    /// Arena bytes of the static plan (from a 16-aligned start).
    pub fn arena_bytes(&self) -> usize {
        self.meta.arena_bytes as usize
    }
    /// Arena bytes to give [`crate::Interpreter::new`] when the buffer's
    /// alignment is unknown (plan + alignment slack).
    pub fn arena_bytes_unaligned(&self) -> usize {
        self.arena_bytes() + ALIGN - 1
    }
    pub fn num_inputs(&self) -> usize {
        self.meta.num_inputs as usize
    }
    pub fn num_outputs(&self) -> usize {
        self.meta.num_outputs as usize
    }
    pub fn num_ops(&self) -> usize {
        self.meta.num_ops as usize
    }
    /// Input descriptor `i` (ONNX layout).
    pub fn input(&self, i: usize) -> Result<TensorDesc<'m>, Error> {
        nth_desc(self.meta.inputs, i)
    }
    /// Output descriptor `i` (ONNX layout).
    pub fn output(&self, i: usize) -> Result<TensorDesc<'m>, Error> {
        nth_desc(self.meta.outputs, i)
    }
    pub fn input_index(&self, name: &str) -> Option<usize> {
        index_of(self.meta.inputs, name)
    }
    pub fn output_index(&self, name: &str) -> Option<usize> {
        index_of(self.meta.outputs, name)
    }
    /// Every operator record, in execution order.
    pub fn ops(&self) -> impl Iterator<Item = Result<OpRecord<'m>, Error>> + 'm {
        Records::new(self.meta.ops).map(|r| r.and_then(decode::<OpRecord<'m>>))
    }
    /// Every tensor descriptor of the plan (for tools).
    pub fn tensors(&self) -> impl Iterator<Item = Result<TensorDesc<'m>, Error>> + 'm {
        Records::new(self.meta.tensors).map(|r| r.and_then(decode::<TensorDesc<'m>>))
    }
}

fn nth_desc<'m>(stream: &'m [u8], i: usize) -> Result<TensorDesc<'m>, Error> {
    let rec = Records::new(stream).nth(i).ok_or(Error::NoSuchTensor)??;
    decode(rec)
}

fn index_of(stream: &[u8], name: &str) -> Option<usize> {
    Records::new(stream).position(|r| {
        r.and_then(decode::<TensorDesc<'_>>)
            .map(|d| d.name == name)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests;
