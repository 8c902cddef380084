//! Detection post-processing for SSD-style heads, with no allocator and no
//! panics: anchors, box encoding and IoU, int8 head decoding and
//! non-maximum suppression. Every output goes into memory the caller provides
//! (a slice, or a fixed-capacity [`heapless::Vec`]).
//!
//! A typical pipeline on a microcontroller:
//!
//! ```
//! use edgerun::detect::*;
//! use edgerun::format::schema::QParams;
//!
//! # fn main() -> Result<(), edgerun::Error> {
//! // Once: the anchors of a 2x2 and a 1x1 feature map.
//! let levels = [
//!     AnchorLevel { rows: 2, cols: 2, sizes: &[0.3, 0.4], ratios: &[1.0, 2.0, 0.5] },
//!     AnchorLevel { rows: 1, cols: 1, sizes: &[0.8], ratios: &[1.0] },
//! ];
//! let mut anchors = [Box::default(); 17];
//! let n = generate_anchors(&levels, &mut anchors)?;
//! assert_eq!(n, anchor_count(&levels)?);
//!
//! // Every frame: the int8 head's outputs (from the interpreter), 2 classes.
//! let scores = [-128i8; 17 * 2];
//! let offsets = [0i8; 17 * 4];
//! let head = QuantizedHead {
//!     scores: &scores,
//!     score_quant: QParams { scale: 1.0 / 256.0, zero_point: -128 },
//!     offsets: &offsets,
//!     offset_quant: QParams { scale: 0.05, zero_point: 0 },
//!     num_classes: 2,
//! };
//! let config = DecodeConfig { score_threshold: 0.5, variances: [0.1, 0.1, 0.2, 0.2], background_class: None };
//! let mut candidates = [Candidate::default(); 17 * 2];
//! let found = decode_quantized(&head, &anchors[..n], &config, &mut candidates)?;
//!
//! let mut scratch = [0u32; 17 * 2];
//! let mut detections: heapless::Vec<Detection, 10> = heapless::Vec::new();
//! nms(&candidates[..found], &NmsConfig::new(0.45), &mut scratch, &mut detections)?;
//! assert!(detections.is_empty());
//! # Ok(()) }
//! ```
#![deny(clippy::indexing_slicing)]

pub mod anchors;
pub mod boxes;
pub mod nms;
pub mod quantized;
mod record;

pub use anchors::{AnchorLevel, anchor_count, generate_anchors};
pub use boxes::{Box, CenterBox, decode, encode, iou};
pub use nms::{Candidate, Detection, NmsConfig, nms};
pub use quantized::{
    DecodeConfig, QuantizedHead, decode_f32, decode_quantized, quantize_threshold,
};
