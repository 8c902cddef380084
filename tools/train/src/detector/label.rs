//! Anchor labelling: which anchor learns which ground-truth box.
//!
//! The rule (SSD, and the d2l.ai course's `assign_anchor_to_bbox`):
//! 1. every ground truth takes its best anchor: repeatedly take the largest IoU
//!    left in the ground-truth x anchor table, assign that pair, and strike out
//!    its row and column (so two ground truths never share an anchor, and a box
//!    no anchor overlaps well still gets one);
//! 2. every other anchor takes the ground truth it overlaps most when that IoU
//!    is `>= threshold` (0.5);
//! 3. the rest are background.
//!
//! Ties go to the lower index (ground truth, then anchor). IoU is the runtime's
//! (`edgerun::detect::iou`), boxes relative to the image.

use edgerun::detect::{Box, encode, iou};

/// The target of one anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnchorTarget {
    /// 0 for background, `class + 1` for an object.
    pub label: u8,
    /// Encoded box offsets (zero for background).
    pub offsets: [f32; 4],
}

/// A ground-truth box relative to the image and its object class (0-based).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub bbox: Box,
    pub class: u8,
}

/// Label every anchor (see the module docs). Ground truths with no area are
/// ignored; an anchor whose encoding fails (degenerate box) stays background.
pub fn label_anchors(
    anchors: &[Box],
    truths: &[Truth],
    threshold: f32,
    variances: [f32; 4],
) -> Vec<AnchorTarget> {
    let background = AnchorTarget {
        label: 0,
        offsets: [0.0; 4],
    };
    let mut out = vec![background; anchors.len()];
    let truths: Vec<&Truth> = truths.iter().filter(|t| t.bbox.area() > 0.0).collect();
    if truths.is_empty() || anchors.is_empty() {
        return out;
    }
    let a = anchors.len();
    let table: Vec<f32> = truths
        .iter()
        .flat_map(|t| anchors.iter().map(move |an| iou(&t.bbox, an)))
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; a];
    // Step 2 first (step 1 overrides it): anchors above the threshold.
    for (j, slot) in owner.iter_mut().enumerate() {
        let mut best: Option<(usize, f32)> = None;
        for g in 0..truths.len() {
            let v = table.get(g * a + j).copied().unwrap_or(0.0);
            if v >= threshold && best.is_none_or(|(_, b)| v > b) {
                best = Some((g, v));
            }
        }
        *slot = best.map(|(g, _)| g);
    }
    // Step 1: greedy best pairs, rows and columns struck out.
    let mut row_done = vec![false; truths.len()];
    let mut col_done = vec![false; a];
    for _ in 0..truths.len().min(a) {
        let mut best: Option<(usize, usize, f32)> = None;
        for (g, _) in row_done.iter().enumerate().filter(|(_, d)| !**d) {
            for (j, _) in col_done.iter().enumerate().filter(|(_, d)| !**d) {
                let v = table.get(g * a + j).copied().unwrap_or(0.0);
                if best.is_none_or(|(_, _, b)| v > b) {
                    best = Some((g, j, v));
                }
            }
        }
        let Some((g, j, _)) = best else { break };
        if let (Some(r), Some(c), Some(o)) =
            (row_done.get_mut(g), col_done.get_mut(j), owner.get_mut(j))
        {
            *r = true;
            *c = true;
            *o = Some(g);
        }
    }
    for ((slot, own), anchor) in out.iter_mut().zip(&owner).zip(anchors) {
        let Some(t) = own.and_then(|g| truths.get(g)) else {
            continue;
        };
        if let Ok(offsets) = encode(anchor, &t.bbox, variances) {
            *slot = AnchorTarget {
                label: t.class.saturating_add(1),
                offsets,
            };
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const V: [f32; 4] = [0.1, 0.1, 0.2, 0.2];

    /// The worked example of d2l.ai (13.4.3): five anchors, two ground truths
    /// (dog class 0, cat class 1), threshold 0.5.
    ///
    /// IoU table (rows dog, cat; columns anchors 0..4), computed by hand:
    /// ```text
    ///        a0     a1     a2     a3     a4
    /// dog  0.054  0.142  0      0      0
    /// cat  0      0      0.566  0.206  0.746
    /// ```
    /// Step 1: the largest is cat-a4 (0.746); striking cat and a4, the largest
    /// left is dog-a1 (0.142). Step 2: a2 reaches 0.5 with cat (0.566); a3
    /// (0.206) does not. So the labels, 0 = background and class + 1, are the
    /// course's `[0, 1, 2, 0, 2]`.
    #[test]
    fn d2l_worked_example() {
        let dog = Box::new(0.1, 0.08, 0.52, 0.92);
        let cat = Box::new(0.55, 0.2, 0.9, 0.88);
        let anchors = [
            Box::new(0.0, 0.1, 0.2, 0.3),
            Box::new(0.15, 0.2, 0.4, 0.4),
            Box::new(0.63, 0.05, 0.88, 0.98),
            Box::new(0.66, 0.45, 0.8, 0.8),
            Box::new(0.57, 0.3, 0.92, 0.9),
        ];
        let truths = [
            Truth {
                bbox: dog,
                class: 0,
            },
            Truth {
                bbox: cat,
                class: 1,
            },
        ];
        let got = label_anchors(&anchors, &truths, 0.5, V);
        let labels: Vec<u8> = got.iter().map(|t| t.label).collect();
        assert_eq!(labels, [0, 1, 2, 0, 2]);
        assert_eq!(got[0].offsets, [0.0; 4]);
        assert_eq!(got[1].offsets, encode(&anchors[1], &dog, V).unwrap());
    }

    /// Two truths whose best anchor is the same one: the better pair keeps it,
    /// the other truth takes its next best anchor.
    #[test]
    fn shared_best_anchor() {
        let anchors = [Box::new(0.0, 0.0, 0.5, 0.5), Box::new(0.0, 0.0, 0.3, 0.3)];
        let big = Truth {
            bbox: Box::new(0.0, 0.0, 0.5, 0.5),
            class: 3,
        };
        let near = Truth {
            bbox: Box::new(0.0, 0.0, 0.45, 0.45),
            class: 5,
        };
        let got = label_anchors(&anchors, &[near, big], 0.5, V);
        assert_eq!(got[0].label, 4); // big: IoU 1.0
        assert_eq!(got[1].label, 6); // near: IoU 0.44 < 0.5, but its best left
        let none = label_anchors(&anchors, &[], 0.5, V);
        assert!(none.iter().all(|t| t.label == 0));
    }
}
