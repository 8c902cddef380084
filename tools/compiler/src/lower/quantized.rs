//! Quantized operators: QuantizeLinear, DequantizeLinear, QLinearConv,
//! QLinearMatMul. Inside the runtime every quantized tensor is int8; a uint8
//! value `u` with zero point `z` is the int8 value `u - 128` with zero point
//! `z - 128` (exactly the same real numbers).

use super::attrs::{NodeExt, norm_axis};
use super::nn::conv_geom;
use super::*;
use edgerun::quant::quantize_multiplier;

/// Offset that moves a value of ONNX type `t` into the int8 domain.
pub(crate) fn i8_shift(t: ElemType) -> i32 {
    if t == ElemType::U8 { -128 } else { 0 }
}

fn zero_points(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<(Vec<i32>, Option<ElemType>)> {
    match lw.opt_const_input(node, i)? {
        Some(z) => Ok((
            z.to_i64()?.iter().map(|&v| v as i32).collect(),
            Some(z.elem_type()),
        )),
        None => Ok((vec![0], None)),
    }
}

/// (outer, axis, inner) of a per-axis parameter over the physical dims.
fn axis_split(shape: &[usize], layout: Layout, axis: usize) -> (usize, usize, usize) {
    let pd = phys_dims(shape, layout);
    let pa = phys_axis(shape.len(), layout, axis);
    (numel(&pd[..pa]), pd[pa], numel(&pd[pa + 1..]))
}

/// How Quantize/DequantizeLinear parameters spread over a tensor.
struct Split {
    per_axis: bool,
    outer: usize,
    axis_len: usize,
    inner: usize,
    /// One zero point per axis entry (or one for per-tensor).
    zps: Vec<i32>,
}

/// Per-tensor, or per-axis along attribute `axis` in the tensor's physical layout.
fn split_params(
    node: &NodeProto,
    shape: &[usize],
    layout: Layout,
    scales: &[f32],
    zps: Vec<i32>,
) -> Result<Split> {
    let per_axis = scales.len() > 1;
    let (outer, axis_len, inner) = if per_axis {
        let a = norm_axis(node, node.attr_i("axis", 1), shape.len())?;
        axis_split(shape, layout, a)
    } else {
        (1, 1, numel(shape))
    };
    if per_axis && (scales.len() != axis_len || zps.len() != 1 && zps.len() != axis_len) {
        return Err(node.invalid("per-axis parameters do not match the axis"));
    }
    let zps = if per_axis && zps.len() == 1 {
        vec![zps[0]; axis_len]
    } else {
        zps
    };
    Ok(Split {
        per_axis,
        outer,
        axis_len,
        inner,
        zps,
    })
}

pub(crate) fn quantize(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("block_size", 0) != 0 {
        return Err(node.unsupported("blocked quantization (block_size)"));
    }
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    if xi.dtype != ElemType::F32 {
        return Err(node.unsupported(format!("input type {}", xi.dtype.name())));
    }
    let scales = lw.const_input(node, 1)?.to_f32();
    let (zps, zp_type) = zero_points(lw, node, 2)?;
    let out_type = match (zp_type, node.attr_i("output_dtype", 0)) {
        (Some(t), _) => t,
        (None, 0) => ElemType::U8,
        (None, code) => ElemType::from_onnx(code as i32),
    };
    let dt = match out_type {
        ElemType::U8 => DType::U8,
        ElemType::I8 => DType::I8,
        other => return Err(node.unsupported(format!("output type {}", other.name()))),
    };
    let layout = lw.layout_of(x);
    let Split {
        per_axis,
        outer,
        axis_len,
        inner,
        zps,
    } = split_params(node, &xi.shape, layout, &scales, zps)?;
    // The buffers are set below for a runtime input; the kernel reads only
    // the geometry.
    let none = Buf {
        mem: Mem::Arena,
        offset: 0,
        len: 0,
    };
    let mut op = Quantize {
        out_dtype: dt,
        outer: to_u32(outer)?,
        axis: to_u32(axis_len)?,
        inner: to_u32(inner)?,
        per_axis,
        scales: none,
        zero_points: none,
        input: none,
        output: none,
    };
    if let Val::Const(t) = &xi.val {
        // A constant (e.g. a bias the quantizer gave its own Q/DQ pair) is
        // quantized here, ahead of time, by the runtime's own kernel: the
        // same bytes the Quantize op would write on every inference.
        let mut bytes = vec![0u8; t.len()];
        edgerun::kernels::quantize::scalar::quantize(&op, &t.to_f32(), &scales, &zps, &mut bytes)
            .map_err(|e| node.invalid(format!("quantizing the constant input: {e}")))?;
        let data = match dt {
            DType::I8 => Data::I8(bytes.iter().map(|&b| b as i8).collect()),
            _ => Data::U8(bytes),
        };
        lw.set_const(
            &node.output[0],
            Tensor {
                shape: xi.shape.clone(),
                data,
            },
        );
        return Ok(());
    }
    (op.scales, op.zero_points) = (lw.blob_f32(&scales), lw.blob_i32(&zps));
    let p = lw.get(x, layout, DType::F32)?;
    op.input = lw.pbuf(p);
    let out = lw.new_phys(&node.output[0], xi.shape.clone(), lw.phys[p].layout, dt);
    op.output = lw.pbuf(out);
    lw.emit(&node.label(), Op::Quantize(op));
    lw.set_rt(&node.output[0], out_type, out);
    Ok(())
}

pub(crate) fn dequantize(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("block_size", 0) != 0 {
        return Err(node.unsupported("blocked quantization (block_size)"));
    }
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let want = match xi.dtype {
        ElemType::U8 | ElemType::I8 | ElemType::I32 => {
            rt_dtype(xi.dtype).ok_or_else(|| node.unsupported("type"))?
        }
        other => return Err(node.unsupported(format!("input type {}", other.name()))),
    };
    let scales = lw.const_input(node, 1)?.to_f32();
    let (zps, _) = zero_points(lw, node, 2)?;
    if let ([s], [z], ElemType::U8 | ElemType::I8, Val::Rt(_)) =
        (scales.as_slice(), zps.as_slice(), xi.dtype, &xi.val)
    {
        // Per-tensor: computed only if a float consumer needs it.
        lw.lazy_dq.insert(
            node.output[0].clone(),
            QAct {
                value: x.to_string(),
                scale: *s,
                zp: z + i8_shift(xi.dtype),
            },
        );
        return Ok(());
    }
    let layout = lw.layout_of(x);
    let Split {
        per_axis,
        outer,
        axis_len,
        inner,
        zps,
    } = split_params(node, &xi.shape, layout, &scales, zps)?;
    // Read a u8 value stored as i8 directly, shifting its zero point.
    let canon = match &xi.val {
        Val::Rt(p) => lw.phys[*p].dtype,
        Val::Const(_) => want,
    };
    let (in_dtype, shift) = if canon == DType::I8 && want == DType::U8 {
        (DType::I8, -128)
    } else {
        (want, 0)
    };
    let zps: Vec<i32> = zps.iter().map(|z| z + shift).collect();
    let (scales, zero_points) = (lw.blob_f32(&scales), lw.blob_i32(&zps));
    let p = lw.get(x, layout, in_dtype)?;
    let input = lw.pbuf(p);
    let out = lw.new_phys(
        &node.output[0],
        xi.shape.clone(),
        lw.phys[p].layout,
        DType::F32,
    );
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::Dequantize(Dequantize {
            in_dtype,
            outer: to_u32(outer)?,
            axis: to_u32(axis_len)?,
            inner: to_u32(inner)?,
            per_axis,
            scales,
            zero_points,
            input,
            output,
        }),
    );
    lw.set_rt(&node.output[0], ElemType::F32, out);
    Ok(())
}

