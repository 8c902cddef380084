//! ONNX `NonMaxSuppression` on f32 boxes and scores, matching onnx's reference
//! implementation (`onnx/reference/ops/op_non_max_suppression.py`, onnx 1.23.2)
//! exactly:
//!
//! - for every batch, then every class: the boxes with `score > score_threshold`
//!   (every box when the threshold is absent), ranked by score, highest first,
//!   equal scores by lower box index first;
//! - walk that order; stop after `max_per_class` selections; select a box unless
//!   a box already selected for this batch and class overlaps it with IoU
//!   `> iou_threshold`;
//! - `center_point_box = 0`: a box is `[y1, x1, y2, x2]` with either corner first
//!   (each coordinate pair is ordered before use); `= 1`: `[x_center, y_center,
//!   width, height]`, corners `center -/+ size / 2`, not reordered;
//! - IoU in f32, `inter / (area1 + area2 - inter)`; boxes without a positive
//!   intersection, or with a non-positive area, never suppress (see
//!   [`crate::detect::boxes`]).
//!
//! Output rows are `(batch, class, box)` as `i32`, in selection order; see
//! [`NmsOp`] for the workspace layout.
#![deny(clippy::indexing_slicing)]

use crate::detect::boxes::{Box, CenterBox};
use crate::detect::nms::{ranked_indices, suppresses};
use crate::error::Error;
use crate::format::schema::NmsOp;
use crate::kernels::{check_len, prod};

/// Element counts of an [`NmsOp`]'s buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NmsLens {
    /// `f32`s of `boxes`: `num_batches * num_boxes * 4`.
    pub boxes: usize,
    /// `f32`s of `scores`: `num_batches * num_classes * num_boxes`.
    pub scores: usize,
    /// Output rows: `num_batches * num_classes * max_per_class`.
    pub rows: usize,
    /// `i32` words of the workspace: `rows * 3 + 1 + num_boxes`.
    pub output: usize,
}

/// Buffer sizes of an [`NmsOp`]. Indices must fit in `i32` and `max_per_class`
/// may not exceed `num_boxes` ([`Error::InvalidParameter`]).
pub fn nms_lens(p: &NmsOp) -> Result<NmsLens, Error> {
    let max = i32::MAX as u32;
    if p.num_batches > max
        || p.num_classes > max
        || p.num_boxes > max
        || p.max_per_class > p.num_boxes
    {
        return Err(Error::InvalidParameter);
    }
    let boxes = prod(&[p.num_batches, p.num_boxes, 4])?;
    let scores = prod(&[p.num_batches, p.num_classes, p.num_boxes])?;
    let rows = prod(&[p.num_batches, p.num_classes, p.max_per_class])?;
    if rows > i32::MAX as usize {
        return Err(Error::Overflow);
    }
    let output = rows
        .checked_mul(3)
        .and_then(|w| w.checked_add(1))
        .and_then(|w| w.checked_add(p.num_boxes as usize))
        .ok_or(Error::Overflow)?;
    Ok(NmsLens {
        boxes,
        scores,
        rows,
        output,
    })
}

/// Box `i` of one batch's `[num_boxes][4]` data as corners.
fn box_at(boxes: &[f32], i: u32, center_point_box: bool) -> Box {
    let start = (i as usize).saturating_mul(4);
    let Some(&[a, b, c, d]) = boxes
        .get(start..start.saturating_add(4))
        .and_then(|s| <&[f32; 4]>::try_from(s).ok())
    else {
        // Unreachable after the length checks; a NaN box overlaps nothing.
        return Box::new(f32::NAN, f32::NAN, f32::NAN, f32::NAN);
    };
    if center_point_box {
        Box::from_center(CenterBox {
            cx: a,
            cy: b,
            w: c,
            h: d,
        })
    } else {
        // [y1, x1, y2, x2]
        Box::new(b, a, d, c).normalized()
    }
}

