//! COCO-format box annotations (the `instances_*.json` layout that
//! `pycocotools`, torchvision and most detection tools read) for the digit
//! scenes, and COCO "results" files for detections.
//!
//! - `images`: `id` (the scene index), `width`, `height`, `file_name`;
//! - `annotations`: `id` (from 1: `pycocotools` treats id 0 as "unmatched"),
//!   `image_id`, `category_id`, `bbox` `[x, y, width, height]` in pixels,
//!   `area` (= width * height: the scenes have no segmentation), `iscrowd` 0;
//! - `categories`: ids 0..=9 named `"0"`..`"9"`, so `category_id` is the digit.
//!
//! [`CocoFile::read`] checks what it reads (unique ids, known images and
//! categories, finite non-negative boxes) and reports problems as
//! [`DataError::Json`] or [`DataError::Coco`].

use crate::DataError;
use crate::map::{GroundTruth, Prediction};
use crate::scenes::{GtBox, Scene};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    pub id: u64,
    pub width: u32,
    pub height: u32,
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u32,
    /// `[x, y, width, height]`, top-left corner and size in pixels.
    pub bbox: [f32; 4],
    pub area: f32,
    #[serde(default)]
    pub iscrowd: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

/// A whole annotation file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    pub images: Vec<CocoImage>,
    pub annotations: Vec<CocoAnnotation>,
    pub categories: Vec<CocoCategory>,
}

/// One detection in COCO's results format (a results file is a JSON array of
/// these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoResult {
    pub image_id: u64,
    pub category_id: u32,
    pub bbox: [f32; 4],
    pub score: f32,
}

/// The file name of scene `index`'s image, relative to the annotations:
/// `images/000042.png`.
pub fn image_file_name(index: u64) -> String {
    format!("images/{index:06}.png")
}

/// `[x0, y0, x1, y1]` -> COCO `[x, y, width, height]`.
pub fn corners_to_xywh(b: [f32; 4]) -> [f32; 4] {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

/// COCO `[x, y, width, height]` -> `[x0, y0, x1, y1]`.
pub fn xywh_to_corners(b: [f32; 4]) -> [f32; 4] {
    [b[0], b[1], b[0] + b[2], b[1] + b[3]]
}

impl CocoFile {
    /// An empty file with the ten digit categories.
    pub fn digits(description: &str) -> CocoFile {
        CocoFile {
            info: Some(serde_json::json!({ "description": description })),
            images: Vec::new(),
            annotations: Vec::new(),
            categories: (0..10)
                .map(|d| CocoCategory {
                    id: d,
                    name: d.to_string(),
                    supercategory: Some("digit".into()),
                })
                .collect(),
        }
    }

    /// Add scene `index` (a `size` x `size` image) and its boxes.
    pub fn push_scene(&mut self, index: u64, size: u32, scene: &Scene) {
        self.images.push(CocoImage {
            id: index,
            width: size,
            height: size,
            file_name: image_file_name(index),
        });
        for b in &scene.boxes {
            let bbox = corners_to_xywh([b.x0, b.y0, b.x1, b.y1]);
            let id = self.annotations.len() as u64 + 1;
            self.annotations.push(CocoAnnotation {
                id,
                image_id: index,
                category_id: b.class as u32,
                bbox,
                area: bbox[2] * bbox[3],
                iscrowd: 0,
            });
        }
    }

    /// The boxes of image `id`, as the scene generator gives them.
    pub fn boxes(&self, image_id: u64) -> Vec<GtBox> {
        self.annotations
            .iter()
            .filter(|a| a.image_id == image_id)
            .map(|a| {
                let [x0, y0, x1, y1] = xywh_to_corners(a.bbox);
                GtBox {
                    class: a.category_id as u8,
                    x0,
                    y0,
                    x1,
                    y1,
                }
            })
            .collect()
    }

    /// Every annotation as a ground truth for [`crate::map::evaluate`].
    pub fn ground_truths(&self) -> Vec<GroundTruth> {
        self.annotations
            .iter()
            .map(|a| GroundTruth {
                image: a.image_id,
                class: a.category_id as u8,
                bbox: xywh_to_corners(a.bbox),
            })
            .collect()
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and vectors always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        std::fs::write(path, self.to_json()).map_err(|e| DataError::io(path, e))
    }

    /// Parse and check annotations; `path` only names the source in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<CocoFile, DataError> {
        let file: CocoFile = serde_json::from_str(text).map_err(|source| DataError::Json {
            path: path.into(),
            source,
        })?;
        file.check(path)?;
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<CocoFile, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        CocoFile::from_json(&text, path)
    }

    fn check(&self, path: &Path) -> Result<(), DataError> {
        let bad = |reason: String| {
            Err(DataError::Coco {
                path: path.into(),
                reason,
            })
        };
        let mut cats = HashSet::new();
        for c in &self.categories {
            if c.id > u8::MAX as u32 || !cats.insert(c.id) {
                return bad(format!("category id {} repeated or above 255", c.id));
            }
        }
        let mut images = HashSet::new();
        for i in &self.images {
            if !images.insert(i.id) {
                return bad(format!("image id {} repeated", i.id));
            }
        }
        let mut ids = HashSet::new();
        for a in &self.annotations {
            if !ids.insert(a.id) {
                return bad(format!("annotation id {} repeated", a.id));
            }
            if !images.contains(&a.image_id) {
                return bad(format!(
                    "annotation {} refers to unknown image {}",
                    a.id, a.image_id
                ));
            }
            if !cats.contains(&a.category_id) {
                return bad(format!(
                    "annotation {} refers to unknown category {}",
                    a.id, a.category_id
                ));
            }
            let [x, y, w, h] = a.bbox;
            if ![x, y, w, h].iter().all(|v| v.is_finite()) || w < 0.0 || h < 0.0 {
                return bad(format!("annotation {} has bbox {:?}", a.id, a.bbox));
            }
        }
        Ok(())
    }
}