/// Scalar parameter (a 0-D or 1-element tensor).
fn scalar_f32(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<f32> {
    let v = lw.const_input(node, i)?.to_f32();
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(node.unsupported(format!("input {i} must be a single value (per-tensor)"))),
    }
}

fn scalar_zp(lw: &Lowerer, node: &NodeProto, i: usize, t: ElemType) -> Result<i32> {
    let (z, _) = zero_points(lw, node, i)?;
    match z.as_slice() {
        [x] => Ok(x + i8_shift(t)),
        _ => Err(node.unsupported(format!(
            "input {i} must be a single zero point (per-tensor)"
        ))),
    }
}

/// Weight zero point: one value, or per channel but all equal.
fn weight_zp(lw: &Lowerer, node: &NodeProto, i: usize, t: ElemType) -> Result<i32> {
    let (z, _) = zero_points(lw, node, i)?;
    let first = *z.first().unwrap_or(&0);
    if z.iter().any(|&v| v != first) {
        return Err(node.unsupported("per-channel weight zero points that differ"));
    }
    Ok(first + i8_shift(t))
}

pub(crate) fn multipliers(
    node: &NodeProto,
    in_scale: f32,
    w_scales: &[f32],
    out_scale: f32,
    channels: usize,
) -> Result<Vec<(i32, i32)>> {
    if w_scales.len() != 1 && w_scales.len() != channels {
        return Err(node.invalid("weight scales do not match the output channels"));
    }
    (0..channels)
        .map(|c| {
            let ws = if w_scales.len() == 1 {
                w_scales[0]
            } else {
                w_scales[c]
            };
            let real = in_scale as f64 * ws as f64 / out_scale as f64;
            quantize_multiplier(real).ok_or_else(|| {
                node.invalid(format!(
                    "requantization multiplier {real} is not representable"
                ))
            })
        })
        .collect()
}

