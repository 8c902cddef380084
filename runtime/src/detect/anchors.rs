//! Anchor ("default" / "prior") boxes of an SSD-style detector over several
//! feature maps, written into a buffer the caller owns.
//!
//! A level is a feature map of `rows x cols` cells with sizes `s1..sn` and aspect
//! ratios `r1..rm`. Every cell gets `n + m - 1` anchors centred on the cell,
//! `((col + 0.5) / cols, (row + 0.5) / rows)`, in coordinates relative to the
//! image (`0..1`), of width `s * sqrt(r)` and height `s / sqrt(r)`, for the pairs
//!
//! ```text
//! (s1, r1), (s2, r1), ..., (sn, r1), (s1, r2), ..., (s1, rm)
//! ```
//!
//! in that order: every size with the first ratio, then the first size with the
//! other ratios. This is the set and the order of the d2l.ai course's
//! `multibox_prior`, so a class/box head trained with it lines up anchor for
//! anchor. (`multibox_prior` also multiplies widths by `rows / cols`; the two
//! agree on square feature maps.) Anchors are not clipped to the image.
//!
//! Cells are visited row by row, levels in the order given; anchor `k` of cell
//! `(row, col)` of the first level is at index `(row * cols + col) * (n + m - 1) + k`.

use super::boxes::{Box, CenterBox};
use crate::error::Error;

/// One feature map and its anchor shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnchorLevel<'a> {
    pub rows: u32,
    pub cols: u32,
    /// Sizes relative to the image, each positive and finite; at least one.
    pub sizes: &'a [f32],
    /// Aspect ratios (width / height), each positive and finite; at least one.
    pub ratios: &'a [f32],
}

impl AnchorLevel<'_> {
    /// `n + m - 1` anchors per cell; [`Error::InvalidParameter`] for an empty,
    /// non-positive or non-finite size or ratio.
    pub fn anchors_per_cell(&self) -> Result<usize, Error> {
        let ok = |v: &f32| *v > 0.0 && v.is_finite();
        if self.sizes.is_empty()
            || self.ratios.is_empty()
            || !self.sizes.iter().all(ok)
            || !self.ratios.iter().all(ok)
        {
            return Err(Error::InvalidParameter);
        }
        // Both lengths are >= 1, so this cannot underflow.
        (self.sizes.len() - 1)
            .checked_add(self.ratios.len())
            .ok_or(Error::Overflow)
    }

    /// `rows * cols * (n + m - 1)`.
    pub fn count(&self) -> Result<usize, Error> {
        let per_cell = self.anchors_per_cell()?;
        (self.rows as usize)
            .checked_mul(self.cols as usize)
            .and_then(|cells| cells.checked_mul(per_cell))
            .ok_or(Error::Overflow)
    }
}

