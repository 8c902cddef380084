//! What a detection model carries besides its graph: the anchor set, the box
//! encoding and the class list, and the host-side post-processing built on the
//! runtime's own decode and NMS (`edgerun::detect`), so that training, `edge-tools
//! eval`, `edge-run` and the firmware decode a head the same way.
//!
//! A detector's ONNX file stores a [`DetectorSpec`] as JSON in the model's
//! `metadata_props` under [`METADATA_KEY`]. Its graph has one input
//! `[N, 1, size, size]` (float pixels / 255) and two outputs:
//! - `scores` `[N, anchors, classes + 1]`: softmax probabilities, class 0 the
//!   background;
//! - `boxes` `[N, anchors, 4]`: SSD offsets `dx, dy, dw, dh` against each anchor
//!   (see `edgerun::detect::boxes` for the encoding and `variances`).
//!
//! Anchors are ordered as `edgerun::detect::generate_anchors` writes them
//! (levels in order, cells row by row, the anchors of a cell together).

use edgerun::detect::{
    self, AnchorLevel, Box, Candidate, DecodeConfig, Detection, NmsConfig, QuantizedHead,
};
use edgerun::format::schema::{AnchorLevelRecord, MAX_ANCHOR_SHAPES};
use serde::{Deserialize, Serialize};

use crate::ModelProto;
use crate::error::{CompileError, Result};

/// The `metadata_props` key of the JSON [`DetectorSpec`].
pub const METADATA_KEY: &str = "edgerun.detector";

/// At most this many detections per image come out of [`DetectorSpec::postprocess`]
/// (COCO's `maxDets`).
pub const MAX_DETECTIONS: usize = 100;

/// One feature map of the detector and its anchor shapes (see
/// `edgerun::detect::anchors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSpec {
    pub rows: u32,
    pub cols: u32,
    /// Anchor sizes relative to the image side.
    pub sizes: Vec<f32>,
    /// Aspect ratios, width / height.
    pub ratios: Vec<f32>,
}

/// Everything needed to turn a detector's two outputs into boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSpec {
    /// Side of the square input image, in pixels.
    pub input_size: u32,
    /// Names of the object classes (not counting the background, which is
    /// column 0 of `scores`; object class `k` is column `k + 1`).
    pub classes: Vec<String>,
    /// SSD box-encoding variances.
    pub variances: [f32; 4],
    pub levels: Vec<LevelSpec>,
    /// Names of the two graph outputs.
    pub scores_output: String,
    pub boxes_output: String,
}

/// Thresholds of [`DetectorSpec::postprocess`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostConfig {
    /// Keep a class of an anchor when its probability is `>` this.
    pub score_threshold: f32,
    /// Per-class NMS: suppress a box overlapping a kept one with IoU `>` this.
    pub iou_threshold: f32,
    pub max_per_class: usize,
    pub max_total: usize,
}

impl PostConfig {
    /// For showing detections: confident boxes only.
    pub const DISPLAY: PostConfig = PostConfig {
        score_threshold: 0.5,
        iou_threshold: 0.45,
        max_per_class: MAX_DETECTIONS,
        max_total: MAX_DETECTIONS,
    };
    /// For mAP: low threshold, up to 100 detections per image (as COCO).
    pub const EVAL: PostConfig = PostConfig {
        score_threshold: 0.01,
        iou_threshold: 0.45,
        max_per_class: MAX_DETECTIONS,
        max_total: MAX_DETECTIONS,
    };
}

/// A detection in image pixels: object class index (0-based, background
/// excluded), score and corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelDetection {
    pub class: u32,
    pub score: f32,
    pub bbox: Box,
}

impl DetectorSpec {
    /// Classes per anchor in `scores`, background included.
    pub fn score_columns(&self) -> usize {
        self.classes.len() + 1
    }

