//! fc kernels: `scalar.rs` (the reference), `avx2.rs` (x86_64, chosen at run
//! time), `neon.rs` (aarch64: NEON, and SDOT chosen at run time), `dsp.rs`
//! (Armv7E-M, chosen at compile time), `float.rs` (f32).

use crate::error::Error;
use crate::format::schema::FcI8;
use crate::kernels::RequantParams;

#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
#[cfg(any(test, edgerun_dsp))]
pub mod dsp;
pub mod float;
#[cfg(edgerun_neon)]
pub mod neon;
pub mod scalar;

/// The signature shared by [`scalar::fc_i8`] and its SIMD twins.
pub type FcI8Fn =
    fn(&FcI8, &[i8], &[i8], Option<&[i32]>, &RequantParams<'_>, &mut [i8]) -> Result<(), Error>;

/// int8 fully connected with the fastest kernel of this build: the DSP one on
/// Armv7E-M, the AVX2 one on x86_64 with `std` (it checks the CPU at run time),
/// the SDOT one on aarch64 with `std` when the CPU has it, else the NEON one on
/// aarch64, else the scalar one. Same contract and results as [`scalar::fc_i8`].
/// `packed`: the weights packed ahead of time, which the kernel of their kind
/// reads (the DSP one; the others read `weights`).
#[inline(always)]
pub fn fc_i8(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    packed: Option<crate::kernels::conv::Packed<'_>>,
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(edgerun_dsp)]
    {
        use crate::{format::schema::PackKind, kernels::conv::Packed};
        let packed = Packed::of_kind(packed, PackKind::DspI16);
        dsp::fc_i8(p, input, weights, packed, bias, rq, out)
    }
    #[cfg(not(edgerun_dsp))]
    {
        let _ = packed;
        fc_i8_unpacked(p, input, weights, bias, rq, out)
    }
}

/// [`fc_i8`] on the builds whose kernels read the `[n][k]` weights.
#[cfg(not(edgerun_dsp))]
#[inline(always)]
fn fc_i8_unpacked(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    let f = avx2::fc_i8;
    #[cfg(all(edgerun_neon, feature = "std"))]
    let f = neon::fc_i8_sdot;
    #[cfg(all(edgerun_neon, not(feature = "std")))]
    let f = neon::fc_i8;
    #[cfg(not(any(edgerun_neon, all(target_arch = "x86_64", feature = "std"))))]
    let f = scalar::fc_i8;
    f(p, input, weights, bias, rq, out)
}

#[cfg(test)]
use crate::kernels::dsp::Emulated;

/// The DSP kernel over the emulated instructions given weights packed ahead of
/// time, as the compiler packs them (`conv::pack::packed_dsp_fc`), copied to
/// words (the kernel reads 4-byte aligned packs, as in a model's blob).
#[cfg(test)]
fn dsp_emulated_prepacked(
    p: &FcI8,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    use crate::kernels::conv::pack;
    // Packs are whole words of 8 values: the words hold exactly the pack.
    let packed = pack::packed_dsp_fc(p, weights)?.map(|v| pack::aligned_words(&v));
    let packed: Option<&[i16]> = packed.as_deref().map(bytemuck::cast_slice);
    dsp::fc_i8_with::<Emulated>(p, input, weights, packed, bias, rq, out)
}

/// Every twin of [`scalar::fc_i8`]; each is checked against the reference by
/// `kernels::frame::fc`.
#[cfg(test)]
pub(crate) const TWINS: &[crate::kernels::frame::Twin<FcI8Fn>] = &[
    crate::kernels::frame::Twin {
        name: "scalar",
        probe: || Ok(scalar::fc_i8),
    },
    crate::kernels::frame::Twin {
        name: "dsp-emulated",
        probe: || Ok(|p, x, w, b, rq, o| dsp::fc_i8_with::<Emulated>(p, x, w, None, b, rq, o)),
    },
    crate::kernels::frame::Twin {
        name: "dsp-emulated-prepacked",
        probe: || Ok(dsp_emulated_prepacked),
    },
    crate::kernels::frame::Twin {
        name: "avx2",
        probe: || {
            #[cfg(target_arch = "x86_64")]
            return crate::kernels::frame::if_avx2(avx2::fc_i8);
            #[cfg(not(target_arch = "x86_64"))]
            Err("not an x86_64 build")
        },
    },
    crate::kernels::frame::Twin {
        name: "neon",
        probe: || {
            #[cfg(edgerun_neon)]
            return Ok(neon::fc_i8);
            #[cfg(not(edgerun_neon))]
            Err("not an aarch64 build with NEON")
        },
    },
    crate::kernels::frame::Twin {
        name: "sdot",
        probe: || {
            #[cfg(edgerun_neon)]
            return crate::kernels::frame::if_sdot(neon::fc_i8_sdot);
            #[cfg(not(edgerun_neon))]
            Err("not an aarch64 build with NEON")
        },
    },
];
