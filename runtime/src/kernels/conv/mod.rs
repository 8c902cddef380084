//! conv kernels: `scalar.rs` (the reference), `avx2.rs` (x86_64, chosen at run
//! time), `neon.rs` (aarch64: NEON, and SDOT chosen at run time), `dsp.rs`
//! (Armv7E-M, chosen at compile time), `float.rs` (f32) and its twin
//! `float_avx2.rs` (x86_64, chosen at run time).

use crate::error::Error;
use crate::format::schema::{ConvGeom, PackKind};
use crate::kernels::RequantParams;

#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod avx2;
#[cfg(any(test, edgerun_dsp))]
pub mod dsp;
pub mod float;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod float_avx2;
#[cfg(edgerun_neon)]
pub mod neon;
pub mod pack;
pub mod scalar;

/// f32 convolution with the fastest kernel of this build: the AVX2 one on
/// x86_64 with `std` (it checks the CPU at run time), else [`float::conv_f32`].
/// Same contract and results, bit for bit.
#[inline(always)]
pub fn conv_f32(
    g: &ConvGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    act: crate::format::schema::ClampF32,
    out: &mut [f32],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    let f = float_avx2::conv_f32;
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    let f = float::conv_f32;
    f(g, input, weights, bias, act, out)
}

/// The signature shared by [`float::conv_f32`] and its SIMD twin.
pub type ConvF32Fn = fn(
    &ConvGeom,
    &[f32],
    &[f32],
    Option<&[f32]>,
    crate::format::schema::ClampF32,
    &mut [f32],
) -> Result<(), Error>;

/// The signature shared by [`scalar::conv_i8`] and its SIMD twins.
pub type ConvI8Fn = fn(
    &ConvGeom,
    &[i8],
    &[i8],
    Option<&[i32]>,
    i32,
    i32,
    &RequantParams<'_>,
    &mut [i8],
) -> Result<(), Error>;

/// The part of the convolution `g` (one image) that computes output rows
/// `rows`: its geometry, and the ranges of `g`'s input and output (in
/// elements) that the part reads and writes. The part's geometry starts at
/// the first input row its windows read (its top padding is what is left of
/// `g`'s above that row) and keeps every row after it. Each output value
/// depends only on its window, so the parts of disjoint row ranges together
/// give the bytes of the whole convolution (the threads of
/// `Interpreter::invoke_threaded`). `None` for a batch of more than one
/// image, an empty range or one past `out_h`.
pub fn rows_part(
    g: &ConvGeom,
    rows: core::ops::Range<u32>,
) -> Option<(ConvGeom, core::ops::Range<usize>, core::ops::Range<usize>)> {
    if g.n != 1 || rows.start >= rows.end || rows.end > g.out_h {
        return None;
    }
    let first = rows.start.checked_mul(g.stride_h)?;
    let skipped = first.saturating_sub(g.pad_top);
    let in_h = g.in_h.checked_sub(skipped).filter(|&h| h > 0)?;
    let part = ConvGeom {
        in_h,
        out_h: rows.end - rows.start,
        pad_top: g.pad_top.saturating_sub(first),
        ..*g
    };
    let row_in = (g.in_w as usize).checked_mul(g.in_c as usize)?;
    let row_out = (g.out_w as usize).checked_mul(g.out_c as usize)?;
    let input = (skipped as usize).checked_mul(row_in)?..(g.in_h as usize).checked_mul(row_in)?;
    let output =
        (rows.start as usize).checked_mul(row_out)?..(rows.end as usize).checked_mul(row_out)?;
    Some((part, input, output))
}

/// Weights packed ahead of time for one kernel family (a model's
/// `ConvI8::packed`, [`pack`]).
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    pub kind: PackKind,
    pub values: &'a [i16],
}

impl<'a> Packed<'a> {
    /// The values of `packed` when they are of `kind` (the kernel of that kind
    /// reads them; the others ignore them).
    #[inline(always)]
    pub fn of_kind(packed: Option<Self>, kind: PackKind) -> Option<&'a [i16]> {
        packed.filter(|p| p.kind == kind).map(|p| p.values)
    }
}

/// int8 convolution with the fastest kernel of this build: the DSP one on Armv7E-M,
/// the AVX2 one on x86_64 with `std` (it checks the CPU at run time; its
/// Winograd loop for 3x3 convolutions packed for it), the SDOT
/// one on aarch64 with `std` when the CPU has it, else the NEON one on aarch64,
/// else the scalar one. Same contract and results as [`scalar::conv_i8`].
/// `packed`: the weights packed ahead of time, which the kernel of their kind
/// reads instead of packing `weights` (the others read `weights`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn conv_i8(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    packed: Option<Packed<'_>>,
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        if let Some(u) = Packed::of_kind(packed, PackKind::Avx2WinogradI16) {
            return avx2::conv_i8_winograd(
                g,
                input,
                weights,
                u,
                bias,
                input_offset,
                weight_offset,
                rq,
                out,
            );
        }
        let packed = Packed::of_kind(packed, PackKind::Avx2I16);
        avx2::conv_i8_packed(
            g,
            input,
            weights,
            packed,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        )
    }
    #[cfg(edgerun_dsp)]
    {
        let packed = Packed::of_kind(packed, PackKind::DspI16);
        dsp::conv_i8(
            g,
            input,
            weights,
            packed,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        )
    }
    #[cfg(not(any(all(target_arch = "x86_64", feature = "std"), edgerun_dsp)))]
    {
        let _ = packed;
        conv_i8_unpacked(
            g,
            input,
            weights,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        )
    }
}

