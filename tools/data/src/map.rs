//! Mean average precision of box detections, as COCO defines it (and as
//! `pycocotools`' `COCOeval` computes it for `iouType="bbox"`, area range
//! "all", no crowd boxes):
//!
//! - IoU thresholds `0.50:0.05:0.95` (ten);
//! - per image and class, predictions sorted by descending score (equal scores
//!   keep their input order), at most [`MAX_DETS`] of them; each one in turn
//!   takes the still unmatched ground truth it overlaps most, if that IoU is
//!   at least the threshold (among equal IoUs the later ground truth, as
//!   `pycocotools` does); a ground truth is matched at most once, and a
//!   prediction that matches none is a false positive;
//! - per class, the predictions of all images (images in ascending id, then a
//!   stable sort by descending score) give a precision/recall curve; precision
//!   is made monotone (each point takes the best precision at any higher
//!   recall) and read at the 101 recall points `0:0.01:1` (0 past the highest
//!   recall reached); AP is their mean;
//! - classes without ground truth are left out of the mean (their predictions
//!   count nowhere); mAP@0.5 and mAP@0.75 are the means over classes at one
//!   threshold, mAP@[.5:.95] the mean over classes and all ten thresholds.
//!
//! The per-image cap applies per image *and class*, as in `pycocotools`
//! (`evaluateImg` cuts each image/category's detections to `maxDets`); with at
//! most 100 detections per image, as NMS leaves them, the two readings agree.
//! IoU is the runtime's [`edgerun::detect::iou`] (f32; the NMS on the device
//! uses the same function). With no ground truth at all every mAP is 0 (where
//! `pycocotools` prints -1). Predictions with a NaN score are ignored.
//!
//! Checked once against `pycocotools` 2.0.11 (`pip install pycocotools`, not in
//! CI): the hand-computed case of the tests gives the same three numbers, and
//! 200 scenes of `scenes(vendored_subset, default, seed 42)` with ~450 jittered,
//! class-flipped, duplicated and random predictions (scores in steps of 0.05,
//! so with many ties) gave mAP@[.5:.95] 0.215149198076207, @.5 0.420910481960764,
//! @.75 0.198254722693908 and all ten per-class AP@.5 equal to `COCOeval`'s
//! `stats[0..3]` and `eval["precision"]` within 1e-15 (files written with
//! [`crate::coco::CocoFile::write`] and [`crate::coco::results_json`], read
//! with `COCO(..)` / `loadRes(..)`).

use edgerun::detect::{Box as Rect, iou};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many predictions per image and class are evaluated (the
/// highest-scoring ones).
pub const MAX_DETS: usize = 100;
/// Number of recall points of the interpolated precision.
pub const RECALL_POINTS: usize = 101;

/// A ground-truth box: corners `[x0, y0, x1, y1]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruth {
    pub image: u64,
    pub class: u8,
    pub bbox: [f32; 4],
}

/// A predicted box: corners `[x0, y0, x1, y1]` in pixels, with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub image: u64,
    pub class: u8,
    pub score: f32,
    pub bbox: [f32; 4],
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MapReport {
    /// mAP at IoU 0.5.
    pub map_50: f64,
    /// mAP averaged over IoU 0.50:0.05:0.95 (COCO's primary metric).
    pub map_50_95: f64,
    /// mAP at IoU 0.75.
    pub map_75: f64,
    /// AP at IoU 0.5 of each class that has ground truth, by class.
    pub per_class_ap50: Vec<(u8, f64)>,
    /// AP over IoU 0.50:0.05:0.95 of each class that has ground truth, by class.
    pub per_class_ap50_95: Vec<(u8, f64)>,
    /// Distinct images among the ground truths and predictions.
    pub images: usize,
    pub ground_truths: usize,
    pub predictions: usize,
}

/// The ten IoU thresholds, computed as numpy's `linspace(0.5, 0.95, 10)` does
/// (`i * step + start`, the last one exact) so that a box exactly on a
/// threshold is judged as in `pycocotools`.
pub fn iou_thresholds() -> [f64; 10] {
    linspace(0.5, 0.95)
}

/// The 101 recall points `linspace(0, 1, 101)`.
pub fn recall_points() -> [f64; RECALL_POINTS] {
    linspace(0.0, 1.0)
}

fn linspace<const N: usize>(start: f64, stop: f64) -> [f64; N] {
    let step = (stop - start) / (N - 1) as f64;
    let mut out = [0.0; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = i as f64 * step + start;
    }
    if let Some(last) = out.last_mut() {
        *last = stop;
    }
    out
}