/// Run NonMaxSuppression (see the module docs) and return the number of
/// selected rows. `boxes`, `scores` and `out` (the workspace, as `i32`) must have
/// the lengths of [`nms_lens`] ([`Error::BadGeometry`]).
pub fn nms_f32(p: &NmsOp, boxes: &[f32], scores: &[f32], out: &mut [i32]) -> Result<usize, Error> {
    let lens = nms_lens(p)?;
    check_len(boxes.len(), lens.boxes)?;
    check_len(scores.len(), lens.scores)?;
    check_len(out.len(), lens.output)?;
    let words = lens.rows.checked_mul(3).ok_or(Error::Overflow)?;
    let (selected, rest) = out.split_at_mut_checked(words).ok_or(Error::BadGeometry)?;
    let (count, scratch) = rest.split_first_mut().ok_or(Error::BadGeometry)?;
    let scratch: &mut [u32] = bytemuck::cast_slice_mut(scratch);
    let n = p.num_boxes as usize;
    let max_per_class = p.max_per_class as usize;
    let mut row = 0usize;
    // rows == 0 when a batch, class or the per-class limit is 0 (nothing to do);
    // otherwise every chunk size below is nonzero.
    if lens.rows > 0 {
        let per_batch = (p.num_classes as usize)
            .checked_mul(n)
            .ok_or(Error::Overflow)?;
        let batches = boxes
            .chunks_exact(n * 4)
            .zip(scores.chunks_exact(per_batch));
        for (b, (batch_boxes, batch_scores)) in batches.enumerate() {
            for (c, class_scores) in batch_scores.chunks_exact(n).enumerate() {
                let score_of = |i: u32| class_scores.get(i as usize).copied().unwrap_or(f32::NAN);
                let ranked = ranked_indices(
                    class_scores.iter().copied(),
                    p.score_threshold,
                    scratch,
                    score_of,
                );
                let start = row;
                for &i in scratch.iter().take(ranked) {
                    if row - start >= max_per_class {
                        break;
                    }
                    let candidate = box_at(batch_boxes, i, p.center_point_box);
                    let kept = selected.get(start * 3..row * 3).unwrap_or(&[]);
                    let suppressed = kept.chunks_exact(3).any(|r| {
                        r.get(2).is_some_and(|&k| {
                            let kept_box = box_at(batch_boxes, k as u32, p.center_point_box);
                            suppresses(&kept_box, &candidate, p.iou_threshold)
                        })
                    });
                    if suppressed {
                        continue;
                    }
                    if let Some(dst) = selected.get_mut(row * 3..row * 3 + 3) {
                        // b, c, i < 2^31: checked by nms_lens.
                        for (d, v) in dst.iter_mut().zip([b, c, i as usize]) {
                            *d = v as i32;
                        }
                        row += 1;
                    }
                }
            }
        }
    }
    if let Some(unused) = selected.get_mut(row * 3..) {
        unused.fill(-1);
    }
    *count = i32::try_from(row).map_err(|_| Error::Overflow)?;
    Ok(row)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use crate::format::schema::{Buf, Mem};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn op(b: u32, c: u32, n: u32, center: bool, max: u32, iou: f32, score: Option<f32>) -> NmsOp {
        let buf = Buf {
            mem: Mem::Arena,
            offset: 0,
            len: 0,
        };
        NmsOp {
            num_batches: b,
            num_classes: c,
            num_boxes: n,
            center_point_box: center,
            max_per_class: max,
            iou_threshold: iou,
            score_threshold: score,
            boxes: buf,
            scores: buf,
            output: buf,
        }
    }

    /// Selected rows (the workspace's valid prefix), checking the count word and
    /// the -1 padding.
    fn run(p: &NmsOp, boxes: &[f32], scores: &[f32]) -> Vec<[i32; 3]> {
        let lens = nms_lens(p).unwrap();
        let mut out = vec![7i32; lens.output];
        let n = nms_f32(p, boxes, scores, &mut out).unwrap();
        assert_eq!(out[lens.rows * 3], n as i32);
        assert!(out[n * 3..lens.rows * 3].iter().all(|&v| v == -1));
        out[..n * 3]
            .chunks_exact(3)
            .map(|r| [r[0], r[1], r[2]])
            .collect()
    }

    const BOXES: [f32; 24] = [
        0.0, 0.0, 1.0, 1.0, //
        0.0, 0.1, 1.0, 1.1, //
        0.0, -0.1, 1.0, 0.9, //
        0.0, 10.0, 1.0, 11.0, //
        0.0, 10.1, 1.0, 11.1, //
        0.0, 100.0, 1.0, 101.0,
    ];
    const SCORES: [f32; 6] = [0.9, 0.75, 0.6, 0.95, 0.5, 0.3];

    /// ONNX's node tests `suppress_by_IOU`, `..._and_scores`, `limit_output_size`,
    /// `two_classes`, `two_batches`, `flipped_coordinates`, `center_point_box_format`,
    /// `identical_boxes` and `iou_threshold_boundary`, by hand.
    #[test]
    fn onnx_node_test_cases() {
        let p = op(1, 1, 6, false, 3, 0.5, Some(0.0));
        assert_eq!(run(&p, &BOXES, &SCORES), [[0, 0, 3], [0, 0, 0], [0, 0, 5]]);
        let p_s = op(1, 1, 6, false, 3, 0.5, Some(0.4));
        assert_eq!(run(&p_s, &BOXES, &SCORES), [[0, 0, 3], [0, 0, 0]]);
        let p2 = op(1, 1, 6, false, 2, 0.5, Some(0.0));
        assert_eq!(run(&p2, &BOXES, &SCORES), [[0, 0, 3], [0, 0, 0]]);
        let two_classes: Vec<f32> = SCORES.iter().chain(&SCORES).copied().collect();
        let pc = op(1, 2, 6, false, 2, 0.5, Some(0.0));
        assert_eq!(
            run(&pc, &BOXES, &two_classes),
            [[0, 0, 3], [0, 0, 0], [0, 1, 3], [0, 1, 0]]
        );
        let two_batches: Vec<f32> = BOXES.iter().chain(&BOXES).copied().collect();
        let pb = op(2, 1, 6, false, 2, 0.5, Some(0.0));
        assert_eq!(
            run(&pb, &two_batches, &two_classes),
            [[0, 0, 3], [0, 0, 0], [1, 0, 3], [1, 0, 0]]
        );
        // Flipped corners: the same boxes with either corner first.
        let flipped = [
            1.0, 1.0, 0.0, 0.0, 0.0, 0.1, 1.0, 1.1, 0.0, 0.9, 1.0, -0.1, 0.0, 10.0, 1.0, 11.0, 1.0,
            10.1, 0.0, 11.1, 1.0, 101.0, 0.0, 100.0,
        ];
        assert_eq!(
            run(&p, &flipped, &SCORES),
            [[0, 0, 3], [0, 0, 0], [0, 0, 5]]
        );
        // Centre format.
        let center = [
            0.5, 0.5, 1.0, 1.0, 0.5, 0.6, 1.0, 1.0, 0.5, 0.4, 1.0, 1.0, 0.5, 10.5, 1.0, 1.0, 0.5,
            10.6, 1.0, 1.0, 0.5, 100.5, 1.0, 1.0,
        ];
        let pcen = op(1, 1, 6, true, 3, 0.5, Some(0.0));
        assert_eq!(
            run(&pcen, &center, &SCORES),
            [[0, 0, 3], [0, 0, 0], [0, 0, 5]]
        );
        // Ten identical boxes, equal scores: box 0 only.
        let same: Vec<f32> = [0.0, 0.0, 1.0, 1.0].repeat(10);
        let pi = op(1, 1, 10, false, 3, 0.5, Some(0.0));
        assert_eq!(run(&pi, &same, &[0.9; 10]), [[0, 0, 0]]);
        // IoU exactly at the threshold (1/7) is kept.
        let pt = op(1, 1, 2, false, 2, 0.25 / 1.75, Some(0.0));
        let two = [0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 1.5, 1.5];
        assert_eq!(run(&pt, &two, &[0.9, 0.8]), [[0, 0, 0], [0, 0, 1]]);
    }

    #[test]
    fn empty_and_absent_threshold() {
        // max_per_class 0: no rows, only the count and the scratch.
        let p0 = op(1, 1, 6, false, 0, 0.5, None);
        assert_eq!(nms_lens(&p0).unwrap().output, 7);
        assert_eq!(run(&p0, &BOXES, &SCORES), [] as [[i32; 3]; 0]);
        // No score threshold: negative and NaN scores are candidates too (NaN last).
        let p = op(1, 1, 3, false, 3, 0.5, None);
        let boxes = [0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 4.0, 1.0, 5.0];
        assert_eq!(
            run(&p, &boxes, &[f32::NAN, -1.0, -2.0]),
            [[0, 0, 1], [0, 0, 2], [0, 0, 0]]
        );
        // With a threshold, NaN never passes.
        let pt = op(1, 1, 3, false, 3, 0.5, Some(-5.0));
        assert_eq!(
            run(&pt, &boxes, &[f32::NAN, -1.0, -2.0]),
            [[0, 0, 1], [0, 0, 2]]
        );
        // Zero boxes.
        assert_eq!(
            run(&op(2, 3, 0, false, 0, 0.5, None), &[], &[]),
            [] as [[i32; 3]; 0]
        );
    }

    #[test]
    fn geometry_errors() {
        let p = op(1, 1, 6, false, 3, 0.5, None);
        let mut out = vec![0i32; nms_lens(&p).unwrap().output];
        assert_eq!(
            nms_f32(&p, &BOXES[1..], &SCORES, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            nms_f32(&p, &BOXES, &SCORES[1..], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            nms_f32(&p, &BOXES, &SCORES, &mut out[1..]),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            nms_lens(&op(1, 1, 6, false, 7, 0.5, None)),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            nms_lens(&op(1, 1 << 31, 6, false, 3, 0.5, None)),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            nms_lens(&op(1 << 20, 1 << 20, 6, false, 3, 0.5, None)),
            Err(Error::Overflow)
        );
    }

    /// onnx's reference, transcribed step by step (the Python sorts ascending by
    /// (score, -index) and pops from the end; `suppress_by_iou` computes in the
    /// boxes' f32).
    fn reference(p: &NmsOp, boxes: &[f32], scores: &[f32]) -> Vec<[i32; 3]> {
        fn max_min(l: f32, r: f32) -> (f32, f32) {
            if l >= r { (r, l) } else { (l, r) }
        }
        fn pmax(a: f32, b: f32) -> f32 {
            if b > a { b } else { a }
        }
        fn pmin(a: f32, b: f32) -> f32 {
            if b < a { b } else { a }
        }
        let suppress = |b1: &[f32], b2: &[f32]| -> bool {
            let (x1min, x1max, y1min, y1max, x2min, x2max, y2min, y2max);
            if !p.center_point_box {
                (x1min, x1max) = max_min(b1[1], b1[3]);
                (x2min, x2max) = max_min(b2[1], b2[3]);
                (y1min, y1max) = max_min(b1[0], b1[2]);
                (y2min, y2max) = max_min(b2[0], b2[2]);
            } else {
                let (w1, h1, w2, h2) = (b1[2] / 2.0, b1[3] / 2.0, b2[2] / 2.0, b2[3] / 2.0);
                (x1min, x1max, x2min, x2max) = (b1[0] - w1, b1[0] + w1, b2[0] - w2, b2[0] + w2);
                (y1min, y1max, y2min, y2max) = (b1[1] - h1, b1[1] + h1, b2[1] - h2, b2[1] + h2);
            }
            let (ixmin, ixmax) = (pmax(x1min, x2min), pmin(x1max, x2max));
            if ixmax <= ixmin {
                return false;
            }
            let (iymin, iymax) = (pmax(y1min, y2min), pmin(y1max, y2max));
            if iymax <= iymin {
                return false;
            }
            let inter = (ixmax - ixmin) * (iymax - iymin);
            if inter <= 0.0 {
                return false;
            }
            let a1 = (x1max - x1min) * (y1max - y1min);
            let a2 = (x2max - x2min) * (y2max - y2min);
            let union = a1 + a2 - inter;
            if a1 <= 0.0 || a2 <= 0.0 || union <= 0.0 {
                return false;
            }
            inter / union > p.iou_threshold
        };
        let (nb, nc, n) = (
            p.num_batches as usize,
            p.num_classes as usize,
            p.num_boxes as usize,
        );
        let mut result = vec![];
        for b in 0..nb {
            let bb = &boxes[b * n * 4..(b + 1) * n * 4];
            for c in 0..nc {
                let cs = &scores[(b * nc + c) * n..(b * nc + c + 1) * n];
                let mut cand: Vec<(f32, usize)> = (0..n)
                    .filter(|&i| p.score_threshold.is_none_or(|t| cs[i] > t))
                    .map(|i| (cs[i], i))
                    .collect();
                // BoxInfo.__lt__: score < rhs.score or (equal and idx > rhs.idx).
                cand.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap().then(y.1.cmp(&x.1)));
                let mut sel: Vec<usize> = vec![];
                while let Some(&(_, i)) = cand.last() {
                    if sel.len() >= p.max_per_class as usize {
                        break;
                    }
                    if !sel
                        .iter()
                        .any(|&s| suppress(&bb[i * 4..i * 4 + 4], &bb[s * 4..s * 4 + 4]))
                    {
                        sel.push(i);
                        result.push([b as i32, c as i32, i as i32]);
                    }
                    cand.pop();
                }
            }
        }
        result
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(128)))]

        /// Random (possibly flipped, possibly degenerate) boxes on a grid, scores
        /// with ties, both box formats: exactly the reference's rows.
        #[test]
        fn matches_onnx_reference(
            nb in 1u32..3,
            nc in 1u32..3,
            n in 0u32..25,
            center: bool,
            max_frac in 0u32..=4,
            iou_t in prop_oneof![(0u8..=8).prop_map(|v| v as f32 / 8.0), Just(1.0 / 7.0)],
            score_t in prop::option::of((0u8..=10).prop_map(|v| v as f32 / 10.0 - 0.05)),
            seed: u64,
        ) {
            let mut s = seed;
            let mut next = |m: u64| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (s >> 33) % m
            };
            let boxes: Vec<f32> = (0..nb * n * 4).map(|_| next(17) as f32 / 8.0).collect();
            let scores: Vec<f32> = (0..nb * nc * n).map(|_| next(11) as f32 / 10.0).collect();
            let p = op(nb, nc, n, center, n * max_frac / 4, iou_t, score_t);
            prop_assert_eq!(run(&p, &boxes, &scores), reference(&p, &boxes, &scores));
        }
    }
}