/// [`conv_i8`] on the builds whose kernels read the OHWI weights.
#[cfg(not(any(all(target_arch = "x86_64", feature = "std"), edgerun_dsp)))]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_i8_unpacked(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    #[cfg(all(edgerun_neon, feature = "std"))]
    let f = neon::conv_i8_sdot;
    #[cfg(all(edgerun_neon, not(feature = "std")))]
    let f = neon::conv_i8;
    #[cfg(not(edgerun_neon))]
    let f = scalar::conv_i8;
    f(
        g,
        input,
        weights,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// Every twin of [`scalar::conv_i8`]; each is checked against the reference by
/// `kernels::frame::conv`.
#[cfg(test)]
pub(crate) const TWINS: &[crate::kernels::frame::Twin<ConvI8Fn>] = &[
    crate::kernels::frame::Twin {
        name: "scalar",
        probe: || Ok(scalar::conv_i8),
    },
    crate::kernels::frame::Twin {
        name: "dsp-emulated",
        probe: || Ok(dsp_emulated),
    },
    crate::kernels::frame::Twin {
        name: "dsp-emulated-prepacked",
        probe: || Ok(dsp_emulated_prepacked),
    },
    crate::kernels::frame::Twin {
        name: "avx2",
        probe: || {
            #[cfg(target_arch = "x86_64")]
            return crate::kernels::frame::if_avx2(avx2::conv_i8);
            #[cfg(not(target_arch = "x86_64"))]
            Err("not an x86_64 build")
        },
    },
    crate::kernels::frame::Twin {
        name: "avx2-prepacked",
        probe: || {
            #[cfg(target_arch = "x86_64")]
            return crate::kernels::frame::if_avx2(avx2_prepacked);
            #[cfg(not(target_arch = "x86_64"))]
            Err("not an x86_64 build")
        },
    },
    crate::kernels::frame::Twin {
        name: "avx2-winograd",
        probe: || {
            #[cfg(target_arch = "x86_64")]
            return crate::kernels::frame::if_avx2(avx2_winograd);
            #[cfg(not(target_arch = "x86_64"))]
            Err("not an x86_64 build")
        },
    },
    crate::kernels::frame::Twin {
        name: "neon",
        probe: || {
            #[cfg(edgerun_neon)]
            return Ok(neon::conv_i8);
            #[cfg(not(edgerun_neon))]
            Err("not an aarch64 build with NEON")
        },
    },
    crate::kernels::frame::Twin {
        name: "sdot",
        probe: || {
            #[cfg(edgerun_neon)]
            return crate::kernels::frame::if_sdot(neon::conv_i8_sdot);
            #[cfg(not(edgerun_neon))]
            Err("not an aarch64 build with NEON")
        },
    },
];

/// The DSP kernel over the emulated instructions, reading the OHWI weights.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
fn dsp_emulated(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    dsp::conv_i8_with::<crate::kernels::dsp::Emulated>(
        g,
        input,
        weights,
        None,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// The DSP kernel over the emulated instructions given weights packed ahead of
/// time, as the compiler packs them ([`pack::packed_dsp`]).
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
fn dsp_emulated_prepacked(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let packed = pack::packed_dsp(g, weight_offset, weights)?.map(|v| pack::aligned_words(&v));
    let packed: Option<&[i16]> = packed.as_deref().map(bytemuck::cast_slice);
    dsp::conv_i8_with::<crate::kernels::dsp::Emulated>(
        g,
        input,
        weights,
        packed,
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// The AVX2 twin given weights packed ahead of time, as the compiler packs
/// them ([`pack::pack`] in the layout [`pack::avx2_layout`] gives).
#[cfg(all(test, target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn avx2_prepacked(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    let packed = pack::packed_avx2(g, weight_offset, weights)?;
    avx2::conv_i8_packed(
        g,
        input,
        weights,
        packed.as_deref(),
        bias,
        input_offset,
        weight_offset,
        rq,
        out,
    )
}

/// The AVX2 twin given the Winograd loop's weights as the compiler packs them
/// ([`pack::packed_winograd`]) for the geometries that loop runs, else as
/// [`avx2_prepacked`].
#[cfg(all(test, target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn avx2_winograd(
    g: &ConvGeom,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    input_offset: i32,
    weight_offset: i32,
    rq: &RequantParams<'_>,
    out: &mut [i8],
) -> Result<(), Error> {
    match pack::packed_winograd(g, weight_offset, weights)? {
        Some(u) => avx2::conv_i8_winograd(
            g,
            input,
            weights,
            &u,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        ),
        None => avx2_prepacked(
            g,
            input,
            weights,
            bias,
            input_offset,
            weight_offset,
            rq,
            out,
        ),
    }
}
