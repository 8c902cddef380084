//! QuantizeLinear / DequantizeLinear: `scalar.rs` (the reference), `avx2.rs`
//! (QuantizeLinear for x86_64, chosen at run time).

use crate::error::Error;
use crate::format::schema::Quantize;

#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
pub mod scalar;

/// QuantizeLinear with the fastest kernel of this build: the AVX2 one on
/// x86_64 with `std` (it checks the CPU at run time), else the scalar one.
/// Same contract and results as [`scalar::quantize`].
#[inline(always)]
pub fn quantize(
    p: &Quantize,
    input: &[f32],
    scales: &[f32],
    zero_points: &[i32],
    out: &mut [u8],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    let f = avx2::quantize;
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    let f = scalar::quantize;
    f(p, input, scales, zero_points, out)
}
