//! Axis-aligned boxes, intersection over union, and the SSD centre-size box
//! encoding.
//!
//! # IoU
//!
//! [`iou`] is `area(a ∩ b) / area(a ∪ b)` computed in f32, in this order (the
//! same operations, in the same order, as ONNX's `NonMaxSuppression` reference,
//! so a threshold test on it matches ONNX bit for bit):
//!
//! ```text
//! inter = (min(a.x1, b.x1) - max(a.x0, b.x0)) * (min(a.y1, b.y1) - max(a.y0, b.y0))
//! union = (area(a) + area(b)) - inter        area(r) = (r.x1 - r.x0) * (r.y1 - r.y0)
//! iou   = inter / union
//! ```
//!
//! Degenerate cases are defined, never NaN:
//! - boxes that do not overlap, or only touch along an edge or at a corner: 0;
//! - a box of zero or negative width or height (`x1 <= x0` or `y1 <= y0`): 0
//!   against anything, **including itself** (it has no area to share);
//! - identical boxes of positive area: exactly 1 (for areas below `f32::MAX / 2`,
//!   where `area + area` does not overflow);
//! - any NaN coordinate: 0.
//!
//! # Box encoding
//!
//! [`decode`] and [`encode`] are the centre-size encoding of SSD (and of the
//! d2l.ai course's `offset_boxes` / `offset_inverse`), with per-coordinate
//! variances `[v0, v1, v2, v3]` (SSD uses `[0.1, 0.1, 0.2, 0.2]`):
//!
//! ```text
//! cx = a.cx + dx * v0 * a.w        dx = (cx - a.cx) / (a.w * v0)
//! cy = a.cy + dy * v1 * a.h        dy = (cy - a.cy) / (a.h * v1)
//! w  = a.w * exp(dw * v2)          dw = ln(w / a.w) / v2
//! h  = a.h * exp(dh * v3)          dh = ln(h / a.h) / v3
//! ```

use crate::error::Error;

/// An axis-aligned box given by its corners `(x0, y0)` (top left) and `(x1, y1)`
/// (bottom right), in any unit (anchors use coordinates relative to the image,
/// `0..1`). A box with `x1 <= x0` or `y1 <= y0` is degenerate: zero area.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Box {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// A box as centre and size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CenterBox {
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
}

impl Box {
    pub const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Box {
        Box { x0, y0, x1, y1 }
    }

    /// The box of a centre and size: `x0 = cx - w / 2`, `x1 = cx + w / 2`, and the
    /// same for y. A negative size gives a degenerate box (nothing is reordered).
    pub fn from_center(c: CenterBox) -> Box {
        let (hw, hh) = (c.w * 0.5, c.h * 0.5);
        Box {
            x0: c.cx - hw,
            y0: c.cy - hh,
            x1: c.cx + hw,
            y1: c.cy + hh,
        }
    }

    /// Centre `((x0 + x1) / 2, (y0 + y1) / 2)` and size `(x1 - x0, y1 - y0)`.
    pub fn to_center(&self) -> CenterBox {
        CenterBox {
            cx: (self.x0 + self.x1) * 0.5,
            cy: (self.y0 + self.y1) * 0.5,
            w: self.x1 - self.x0,
            h: self.y1 - self.y0,
        }
    }

    /// The same box with each pair of corners ordered (`x0 <= x1`, `y0 <= y1`),
    /// for formats that allow "flipped" corners, like ONNX NonMaxSuppression's.
    pub fn normalized(&self) -> Box {
        let (x0, x1) = min_max(self.x0, self.x1);
        let (y0, y1) = min_max(self.y0, self.y1);
        Box { x0, y0, x1, y1 }
    }

    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// `width * height`, or 0 for a degenerate box (or a NaN coordinate).
    pub fn area(&self) -> f32 {
        let (w, h) = (self.width(), self.height());
        if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
    }
}

/// `(min, max)` of two values as ONNX's reference orders them (`lhs >= rhs`
/// swaps).
fn min_max(lhs: f32, rhs: f32) -> (f32, f32) {
    if lhs >= rhs { (rhs, lhs) } else { (lhs, rhs) }
}

/// Intersection over union of two boxes; 0 in every degenerate case (see the
/// module docs).
pub fn iou(a: &Box, b: &Box) -> f32 {
    overlap(a, b).unwrap_or(0.0)
}