    fn check(&self) -> Result<()> {
        if self.input_size == 0 || self.classes.is_empty() || self.levels.is_empty() {
            return Err(CompileError::invalid(
                "detector spec: input size, classes and levels must be nonempty",
            ));
        }
        if !self.variances.iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(CompileError::invalid(
                "detector spec: variances must be positive",
            ));
        }
        Ok(())
    }

    fn anchor_levels(&self) -> Vec<AnchorLevel<'_>> {
        self.levels
            .iter()
            .map(|l| AnchorLevel {
                rows: l.rows,
                cols: l.cols,
                sizes: &l.sizes,
                ratios: &l.ratios,
            })
            .collect()
    }

    /// Number of anchors, all levels.
    pub fn anchor_count(&self) -> Result<usize> {
        self.check()?;
        detect::anchor_count(&self.anchor_levels()).map_err(CompileError::Runtime)
    }

    /// The anchors, relative to the image (`0..1`), in head order.
    pub fn anchors(&self) -> Result<Vec<Box>> {
        let mut out = vec![Box::default(); self.anchor_count()?];
        let n = detect::generate_anchors(&self.anchor_levels(), &mut out)
            .map_err(CompileError::Runtime)?;
        out.truncate(n);
        Ok(out)
    }

    /// The levels as the `.edge` detector record stores them (at most
    /// [`MAX_ANCHOR_SHAPES`] sizes and ratios per level).
    pub fn level_records(&self) -> Result<Vec<AnchorLevelRecord>> {
        self.check()?;
        let fill = |v: &[f32], what: &str| -> Result<(u8, [f32; MAX_ANCHOR_SHAPES])> {
            let mut out = [0.0; MAX_ANCHOR_SHAPES];
            if v.len() > MAX_ANCHOR_SHAPES {
                return Err(CompileError::invalid(format!(
                    "detector spec: {} anchor {what} in a level, .edge holds at most {MAX_ANCHOR_SHAPES}",
                    v.len()
                )));
            }
            for (o, x) in out.iter_mut().zip(v) {
                *o = *x;
            }
            Ok((v.len() as u8, out))
        };
        self.levels
            .iter()
            .map(|l| {
                let (num_sizes, sizes) = fill(&l.sizes, "sizes")?;
                let (num_ratios, ratios) = fill(&l.ratios, "ratios")?;
                Ok(AnchorLevelRecord {
                    rows: l.rows,
                    cols: l.cols,
                    num_sizes,
                    sizes,
                    num_ratios,
                    ratios,
                })
            })
            .collect()
    }

    /// The spec stored in a `.edge` model (its detector record, the output
    /// names from its output descriptors), `None` for a model that is not a
    /// detector.
    pub fn from_edge(model: &edgerun::Model<'_>) -> Result<Option<Self>> {
        let Some(d) = model.detector() else {
            return Ok(None);
        };
        let rt = CompileError::Runtime;
        let classes = d
            .classes()
            .map(|c| c.map(String::from))
            .collect::<core::result::Result<Vec<_>, _>>()
            .map_err(rt)?;
        let levels = d
            .levels()
            .map(|l| {
                let l = l?;
                let level = l.level();
                Ok(LevelSpec {
                    rows: l.rows,
                    cols: l.cols,
                    sizes: level.sizes.to_vec(),
                    ratios: level.ratios.to_vec(),
                })
            })
            .collect::<core::result::Result<Vec<_>, edgerun::Error>>()
            .map_err(rt)?;
        let name = |i: u32| model.output(i as usize).map(|o| o.name.to_string());
        let spec = DetectorSpec {
            input_size: d.input_size,
            classes,
            variances: d.variances,
            levels,
            scores_output: name(d.scores_output).map_err(rt)?,
            boxes_output: name(d.boxes_output).map_err(rt)?,
        };
        spec.check()?;
        Ok(Some(spec))
    }

    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and vectors always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self> {
        let spec: DetectorSpec = serde_json::from_str(s)
            .map_err(|e| CompileError::invalid(format!("detector spec: {e}")))?;
        spec.check()?;
        Ok(spec)
    }

    /// The spec stored in a model, `None` for a model that is not a detector.
    pub fn from_model(model: &ModelProto) -> Result<Option<Self>> {
        model
            .metadata_props
            .iter()
            .find(|p| p.key == METADATA_KEY)
            .map(|p| Self::from_json(&p.value))
            .transpose()
    }

    /// Store the spec in `model` (replacing an earlier one).
    pub fn attach(&self, model: &mut ModelProto) {
        model.metadata_props.retain(|p| p.key != METADATA_KEY);
        model
            .metadata_props
            .push(crate::pb::StringStringEntryProto {
                key: METADATA_KEY.into(),
                value: self.to_json(),
            });
    }

    fn decode_config(&self, cfg: &PostConfig) -> DecodeConfig {
        DecodeConfig {
            score_threshold: cfg.score_threshold,
            variances: self.variances,
            background_class: Some(0),
        }
    }

    /// Boxes of one image from a float head (`scores` `[anchors][classes + 1]`,
    /// `offsets` `[anchors][4]`): the runtime's decode, then its per-class NMS.
    pub fn postprocess(
        &self,
        anchors: &[Box],
        scores: &[f32],
        offsets: &[f32],
        cfg: &PostConfig,
    ) -> Result<Vec<PixelDetection>> {
        let mut cands = vec![Candidate::default(); scores.len()];
        let n = detect::decode_f32(
            scores,
            offsets,
            self.score_columns(),
            anchors,
            &self.decode_config(cfg),
            &mut cands,
        )
        .map_err(CompileError::Runtime)?;
        cands.truncate(n);
        self.nms(&cands, cfg)
    }

    /// [`DetectorSpec::postprocess`] for an int8 head, decoded without
    /// dequantizing it (`edgerun::detect::decode_quantized`).
    pub fn postprocess_i8(
        &self,
        anchors: &[Box],
        head: &QuantizedHead<'_>,
        cfg: &PostConfig,
    ) -> Result<Vec<PixelDetection>> {
        let mut cands = vec![Candidate::default(); head.scores.len()];
        let n = detect::decode_quantized(head, anchors, &self.decode_config(cfg), &mut cands)
            .map_err(CompileError::Runtime)?;
        cands.truncate(n);
        self.nms(&cands, cfg)
    }

    fn nms(&self, cands: &[Candidate], cfg: &PostConfig) -> Result<Vec<PixelDetection>> {
        let nms_cfg = NmsConfig {
            score_threshold: None,
            iou_threshold: cfg.iou_threshold,
            max_per_class: cfg.max_per_class,
            max_total: cfg.max_total,
            class_agnostic: false,
        };
        let mut scratch = vec![0u32; cands.len()];
        let mut kept = heapless::Vec::<Detection, MAX_DETECTIONS>::new();
        detect::nms(cands, &nms_cfg, &mut scratch, &mut kept).map_err(CompileError::Runtime)?;
        let side = self.input_size as f32;
        Ok(kept
            .iter()
            .map(|d| PixelDetection {
                // Class 0 is the background, never emitted by the decoder.
                class: d.class.saturating_sub(1),
                score: d.score,
                bbox: Box::new(
                    d.bbox.x0 * side,
                    d.bbox.y0 * side,
                    d.bbox.x1 * side,
                    d.bbox.y1 * side,
                ),
            })
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> DetectorSpec {
        DetectorSpec {
            input_size: 100,
            classes: vec!["a".into(), "b".into()],
            variances: [0.1, 0.1, 0.2, 0.2],
            levels: vec![LevelSpec {
                rows: 2,
                cols: 2,
                sizes: vec![0.5],
                ratios: vec![1.0],
            }],
            scores_output: "scores".into(),
            boxes_output: "boxes".into(),
        }
    }

    #[test]
    fn json_round_trip_and_metadata() {
        let s = spec();
        assert_eq!(DetectorSpec::from_json(&s.to_json()).unwrap(), s);
        let mut m = ModelProto::default();
        assert_eq!(DetectorSpec::from_model(&m).unwrap(), None);
        s.attach(&mut m);
        s.attach(&mut m);
        assert_eq!(m.metadata_props.len(), 1);
        assert_eq!(DetectorSpec::from_model(&m).unwrap(), Some(s));
        assert!(DetectorSpec::from_json("{").is_err());
        let mut bad = spec();
        bad.levels.clear();
        assert!(DetectorSpec::from_json(&bad.to_json()).is_err());
    }

    /// Four anchors of side 0.5 centred on the quadrants; anchor 3 (bottom
    /// right) says class "b" with offsets 0, so its box is the anchor, in pixels;
    /// anchor 2 says "b" too, less sure, and does not overlap: both kept.
    #[test]
    fn postprocess_by_hand() {
        let s = spec();
        let anchors = s.anchors().unwrap();
        assert_eq!(anchors.len(), 4);
        assert_eq!(anchors[3], Box::new(0.5, 0.5, 1.0, 1.0));
        let mut scores = [1.0, 0.0, 0.0].repeat(4);
        scores[9..12].copy_from_slice(&[0.1, 0.0, 0.9]);
        scores[6..9].copy_from_slice(&[0.3, 0.0, 0.7]);
        let offsets = vec![0.0; 16];
        let got = s
            .postprocess(&anchors, &scores, &offsets, &PostConfig::DISPLAY)
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].class, 1);
        assert_eq!(got[0].score, 0.9);
        assert_eq!(got[0].bbox, Box::new(50.0, 50.0, 100.0, 100.0));
        assert_eq!(got[1].bbox, Box::new(0.0, 50.0, 50.0, 100.0));
    }
}
