//! pool kernels: `scalar.rs` (the int8 reference), `avx2.rs` (its x86_64 twin
//! for max pooling, chosen at run time), `float.rs` (f32).

use crate::error::Error;
use crate::format::schema::PoolGeom;
use crate::kernels::RequantParams;

#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
pub mod float;
pub mod scalar;

/// The signature shared by [`scalar::pool_i8`] and its SIMD twin.
pub type PoolI8Fn = fn(&PoolGeom, &[i8], i32, &RequantParams<'_>, &mut [i8]) -> Result<(), Error>;

/// int8 pooling with the fastest kernel of this build: the AVX2 one on x86_64
/// with `std` (it checks the CPU at run time and takes its fast path for max
/// pooling only), else the scalar one. Same contract and results as
/// [`scalar::pool_i8`].
#[inline(always)]
pub fn pool_i8(
    g: &PoolGeom,
    input: &[i8],
    input_zero_point: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    let f = avx2::pool_i8;
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    let f = scalar::pool_i8;
    f(g, input, input_zero_point, rq, out)
}

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
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(256)))]
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