/// The IoU of two boxes that strictly overlap, each with a positive area; `None`
/// otherwise (no overlap, touching edges, a degenerate box, a NaN coordinate, an
/// intersection that underflows to 0). NMS suppresses only on `Some(v)` with
/// `v > threshold`, which is ONNX's rule even for a negative threshold.
pub(crate) fn overlap(a: &Box, b: &Box) -> Option<f32> {
    // A NaN coordinate passes the early exits but makes an area NaN, which fails
    // the final test.
    let ix0 = if a.x0 > b.x0 { a.x0 } else { b.x0 };
    let ix1 = if a.x1 < b.x1 { a.x1 } else { b.x1 };
    if ix1 <= ix0 {
        return None;
    }
    let iy0 = if a.y0 > b.y0 { a.y0 } else { b.y0 };
    let iy1 = if a.y1 < b.y1 { a.y1 } else { b.y1 };
    if iy1 <= iy0 {
        return None;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    if inter <= 0.0 {
        return None;
    }
    let area_a = (a.x1 - a.x0) * (a.y1 - a.y0);
    let area_b = (b.x1 - b.x0) * (b.y1 - b.y0);
    let union = area_a + area_b - inter;
    if area_a > 0.0 && area_b > 0.0 && union > 0.0 {
        Some(inter / union)
    } else {
        None
    }
}

/// Apply regression offsets `[dx, dy, dw, dh]` to an anchor (see the module docs).
/// Pure f32 arithmetic: it cannot fail; extreme `dw`/`dh` give infinite sizes.
pub fn decode(anchor: &Box, offsets: [f32; 4], variances: [f32; 4]) -> Box {
    let a = anchor.to_center();
    let [dx, dy, dw, dh] = offsets;
    let [v0, v1, v2, v3] = variances;
    Box::from_center(CenterBox {
        cx: a.cx + dx * v0 * a.w,
        cy: a.cy + dy * v1 * a.h,
        w: a.w * libm::expf(dw * v2),
        h: a.h * libm::expf(dh * v3),
    })
}

/// The offsets `[dx, dy, dw, dh]` that [`decode`] turns back into `target` (for
/// training labels). The anchor and the target need a positive, finite width and
/// height, and every variance must be positive and finite
/// ([`Error::InvalidParameter`] otherwise).
pub fn encode(anchor: &Box, target: &Box, variances: [f32; 4]) -> Result<[f32; 4], Error> {
    let a = anchor.to_center();
    let t = target.to_center();
    let positive = |v: f32| v > 0.0 && v.is_finite();
    if ![a.w, a.h, t.w, t.h].into_iter().all(positive) || !variances.into_iter().all(positive) {
        return Err(Error::InvalidParameter);
    }
    let [v0, v1, v2, v3] = variances;
    Ok([
        (t.cx - a.cx) / (a.w * v0),
        (t.cy - a.cy) / (a.h * v1),
        libm::logf(t.w / a.w) / v2,
        libm::logf(t.h / a.h) / v3,
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    use super::*;

    const UNIT: Box = Box::new(0.0, 0.0, 1.0, 1.0);
    const SSD: [f32; 4] = [0.1, 0.1, 0.2, 0.2];

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    /// Hand-computed overlaps.
    #[test]
    fn iou_hand_values() {
        // [0,1]^2 and [0.5,1.5]^2: inter 0.25, union 1.75 -> 1/7.
        let b = Box::new(0.5, 0.5, 1.5, 1.5);
        assert_eq!(iou(&UNIT, &b), 0.25 / 1.75);
        // Half-overlap along x: inter 0.5, union 1.5 -> 1/3.
        assert_eq!(iou(&UNIT, &Box::new(0.5, 0.0, 1.5, 1.0)), 0.5 / 1.5);
        // Containment: [0,2]^2 holds [0,1]^2 -> 1/4.
        assert_eq!(iou(&Box::new(0.0, 0.0, 2.0, 2.0), &UNIT), 0.25);
        // Symmetric.
        assert_eq!(iou(&b, &UNIT), iou(&UNIT, &b));
    }

    #[test]
    fn iou_degenerate_cases() {
        // Identical boxes: exactly 1.
        assert_eq!(iou(&UNIT, &UNIT), 1.0);
        let odd = Box::new(0.1, 0.3, 0.7, 0.9);
        assert_eq!(iou(&odd, &odd), 1.0);
        // No overlap, and touching edges or corners: 0.
        assert_eq!(iou(&UNIT, &Box::new(2.0, 2.0, 3.0, 3.0)), 0.0);
        assert_eq!(iou(&UNIT, &Box::new(1.0, 0.0, 2.0, 1.0)), 0.0);
        assert_eq!(iou(&UNIT, &Box::new(1.0, 1.0, 2.0, 2.0)), 0.0);
        // Zero area: 0 against anything, including itself.
        let line = Box::new(0.5, 0.0, 0.5, 1.0);
        let point = Box::new(0.5, 0.5, 0.5, 0.5);
        assert_eq!(iou(&line, &line), 0.0);
        assert_eq!(iou(&point, &point), 0.0);
        assert_eq!(iou(&line, &UNIT), 0.0);
        // Negative area (flipped corners): 0, unless normalized first.
        let flipped = Box::new(1.0, 1.0, 0.0, 0.0);
        assert_eq!(iou(&flipped, &flipped), 0.0);
        assert_eq!(iou(&flipped, &UNIT), 0.0);
        assert_eq!(flipped.area(), 0.0);
        assert_eq!(iou(&flipped.normalized(), &UNIT), 1.0);
        // NaN anywhere: 0.
        let nan = Box::new(f32::NAN, 0.0, 1.0, 1.0);
        assert_eq!(iou(&nan, &UNIT), 0.0);
        assert_eq!(iou(&UNIT, &nan), 0.0);
        assert_eq!(iou(&nan, &nan), 0.0);
    }

    #[test]
    fn center_round_trip() {
        let c = Box::new(0.2, 0.1, 0.6, 0.9).to_center();
        assert!(close(c.cx, 0.4, 1e-7) && close(c.cy, 0.5, 1e-7));
        assert!(close(c.w, 0.4, 1e-7) && close(c.h, 0.8, 1e-7));
        let b = Box::from_center(CenterBox {
            cx: 0.5,
            cy: 0.5,
            w: 0.5,
            h: 0.25,
        });
        assert_eq!(b, Box::new(0.25, 0.375, 0.75, 0.625));
    }

    /// decode by hand: anchor centre (0.5, 0.5), size (0.2, 0.4); offsets
    /// [1, -2, ln 2 / 0.2, 0] with SSD variances:
    /// cx = 0.5 + 1 * 0.1 * 0.2 = 0.52, cy = 0.5 - 2 * 0.1 * 0.4 = 0.42,
    /// w = 0.2 * e^(ln 2) = 0.4, h = 0.4 * e^0 = 0.4.
    #[test]
    fn decode_hand_values() {
        let anchor = Box::new(0.4, 0.3, 0.6, 0.7);
        let d = decode(
            &anchor,
            [1.0, -2.0, core::f32::consts::LN_2 / 0.2, 0.0],
            SSD,
        );
        let c = d.to_center();
        assert!(close(c.cx, 0.52, 1e-6), "{c:?}");
        assert!(close(c.cy, 0.42, 1e-6), "{c:?}");
        assert!(close(c.w, 0.4, 1e-6), "{c:?}");
        assert!(close(c.h, 0.4, 1e-6), "{c:?}");
        // Zero offsets give the anchor back.
        let z = decode(&anchor, [0.0; 4], SSD);
        for (g, w) in [z.x0, z.y0, z.x1, z.y1]
            .iter()
            .zip([anchor.x0, anchor.y0, anchor.x1, anchor.y1])
        {
            assert!(close(*g, w, 1e-7));
        }
    }

    #[test]
    fn encode_inverts_decode() {
        let anchor = Box::new(0.4, 0.3, 0.6, 0.7);
        let target = Box::new(0.45, 0.2, 0.85, 0.6);
        let off = encode(&anchor, &target, SSD).unwrap();
        // By hand: target centre (0.65, 0.4), size (0.4, 0.4):
        // dx = 0.15 / 0.02 = 7.5, dy = -0.1 / 0.04 = -2.5,
        // dw = ln 2 / 0.2, dh = ln 1 / 0.2 = 0.
        let want = [7.5, -2.5, core::f32::consts::LN_2 / 0.2, 0.0];
        for (g, w) in off.iter().zip(want) {
            assert!(close(*g, w, 1e-4), "{off:?}");
        }
        let back = decode(&anchor, off, SSD);
        for (g, w) in [back.x0, back.y0, back.x1, back.y1]
            .iter()
            .zip([target.x0, target.y0, target.x1, target.y1])
        {
            assert!(close(*g, w, 1e-6), "{back:?}");
        }
    }

    #[test]
    fn encode_rejects_degenerate_inputs() {
        let flat = Box::new(0.0, 0.5, 1.0, 0.5);
        assert_eq!(encode(&flat, &UNIT, SSD), Err(Error::InvalidParameter));
        assert_eq!(encode(&UNIT, &flat, SSD), Err(Error::InvalidParameter));
        assert_eq!(
            encode(&UNIT, &UNIT, [0.1, 0.0, 0.2, 0.2]),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            encode(&UNIT, &UNIT, [0.1, 0.1, f32::NAN, 0.2]),
            Err(Error::InvalidParameter)
        );
    }
}
