//! One-time validation of a parsed model: every buffer in bounds and aligned, no
//! operator output overlapping its inputs, every operator's geometry consistent
//! with its buffers (through the same `*_lens` functions the kernels check with).

use super::schema::{Buf, DType, DetectorRecord, Mem, Op, TensorDesc};
use super::{Model, Records, decode};
use crate::error::Error;
use crate::kernels::{binary, conv, copy, fc, lrn, matmul, nms, pool, quantize};

pub(super) fn validate(model: &Model<'_>) -> Result<(), Error> {
    let limits = Limits {
        arena: model.arena_bytes(),
        blob: model.blob().len(),
    };
    let meta = model.meta();
    check_descs(meta.inputs, meta.num_inputs, &limits)?;
    check_descs(meta.outputs, meta.num_outputs, &limits)?;
    let mut n = 0u32;
    for rec in model.ops() {
        let rec = rec?;
        check_op(&rec.op, &limits)?;
        n = n.checked_add(1).ok_or(Error::Overflow)?;
    }
    if n != meta.num_ops {
        return Err(Error::Decode);
    }
    if let Some(d) = model.detector() {
        check_detector(model, &d)?;
    }
    Ok(())
}

/// A detector record agrees with the model: classes and levels as counted,
/// valid anchor shapes, positive variances, a square input of `input_size`,
/// and two distinct outputs holding `anchors * (classes + 1)` scores and
/// `anchors * 4` box offsets.
fn check_detector(model: &Model<'_>, d: &DetectorRecord<'_>) -> Result<(), Error> {
    if d.input_size == 0 || !d.variances.iter().all(|v| v.is_finite() && *v > 0.0) {
        return Err(Error::InvalidParameter);
    }
    let mut classes = 0u32;
    for c in d.classes() {
        c?;
        classes = classes.checked_add(1).ok_or(Error::Overflow)?;
    }
    let levels = d.levels().try_fold(0u32, |n, l| {
        l?;
        n.checked_add(1).ok_or(Error::Overflow)
    })?;
    if classes != d.num_classes || levels != d.num_levels {
        return Err(Error::Decode);
    }
    if classes == 0 || levels == 0 {
        return Err(Error::InvalidParameter);
    }
    let anchors = d.anchor_count()?;
    let input = model.input(0)?;
    let side = d.input_size;
    if !matches!(input.shape.dims(), [.., h, w] if *h == side && *w == side) {
        return Err(Error::BadGeometry);
    }
    if d.scores_output == d.boxes_output {
        return Err(Error::InvalidParameter);
    }
    let columns = (classes as usize).checked_add(1).ok_or(Error::Overflow)?;
    for (index, per_anchor) in [(d.scores_output, columns), (d.boxes_output, 4)] {
        let out = model.output(index as usize)?;
        let want = anchors.checked_mul(per_anchor).ok_or(Error::Overflow)?;
        if out.shape.numel() != Some(want) {
            return Err(Error::BadGeometry);
        }
    }
    Ok(())
}

struct Limits {
    arena: usize,
    blob: usize,
}

fn check_descs(stream: &[u8], count: u32, limits: &Limits) -> Result<(), Error> {
    let mut n = 0u32;
    for rec in Records::new(stream) {
        let d: TensorDesc<'_> = decode(rec?)?;
        if d.buf.mem != Mem::Arena || d.shape.rank as usize > d.shape.dims.len() {
            return Err(Error::BadGeometry);
        }
        let bytes = d
            .shape
            .numel()
            .and_then(|e| e.checked_mul(d.dtype.size()))
            .ok_or(Error::Overflow)?;
        check_buf(d.buf, bytes, limits)?;
        n = n.checked_add(1).ok_or(Error::Overflow)?;
    }
    if n != count {
        return Err(Error::Decode);
    }
    Ok(())
}

fn end_of(b: Buf) -> Result<usize, Error> {
    (b.offset as usize)
        .checked_add(b.len as usize)
        .ok_or(Error::Overflow)
}