/// Number of anchors of all levels: the length of the buffer
/// [`generate_anchors`] needs.
pub fn anchor_count(levels: &[AnchorLevel<'_>]) -> Result<usize, Error> {
    levels.iter().try_fold(0usize, |acc, l| {
        acc.checked_add(l.count()?).ok_or(Error::Overflow)
    })
}

/// The `(size, ratio)` pair of anchor `k` of a cell (see the module docs).
fn shape_of(level: &AnchorLevel<'_>, k: usize) -> Option<(f32, f32)> {
    let first_size = level.sizes.first().copied()?;
    let first_ratio = level.ratios.first().copied()?;
    match level.sizes.get(k) {
        Some(&s) => Some((s, first_ratio)),
        None => {
            let r = level.ratios.get(k - level.sizes.len() + 1).copied()?;
            Some((first_size, r))
        }
    }
}

/// Write the anchors of every level into `out` (see the module docs for the
/// order) and return how many were written, [`anchor_count`]. A shorter `out`
/// gives [`Error::BufferTooSmall`] and writes nothing; entries past the count are
/// left untouched.
pub fn generate_anchors(levels: &[AnchorLevel<'_>], out: &mut [Box]) -> Result<usize, Error> {
    let needed = anchor_count(levels)?;
    let too_small = Error::BufferTooSmall {
        needed,
        got: out.len(),
    };
    if out.len() < needed {
        return Err(too_small);
    }
    let mut slots = out.iter_mut();
    for level in levels {
        let per_cell = level.anchors_per_cell()?;
        let (rows, cols) = (level.rows as f32, level.cols as f32);
        for row in 0..level.rows {
            let cy = (row as f32 + 0.5) / rows;
            for col in 0..level.cols {
                let cx = (col as f32 + 0.5) / cols;
                for k in 0..per_cell {
                    let (s, r) = shape_of(level, k).ok_or(Error::InvalidParameter)?;
                    let root = libm::sqrtf(r);
                    let slot = slots.next().ok_or(too_small)?;
                    *slot = Box::from_center(CenterBox {
                        cx,
                        cy,
                        w: s * root,
                        h: s / root,
                    });
                }
            }
        }
    }
    Ok(needed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic
mod tests {
    extern crate std;

    use super::*;
    use std::vec;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-6
    }

    fn assert_box(got: Box, want: [f32; 4]) {
        let g = [got.x0, got.y0, got.x1, got.y1];
        assert!(
            g.iter().zip(want).all(|(a, b)| close(*a, b)),
            "{g:?} vs {want:?}"
        );
    }

    /// A 1x1 map, sizes [0.5, 0.25], ratios [1, 4, 0.25]: 2 + 3 - 1 = 4 anchors
    /// centred at (0.5, 0.5):
    /// (0.5, 1):   w = h = 0.5              -> [0.25, 0.25, 0.75, 0.75]
    /// (0.25, 1):  w = h = 0.25             -> [0.375, 0.375, 0.625, 0.625]
    /// (0.5, 4):   w = 0.5 * 2 = 1, h = 0.25 -> [0, 0.375, 1, 0.625]
    /// (0.5, 1/4): w = 0.25, h = 1          -> [0.375, 0, 0.625, 1]
    #[test]
    fn one_cell_by_hand() {
        let level = AnchorLevel {
            rows: 1,
            cols: 1,
            sizes: &[0.5, 0.25],
            ratios: &[1.0, 4.0, 0.25],
        };
        assert_eq!(level.anchors_per_cell(), Ok(4));
        let mut out = [Box::default(); 4];
        assert_eq!(generate_anchors(&[level], &mut out), Ok(4));
        assert_box(out[0], [0.25, 0.25, 0.75, 0.75]);
        assert_box(out[1], [0.375, 0.375, 0.625, 0.625]);
        assert_box(out[2], [0.0, 0.375, 1.0, 0.625]);
        assert_box(out[3], [0.375, 0.0, 0.625, 1.0]);
    }

    /// Two levels: a 2x3 map (one size, one ratio) then a 1x1 map. Centres of the
    /// 2x3 map are ((c + 0.5) / 3, (r + 0.5) / 2), row by row.
    #[test]
    fn several_levels_and_centres() {
        let levels = [
            AnchorLevel {
                rows: 2,
                cols: 3,
                sizes: &[0.2],
                ratios: &[1.0],
            },
            AnchorLevel {
                rows: 1,
                cols: 1,
                sizes: &[0.9],
                ratios: &[1.0, 2.0],
            },
        ];
        assert_eq!(anchor_count(&levels), Ok(6 + 2));
        let mut out = vec![Box::default(); 9];
        out[8] = Box::new(7.0, 7.0, 7.0, 7.0);
        assert_eq!(generate_anchors(&levels, &mut out), Ok(8));
        let centres: std::vec::Vec<(f32, f32)> = out[..6]
            .iter()
            .map(|b| (b.to_center().cx, b.to_center().cy))
            .collect();
        let want = [
            (1.0 / 6.0, 0.25),
            (0.5, 0.25),
            (5.0 / 6.0, 0.25),
            (1.0 / 6.0, 0.75),
            (0.5, 0.75),
            (5.0 / 6.0, 0.75),
        ];
        for (g, w) in centres.iter().zip(want) {
            assert!(close(g.0, w.0) && close(g.1, w.1), "{centres:?}");
        }
        assert_box(out[1], [0.4, 0.15, 0.6, 0.35]);
        // The second level: 0.9 x 0.9, then ratio 2: w = 0.9 * sqrt 2, h = 0.9 / sqrt 2.
        assert_box(out[6], [0.05, 0.05, 0.95, 0.95]);
        let r2 = core::f32::consts::SQRT_2;
        assert_box(
            out[7],
            [
                0.5 - 0.45 * r2,
                0.5 - 0.45 / r2,
                0.5 + 0.45 * r2,
                0.5 + 0.45 / r2,
            ],
        );
        // Past the count: untouched.
        assert_eq!(out[8], Box::new(7.0, 7.0, 7.0, 7.0));
    }

    #[test]
    fn errors() {
        let ok = AnchorLevel {
            rows: 2,
            cols: 2,
            sizes: &[0.5],
            ratios: &[1.0, 2.0],
        };
        let mut small = [Box::default(); 7];
        assert_eq!(
            generate_anchors(&[ok], &mut small),
            Err(Error::BufferTooSmall { needed: 8, got: 7 })
        );
        assert_eq!(small, [Box::default(); 7]);
        for bad in [
            AnchorLevel { sizes: &[], ..ok },
            AnchorLevel { ratios: &[], ..ok },
            AnchorLevel {
                sizes: &[0.0],
                ..ok
            },
            AnchorLevel {
                ratios: &[1.0, -2.0],
                ..ok
            },
            AnchorLevel {
                sizes: &[f32::NAN],
                ..ok
            },
            AnchorLevel {
                ratios: &[f32::INFINITY],
                ..ok
            },
        ] {
            assert_eq!(anchor_count(&[bad]), Err(Error::InvalidParameter));
            assert_eq!(
                generate_anchors(&[bad], &mut [Box::default(); 64]),
                Err(Error::InvalidParameter)
            );
        }
        let huge = AnchorLevel {
            rows: u32::MAX,
            cols: u32::MAX,
            sizes: &[0.5, 0.5, 0.5],
            ratios: &[1.0],
        };
        assert_eq!(anchor_count(&[huge]), Err(Error::Overflow));
        // Zero cells: zero anchors.
        let empty = AnchorLevel { rows: 0, ..ok };
        assert_eq!(generate_anchors(&[empty], &mut []), Ok(0));
    }
}