/// Detections as a COCO results array (`[x, y, width, height]` boxes).
pub fn results_json(preds: &[Prediction]) -> String {
    let rows: Vec<CocoResult> = preds
        .iter()
        .map(|p| CocoResult {
            image_id: p.image,
            category_id: p.class as u32,
            bbox: corners_to_xywh(p.bbox),
            score: p.score,
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::vendored_subset;
    use crate::scenes::{SceneConfig, scenes};

    fn sample() -> (Vec<Scene>, CocoFile) {
        let d = vendored_subset().unwrap();
        let s = scenes(&d, &SceneConfig::default(), 1, 6).unwrap();
        let mut f = CocoFile::digits("test");
        for (i, sc) in s.iter().enumerate() {
            f.push_scene(i as u64, 96, sc);
        }
        (s, f)
    }

    #[test]
    fn round_trip() {
        let (s, f) = sample();
        let dir = std::env::temp_dir().join(format!("edgerun-coco-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("annotations.json");
        f.write(&path).unwrap();
        let back = CocoFile::read(&path).unwrap();
        assert_eq!(back, f);
        for (i, sc) in s.iter().enumerate() {
            assert_eq!(back.boxes(i as u64), sc.boxes);
        }
        let n: usize = s.iter().map(|x| x.boxes.len()).sum();
        assert_eq!(back.ground_truths().len(), n);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The fields other tools read, by name and value.
    #[test]
    fn coco_layout() {
        let (s, f) = sample();
        let v: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
        let a = &v["annotations"][0];
        let b = s[0].boxes[0];
        assert_eq!(a["id"], 1);
        assert_eq!(a["image_id"], 0);
        assert_eq!(a["category_id"], b.class as u64);
        assert_eq!(a["iscrowd"], 0);
        let w = (b.x1 - b.x0) as f64;
        let h = (b.y1 - b.y0) as f64;
        assert_eq!(a["bbox"], serde_json::json!([b.x0, b.y0, w, h]));
        assert_eq!(a["area"].as_f64().unwrap(), w * h);
        assert_eq!(v["categories"].as_array().unwrap().len(), 10);
        assert_eq!(v["categories"][7]["name"], "7");
        assert_eq!(v["images"][3]["file_name"], "images/000003.png");
        assert_eq!(v["images"][3]["width"], 96);
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let p = Path::new("x.json");
        let json_err = |t: &str| matches!(CocoFile::from_json(t, p), Err(DataError::Json { .. }));
        assert!(json_err("{"));
        assert!(json_err("[]"));
        assert!(json_err(r#"{"images": [], "annotations": []}"#));
        assert!(json_err(
            r#"{"images": [], "annotations": [], "categories": [{"id": -1, "name": "x"}]}"#
        ));
        let (_, f) = sample();
        let coco_err = |f: &CocoFile| {
            matches!(
                CocoFile::from_json(&f.to_json(), p),
                Err(DataError::Coco { .. })
            )
        };
        let mut g = f.clone();
        g.annotations[0].image_id = 999;
        assert!(coco_err(&g));
        let mut g = f.clone();
        g.annotations[0].category_id = 10;
        assert!(coco_err(&g));
        let mut g = f.clone();
        g.annotations[1].id = g.annotations[0].id;
        assert!(coco_err(&g));
        let mut g = f.clone();
        g.annotations[0].bbox[2] = -1.0;
        assert!(coco_err(&g));
        let mut g = f.clone();
        g.images[1].id = g.images[0].id;
        assert!(coco_err(&g));
        assert!(CocoFile::from_json(&f.to_json(), p).is_ok());
        assert!(matches!(
            CocoFile::read(Path::new("/nonexistent/annotations.json")),
            Err(DataError::Io { .. })
        ));
    }

    #[test]
    fn results_are_xywh() {
        let p = Prediction {
            image: 3,
            class: 2,
            score: 0.5,
            bbox: [1.0, 2.0, 4.0, 8.0],
        };
        let v: serde_json::Value = serde_json::from_str(&results_json(&[p])).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"image_id": 3, "category_id": 2, "bbox": [1.0, 2.0, 3.0, 6.0], "score": 0.5}])
        );
    }
}