fn rect(b: &[f32; 4]) -> Rect {
    Rect::new(b[0], b[1], b[2], b[3])
}

/// For each IoU threshold, whether each prediction (already sorted and cut) is
/// a true positive, by the greedy COCO matching.
fn match_image(gts: &[&GroundTruth], dets: &[&Prediction], thresholds: &[f64]) -> Vec<Vec<bool>> {
    let ious: Vec<Vec<f64>> = dets
        .iter()
        .map(|d| {
            gts.iter()
                .map(|g| iou(&rect(&d.bbox), &rect(&g.bbox)) as f64)
                .collect()
        })
        .collect();
    thresholds
        .iter()
        .map(|&t| {
            let mut taken = vec![false; gts.len()];
            ious.iter()
                .map(|row| {
                    let mut best = t.min(1.0 - 1e-10);
                    let mut m = None;
                    for (g, &v) in row.iter().enumerate() {
                        if taken.get(g).copied().unwrap_or(true) || v < best {
                            continue;
                        }
                        best = v;
                        m = Some(g);
                    }
                    if let Some(slot) = m.and_then(|g| taken.get_mut(g)) {
                        *slot = true;
                    }
                    m.is_some()
                })
                .collect()
        })
        .collect()
}

/// Interpolated AP from `(score, true positive)` pairs already in ranking order
/// and the number of ground truths (> 0).
fn average_precision(ranked: &[(f32, bool)], n_gt: usize, recalls: &[f64]) -> f64 {
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut rc = Vec::with_capacity(ranked.len());
    let mut pr = Vec::with_capacity(ranked.len());
    for &(_, hit) in ranked {
        if hit {
            tp += 1;
        } else {
            fp += 1;
        }
        rc.push(tp as f64 / n_gt as f64);
        // pycocotools adds np.spacing(1) = f64::EPSILON to the denominator.
        pr.push(tp as f64 / (tp as f64 + fp as f64 + f64::EPSILON));
    }
    // Monotone precision: each point takes the best precision to its right.
    for i in (1..pr.len()).rev() {
        let (l, r) = (pr[i - 1], pr[i]);
        if r > l {
            pr[i - 1] = r;
        }
    }
    let sum: f64 = recalls
        .iter()
        .map(|&r| {
            // The first point whose recall reaches r (numpy searchsorted, left).
            let k = rc.partition_point(|&v| v < r);
            pr.get(k).copied().unwrap_or(0.0)
        })
        .sum();
    sum / recalls.len() as f64
}

