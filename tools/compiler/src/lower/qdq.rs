//! QDQ models on the int8 kernels.
//!
//! A QDQ graph says "this op runs on quantized data" with DequantizeLinear on
//! its inputs and QuantizeLinear on its output. The lowering recognizes
//! `DQ(x) -> op [-> Relu/Clip] -> Q` for Conv, Gemm, MatMul, Add, Mul, the
//! pools, unary ops, Softmax and Concat, and turns it into the same int8 kernels
//! as QLinearConv / QLinearMatMul. Weights come from DequantizeLinear of int8
//! constants (recorded when folded); biases are requantized to int32 at
//! `x_scale * w_scale`. Shape ops pass quantization through. Anything that does
//! not match runs in float on dequantized values, which gives the same real
//! numbers, only slower.

use super::attrs::{NodeExt, norm_axis};
use super::nn::{broadcast_shapes, clip_bounds, operand_strides, pool_geom};
use super::quantized::{QAct, QOut, QWeights, emit_conv_i8, emit_fc_i8, i8_shift};
use super::*;
use edgerun::quant::{quantize_f32, quantize_multiplier};

/// Try to lower `node` on int8 kernels. `Ok(false)`: not a QDQ pattern.
pub(crate) fn lower(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let any_lazy = node
        .input
        .iter()
        .any(|i| lw.lazy_dq.contains_key(i) && !lw.values.contains_key(i));
    if !any_lazy {
        return Ok(false);
    }
    match node.op_type.as_str() {
        "QuantizeLinear" => requantize(lw, node),
        "Conv" => conv(lw, node),
        "Gemm" | "MatMul" => fc(lw, node),
        "Add" | "Mul" => binary(lw, node),
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" => pool(lw, node),
        "Relu" | "Clip" | "Sigmoid" | "Tanh" | "Exp" | "Neg" | "Abs" => unary(lw, node),
        "Softmax" => softmax(lw, node),
        "Concat" => concat(lw, node),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" | "Transpose" => {
            passthrough(lw, node)
        }
        _ => Ok(false),
    }
}

fn lazy(lw: &Lowerer, name: &str) -> Option<QAct> {
    if lw.values.contains_key(name) {
        return None;
    }
    lw.lazy_dq.get(name).cloned()
}

/// Per-tensor parameters of a QuantizeLinear node, if it is one we can fuse.
fn q_params(lw: &Lowerer, q: &NodeProto) -> Option<(ElemType, f32, i32)> {
    if q.op_type != "QuantizeLinear" || q.attr_i("block_size", 0) != 0 {
        return None;
    }
    let scale = match lw.opt_const_input(q, 1).ok()??.to_f32().as_slice() {
        [s] if *s > 0.0 && s.is_finite() => *s,
        _ => return None,
    };
    let (zp, ty) = match lw.opt_const_input(q, 2).ok()? {
        Some(z) => match (z.to_i64().ok()?.as_slice(), z.elem_type()) {
            ([v], t @ (ElemType::U8 | ElemType::I8)) => (*v as i32, t),
            _ => return None,
        },
        None => match q.attr_i("output_dtype", 0) {
            0 => (0, ElemType::U8),
            c => match ElemType::from_onnx(c as i32) {
                t @ (ElemType::U8 | ElemType::I8) => (0, t),
                _ => return None,
            },
        },
    };
    Some((ty, scale, zp + i8_shift(ty)))
}

/// Quantize a real bound to the int8 domain of (scale, zp), saturating.
fn bound(v: f32, scale: f32, zp: i32) -> i32 {
    if v == f32::INFINITY {
        127
    } else if v == f32::NEG_INFINITY {
        -128
    } else {
        quantize_f32(v, scale, zp, -128, 127)
    }
}

