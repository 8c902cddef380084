//! Decoding an int8 SSD head into NMS candidates without dequantizing the
//! whole head.
//!
//! The head is two int8 tensors per anchor: class scores `[anchors][classes]`
//! and box offsets `[anchors][4]` (`dx, dy, dw, dh`), each with one scale and
//! zero point. A score passes when its dequantized value
//! `(q - zero_point) * scale` (f32, as [`crate::quant::dequantize`]) is strictly
//! above the threshold. For `scale > 0` that value grows with `q`, so the
//! threshold is quantized **once** ([`quantize_threshold`]: the smallest raw value
//! that passes, found exactly), and every raw score is compared as an integer.
//! Only the anchors with a passing score get their offsets dequantized and their
//! box decoded ([`super::boxes::decode`]), once per anchor however many of its
//! classes pass.
//!
//! For a sigmoid head whose int8 output is the logit, pass the threshold through
//! the logit (`ln(p / (1 - p))`): the sigmoid is monotonic, so the same boxes pass.

use super::boxes::{Box, decode};
use super::nms::Candidate;
use crate::error::Error;
use crate::format::schema::QParams;
use crate::quant::dequantize;

/// The two int8 outputs of a detection head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizedHead<'a> {
    /// `[anchors][num_classes]` raw class scores.
    pub scores: &'a [i8],
    pub score_quant: QParams,
    /// `[anchors][4]` raw box offsets `dx, dy, dw, dh`.
    pub offsets: &'a [i8],
    pub offset_quant: QParams,
    pub num_classes: usize,
}

/// Parameters of [`decode_quantized`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeConfig {
    /// Keep scores whose dequantized value is `> score_threshold`.
    pub score_threshold: f32,
    /// Box-encoding variances (SSD: `[0.1, 0.1, 0.2, 0.2]`).
    pub variances: [f32; 4],
    /// A class never emitted (SSD's background class 0), if any.
    pub background_class: Option<u32>,
}

/// The smallest raw int8 value whose dequantized score is `> threshold`, as an
/// `i16`; 128 when no int8 value passes. `scale` must be positive and finite
/// ([`Error::InvalidParameter`]).
pub fn quantize_threshold(threshold: f32, q: QParams) -> Result<i16, Error> {
    if !(q.scale > 0.0 && q.scale.is_finite()) {
        return Err(Error::InvalidParameter);
    }
    // Exact: search the 256 raw values of a monotonic function (binary search,
    // 8 steps), rather than rounding `threshold / scale + zero_point`.
    let (mut lo, mut hi) = (-128i16, 128i16); // answer in [lo, hi]
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if dequantize(i32::from(mid), q.scale, q.zero_point) > threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Decode the candidates of an int8 head (see the module docs) into `out`, in
/// anchor order and, within an anchor, class order; return how many.
///
/// `scores` must hold `anchors.len() * num_classes` values and `offsets`
/// `anchors.len() * 4` ([`Error::BadGeometry`]); `num_classes` must be nonzero
/// and the scales positive ([`Error::InvalidParameter`]). When more candidates
/// pass than `out` holds, nothing past its end is written and the error
/// [`Error::BufferTooSmall`] says how many are needed (dropping some would change
/// what NMS keeps).
pub fn decode_quantized(
    head: &QuantizedHead<'_>,
    anchors: &[Box],
    config: &DecodeConfig,
    out: &mut [Candidate],
) -> Result<usize, Error> {
    let rows = Rows {
        scores: head.scores,
        offsets: head.offsets,
        num_classes: head.num_classes,
        anchors,
        background: config.background_class,
        variances: config.variances,
    };
    rows.check()?;
    if !(head.offset_quant.scale > 0.0 && head.offset_quant.scale.is_finite()) {
        return Err(Error::InvalidParameter);
    }
    let q_min = quantize_threshold(config.score_threshold, head.score_quant)?;
    let (sq, oq) = (head.score_quant, head.offset_quant);
    decode_rows(
        rows,
        |q: i8| i16::from(q) >= q_min,
        |q: i8| dequantize(i32::from(q), sq.scale, sq.zero_point),
        |q: i8| dequantize(i32::from(q), oq.scale, oq.zero_point),
        out,
    )
}

/// [`decode_quantized`] for a float head: `scores` `[anchors][num_classes]`
/// (e.g. softmax probabilities) and `offsets` `[anchors][4]`, same rules (a score
/// passes when it is `> config.score_threshold`; NaN never passes), same order,
/// same errors.
pub fn decode_f32(
    scores: &[f32],
    offsets: &[f32],
    num_classes: usize,
    anchors: &[Box],
    config: &DecodeConfig,
    out: &mut [Candidate],
) -> Result<usize, Error> {
    let threshold = config.score_threshold;
    decode_rows(
        Rows {
            scores,
            offsets,
            num_classes,
            anchors,
            background: config.background_class,
            variances: config.variances,
        },
        |s: f32| s > threshold,
        |s: f32| s,
        |o: f32| o,
        out,
    )
}

/// The geometry shared by the two decoders.
struct Rows<'a, T> {
    scores: &'a [T],
    offsets: &'a [T],
    num_classes: usize,
    anchors: &'a [Box],
    background: Option<u32>,
    variances: [f32; 4],
}