/// COCO mAP of `preds` against `gts` (see the module docs).
pub fn evaluate(gts: &[GroundTruth], preds: &[Prediction]) -> MapReport {
    let thresholds = iou_thresholds();
    let recalls = recall_points();
    // (class, image) -> ground truths, predictions; BTreeMap: images ascending.
    type Cell<'a> = (Vec<&'a GroundTruth>, Vec<&'a Prediction>);
    let mut cells: BTreeMap<(u8, u64), Cell> = BTreeMap::new();
    let mut n_gt: BTreeMap<u8, usize> = BTreeMap::new();
    for g in gts {
        cells.entry((g.class, g.image)).or_default().0.push(g);
        *n_gt.entry(g.class).or_default() += 1;
    }
    for p in preds.iter().filter(|p| !p.score.is_nan()) {
        if n_gt.contains_key(&p.class) {
            cells.entry((p.class, p.image)).or_default().1.push(p);
        }
    }
    let images: BTreeSet<u64> = gts
        .iter()
        .map(|g| g.image)
        .chain(preds.iter().map(|p| p.image))
        .collect();

    // class -> per threshold, the (score, hit) of every prediction.
    let mut ranked: BTreeMap<u8, Vec<Vec<(f32, bool)>>> = BTreeMap::new();
    for ((class, _), (g, mut d)) in cells {
        // Stable: equal scores keep their input order.
        d.sort_by(|a, b| b.score.total_cmp(&a.score));
        d.truncate(MAX_DETS);
        let hits = match_image(&g, &d, &thresholds);
        let per_t = ranked
            .entry(class)
            .or_insert_with(|| vec![Vec::new(); thresholds.len()]);
        for (list, hit) in per_t.iter_mut().zip(hits) {
            list.extend(d.iter().map(|p| p.score).zip(hit));
        }
    }
    let mut ap = Vec::new(); // (class, AP per threshold)
    for (&class, &n) in &n_gt {
        let per_t: Vec<f64> = match ranked.get_mut(&class) {
            Some(lists) => lists
                .iter_mut()
                .map(|list| {
                    list.sort_by(|a, b| b.0.total_cmp(&a.0));
                    average_precision(list, n, &recalls)
                })
                .collect(),
            None => vec![0.0; thresholds.len()],
        };
        ap.push((class, per_t));
    }
    let mean = |f: &dyn Fn(&[f64]) -> f64| -> f64 {
        if ap.is_empty() {
            0.0
        } else {
            ap.iter().map(|(_, v)| f(v)).sum::<f64>() / ap.len() as f64
        }
    };
    let at = |k: usize| move |v: &[f64]| v.get(k).copied().unwrap_or(0.0);
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    MapReport {
        map_50: mean(&at(0)),
        map_75: mean(&at(5)),
        map_50_95: mean(&avg),
        per_class_ap50: ap.iter().map(|(c, v)| (*c, at(0)(v))).collect(),
        per_class_ap50_95: ap.iter().map(|(c, v)| (*c, avg(v))).collect(),
        images: images.len(),
        ground_truths: gts.len(),
        predictions: preds.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(image: u64, class: u8, bbox: [f32; 4]) -> GroundTruth {
        GroundTruth { image, class, bbox }
    }
    fn pred(image: u64, class: u8, score: f32, bbox: [f32; 4]) -> Prediction {
        Prediction {
            image,
            class,
            score,
            bbox,
        }
    }
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn thresholds_and_recall_points() {
        let t = iou_thresholds();
        assert!(close(t[0], 0.5) && close(t[5], 0.75) && t[9] == 0.95);
        let r = recall_points();
        assert_eq!((r[0], r[50], r[100]), (0.0, 0.5, 1.0));
    }

    /// Two images, three ground truths, four predictions (one duplicate, one
    /// false positive), computed by hand:
    ///
    /// ```text
    /// image 1: A class 0 [0,0,10,10]    B class 1 [20,20,30,30]
    /// image 2: C class 0 [0,0,10,10]
    /// p1 img 1 class 0 score 0.9 [0,0,10,10]   IoU(A) = 1      TP at every threshold
    /// p2 img 1 class 0 score 0.8 [1,0,11,10]   IoU(A) = 90/110 duplicate (A taken): FP
    /// p3 img 2 class 0 score 0.7 [0,0,10,8.2]  IoU(C) = 0.82   TP for t <= 0.80, FP for 0.85, 0.9, 0.95
    /// p4 img 1 class 1 score 0.6 [50,50,60,60] no overlap      FP (B never found)
    ///
    /// class 0, 2 GT, ranking p1 p2 p3:
    ///   t <= 0.8: recall .5 .5 1, precision 1 1/2 2/3 -> monotone 1 2/3 2/3
    ///             recall points 0..=0.50 (51) read 1, 0.51..=1 (50) read 2/3
    ///             AP = (51 + 50 * 2/3) / 101 = 253/303
    ///   t >= .85: recall .5 .5 .5, precision 1 1/2 1/3 -> 51 points read 1, the rest 0
    ///             AP = 51/101 = 153/303
    /// class 1, 1 GT: no true positive, AP = 0 at every threshold
    /// mAP@.5 = mAP@.75 = (253/303 + 0) / 2 = 253/606
    /// mAP@[.5:.95] = ((7 * 253 + 3 * 153) / 303 / 10 + 0) / 2 = 223/606
    /// ```
    #[test]
    fn tiny_case_by_hand() {
        let gts = [
            gt(1, 0, [0., 0., 10., 10.]),
            gt(1, 1, [20., 20., 30., 30.]),
            gt(2, 0, [0., 0., 10., 10.]),
        ];
        let preds = [
            pred(1, 0, 0.9, [0., 0., 10., 10.]),
            pred(1, 0, 0.8, [1., 0., 11., 10.]),
            pred(2, 0, 0.7, [0., 0., 10., 8.2]),
            pred(1, 1, 0.6, [50., 50., 60., 60.]),
        ];
        let r = evaluate(&gts, &preds);
        // Precision carries pycocotools' epsilon: equal to 1e-9.
        assert!(close(r.map_50, 253.0 / 606.0), "{r:?}");
        assert!(close(r.map_75, 253.0 / 606.0), "{r:?}");
        assert!(close(r.map_50_95, 223.0 / 606.0), "{r:?}");
        assert_eq!(r.per_class_ap50.len(), 2);
        assert_eq!(r.per_class_ap50[0].0, 0);
        assert!(close(r.per_class_ap50[0].1, 253.0 / 303.0));
        assert_eq!(r.per_class_ap50[1], (1, 0.0));
        assert!(close(
            r.per_class_ap50_95[0].1,
            (7.0 * 253.0 + 3.0 * 153.0) / 3030.0
        ));
        assert_eq!((r.images, r.ground_truths, r.predictions), (2, 3, 4));

        // Input order does not matter except among equal scores.
        let mut rev = preds;
        rev.reverse();
        assert_eq!(evaluate(&gts, &rev), r);
    }

    #[test]
    fn perfect_and_empty_predictions() {
        let gts: Vec<GroundTruth> = (0..30u64)
            .map(|i| {
                let x = (i % 7) as f32 * 5.0;
                gt(i / 3, (i % 10) as u8, [x, x, x + 12.0, x + 20.0])
            })
            .collect();
        let perfect: Vec<Prediction> = gts
            .iter()
            .map(|g| pred(g.image, g.class, 0.5, g.bbox))
            .collect();
        let r = evaluate(&gts, &perfect);
        // 1 up to pycocotools' epsilon in the precision (tp / (tp + 2^-52)).
        assert!(close(r.map_50, 1.0) && close(r.map_75, 1.0) && close(r.map_50_95, 1.0));
        assert_eq!(r.per_class_ap50.len(), 10);
        let r = evaluate(&gts, &[]);
        assert_eq!((r.map_50, r.map_75, r.map_50_95), (0.0, 0.0, 0.0));
        assert_eq!(r.predictions, 0);
        // No ground truth: 0, not NaN.
        assert_eq!(evaluate(&[], &perfect).map_50, 0.0);
    }

    /// A false positive ranked above the true positive halves the precision at
    /// every recall (AP 1/2); ranked below it costs nothing (AP 1). Predictions
    /// of a class without ground truth change nothing.
    #[test]
    fn ranking_and_classes_without_ground_truth() {
        let gts = [gt(0, 4, [10., 10., 30., 40.])];
        let tp = pred(0, 4, 0.5, [10., 10., 30., 40.]);
        let fp = |s| pred(0, 4, s, [60., 60., 70., 70.]);
        assert!(close(evaluate(&gts, &[tp, fp(0.9)]).map_50, 0.5));
        assert!(close(evaluate(&gts, &[tp, fp(0.1)]).map_50, 1.0));
        let other = pred(0, 7, 0.99, [0., 0., 5., 5.]);
        let r = evaluate(&gts, &[tp, other]);
        assert!(close(r.map_50, 1.0));
        assert_eq!(r.per_class_ap50.len(), 1);
        assert_eq!(r.per_class_ap50[0].0, 4);
    }

    /// Only the best MAX_DETS predictions per image and class count.
    #[test]
    fn at_most_max_dets_per_image() {
        let gts = [gt(0, 1, [0., 0., 10., 10.])];
        let mut preds: Vec<Prediction> = (0..MAX_DETS)
            .map(|i| pred(0, 1, 0.9, [50. + i as f32, 50., 60. + i as f32, 60.]))
            .collect();
        preds.push(pred(0, 1, 0.1, [0., 0., 10., 10.]));
        assert_eq!(evaluate(&gts, &preds).map_50, 0.0);
        preds.pop();
        preds.push(pred(0, 1, 0.95, [0., 0., 10., 10.]));
        assert!(close(evaluate(&gts, &preds).map_50, 1.0));
    }

    /// A prediction takes the ground truth it overlaps most, not the first one
    /// above the threshold, and leaves the other for the next prediction.
    #[test]
    fn greedy_matching_prefers_the_best_overlap() {
        let gts = [gt(0, 2, [0., 0., 10., 10.]), gt(0, 2, [3., 0., 13., 10.])];
        // IoU 70/130 = 0.54 with the first GT, 1 with the second.
        let p1 = pred(0, 2, 0.9, [3., 0., 13., 10.]);
        // IoU 70/130 = 0.54 with the first GT, 40/160 = 0.25 with the second.
        let p2 = pred(0, 2, 0.8, [-3., 0., 7., 10.]);
        // p1 takes the second GT, p2 the first: both true positives. (Taking
        // the first GT above 0.5 would leave p2 a false positive: AP < 1.)
        let r = evaluate(&gts, &[p1, p2]);
        assert!(close(r.map_50, 1.0), "{r:?}");
    }
}