/// In bounds, 4-aligned, exactly `bytes` long.
fn check_buf(b: Buf, bytes: usize, limits: &Limits) -> Result<(), Error> {
    let limit = match b.mem {
        Mem::Arena => limits.arena,
        Mem::Blob => limits.blob,
    };
    if end_of(b)? > limit {
        return Err(Error::OutOfBounds);
    }
    if !b.offset.is_multiple_of(4) {
        return Err(Error::Misaligned);
    }
    if b.len as usize != bytes {
        return Err(Error::BadGeometry);
    }
    Ok(())
}

/// Packed conv weights: in the blob, and exactly as long as the layout of
/// their kind for the geometry (`kernels::conv::pack`); packed weights for a
/// geometry that kernel does not run are [`Error::InvalidParameter`]. Their
/// values are not compared with the OHWI weights (the checksum covers them).
fn check_packed(
    g: &super::schema::ConvGeom,
    weight_offset: i32,
    pw: super::schema::PackedWeights,
    limits: &Limits,
) -> Result<(), Error> {
    use super::schema::PackKind;
    use conv::pack::{avx2_layout, dsp_packed_len, dsp_runs, packed_len};
    let len = match pw.kind {
        PackKind::Avx2I16 | PackKind::Avx2WinogradI16 => {
            let layout = avx2_layout(g, weight_offset).ok_or(Error::InvalidParameter)?;
            let len = if pw.kind == PackKind::Avx2I16 {
                packed_len(g, layout)
            } else if layout == conv::pack::Avx2Layout::Blocks && conv::pack::winograd_shape(g) {
                conv::pack::winograd_len(g)
            } else {
                return Err(Error::InvalidParameter);
            };
            len.ok_or(Error::Overflow)?
        }
        PackKind::DspI16 => {
            if !dsp_runs(g, weight_offset) {
                return Err(Error::InvalidParameter);
            }
            dsp_packed_len(g).ok_or(Error::Overflow)?
        }
    };
    check_pack_buf(pw, len, limits)
}

/// A pack's buffer: in the blob, `values` `i16` long.
fn check_pack_buf(
    pw: super::schema::PackedWeights,
    values: usize,
    limits: &Limits,
) -> Result<(), Error> {
    if pw.buf.mem != Mem::Blob {
        return Err(Error::InvalidParameter);
    }
    check_buf(
        pw.buf,
        values.checked_mul(2).ok_or(Error::Overflow)?,
        limits,
    )
}

/// Packed fc weights: only [`PackKind::DspI16`](super::schema::PackKind), for a
/// layer the DSP fc kernel runs, in the blob and exactly as long as the layout
/// (`kernels::conv::pack::dsp_rows_len`); else as [`check_packed`].
fn check_packed_fc(
    p: &super::schema::FcI8,
    pw: super::schema::PackedWeights,
    limits: &Limits,
) -> Result<(), Error> {
    use conv::pack::{dsp_fc_runs, dsp_rows_len};
    if pw.kind != super::schema::PackKind::DspI16 || !dsp_fc_runs(p) {
        return Err(Error::InvalidParameter);
    }
    let len = dsp_rows_len(p.n as usize, p.k as usize).ok_or(Error::Overflow)?;
    check_pack_buf(pw, len, limits)
}

/// Like [`check_buf`], for an output that only needs to be at least `bytes` long.
fn check_buf_min(b: Buf, bytes: usize, limits: &Limits) -> Result<(), Error> {
    check_buf(b, b.len as usize, limits)?;
    if (b.len as usize) < bytes {
        return Err(Error::BadGeometry);
    }
    Ok(())
}

fn disjoint(out: Buf, inputs: &[Option<Buf>]) -> Result<(), Error> {
    if out.mem != Mem::Arena {
        return Err(Error::OutOfBounds);
    }
    let (os, oe) = (out.offset as usize, end_of(out)?);
    for b in inputs.iter().flatten() {
        if b.mem == Mem::Arena {
            let (s, e) = (b.offset as usize, end_of(*b)?);
            if s < oe && os < e {
                return Err(Error::Overlap);
            }
        }
    }
    Ok(())
}

fn bytes(elems: usize, dtype: DType) -> Result<usize, Error> {
    elems.checked_mul(dtype.size()).ok_or(Error::Overflow)
}

fn f32b(elems: usize) -> Result<usize, Error> {
    bytes(elems, DType::F32)
}

fn i32b(elems: usize) -> Result<usize, Error> {
    bytes(elems, DType::I32)
}