/// The QuantizeLinear (optionally after a Relu/Clip) that consumes `out`, as the
/// int8 output of the op producing `out`; the nodes to skip once lowered.
fn out_q(lw: &Lowerer, out: &str, allow_act: bool) -> Result<Option<(QOut, Vec<usize>)>> {
    if !lw.single_use(out) {
        return Ok(None);
    }
    let Some((i1, n1)) = lw.consumer_of(out) else {
        return Ok(None);
    };
    if n1.input.first().map(|s| s.as_str()) != Some(out) {
        return Ok(None);
    }
    let (act, q_idx, q_node) = match n1.op_type.as_str() {
        "QuantizeLinear" => (ClampF32::NONE, i1, n1),
        "Relu" | "Clip" if allow_act => {
            let act = match n1.op_type.as_str() {
                "Relu" => ClampF32 {
                    min: 0.0,
                    max: f32::INFINITY,
                },
                _ => match clip_bounds(lw, n1)? {
                    Some(c) => c,
                    None => return Ok(None),
                },
            };
            // A look-ahead node is not validated yet (`lower_node` rejects
            // it when its turn comes): no output, no fusion.
            let Some(mid) = n1.output.first() else {
                return Ok(None);
            };
            if !lw.single_use(mid) {
                return Ok(None);
            }
            let Some((i2, n2)) = lw.consumer_of(mid) else {
                return Ok(None);
            };
            if n2.input.first() != Some(mid) {
                return Ok(None);
            }
            (act, i2, n2)
        }
        _ => return Ok(None),
    };
    let Some((ty, scale, zp)) = q_params(lw, q_node) else {
        return Ok(None);
    };
    let Some(q_out) = q_node.output.first() else {
        return Ok(None);
    };
    let act = (
        bound(act.min, scale, zp).max(-128),
        bound(act.max, scale, zp).min(127),
    );
    let mut skip = vec![q_idx];
    if q_idx != i1 {
        skip.push(i1);
    }
    Ok(Some((
        QOut {
            name: q_out.clone(),
            ty,
            scale,
            zp,
            act,
        },
        skip,
    )))
}

fn commit(lw: &mut Lowerer, skip: Vec<usize>) {
    lw.skip.extend(skip);
}

/// Quantized weights of a constant input (from a folded DequantizeLinear).
fn weights(lw: &Lowerer, name: &str, channel_axis: usize, channels: usize) -> Option<QWeights> {
    let cq = lw.const_q.get(name)?;
    if !matches!(cq.data.elem_type(), ElemType::I8 | ElemType::U8) {
        return None;
    }
    if cq.scales.len() != 1 && (cq.scales.len() != channels || cq.axis != channel_axis) {
        return None;
    }
    let z0 = *cq.zps.first().unwrap_or(&0);
    if cq.zps.iter().any(|&z| z != z0) {
        return None;
    }
    Some(QWeights {
        data: cq.data.clone(),
        scales: cq.scales.clone(),
        zp: z0 as i32 + i8_shift(cq.data.elem_type()),
    })
}

