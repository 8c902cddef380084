//! Non-maximum suppression over a caller-provided candidate list, without
//! allocation.
//!
//! [`nms`] ranks the candidates that pass the score threshold by score (highest
//! first, equal scores by lower candidate index first), then walks that order
//! and keeps a candidate unless a kept box of the same class (of any class when
//! class-agnostic) overlaps it with IoU strictly above the IoU threshold. It
//! stops at `max_total` detections or at the capacity `N` of the result, and
//! skips candidates of a class that already has `max_per_class`. The result is
//! in rank order. The ranking is a total order on (score, index), so the result
//! depends only on the input, never on the sort algorithm.
//!
//! # torchvision and ONNX, side by side
//!
//! | | torchvision `nms` / `batched_nms` | ONNX `NonMaxSuppression` (reference implementation) | edgerun [`nms`] |
//! |---|---|---|---|
//! | boxes | `(x1, y1, x2, y2)`, expected `0 <= x1 < x2`, `0 <= y1 < y2` | `center_point_box = 0`: `[y1, x1, y2, x2]`, either corner first ("flipped" boxes are reordered); `= 1`: `[x_center, y_center, width, height]`, not reordered | [`Box`] corners, not reordered (call [`Box::normalized`] for flipped input) |
//! | classes | `nms`: none; `batched_nms`: one NMS per `idxs` value | one NMS per (batch, class) of `scores[B][C][N]`; a box can be selected for several classes | per [`Candidate::class`], or across classes with `class_agnostic` |
//! | score threshold | none (torchvision's detection models drop `score <= box_score_thresh` before) | optional input: keeps `score > score_threshold` (strict); absent keeps every box | `Option`, keeps `score > threshold` (strict) |
//! | IoU rule | removes a box whose IoU with a kept box is `> iou_threshold` | suppresses when IoU `> iou_threshold` (strict): a box at exactly the threshold is kept | the same, IoU in f32 computed as ONNX does (see [`super::boxes`]) |
//! | degenerate boxes | no special case: two zero-area boxes give `0 / 0 = NaN`, which never suppresses; with a negative threshold even disjoint boxes suppress (`0 > threshold`) | no intersection, zero or negative area: never suppressed, even for a negative `iou_threshold` | as ONNX: a pair suppresses only if it really overlaps, both boxes have positive area and IoU `> threshold` |
//! | per-class limit | none (slice the result) | `max_output_boxes_per_class`; default 0, which selects nothing | `max_per_class` |
//! | total limit | none (the detection models keep the first `detections_per_img`) | none | `max_total`, and the capacity `N` of the result |
//! | equal scores | order not specified ("not guaranteed to be the same between CPU and GPU") | lower box index first | lower candidate index first |
//! | NaN scores | unspecified | unspecified (Python's sort); never pass a score threshold | rank below every number; never pass a threshold |
//! | output | int64 indices in decreasing score order (across classes for `batched_nms`) | int64 `[num_selected, 3]` rows `(batch, class, box)`, by batch, then class, then selection order | [`Detection`]s in decreasing score order across classes |
//!
//! The ONNX operator itself runs in [`crate::kernels::nms`] on the same ranking
//! and IoU code.

use super::boxes::{Box, overlap};
use crate::error::Error;
use core::cmp::Ordering;
use heapless::Vec;

/// One scored box to filter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Candidate {
    pub bbox: Box,
    pub score: f32,
    pub class: u32,
}

/// A kept candidate: its box, score, class and index in the candidate list.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Detection {
    pub bbox: Box,
    pub score: f32,
    pub class: u32,
    /// Position of the candidate in the slice given to [`nms`].
    pub index: u32,
}

/// Parameters of [`nms`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NmsConfig {
    /// Candidates need `score > score_threshold`; `None` keeps every candidate.
    pub score_threshold: Option<f32>,
    /// A candidate is suppressed by a kept box it overlaps with IoU `>` this.
    pub iou_threshold: f32,
    /// At most this many detections of one class.
    pub max_per_class: usize,
    /// At most this many detections in all (also bounded by the result's capacity).
    pub max_total: usize,
    /// Suppress across classes (a box suppresses overlapping boxes of any class).
    pub class_agnostic: bool,
}

