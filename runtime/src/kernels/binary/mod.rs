//! binary kernels: `scalar.rs` (the int8 reference), `avx2.rs` (its x86_64 twin
//! for contiguous Adds, chosen at run time), `float.rs` (f32, and the broadcast
//! walker both int8 kernels use).

use crate::error::Error;
use crate::format::schema::BinaryI8;
use crate::kernels::RequantParams;

#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
pub mod float;
pub mod scalar;

/// The signature shared by [`scalar::binary_i8`] and its SIMD twin.
pub type BinaryI8Fn =
    fn(&BinaryI8, &[i8], &[i8], &RequantParams<'_>, &mut [i8]) -> Result<(), Error>;

/// int8 Add / Mul with the fastest kernel of this build: the AVX2 one on x86_64
/// with `std` (it checks the CPU at run time and takes its fast path for
/// contiguous Adds only), else the scalar one. Same contract and results as
/// [`scalar::binary_i8`].
#[inline(always)]
pub fn binary_i8(
    p: &BinaryI8,
    a: &[i8],
    b: &[i8],
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    let f = avx2::binary_i8;
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    let f = scalar::binary_i8;
    f(p, a, b, rq, out)
}