fn quant_type(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<ElemType> {
    let t = lw.info(lw.input(node, i)?)?.dtype;
    match t {
        ElemType::U8 | ElemType::I8 => Ok(t),
        other => Err(node.unsupported(format!("input {i} has type {}", other.name()))),
    }
}

/// Quantization of one runtime activation in the int8 domain.
#[derive(Debug, Clone)]
pub(crate) struct QAct {
    /// The ONNX value holding the quantized data.
    pub value: String,
    pub scale: f32,
    /// Zero point in the int8 domain (uint8 zero point - 128).
    pub zp: i32,
}

/// The output of an int8 op: value name, ONNX type, scale, int8-domain zero
/// point, and the clamp in the int8 domain (fused Relu/Clip).
#[derive(Debug, Clone)]
pub(crate) struct QOut {
    pub name: String,
    pub ty: ElemType,
    pub scale: f32,
    pub zp: i32,
    pub act: (i32, i32),
}

/// Quantized weights: int8 data (uint8 shifted), scales (1 or per channel),
/// one int8-domain zero point.
pub(crate) struct QWeights {
    pub data: Tensor,
    pub scales: Vec<f32>,
    pub zp: i32,
}

/// int8 convolution from quantized operands (QLinearConv and QDQ Conv).
pub(crate) fn emit_conv_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &QAct,
    w: &QWeights,
    bias: Option<Vec<i32>>,
    y: &QOut,
) -> Result<()> {
    let shape = lw.info(&x.value)?.shape.clone();
    let (geom, out_shape) = conv_geom(node, &shape, &w.data.shape)?;
    let m = geom.out_c as usize;
    let w8 = Tensor {
        shape: as4(&w.data.shape).to_vec(),
        data: Data::I8(u8_to_i8(&w.data)?),
    }
    .transposed(&[0, 2, 3, 1])?;
    let weights = lw.blob_bytes(&w8.to_bytes());
    let bias = match bias {
        Some(b) if b.len() == m => Some(lw.blob_i32(&b)),
        Some(_) => return Err(node.invalid("bias length differs from output channels")),
        None => None,
    };
    let mults = multipliers(node, x.scale, &w.scales, y.scale, m)?;
    let rq = lw.requant(&mults, y.zp, y.act.0, y.act.1);
    let xin = lw.get(&x.value, Layout::Nhwc, DType::I8)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&y.name, out_shape, Layout::Nhwc, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::ConvI8(ConvI8 {
            geom,
            input,
            weights,
            bias,
            output,
            input_offset: -x.zp,
            weight_offset: -w.zp,
            rq,
            packed: None,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

/// int8 fully connected layer over the last axis of `x` with weights `[K][N]`
/// (QLinearMatMul, QDQ MatMul and Gemm).
pub(crate) fn emit_fc_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &QAct,
    w_kn: &QWeights,
    bias: Option<Vec<i32>>,
    y: &QOut,
) -> Result<()> {
    let shape = lw.info(&x.value)?.shape.clone();
    if w_kn.data.shape.len() != 2 {
        return Err(node.unsupported("a batched or 1-D weight matrix"));
    }
    let (k, n) = (w_kn.data.shape[0], w_kn.data.shape[1]);
    if shape.last() != Some(&k) {
        return Err(node.invalid("inner dimensions differ"));
    }
    let w8 = Tensor {
        shape: vec![k, n],
        data: Data::I8(u8_to_i8(&w_kn.data)?),
    }
    .transposed(&[1, 0])?;
    let weights = lw.blob_bytes(&w8.to_bytes());
    let bias = match bias {
        Some(b) if b.len() == n => Some(lw.blob_i32(&b)),
        Some(_) => return Err(node.invalid("bias length differs from the output features")),
        None => None,
    };
    let mults = multipliers(node, x.scale, &w_kn.scales, y.scale, n)?;
    let rq = lw.requant(&mults, y.zp, y.act.0, y.act.1);
    let rows = numel(&shape) / k.max(1);
    let mut out_shape = shape[..shape.len() - 1].to_vec();
    out_shape.push(n);
    let xin = lw.get(&x.value, Layout::Logical, DType::I8)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&y.name, out_shape, Layout::Logical, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::FcI8(FcI8 {
            rows: to_u32(rows)?,
            k: to_u32(k)?,
            n: to_u32(n)?,
            input,
            weights,
            bias,
            output,
            input_offset: -x.zp,
            weight_offset: -w_kn.zp,
            rq,
            packed: None,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

fn qlinear_operands(
    lw: &Lowerer,
    node: &NodeProto,
    w_at: usize,
    y_at: usize,
) -> Result<(QAct, QWeights, QOut)> {
    let x = lw.input(node, 0)?;
    let xt = quant_type(lw, node, 0)?;
    let w = lw.const_input(node, w_at)?;
    let wt = w.elem_type();
    let yt = lw
        .info(lw.input(node, y_at + 1)?)
        .map(|i| i.dtype)
        .unwrap_or(xt);
    let qx = QAct {
        value: x.to_string(),
        scale: scalar_f32(lw, node, 1)?,
        zp: scalar_zp(lw, node, 2, xt)?,
    };
    let qw = QWeights {
        scales: lw.const_input(node, w_at + 1)?.to_f32(),
        zp: weight_zp(lw, node, w_at + 2, wt)?,
        data: w,
    };
    let qy = QOut {
        name: node.output[0].clone(),
        ty: yt,
        scale: scalar_f32(lw, node, y_at)?,
        zp: scalar_zp(lw, node, y_at + 1, yt)?,
        act: (-128, 127),
    };
    Ok((qx, qw, qy))
}

pub(crate) fn qlinear_conv(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let (qx, qw, qy) = qlinear_operands(lw, node, 3, 6)?;
    let bias = match lw.opt_const_input(node, 8)? {
        Some(b) => Some(b.to_i64()?.iter().map(|&v| v as i32).collect()),
        None => None,
    };
    emit_conv_i8(lw, node, &qx, &qw, bias, &qy)
}

pub(crate) fn qlinear_matmul(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let (qx, qw, qy) = qlinear_operands(lw, node, 3, 6)?;
    if qw.data.shape.len() != 2 {
        return Err(node.unsupported("QLinearMatMul with a batched or 1-D B"));
    }
    emit_fc_i8(lw, node, &qx, &qw, None, &qy)
}

/// Register input `i` (quantized by inputs `i+1`, `i+2`) as an int8 operand
/// named `alias` for the QDQ emitters.
fn register_operand(lw: &mut Lowerer, node: &NodeProto, i: usize, alias: &str) -> Result<()> {
    let name = lw.input(node, i)?.to_string();
    let ty = quant_type(lw, node, i)?;
    let (scale, zp) = (
        scalar_f32(lw, node, i + 1)?,
        scalar_zp(lw, node, i + 2, ty)?,
    );
    match &lw.info(&name)?.val {
        Val::Rt(_) => {
            lw.lazy_dq.insert(
                alias.to_string(),
                QAct {
                    value: name,
                    scale,
                    zp,
                },
            );
        }
        Val::Const(t) => {
            let cq = ConstQ {
                data: t.clone(),
                scales: vec![scale],
                zps: vec![(zp - i8_shift(ty)) as i64],
                axis: 0,
            };
            lw.const_q.insert(alias.to_string(), cq);
        }
    }
    Ok(())
}

/// com.microsoft QLinearAdd / QLinearMul.
pub(crate) fn qlinear_binary(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let (a, b) = (format!("{}#a", node.label()), format!("{}#b", node.label()));
    register_operand(lw, node, 0, &a)?;
    register_operand(lw, node, 3, &b)?;
    let yt = lw
        .info(lw.input(node, 7)?)
        .map(|i| i.dtype)
        .unwrap_or(ElemType::U8);
    let y = QOut {
        name: node.output[0].clone(),
        ty: yt,
        scale: scalar_f32(lw, node, 6)?,
        zp: scalar_zp(lw, node, 7, yt)?,
        act: (-128, 127),
    };
    let kind = if node.op_type == "QLinearAdd" {
        BinaryKind::Add
    } else {
        BinaryKind::Mul
    };
    if super::qdq::emit_binary_i8(lw, node, kind, &a, &b, &y)? {
        Ok(())
    } else {
        Err(node.unsupported("operands that are not per-tensor int8/uint8"))
    }
}

/// com.microsoft QLinearGlobalAveragePool (NCHW).
pub(crate) fn qlinear_global_avgpool(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("channels_last", 0) != 0 {
        return Err(node.unsupported("channels_last=1"));
    }
    let x = lw.input(node, 0)?.to_string();
    let xt = quant_type(lw, node, 0)?;
    let shape = lw.info(&x)?.shape.clone();
    let qx = QAct {
        value: x,
        scale: scalar_f32(lw, node, 1)?,
        zp: scalar_zp(lw, node, 2, xt)?,
    };
    let yt = lw.info(lw.input(node, 4)?).map(|i| i.dtype).unwrap_or(xt);
    let y = QOut {
        name: node.output[0].clone(),
        ty: yt,
        scale: scalar_f32(lw, node, 3)?,
        zp: scalar_zp(lw, node, 4, yt)?,
        act: (-128, 127),
    };
    let [_, _, h, w] = as4(&shape);
    let (geom, out_shape) = super::nn::pool_geom(node, &shape, [h, w], PoolKind::Avg, true)?;
    super::qdq::avg_as_depthwise(lw, node, &qx, &y, &geom, out_shape)
}

/// com.microsoft QGemm with a constant B and an int8 output.
pub(crate) fn qgemm(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("transA", 0) != 0 || node.attr_f("alpha", 1.0) != 1.0 {
        return Err(node.unsupported("transA or alpha != 1"));
    }
    if lw.opt_input(node, 7).is_none() {
        return Err(node.unsupported("a float output (no y_scale)"));
    }
    let (qx, mut qw, qy) = qlinear_operands(lw, node, 3, 7)?;
    if qw.data.shape.len() != 2 {
        return Err(node.invalid("B must be 2-D"));
    }
    if node.attr_i("transB", 0) != 0 {
        qw.data = qw.data.transposed(&[1, 0])?;
    }
    let bias = match lw.opt_const_input(node, 6)? {
        Some(c) => Some(c.to_i64()?.iter().map(|&v| v as i32).collect()),
        None => None,
    };
    emit_fc_i8(lw, node, &qx, &qw, bias, &qy)
}

fn qact(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<QAct> {
    let ty = quant_type(lw, node, i)?;
    Ok(QAct {
        value: lw.input(node, i)?.to_string(),
        scale: scalar_f32(lw, node, i + 1)?,
        zp: scalar_zp(lw, node, i + 2, ty)?,
    })
}

fn qout(lw: &Lowerer, node: &NodeProto, scale_at: usize) -> Result<QOut> {
    let yt = lw
        .info(lw.input(node, scale_at + 1)?)
        .map(|i| i.dtype)
        .unwrap_or(ElemType::U8);
    Ok(QOut {
        name: node.output[0].clone(),
        ty: yt,
        scale: scalar_f32(lw, node, scale_at)?,
        zp: scalar_zp(lw, node, scale_at + 1, yt)?,
        act: (-128, 127),
    })
}

/// com.microsoft QLinearConcat: `Y_scale, Y_zero_point, (X, X_scale, X_zero_point)...`.
pub(crate) fn qlinear_concat(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let y = qout(lw, node, 0)?;
    let n = node.input.len().saturating_sub(2) / 3;
    if n == 0 || node.input.len() != 2 + 3 * n {
        return Err(
            node.invalid("expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples")
        );
    }
    let qs: Vec<QAct> = (0..n)
        .map(|k| qact(lw, node, 2 + 3 * k))
        .collect::<Result<_>>()?;
    if qs
        .iter()
        .any(|q| !matches!(lw.values.get(&q.value).map(|v| &v.val), Some(Val::Rt(_))))
    {
        return Err(node.unsupported("constant inputs"));
    }
    super::qdq::emit_concat_i8(lw, node, &qs, node.attr_i("axis", 1), &y)
}

/// com.microsoft QLinearSoftmax (opset >= 13 semantics: one axis).
pub(crate) fn qlinear_softmax(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("opset", 13) < 13 {
        return Err(node.unsupported("opset < 13 (2-D coerced) softmax"));
    }
    let x = qact(lw, node, 0)?;
    let y = qout(lw, node, 3)?;
    let r = lw.info(&x.value)?.shape.len();
    let axis = super::attrs::norm_axis(node, node.attr_i("axis", -1), r)?;
    super::qdq::emit_softmax_i8(lw, node, &x, axis, &y)
}

/// com.microsoft QLinearAveragePool (NCHW).
pub(crate) fn qlinear_avgpool(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.attr_i("channels_last", 0) != 0 {
        return Err(node.unsupported("channels_last=1"));
    }
    let x = qact(lw, node, 0)?;
    let y = qout(lw, node, 3)?;
    let shape = lw.info(&x.value)?.shape.clone();
    let k = match node.attr_ints("kernel_shape").as_deref() {
        Some([kw]) => [1, *kw as usize],
        Some([kh, kw]) => [*kh as usize, *kw as usize],
        _ => return Err(node.unsupported("only 1-D and 2-D pooling")),
    };
    let (geom, out_shape) = super::nn::pool_geom(node, &shape, k, PoolKind::Avg, false)?;
    super::qdq::emit_pool_i8(lw, node, &x, &y, &geom, out_shape)
}
