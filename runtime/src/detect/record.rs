//! A detector's anchor set and classes as stored in a `.edge` file
//! ([`DetectorRecord`], see [`crate::Model::detector`]): read in place, no
//! allocation. The record was checked by [`crate::Model::parse`], so on a
//! parsed model these only fail on a caller's buffer that is too small.

use super::anchors::{AnchorLevel, generate_anchors};
use super::boxes::Box;
use super::quantized::DecodeConfig;
use crate::error::Error;
use crate::format::schema::{AnchorLevelRecord, DetectorRecord};
use crate::format::{Records, decode};

impl AnchorLevelRecord {
    /// The level as [`generate_anchors`] takes it. A count past
    /// [`crate::format::schema::MAX_ANCHOR_SHAPES`] gives an empty list, which
    /// [`AnchorLevel::anchors_per_cell`] refuses.
    pub fn level(&self) -> AnchorLevel<'_> {
        AnchorLevel {
            rows: self.rows,
            cols: self.cols,
            sizes: self.sizes.get(..self.num_sizes as usize).unwrap_or(&[]),
            ratios: self.ratios.get(..self.num_ratios as usize).unwrap_or(&[]),
        }
    }
}

impl<'a> DetectorRecord<'a> {
    /// The class names, in score-column order (column `k + 1` is class `k`).
    pub fn classes(&self) -> impl Iterator<Item = Result<&'a str, Error>> + 'a {
        Records::new(self.classes).map(|r| r.and_then(decode::<&'a str>))
    }

    /// Name of object class `k` (0-based, background excluded).
    pub fn class_name(&self, k: usize) -> Option<&'a str> {
        self.classes().nth(k).and_then(Result::ok)
    }

    /// The anchor levels, in head order.
    pub fn levels(&self) -> impl Iterator<Item = Result<AnchorLevelRecord, Error>> + 'a {
        Records::new(self.levels).map(|r| r.and_then(decode::<AnchorLevelRecord>))
    }

    /// Number of anchors of all levels: the length [`Self::generate_anchors`]
    /// needs.
    pub fn anchor_count(&self) -> Result<usize, Error> {
        self.levels().try_fold(0usize, |acc, l| {
            acc.checked_add(l?.level().count()?).ok_or(Error::Overflow)
        })
    }

    /// Write the anchors (relative to the image, `0..1`) into `out`, levels in
    /// order, and return how many were written.
    pub fn generate_anchors(&self, out: &mut [Box]) -> Result<usize, Error> {
        let needed = self.anchor_count()?;
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                needed,
                got: out.len(),
            });
        }
        let mut at = 0usize;
        for level in self.levels() {
            let level = level?;
            let rest = out.get_mut(at..).ok_or(Error::Overflow)?;
            at = at
                .checked_add(generate_anchors(&[level.level()], rest)?)
                .ok_or(Error::Overflow)?;
        }
        Ok(at)
    }

    /// The decode parameters of this head: its variances, class 0 the
    /// background, and the caller's score threshold.
    pub fn decode_config(&self, score_threshold: f32) -> DecodeConfig {
        DecodeConfig {
            score_threshold,
            variances: self.variances,
            background_class: Some(0),
        }
    }
}