impl NmsConfig {
    /// Per-class NMS at `iou_threshold`, no score threshold, no limits but the
    /// result's capacity.
    pub const fn new(iou_threshold: f32) -> NmsConfig {
        NmsConfig {
            score_threshold: None,
            iou_threshold,
            max_per_class: usize::MAX,
            max_total: usize::MAX,
            class_agnostic: false,
        }
    }
}

/// Does a score pass an optional threshold (`score > threshold`, strict)?
#[inline]
pub(crate) fn passes(score: f32, threshold: Option<f32>) -> bool {
    threshold.is_none_or(|t| score > t)
}

/// The ranking: higher score first, NaN after every number, then lower index
/// first. A total order on distinct indices (so `sort_unstable_by` gives the one
/// result a stable sort would, and never sees an inconsistent comparator).
#[inline]
pub(crate) fn rank(a_score: f32, a_index: u32, b_score: f32, b_index: u32) -> Ordering {
    let by_score = match (a_score.is_nan(), b_score.is_nan()) {
        (false, false) => b_score.partial_cmp(&a_score).unwrap_or(Ordering::Equal),
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (true, true) => Ordering::Equal,
    };
    by_score.then(a_index.cmp(&b_index))
}

/// Write the indices of the scores that pass `threshold` to the front of
/// `scratch`, ranked (see [`rank`]); return how many. Indices that do not fit in
/// `scratch` are dropped (callers size it to the number of scores).
pub(crate) fn ranked_indices(
    scores: impl Iterator<Item = f32>,
    threshold: Option<f32>,
    scratch: &mut [u32],
    score_of: impl Fn(u32) -> f32,
) -> usize {
    let mut n = 0usize;
    let mut slots = scratch.iter_mut();
    for (i, s) in scores.enumerate() {
        if passes(s, threshold)
            && let Some(slot) = slots.next()
        {
            *slot = i as u32;
            n += 1;
        }
    }
    if let Some(order) = scratch.get_mut(..n) {
        order.sort_unstable_by(|&a, &b| rank(score_of(a), a, score_of(b), b));
    }
    n
}

/// Would a kept box suppress a candidate (IoU strictly above `iou_threshold`,
/// real overlap only; see [`super::boxes`])?
#[inline]
pub(crate) fn suppresses(kept: &Box, candidate: &Box, iou_threshold: f32) -> bool {
    matches!(overlap(kept, candidate), Some(v) if v > iou_threshold)
}

