//! pool kernels.

pub mod float;
pub mod scalar;

/// The taps `k` in `0..k_len` of a window starting at padded coordinate `start`
/// (`o * stride`) whose coordinate `start + k * dil` lies in `lo..hi`; empty
/// when none does. Computed rather than searched, so the cost of a window does
/// not grow with the taps that fall outside the input (a huge kernel with huge
/// pads is validated, then must not loop over every tap: found by the
/// `edge_struct` fuzz target).
#[inline]
pub(crate) fn taps_in(
    start: usize,
    dil: usize,
    k_len: usize,
    lo: usize,
    hi: usize,
) -> core::ops::Range<usize> {
    let dil = dil.max(1);
    let first = lo.saturating_sub(start).div_ceil(dil).min(k_len);
    let end = hi.saturating_sub(start).div_ceil(dil).min(k_len);
    first..end.max(first)
}

#[cfg(test)]
mod taps_tests {
    extern crate std;
    use super::taps_in;
    use proptest::prelude::*;

    proptest! {
        /// `taps_in` is exactly the taps a loop over the whole window keeps.
        #[test]
        fn taps_in_matches_brute_force(
            start in 0usize..200, dil in 1usize..6, k_len in 0usize..60,
            lo in 0usize..300, span in 0usize..300,
        ) {
            let hi = lo + span;
            let want: std::vec::Vec<usize> = (0..k_len)
                .filter(|&k| (lo..hi).contains(&(start + k * dil)))
                .collect();
            let got: std::vec::Vec<usize> = taps_in(start, dil, k_len, lo, hi).collect();
            prop_assert_eq!(got, want);
        }
    }
}
