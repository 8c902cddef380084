//! Typed errors. Nothing in this crate panics on data that came from a model
//! file or from the caller: every failure is one of these.

use crate::format::schema::OpKind;
use core::fmt;

/// Everything that can go wrong while reading or running a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The file is shorter than its header or than the length the header states.
    Truncated,
    /// The first bytes are not `EDGE`.
    BadMagic,
    /// The format major version is not one this runtime reads.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The payload checksum does not match the header.
    ChecksumMismatch,
    /// The model bytes do not start on a 16-byte boundary (weights are read in place).
    MisalignedModel,
    /// A section or buffer points outside the file or the arena.
    OutOfBounds,
    /// A buffer offset is not aligned for its element type.
    Misaligned,
    /// The structured part of the file could not be decoded (corrupt, or written
    /// by a newer compiler with an operator this runtime does not know).
    Decode,
    /// Shape arithmetic overflowed.
    Overflow,
    /// An operator's geometry does not match the sizes of its buffers.
    BadGeometry,
    /// An operator's output overlaps one of its inputs in the arena.
    Overlap,
    /// The caller's arena is smaller than the model's plan.
    ArenaTooSmall { needed: usize, got: usize },
    /// Input or output index out of range.
    NoSuchTensor,
    /// The tensor exists but has another element type than asked for.
    WrongDType,
    /// The caller passed a slice of the wrong length.
    WrongLength { expected: usize, got: usize },
    /// A parameter has a value the kernels do not accept (e.g. a zero stride).
    InvalidParameter,
    /// A caller-provided output or scratch buffer holds `got` elements; `needed`
    /// are required (see e.g. [`crate::detect::anchor_count`]).
    BufferTooSmall { needed: usize, got: usize },
    /// The operator's kernel is not in the [`crate::interp::KernelSet`] this
    /// build runs with (e.g. an f32 operator in int8-only firmware).
    KernelNotBuilt(OpKind),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("model file is truncated"),
            Error::BadMagic => f.write_str("not an .edge model (bad magic)"),
            Error::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported .edge format version {major}.{minor}")
            }
            Error::ChecksumMismatch => f.write_str("model checksum mismatch (file corrupted)"),
            Error::MisalignedModel => f.write_str("model bytes must start on a 16-byte boundary"),
            Error::OutOfBounds => f.write_str("a buffer points outside the model or the arena"),
            Error::Misaligned => f.write_str("a buffer is not aligned for its element type"),
            Error::Decode => f.write_str("model metadata could not be decoded"),
            Error::Overflow => f.write_str("tensor size arithmetic overflowed"),
            Error::BadGeometry => f.write_str("operator geometry does not match its buffers"),
            Error::Overlap => f.write_str("operator output overlaps an input"),
            Error::ArenaTooSmall { needed, got } => {
                write!(f, "arena too small: model needs {needed} bytes, got {got}")
            }
            Error::NoSuchTensor => f.write_str("no such input or output"),
            Error::WrongDType => f.write_str("tensor has a different element type"),
            Error::WrongLength { expected, got } => {
                write!(f, "wrong length: expected {expected} elements, got {got}")
            }
            Error::InvalidParameter => f.write_str("invalid operator parameter"),
            Error::BufferTooSmall { needed, got } => {
                write!(f, "buffer too small: {needed} elements needed, got {got}")
            }
            Error::KernelNotBuilt(kind) => {
                write!(
                    f,
                    "the {} kernel is not built into this binary",
                    kind.name()
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