fn check_requant(
    rq: &super::schema::Requant,
    channels: usize,
    limits: &Limits,
) -> Result<(), Error> {
    check_buf(rq.mult, i32b(channels)?, limits)?;
    check_buf(rq.shift, i32b(channels)?, limits)?;
    if rq.act_min > rq.act_max || rq.act_min < -128 || rq.act_max > 127 {
        return Err(Error::InvalidParameter);
    }
    Ok(())
}

fn check_op(op: &Op, l: &Limits) -> Result<(), Error> {
    match op {
        Op::ConvF32(p) => {
            let (i, w, o) = conv::float::conv_lens(&p.geom)?;
            check_buf(p.input, f32b(i)?, l)?;
            check_buf(p.weights, f32b(w)?, l)?;
            if let Some(b) = p.bias {
                check_buf(b, f32b(p.geom.out_c as usize)?, l)?;
            }
            check_buf(p.output, f32b(o)?, l)?;
            disjoint(p.output, &[Some(p.input), Some(p.weights), p.bias])
        }
        Op::ConvI8(p) => {
            let (i, w, o) = conv::float::conv_lens(&p.geom)?;
            check_buf(p.input, i, l)?;
            check_buf(p.weights, w, l)?;
            if let Some(b) = p.bias {
                check_buf(b, i32b(p.geom.out_c as usize)?, l)?;
            }
            check_buf(p.output, o, l)?;
            check_requant(&p.rq, p.geom.out_c as usize, l)?;
            if let Some(pw) = p.packed {
                check_packed(&p.geom, p.weight_offset, pw, l)?;
            }
            let packed = p.packed.map(|pw| pw.buf);
            disjoint(p.output, &[Some(p.input), Some(p.weights), p.bias, packed])
        }
        Op::PoolF32(p) => {
            let (i, o) = pool::float::pool_lens(&p.geom)?;
            check_buf(p.input, f32b(i)?, l)?;
            check_buf(p.output, f32b(o)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::PoolI8(p) => {
            let (i, o) = pool::float::pool_lens(&p.geom)?;
            check_buf(p.input, i, l)?;
            check_buf(p.output, o, l)?;
            check_requant(&p.rq, 1, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::FcF32(p) => {
            let (i, w, o) = fc::float::fc_lens(p.rows, p.k, p.n)?;
            check_buf(p.input, f32b(i)?, l)?;
            check_buf(p.weights, f32b(w)?, l)?;
            if let Some(b) = p.bias {
                let n = if p.bias_per_row { o } else { p.n as usize };
                check_buf(b, f32b(n)?, l)?;
            }
            check_buf(p.output, f32b(o)?, l)?;
            disjoint(p.output, &[Some(p.input), Some(p.weights), p.bias])
        }
        Op::FcI8(p) => {
            let (i, w, o) = fc::float::fc_lens(p.rows, p.k, p.n)?;
            check_buf(p.input, i, l)?;
            check_buf(p.weights, w, l)?;
            if let Some(b) = p.bias {
                check_buf(b, i32b(p.n as usize)?, l)?;
            }
            check_buf(p.output, o, l)?;
            check_requant(&p.rq, p.n as usize, l)?;
            if let Some(pw) = p.packed {
                check_packed_fc(p, pw, l)?;
            }
            disjoint(p.output, &[Some(p.input), Some(p.weights), p.bias])
        }
        Op::MatMulF32(p) => {
            let (a, b, o) = matmul::float::matmul_lens(p)?;
            check_buf(p.a, f32b(a)?, l)?;
            check_buf(p.b, f32b(b)?, l)?;
            check_buf(p.output, f32b(o)?, l)?;
            disjoint(p.output, &[Some(p.a), Some(p.b)])
        }
        Op::BinaryF32(p) => {
            let (a, b, o) = binary::float::broadcast_lens(&p.shape, &p.a_stride, &p.b_stride)?;
            check_buf(p.a, f32b(a)?, l)?;
            check_buf(p.b, f32b(b)?, l)?;
            check_buf(p.output, f32b(o)?, l)?;
            disjoint(p.output, &[Some(p.a), Some(p.b)])
        }
        Op::BinaryI8(p) => {
            let (a, b, o) = binary::float::broadcast_lens(&p.shape, &p.a_stride, &p.b_stride)?;
            check_buf(p.a, a, l)?;
            check_buf(p.b, b, l)?;
            check_buf(p.output, o, l)?;
            check_requant(&p.rq, 1, l)?;
            disjoint(p.output, &[Some(p.a), Some(p.b)])
        }
        Op::UnaryF32(p) => {
            check_buf(p.input, f32b(p.len as usize)?, l)?;
            check_buf(p.output, f32b(p.len as usize)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::Lut8(p) => {
            check_buf(p.input, p.len as usize, l)?;
            check_buf(p.output, p.len as usize, l)?;
            check_buf(p.table, 256, l)?;
            disjoint(p.output, &[Some(p.input), Some(p.table)])
        }
        Op::SoftmaxF32(p) => {
            let n = crate::kernels::prod(&[p.outer, p.axis, p.inner])?;
            check_buf(p.input, f32b(n)?, l)?;
            check_buf(p.output, f32b(n)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::SoftmaxI8(p) => {
            let n = crate::kernels::prod(&[p.outer, p.axis, p.inner])?;
            check_buf(p.input, n, l)?;
            check_buf(p.output, n, l)?;
            check_buf(p.exp_table, f32b(256)?, l)?;
            disjoint(p.output, &[Some(p.input), Some(p.exp_table)])
        }
        Op::CopyChunks(p) => {
            let (i, o) = copy::scalar::copy_chunks_lens(p)?;
            check_buf(p.input, i, l)?;
            check_buf_min(p.output, o, l)?;
            if let Some(t) = p.table {
                check_buf(t, 256, l)?;
            }
            disjoint(p.output, &[Some(p.input), p.table])
        }
        Op::Transpose(p) => {
            let (i, o) = copy::scalar::transpose_lens(p)?;
            check_buf(p.input, i, l)?;
            check_buf(p.output, o, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::Gather(p) => {
            let (i, m, o) = copy::scalar::gather_lens(p)?;
            check_buf(p.input, i, l)?;
            check_buf(p.maps, bytes(m, DType::I32)?, l)?;
            check_buf(p.output, o, l)?;
            disjoint(p.output, &[Some(p.input), Some(p.maps)])
        }
        Op::Quantize(p) => {
            let (n, params) =
                quantize::scalar::quantize_lens(p.outer, p.axis, p.inner, p.per_axis)?;
            if !matches!(p.out_dtype, DType::I8 | DType::U8) {
                return Err(Error::InvalidParameter);
            }
            check_buf(p.input, f32b(n)?, l)?;
            check_buf(p.output, n, l)?;
            check_buf(p.scales, f32b(params)?, l)?;
            check_buf(p.zero_points, i32b(params)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::Dequantize(p) => {
            let (n, params) =
                quantize::scalar::quantize_lens(p.outer, p.axis, p.inner, p.per_axis)?;
            if p.in_dtype == DType::F32 {
                return Err(Error::InvalidParameter);
            }
            check_buf(p.input, bytes(n, p.in_dtype)?, l)?;
            check_buf(p.output, f32b(n)?, l)?;
            check_buf(p.scales, f32b(params)?, l)?;
            check_buf(p.zero_points, i32b(params)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::ChannelAffineF32(p) => {
            let n = crate::kernels::prod(&[p.outer, p.channels, p.inner])?;
            check_buf(p.input, f32b(n)?, l)?;
            check_buf(p.output, f32b(n)?, l)?;
            check_buf(p.scale, f32b(p.channels as usize)?, l)?;
            check_buf(p.shift, f32b(p.channels as usize)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
        Op::Nms(p) => {
            let n = nms::float::nms_lens(p)?;
            check_buf(p.boxes, f32b(n.boxes)?, l)?;
            check_buf(p.scores, f32b(n.scores)?, l)?;
            check_buf(p.output, i32b(n.output)?, l)?;
            disjoint(p.output, &[Some(p.boxes), Some(p.scores)])
        }
        Op::LrnF32(p) => {
            let n = lrn::float::lrn_len(p)?;
            check_buf(p.input, f32b(n)?, l)?;
            check_buf(p.output, f32b(n)?, l)?;
            disjoint(p.output, &[Some(p.input)])
        }
    }
}