/// Non-maximum suppression of `candidates` into `out` (cleared first); see the
/// module docs for the rules.
///
/// `scratch` must hold at least `candidates.len()` entries
/// ([`Error::BufferTooSmall`]); it receives the ranked candidate order. More than
/// `u32::MAX` candidates give [`Error::Overflow`]. Nothing is allocated: the cost
/// is one sort of the passing candidates plus, for each of them, one pass over
/// the detections kept so far.
pub fn nms<const N: usize>(
    candidates: &[Candidate],
    config: &NmsConfig,
    scratch: &mut [u32],
    out: &mut Vec<Detection, N>,
) -> Result<(), Error> {
    out.clear();
    if u32::try_from(candidates.len()).is_err() {
        return Err(Error::Overflow);
    }
    if scratch.len() < candidates.len() {
        return Err(Error::BufferTooSmall {
            needed: candidates.len(),
            got: scratch.len(),
        });
    }
    let score_of = |i: u32| candidates.get(i as usize).map_or(f32::NAN, |c| c.score);
    let n = ranked_indices(
        candidates.iter().map(|c| c.score),
        config.score_threshold,
        scratch,
        score_of,
    );
    let limit = config.max_total.min(N);
    for &i in scratch.iter().take(n) {
        if out.len() >= limit {
            break;
        }
        let Some(c) = candidates.get(i as usize) else {
            continue;
        };
        let mut same_class = 0usize;
        let mut suppressed = false;
        for kept in out.iter() {
            let same = kept.class == c.class;
            same_class += usize::from(same);
            if (same || config.class_agnostic)
                && suppresses(&kept.bbox, &c.bbox, config.iou_threshold)
            {
                suppressed = true;
                break;
            }
        }
        if suppressed || same_class >= config.max_per_class {
            continue;
        }
        out.push(Detection {
            bbox: c.bbox,
            score: c.score,
            class: c.class,
            index: i,
        })
        .map_err(|_| Error::BufferTooSmall {
            needed: N.saturating_add(1),
            got: N,
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use crate::detect::boxes::iou;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec as StdVec;

    fn cand(x0: f32, y0: f32, x1: f32, y1: f32, score: f32, class: u32) -> Candidate {
        Candidate {
            bbox: Box::new(x0, y0, x1, y1),
            score,
            class,
        }
    }

    fn run<const N: usize>(c: &[Candidate], cfg: &NmsConfig) -> StdVec<u32> {
        let mut scratch = vec![0u32; c.len()];
        let mut out: Vec<Detection, N> = Vec::new();
        nms(c, cfg, &mut scratch, &mut out).unwrap();
        out.iter().map(|d| d.index).collect()
    }

    /// The six boxes of ONNX's `suppress_by_IOU` node test (as corners): three
    /// near-identical boxes at y = 0, three at y = 10, two far apart.
    fn onnx_six() -> [Candidate; 6] {
        let s = [0.9, 0.75, 0.6, 0.95, 0.5, 0.3];
        let b = [
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.1, 1.0, 1.1],
            [0.0, -0.1, 1.0, 0.9],
            [0.0, 10.0, 1.0, 11.0],
            [0.0, 10.1, 1.0, 11.1],
            [0.0, 100.0, 1.0, 101.0],
        ];
        core::array::from_fn(|i| cand(b[i][0], b[i][1], b[i][2], b[i][3], s[i], 0))
    }

    #[test]
    fn onnx_example_by_hand() {
        let c = onnx_six();
        let cfg = NmsConfig::new(0.5);
        // Rank: 3 (0.95), 0 (0.9), 1 (0.75: IoU with 0 is 0.9/1.1 > 0.5, gone),
        // 2 (gone by 0), 4 (gone by 3), 5 (kept).
        assert_eq!(run::<8>(&c, &cfg), [3, 0, 5]);
        // Score threshold 0.4 (strict) drops 5 (0.3).
        let cfg_s = NmsConfig {
            score_threshold: Some(0.4),
            ..cfg
        };
        assert_eq!(run::<8>(&c, &cfg_s), [3, 0]);
        // A threshold equal to a score drops that score (strict).
        let cfg_eq = NmsConfig {
            score_threshold: Some(0.9),
            ..cfg
        };
        assert_eq!(run::<8>(&c, &cfg_eq), [3]);
        // Limits: per class, in total, and the capacity.
        assert_eq!(
            run::<8>(
                &c,
                &NmsConfig {
                    max_per_class: 2,
                    ..cfg
                }
            ),
            [3, 0]
        );
        assert_eq!(
            run::<8>(
                &c,
                &NmsConfig {
                    max_total: 1,
                    ..cfg
                }
            ),
            [3]
        );
        assert_eq!(run::<2>(&c, &cfg), [3, 0]);
        assert_eq!(
            run::<8>(
                &c,
                &NmsConfig {
                    max_per_class: 0,
                    ..cfg
                }
            ),
            [] as [u32; 0]
        );
    }

    /// IoU exactly at the threshold is kept (torchvision and ONNX: suppress only
    /// when IoU > threshold).
    #[test]
    fn iou_at_threshold_is_kept() {
        let c = [
            cand(0.0, 0.0, 1.0, 1.0, 0.9, 0),
            cand(0.5, 0.5, 1.5, 1.5, 0.8, 0),
        ];
        let t = iou(&c[0].bbox, &c[1].bbox); // 1/7
        assert_eq!(run::<4>(&c, &NmsConfig::new(t)), [0, 1]);
        assert_eq!(run::<4>(&c, &NmsConfig::new(t - 1e-6)), [0]);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        // Ten identical boxes with equal scores: index 0 wins, whatever the sort.
        let c = [cand(0.0, 0.0, 1.0, 1.0, 0.5, 0); 10];
        assert_eq!(run::<4>(&c, &NmsConfig::new(0.5)), [0]);
        // Equal scores, disjoint boxes: index order.
        let d: StdVec<Candidate> = (0..6)
            .rev()
            .map(|i| cand(i as f32 * 2.0, 0.0, i as f32 * 2.0 + 1.0, 1.0, 0.5, 0))
            .collect();
        assert_eq!(run::<8>(&d, &NmsConfig::new(0.5)), [0, 1, 2, 3, 4, 5]);
        // -0.0 and 0.0 are equal scores.
        let z = [
            cand(0.0, 0.0, 1.0, 1.0, 0.0, 0),
            cand(2.0, 0.0, 3.0, 1.0, -0.0, 0),
        ];
        assert_eq!(run::<4>(&z, &NmsConfig::new(0.5)), [0, 1]);
        let z2 = [z[1], z[0]];
        assert_eq!(run::<4>(&z2, &NmsConfig::new(0.5)), [0, 1]);
    }

    #[test]
    fn classes_and_agnostic() {
        let c = [
            cand(0.0, 0.0, 1.0, 1.0, 0.9, 0),
            cand(0.0, 0.0, 1.0, 1.0, 0.8, 1),
            cand(0.0, 0.0, 1.0, 1.0, 0.7, 1),
            cand(5.0, 5.0, 6.0, 6.0, 0.6, 0),
        ];
        // Per class: 0 and 1 both survive, 2 is suppressed by 1; order by score.
        assert_eq!(run::<8>(&c, &NmsConfig::new(0.5)), [0, 1, 3]);
        let agn = NmsConfig {
            class_agnostic: true,
            ..NmsConfig::new(0.5)
        };
        assert_eq!(run::<8>(&c, &agn), [0, 3]);
        let one_each = NmsConfig {
            max_per_class: 1,
            ..NmsConfig::new(0.5)
        };
        assert_eq!(run::<8>(&c, &one_each), [0, 1]);
    }

    #[test]
    fn degenerate_boxes_and_nan_scores() {
        // Zero-area boxes never suppress (not even each other); a negative IoU
        // threshold only suppresses boxes that really overlap.
        let c = [
            cand(0.0, 0.0, 0.0, 0.0, 0.9, 0),
            cand(0.0, 0.0, 0.0, 0.0, 0.8, 0),
            cand(0.0, 0.0, 1.0, 1.0, 0.7, 0),
            cand(3.0, 3.0, 4.0, 4.0, 0.6, 0),
            cand(3.5, 3.0, 4.5, 4.0, 0.5, 0),
        ];
        assert_eq!(run::<8>(&c, &NmsConfig::new(-1.0)), [0, 1, 2, 3]);
        // NaN scores rank last, and never pass a threshold.
        let n = [
            cand(0.0, 0.0, 1.0, 1.0, f32::NAN, 0),
            cand(2.0, 0.0, 3.0, 1.0, f32::NEG_INFINITY, 0),
            cand(4.0, 0.0, 5.0, 1.0, 0.1, 0),
        ];
        assert_eq!(run::<8>(&n, &NmsConfig::new(0.5)), [2, 1, 0]);
        let thr = NmsConfig {
            score_threshold: Some(f32::NEG_INFINITY),
            ..NmsConfig::new(0.5)
        };
        assert_eq!(run::<8>(&n, &thr), [2]);
    }

    #[test]
    fn errors_and_reuse() {
        let c = onnx_six();
        let mut out: Vec<Detection, 4> = Vec::new();
        let mut short = [0u32; 5];
        assert_eq!(
            nms(&c, &NmsConfig::new(0.5), &mut short, &mut out),
            Err(Error::BufferTooSmall { needed: 6, got: 5 })
        );
        // `out` is cleared on every call; a longer scratch is fine.
        let mut scratch = [0u32; 9];
        nms(&c, &NmsConfig::new(0.5), &mut scratch, &mut out).unwrap();
        nms(&c, &NmsConfig::new(0.5), &mut scratch, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].score, 0.95);
        assert_eq!(out[0].bbox, c[3].bbox);
        nms(&[], &NmsConfig::new(0.5), &mut [], &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn zero_detections() {
        // Every score at or below the threshold, or no per-class room: an
        // empty result, not an error.
        let c = onnx_six();
        let high = NmsConfig {
            score_threshold: Some(0.95),
            ..NmsConfig::new(0.5)
        };
        assert!(run::<8>(&c, &high).is_empty());
        let none_per_class = NmsConfig {
            max_per_class: 0,
            ..NmsConfig::new(0.5)
        };
        assert!(run::<8>(&c, &none_per_class).is_empty());
        assert!(run::<0>(&c, &NmsConfig::new(0.5)).is_empty());
    }

    #[test]
    fn more_candidates_than_capacity_keeps_the_best() {
        // 40 disjoint boxes (none suppresses another), scores rising with the
        // index: a capacity of 5 keeps the 5 best, in rank order, and is Ok.
        let c: StdVec<Candidate> = (0..40)
            .map(|i| {
                cand(
                    i as f32 * 2.0,
                    0.0,
                    i as f32 * 2.0 + 1.0,
                    1.0,
                    i as f32 / 40.0,
                    0,
                )
            })
            .collect();
        assert_eq!(run::<5>(&c, &NmsConfig::new(0.5)), [39, 38, 37, 36, 35]);
    }

    /// Brute force, written the other way round: repeatedly take the best
    /// remaining candidate by a linear scan, keep it if its class has room, and
    /// delete every remaining candidate it suppresses. O(n^2) and allocating.
    fn reference(c: &[Candidate], cfg: &NmsConfig, cap: usize) -> StdVec<u32> {
        let better = |a: usize, b: usize| {
            let (sa, sb) = (c[a].score, c[b].score);
            if sa.is_nan() != sb.is_nan() {
                return sb.is_nan();
            }
            sa > sb || ((sa == sb || sa.is_nan()) && a < b)
        };
        let mut remaining: StdVec<usize> = (0..c.len())
            .filter(|&i| cfg.score_threshold.is_none_or(|t| c[i].score > t))
            .collect();
        let mut kept: StdVec<usize> = vec![];
        while kept.len() < cfg.max_total.min(cap) && !remaining.is_empty() {
            let mut best = 0;
            for k in 1..remaining.len() {
                if better(remaining[k], remaining[best]) {
                    best = k;
                }
            }
            let b = remaining.remove(best);
            let n_class = kept.iter().filter(|&&k| c[k].class == c[b].class).count();
            if n_class >= cfg.max_per_class {
                continue;
            }
            kept.push(b);
            remaining.retain(|&j| {
                let related = cfg.class_agnostic || c[j].class == c[b].class;
                !(related && iou(&c[b].bbox, &c[j].bbox) > cfg.iou_threshold)
            });
        }
        kept.into_iter().map(|k| k as u32).collect()
    }

    /// Boxes on a 1/8 grid (exact areas, so IoU ties with the threshold happen),
    /// scores from a small set (ties), a few NaN and degenerate boxes.
    fn candidates() -> impl Strategy<Value = StdVec<Candidate>> {
        let coord = (0u8..=16).prop_map(|v| v as f32 / 8.0);
        let score = prop_oneof![
            8 => (0u8..=10).prop_map(|v| v as f32 / 10.0),
            1 => Just(f32::NAN),
        ];
        prop::collection::vec(
            (
                coord.clone(),
                coord.clone(),
                coord.clone(),
                coord,
                score,
                0u32..3,
            ),
            0..60,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(a, b, c, d, s, k)| cand(a, b, a + c, b + d, s, k))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(256)))]

        #[test]
        fn matches_brute_force(
            c in candidates(),
            iou_t in prop_oneof![(0u8..=8).prop_map(|v| v as f32 / 8.0), Just(1.0 / 7.0), Just(1.0 / 3.0)],
            score_t in prop::option::of((0u8..=10).prop_map(|v| v as f32 / 10.0 - 0.05)),
            max_per_class in prop_oneof![Just(usize::MAX), 0usize..5],
            max_total in prop_oneof![Just(usize::MAX), 0usize..10],
            class_agnostic: bool,
        ) {
            let cfg = NmsConfig { score_threshold: score_t, iou_threshold: iou_t, max_per_class, max_total, class_agnostic };
            let got = run::<32>(&c, &cfg);
            prop_assert_eq!(got, reference(&c, &cfg, 32));
        }
    }
}