/// Bias from a float constant, requantized to int32 at `x_scale * w_scale[c]`.
fn bias_i32(b: &Tensor, x_scale: f32, w_scales: &[f32], n: usize) -> Option<Vec<i32>> {
    let v = b.to_f32();
    if v.len() != n {
        return None;
    }
    Some(
        v.iter()
            .enumerate()
            .map(|(c, &b)| {
                let s =
                    x_scale as f64 * *w_scales.get(c).or(w_scales.first()).unwrap_or(&1.0) as f64;
                (b as f64 / s)
                    .round()
                    .clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect(),
    )
}

fn conv(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let Some(w_name) = lw.opt_input(node, 1) else {
        return Ok(false);
    };
    let m = lw
        .info(w_name)
        .map(|i| i.shape.first().copied().unwrap_or(0))
        .unwrap_or(0);
    let Some(w) = weights(lw, w_name, 0, m) else {
        return Ok(false);
    };
    let bias = match lw.opt_const_input(node, 2) {
        Ok(Some(b)) => match bias_i32(&b, x.scale, &w.scales, m) {
            Some(v) => Some(v),
            None => return Ok(false),
        },
        Ok(None) => None,
        Err(_) => return Ok(false),
    };
    let Some((y, skip)) = out_q(lw, &node.output[0], true)? else {
        return Ok(false);
    };
    commit(lw, skip);
    emit_conv_i8(lw, node, &x, &w, bias, &y)?;
    Ok(true)
}

fn fc(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let Some(b_name) = lw.opt_input(node, 1) else {
        return Ok(false);
    };
    let b_shape = lw.info(b_name)?.shape.clone();
    let gemm = node.op_type == "Gemm";
    let tb = gemm && node.attr_i("transB", 0) != 0;
    if b_shape.len() != 2
        || gemm && (node.attr_i("transA", 0) != 0 || node.attr_f("alpha", 1.0) != 1.0)
    {
        return Ok(false);
    }
    let (n_axis, n) = if tb { (0, b_shape[0]) } else { (1, b_shape[1]) };
    let Some(mut w) = weights(lw, b_name, n_axis, n) else {
        return Ok(false);
    };
    if tb {
        w.data = w.data.transposed(&[1, 0])?;
    }
    let bias = if gemm {
        match lw.opt_const_input(node, 2) {
            Ok(Some(c)) if c.len() == n && (c.shape.len() == 1 || c.shape.first() == Some(&1)) => {
                let beta = node.attr_f("beta", 1.0);
                let scaled = Tensor::f32(vec![n], c.to_f32().iter().map(|v| v * beta).collect());
                bias_i32(&scaled, x.scale, &w.scales, n)
            }
            Ok(None) => None,
            _ => return Ok(false),
        }
    } else {
        None
    };
    let Some((y, skip)) = out_q(lw, &node.output[0], true)? else {
        return Ok(false);
    };
    commit(lw, skip);
    emit_fc_i8(lw, node, &x, &w, bias, &y)?;
    Ok(true)
}

/// An int8 operand of a binary op: its bytes, their layout, quantization and shape.
struct Operand {
    src: Src,
    layout: Layout,
    q: QAct,
    shape: Vec<usize>,
}

/// An int8 operand: a lazily dequantized runtime tensor, or a quantized constant.
fn operand(lw: &mut Lowerer, name: &str, layout: Layout) -> Result<Option<Operand>> {
    if let Some(q) = lazy(lw, name) {
        let shape = lw.info(&q.value)?.shape.clone();
        let l = if layout == Layout::Nhwc && shape.len() == 4 {
            lw.layout_of(&q.value)
        } else {
            Layout::Logical
        };
        let p = lw.get(&q.value, l, DType::I8)?;
        return Ok(Some(Operand {
            src: Src::Phys(p),
            layout: l,
            q,
            shape,
        }));
    }
    let Some(cq) = lw.const_q.get(name).cloned() else {
        return Ok(None);
    };
    if cq.scales.len() != 1
        || cq.zps.len() > 1
        || !matches!(cq.data.elem_type(), ElemType::I8 | ElemType::U8)
    {
        return Ok(None);
    }
    let zp = *cq.zps.first().unwrap_or(&0) as i32 + i8_shift(cq.data.elem_type());
    let bytes: Vec<u8> = u8_to_i8(&cq.data)?.iter().map(|&v| v as u8).collect();
    let b = lw.blob_bytes(&bytes);
    let q = QAct {
        value: name.to_string(),
        scale: cq.scales[0],
        zp,
    };
    Ok(Some(Operand {
        src: Src::Blob(b),
        layout: Layout::Logical,
        q,
        shape: cq.data.shape.clone(),
    }))
}

fn binary(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let (an, bn) = (lw.input(node, 0)?, lw.input(node, 1)?);
    let quantized = |lw: &Lowerer, n: &str| lazy(lw, n).is_some() || lw.const_q.contains_key(n);
    if !quantized(lw, an) || !quantized(lw, bn) {
        return Ok(false);
    }
    let Some((y, skip)) = out_q(lw, &node.output[0], true)? else {
        return Ok(false);
    };
    let kind = if node.op_type == "Add" {
        BinaryKind::Add
    } else {
        BinaryKind::Mul
    };
    if !emit_binary_i8(lw, node, kind, an, bn, &y)? {
        return Ok(false);
    }
    commit(lw, skip);
    Ok(true)
}

/// int8 Add/Mul of two quantized operands (lazily dequantized values or
/// quantized constants) into `y`. `Ok(false)` when an operand is not int8.
pub(crate) fn emit_binary_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    kind: BinaryKind,
    an: &str,
    bn: &str,
    y: &QOut,
) -> Result<bool> {
    let shape_of = |lw: &Lowerer, n: &str| -> Option<Vec<usize>> {
        match lazy(lw, n) {
            Some(q) => lw.info(&q.value).ok().map(|i| i.shape.clone()),
            None => lw.const_q.get(n).map(|c| c.data.shape.clone()),
        }
    };
    let (Some(sa), Some(sb)) = (shape_of(lw, an), shape_of(lw, bn)) else {
        return Ok(false);
    };
    let out_shape = broadcast_shapes(node, &sa, &sb)?;
    if out_shape.len() > MAX_RANK {
        return Ok(false);
    }
    let nhwc_in =
        |lw: &Lowerer, n: &str| lazy(lw, n).is_some_and(|q| lw.layout_of(&q.value) == Layout::Nhwc);
    let layout = if out_shape.len() == 4 && (nhwc_in(lw, an) || nhwc_in(lw, bn)) {
        Layout::Nhwc
    } else {
        Layout::Logical
    };
    let Some(Operand {
        src: srca,
        layout: la,
        q: qa,
        shape: sha,
    }) = operand(lw, an, layout)?
    else {
        return Ok(false);
    };
    let Some(Operand {
        src: srcb,
        layout: lb,
        q: qb,
        shape: shb,
    }) = operand(lw, bn, layout)?
    else {
        return Ok(false);
    };
    let inv = |r: f64| {
        quantize_multiplier(r)
            .ok_or_else(|| node.invalid(format!("multiplier {r} not representable")))
    };
    let (left_shift, (a_mult, a_shift), (b_mult, b_shift), out_m) = if kind == BinaryKind::Add {
        // TFLite: both inputs to twice the larger scale, with 20 bits of headroom.
        let twice_max = 2.0 * (qa.scale.max(qb.scale) as f64);
        let ls = 20;
        (
            ls,
            inv(qa.scale as f64 / twice_max)?,
            inv(qb.scale as f64 / twice_max)?,
            inv(twice_max / ((1u64 << ls) as f64 * y.scale as f64))?,
        )
    } else {
        (
            0,
            (0, 0),
            (0, 0),
            inv(qa.scale as f64 * qb.scale as f64 / y.scale as f64)?,
        )
    };
    let a_stride = operand_strides(&sha, la, &out_shape, layout)?;
    let b_stride = operand_strides(&shb, lb, &out_shape, layout)?;
    let shape = pad6(&phys_dims(&out_shape, layout))?;
    let rq = lw.requant(&[out_m], y.zp, y.act.0, y.act.1);
    let (a, b) = (lw.buf(srca), lw.buf(srcb));
    let out = lw.new_phys(&y.name, out_shape, layout, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::BinaryI8(BinaryI8 {
            kind,
            shape,
            a_stride,
            b_stride,
            a,
            b,
            output,
            a_offset: -qa.zp,
            b_offset: -qb.zp,
            left_shift,
            a_mult,
            a_shift,
            b_mult,
            b_shift,
            rq,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(true)
}

fn pool(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Ok(false);
    }
    let shape = lw.info(&x.value)?.shape.clone();
    let global = node.op_type.starts_with("Global");
    let kind = if node.op_type.ends_with("MaxPool") {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let k = if global {
        let s = as4(&shape);
        [s[2], s[3]]
    } else {
        match node.attr_ints("kernel_shape").as_deref() {
            Some([kw]) => [1, *kw as usize],
            Some([kh, kw]) => [*kh as usize, *kw as usize],
            _ => return Ok(false),
        }
    };
    let Some((y, skip)) = out_q(lw, &node.output[0], true)? else {
        return Ok(false);
    };
    let (geom, out_shape) = pool_geom(node, &shape, k, kind, global)?;
    commit(lw, skip);
    emit_pool_i8(lw, node, &x, &y, &geom, out_shape)?;
    Ok(true)
}

/// int8 pooling of `x` into `y` with `geom` (NHWC).
pub(crate) fn emit_pool_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &QAct,
    y: &QOut,
    geom: &PoolGeom,
    out_shape: Vec<usize>,
) -> Result<()> {
    let geom = *geom;
    let kind = geom.kind;
    let padded = geom.pad_top + geom.pad_left + geom.pad_bottom + geom.pad_right > 0;
    if kind == PoolKind::Avg && (!padded || geom.count_include_pad) {
        // Every window divides by the same count: a depthwise convolution with
        // unit weights and the division folded into the multiplier rounds once
        // (sum * x_scale / (y_scale * count)), as the float reference does.
        return avg_as_depthwise(lw, node, x, y, &geom, out_shape);
    }
    let m = quantize_multiplier(x.scale as f64 / y.scale as f64)
        .ok_or_else(|| node.invalid("scale ratio not representable"))?;
    let rq = lw.requant(&[m], y.zp, y.act.0, y.act.1);
    let xin = lw.get(&x.value, Layout::Nhwc, DType::I8)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&y.name, out_shape, Layout::Nhwc, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::PoolI8(PoolI8 {
            geom,
            input,
            output,
            input_zero_point: x.zp,
            rq,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

pub(crate) fn avg_as_depthwise(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &QAct,
    y: &QOut,
    g: &PoolGeom,
    out_shape: Vec<usize>,
) -> Result<()> {
    let geom = ConvGeom {
        n: g.n,
        in_h: g.in_h,
        in_w: g.in_w,
        in_c: g.c,
        out_h: g.out_h,
        out_w: g.out_w,
        out_c: g.c,
        k_h: g.k_h,
        k_w: g.k_w,
        stride_h: g.stride_h,
        stride_w: g.stride_w,
        dil_h: g.dil_h,
        dil_w: g.dil_w,
        pad_top: g.pad_top,
        pad_left: g.pad_left,
        groups: g.c,
    };
    let count = g.k_h as f64 * g.k_w as f64;
    let m = quantize_multiplier(x.scale as f64 / (y.scale as f64 * count))
        .ok_or_else(|| node.invalid("scale ratio not representable"))?;
    let c = g.c as usize;
    let weights = lw.blob_bytes(&vec![1u8; c * (g.k_h * g.k_w) as usize]);
    let rq = lw.requant(&vec![m; c], y.zp, y.act.0, y.act.1);
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
            bias: None,
            output,
            input_offset: -x.zp,
            weight_offset: 0,
            rq,
            packed: None,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

/// A 256-entry table mapping input bytes (int8 of `x`) to output bytes (int8 of `y`).
fn table(x: &QAct, y_scale: f32, y_zp: i32, f: impl Fn(f32) -> f32) -> Vec<u8> {
    (0..=255u8)
        .map(|b| {
            let real = edgerun::quant::dequantize(b as i8 as i32, x.scale, x.zp);
            quantize_f32(f(real), y_scale, y_zp, -128, 127) as i8 as u8
        })
        .collect()
}

fn emit_lut(lw: &mut Lowerer, node: &NodeProto, x: &QAct, y: &QOut, tbl: Vec<u8>) -> Result<()> {
    let shape = lw.info(&x.value)?.shape.clone();
    let table = lw.blob_bytes(&tbl);
    let layout = lw.layout_of(&x.value);
    let xin = lw.get(&x.value, layout, DType::I8)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&y.name, shape.clone(), lw.phys[xin].layout, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::Lut8(Lut8 {
            len: to_u32(numel(&shape))?,
            input,
            output,
            table,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

fn unary(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let clamp = match node.op_type.as_str() {
        "Relu" => ClampF32 {
            min: 0.0,
            max: f32::INFINITY,
        },
        "Clip" => match clip_bounds(lw, node)? {
            Some(c) => c,
            None => return Ok(false),
        },
        _ => ClampF32::NONE,
    };
    let Some((y, skip)) = out_q(lw, &node.output[0], false)? else {
        return Ok(false);
    };
    commit(lw, skip);
    let f: fn(f32) -> f32 = match node.op_type.as_str() {
        "Sigmoid" => edgerun::kernels::unary::float::sigmoid,
        "Tanh" => libm_tanh,
        "Exp" => f32::exp,
        "Neg" => |v| -v,
        "Abs" => f32::abs,
        _ => |v| v,
    };
    let tbl = table(&x, y.scale, y.zp, |v| clamp.apply(f(v)));
    emit_lut(lw, node, &x, &y, tbl)?;
    Ok(true)
}

fn libm_tanh(v: f32) -> f32 {
    v.tanh()
}

/// DQ -> Q: a requantization (a lookup table), or nothing when the parameters agree.
fn requantize(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let Some((ty, scale, zp)) = q_params(lw, node) else {
        return Ok(false);
    };
    let y = QOut {
        name: node.output[0].clone(),
        ty,
        scale,
        zp,
        act: (-128, 127),
    };
    if x.scale == scale && x.zp == zp {
        let shape = lw.info(&x.value)?.shape.clone();
        let layout = lw.layout_of(&x.value);
        let p = lw.get(&x.value, layout, DType::I8)?;
        let q = lw.alias(p, &y.name, shape, lw.phys[p].layout, DType::I8);
        lw.set_rt(&y.name, ty, q);
        return Ok(true);
    }
    let tbl = table(&x, scale, zp, |v| v);
    emit_lut(lw, node, &x, &y, tbl)?;
    Ok(true)
}

fn softmax(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    if lw.opset < 13 {
        return Ok(false);
    }
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let shape = lw.info(&x.value)?.shape.clone();
    let r = shape.len();
    let axis = norm_axis(node, node.attr_i("axis", -1), r)?;
    let Some((y, skip)) = out_q(lw, &node.output[0], false)? else {
        return Ok(false);
    };
    commit(lw, skip);
    emit_softmax_i8(lw, node, &x, axis, &y)?;
    Ok(true)
}

/// int8 softmax over logical `axis` of `x` into `y`.
pub(crate) fn emit_softmax_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &QAct,
    axis: usize,
    y: &QOut,
) -> Result<()> {
    let shape = lw.info(&x.value)?.shape.clone();
    let r = shape.len();
    let layout = lw.layout_of(&x.value);
    let pd = phys_dims(&shape, layout);
    let pa = phys_axis(r, layout, axis);
    let exp: Vec<f32> = (0..256).map(|d| (-(d as f32) * x.scale).exp()).collect();
    let exp_table = lw.blob_f32(&exp);
    let xin = lw.get(&x.value, layout, DType::I8)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&y.name, shape.clone(), lw.phys[xin].layout, DType::I8);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::SoftmaxI8(SoftmaxI8 {
            outer: to_u32(numel(&pd[..pa]))?,
            axis: to_u32(pd[pa])?,
            inner: to_u32(numel(&pd[pa + 1..]))?,
            input,
            output,
            exp_table,
            out_scale: y.scale,
            out_zero_point: y.zp,
        }),
    );
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

fn concat(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let names: Vec<String> = node
        .input
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    let qs: Option<Vec<QAct>> = names.iter().map(|n| lazy(lw, n)).collect();
    let Some(qs) = qs else { return Ok(false) };
    let Some((y, skip)) = out_q(lw, &node.output[0], false)? else {
        return Ok(false);
    };
    let axis = node.attr_i("axis", 1);
    commit(lw, skip);
    emit_concat_i8(lw, node, &qs, axis, &y)?;
    Ok(true)
}

/// int8 Concat of quantized inputs along `axis` into `y` (a table per input
/// whose scale or zero point differs from the output's).
pub(crate) fn emit_concat_i8(
    lw: &mut Lowerer,
    node: &NodeProto,
    qs: &[QAct],
    axis: i64,
    y: &QOut,
) -> Result<()> {
    let shapes: Vec<Vec<usize>> = qs
        .iter()
        .map(|q| lw.info(&q.value).map(|i| i.shape.clone()))
        .collect::<Result<_>>()?;
    let r = shapes[0].len();
    let axis = norm_axis(node, axis, r)?;
    let mut out_shape = shapes[0].clone();
    out_shape[axis] = shapes.iter().map(|s| s[axis]).sum();
    if shapes
        .iter()
        .any(|s| s.len() != r || (0..r).any(|d| d != axis && s[d] != shapes[0][d]))
    {
        return Err(node.invalid("inputs differ in shape"));
    }

    let nhwc = r == 4 && qs.iter().any(|q| lw.layout_of(&q.value) == Layout::Nhwc);
    let layout = if nhwc { Layout::Nhwc } else { Layout::Logical };
    let pd = phys_dims(&out_shape, layout);
    let pa = phys_axis(r, layout, axis);
    let inner = numel(&pd[pa + 1..]);
    let outer = numel(&pd[..pa]);
    let out = lw.new_phys(&y.name, out_shape.clone(), layout, DType::I8);
    let mut at = 0usize;
    for (q, s) in qs.iter().zip(&shapes) {
        let tbl = if q.scale == y.scale && q.zp == y.zp {
            None
        } else {
            Some(table(q, y.scale, y.zp, |v| v))
        };
        let table = tbl.map(|t| lw.blob_bytes(&t));
        let p = lw.get(&q.value, layout, DType::I8)?;
        let input = lw.pbuf(p);
        let output = lw.pbuf(out);
        let len = s[axis];
        lw.emit(
            &format!("{}[{}]", node.label(), q.value),
            Op::CopyChunks(CopyChunks {
                outer: to_u32(outer)?,
                chunk: to_u32(len * inner)?,
                dst_start: to_u32(at * inner)?,
                dst_stride: to_u32(pd[pa] * inner)?,
                input,
                output,
                table,
            }),
        );
        at += len;
    }
    lw.set_rt(&y.name, y.ty, out);
    Ok(())
}

/// Shape ops on a dequantized value run on the quantized data instead.
fn passthrough(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let Some(x) = lazy(lw, &node.input[0]) else {
        return Ok(false);
    };
    let inner_name = format!("{}#q", node.output[0]);
    let mut n2 = node.clone();
    n2.input[0] = x.value.clone();
    n2.output = vec![inner_name.clone()];
    if node.op_type == "Transpose" {
        super::shape_ops::transpose(lw, &n2)?;
    } else {
        super::shape_ops::reshape_like(lw, &n2)?;
    }
    lw.lazy_dq.insert(
        node.output[0].clone(),
        QAct {
            value: inner_name,
            scale: x.scale,
            zp: x.zp,
        },
    );
    Ok(true)
}