impl<T> Rows<'_, T> {
    /// `num_classes` nonzero ([`Error::InvalidParameter`]) and the slice lengths
    /// those of `anchors` ([`Error::BadGeometry`]).
    fn check(&self) -> Result<(), Error> {
        if self.num_classes == 0 {
            return Err(Error::InvalidParameter);
        }
        let score_len = self
            .anchors
            .len()
            .checked_mul(self.num_classes)
            .ok_or(Error::Overflow)?;
        let offset_len = self.anchors.len().checked_mul(4).ok_or(Error::Overflow)?;
        if self.scores.len() != score_len || self.offsets.len() != offset_len {
            return Err(Error::BadGeometry);
        }
        Ok(())
    }
}

/// The one decode loop: checks the geometry, then, anchor by anchor, decodes
/// the box of every anchor with a passing class and writes one candidate per
/// passing class.
fn decode_rows<T: Copy>(
    rows: Rows<'_, T>,
    passes: impl Fn(T) -> bool,
    score: impl Fn(T) -> f32,
    offset: impl Fn(T) -> f32,
    out: &mut [Candidate],
) -> Result<usize, Error> {
    rows.check()?;
    let background = rows.background.map(|c| c as usize);
    let got = out.len();
    let mut slots = out.iter_mut();
    let mut needed = 0usize;
    let it = rows
        .scores
        .chunks_exact(rows.num_classes)
        .zip(rows.offsets.chunks_exact(4))
        .zip(rows.anchors);
    for ((row, raw_offsets), anchor) in it {
        let passing = |(class, &q): (usize, &T)| passes(q) && Some(class) != background;
        if !row.iter().enumerate().any(passing) {
            continue;
        }
        let mut offsets = [0.0f32; 4];
        for (o, &q) in offsets.iter_mut().zip(raw_offsets) {
            *o = offset(q);
        }
        let bbox = decode(anchor, offsets, rows.variances);
        for (class, &q) in row.iter().enumerate().filter(|&x| passing(x)) {
            needed = needed.checked_add(1).ok_or(Error::Overflow)?;
            if let Some(slot) = slots.next() {
                *slot = Candidate {
                    bbox,
                    score: score(q),
                    class: u32::try_from(class).map_err(|_| Error::Overflow)?,
                };
            }
        }
    }
    if needed > got {
        return Err(Error::BufferTooSmall { needed, got });
    }
    Ok(needed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const SSD: [f32; 4] = [0.1, 0.1, 0.2, 0.2];

    fn qp(scale: f32, zero_point: i32) -> QParams {
        QParams { scale, zero_point }
    }

    #[test]
    fn threshold_by_hand() {
        // scale 0.1, zp -128: q = -128 -> 0.0, q = -123 -> 0.5 (not > 0.5),
        // q = -122 -> 0.6 > 0.5.
        assert_eq!(quantize_threshold(0.5, qp(0.1, -128)), Ok(-122));
        // Everything passes a threshold below the lowest value.
        assert_eq!(quantize_threshold(-1.0, qp(0.1, -128)), Ok(-128));
        // Nothing passes above the highest value (127 -> 25.5).
        assert_eq!(quantize_threshold(25.5, qp(0.1, -128)), Ok(128));
        assert_eq!(quantize_threshold(f32::NAN, qp(0.1, -128)), Ok(128));
        assert_eq!(
            quantize_threshold(0.5, qp(0.0, 0)),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            quantize_threshold(0.5, qp(-1.0, 0)),
            Err(Error::InvalidParameter)
        );
    }

    proptest! {
        /// The quantized threshold gives the same decision as dequantizing every
        /// value and comparing in f32.
        #[test]
        fn threshold_matches_float_compare(t in -30.0f32..30.0, scale in 0.001f32..0.5, zp in -128i32..=127) {
            let q_min = quantize_threshold(t, qp(scale, zp)).unwrap();
            for q in -128i16..=127 {
                let float = dequantize(i32::from(q), scale, zp) > t;
                prop_assert_eq!(q >= q_min, float, "q {}", q);
            }
        }
    }

    /// Two anchors, three classes (0 = background). Scores with scale 1/128,
    /// zp -128 (so q = -128 + 128 p); offsets with scale 0.5, zp 0.
    #[test]
    fn decodes_only_passing_anchors() {
        let anchors = [Box::new(0.4, 0.3, 0.6, 0.7), Box::new(0.0, 0.0, 0.5, 0.5)];
        // anchor 0: background 0.9, class 1 0.75 (q -32), class 2 0.25 (q -96)
        // anchor 1: background 0.99, classes 0.10, 0.195: no class passes 0.5 or 0.2
        let scores: [i8; 6] = [-13, -32, -96, -1, -115, -103];
        // anchor 0 offsets [2, -4, 0, 0] * 0.5 = [1, -2, 0, 0]
        let offsets: [i8; 8] = [2, -4, 0, 0, 100, 100, 100, 100];
        let head = QuantizedHead {
            scores: &scores,
            score_quant: qp(1.0 / 128.0, -128),
            offsets: &offsets,
            offset_quant: qp(0.5, 0),
            num_classes: 3,
        };
        let cfg = DecodeConfig {
            score_threshold: 0.5,
            variances: SSD,
            background_class: Some(0),
        };
        let mut out = [Candidate::default(); 4];
        assert_eq!(decode_quantized(&head, &anchors, &cfg, &mut out), Ok(1));
        assert_eq!(out[0].class, 1);
        assert_eq!(out[0].score, 0.75);
        // decode by hand (see boxes.rs): cx = 0.52, cy = 0.42, w 0.2, h 0.4.
        let c = out[0].bbox.to_center();
        assert!((c.cx - 0.52).abs() < 1e-6 && (c.cy - 0.42).abs() < 1e-6);
        assert!((c.w - 0.2).abs() < 1e-6 && (c.h - 0.4).abs() < 1e-6);
        // Without a background class and a lower threshold, in anchor then class order.
        let cfg2 = DecodeConfig {
            score_threshold: 0.2,
            background_class: None,
            ..cfg
        };
        assert_eq!(decode_quantized(&head, &anchors, &cfg2, &mut out), Ok(4));
        let got: Vec<(u32, f32)> = out.iter().map(|c| (c.class, c.score)).collect();
        assert_eq!(got, [(0, 0.8984375), (1, 0.75), (2, 0.25), (0, 0.9921875)]);
        assert_eq!(out[3].bbox, decode(&anchors[1], [50.0; 4], SSD));
        // Too small an output: the count needed.
        let mut small = [Candidate::default(); 2];
        assert_eq!(
            decode_quantized(&head, &anchors, &cfg2, &mut small),
            Err(Error::BufferTooSmall { needed: 4, got: 2 })
        );
        // The float decoder on the dequantized head gives the same candidates.
        let fs: Vec<f32> = scores
            .iter()
            .map(|&q| dequantize(i32::from(q), 1.0 / 128.0, -128))
            .collect();
        let fo: Vec<f32> = offsets
            .iter()
            .map(|&q| dequantize(i32::from(q), 0.5, 0))
            .collect();
        for c in [cfg, cfg2] {
            let mut a = [Candidate::default(); 4];
            let mut b = [Candidate::default(); 4];
            let n = decode_quantized(&head, &anchors, &c, &mut a).unwrap();
            assert_eq!(decode_f32(&fs, &fo, 3, &anchors, &c, &mut b), Ok(n));
            assert_eq!(a, b);
        }
        assert_eq!(
            decode_f32(&fs[1..], &fo, 3, &anchors, &cfg, &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(
            decode_f32(&[f32::NAN; 6], &fo, 3, &anchors, &cfg2, &mut out),
            Ok(0)
        );
    }

    #[test]
    fn geometry_errors() {
        let anchors = [Box::default(); 2];
        let ok = QuantizedHead {
            scores: &[0; 6],
            score_quant: qp(0.1, 0),
            offsets: &[0; 8],
            offset_quant: qp(0.1, 0),
            num_classes: 3,
        };
        let cfg = DecodeConfig {
            score_threshold: 0.5,
            variances: SSD,
            background_class: None,
        };
        let mut out = vec![Candidate::default(); 8];
        assert_eq!(decode_quantized(&ok, &anchors, &cfg, &mut out), Ok(0));
        let bad_scores = QuantizedHead {
            scores: &[0; 5],
            ..ok
        };
        let bad_offsets = QuantizedHead {
            offsets: &[0; 9],
            ..ok
        };
        let no_classes = QuantizedHead {
            num_classes: 0,
            ..ok
        };
        let bad_scale = QuantizedHead {
            offset_quant: qp(f32::INFINITY, 0),
            ..ok
        };
        for (h, e) in [
            (bad_scores, Error::BadGeometry),
            (bad_offsets, Error::BadGeometry),
            (no_classes, Error::InvalidParameter),
            (bad_scale, Error::InvalidParameter),
        ] {
            assert_eq!(decode_quantized(&h, &anchors, &cfg, &mut out), Err(e));
        }
    }
}
