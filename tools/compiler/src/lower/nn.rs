//! f32 neural-network operators: Conv, pooling, Gemm/MatMul, BatchNormalization,
//! element-wise binary and unary ops, Softmax.

use super::attrs::{NodeExt, norm_axis};
use super::*;

/// Output size and pads of one spatial axis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    pub out: usize,
    pub pad_begin: usize,
    pub pad_end: usize,
}

/// ONNX output-size rules (Conv and pools): explicit pads, SAME_UPPER/LOWER, VALID,
/// ceil_mode (pools; the last window must start inside the input or left pad).
pub(crate) fn spatial_axis(
    node: &NodeProto,
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pads: (usize, usize),
    ceil: bool,
) -> Result<Axis> {
    if k == 0 || stride == 0 || dil == 0 {
        return Err(node.invalid("kernel, stride and dilation must be positive"));
    }
    let span = (k - 1) * dil + 1;
    let auto = node.attr_s("auto_pad", "NOTSET");
    match auto.as_str() {
        "SAME_UPPER" | "SAME_LOWER" => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + span).saturating_sub(input);
            let small = total / 2;
            let (b, e) = if auto == "SAME_UPPER" {
                (small, total - small)
            } else {
                (total - small, small)
            };
            Ok(Axis {
                out,
                pad_begin: b,
                pad_end: e,
            })
        }
        "VALID" | "NOTSET" | "" => {
            let (b, e) = if auto == "VALID" { (0, 0) } else { pads };
            let padded = input + b + e;
            if padded < span {
                return Err(node.invalid("kernel larger than the padded input"));
            }
            let mut out = if ceil {
                (padded - span).div_ceil(stride) + 1
            } else {
                (padded - span) / stride + 1
            };
            if ceil && (out - 1) * stride >= input + b {
                out -= 1;
            }
            Ok(Axis {
                out,
                pad_begin: b,
                pad_end: e,
            })
        }
        other => Err(node.invalid(format!("unknown auto_pad {other}"))),
    }
}

/// Spatial attributes (kernel from `kshape`) for a rank-3 or rank-4 input, as
/// (H axis, W axis, strides, dilations).
pub(crate) fn spatial2(
    node: &NodeProto,
    in_hw: [usize; 2],
    kshape: [usize; 2],
    rank: usize,
    ceil: bool,
) -> Result<([Axis; 2], [usize; 2], [usize; 2])> {
    let nsp = rank - 2;
    let get = |name: &str| -> Result<Vec<usize>> {
        match node.attr_ints(name) {
            None => Ok(vec![1; nsp]),
            Some(v) if v.len() == nsp && v.iter().all(|&x| x > 0) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(_) => {
                Err(node.invalid(format!("attribute {name} must have {nsp} positive values")))
            }
        }
    };
    let (s, d) = (get("strides")?, get("dilations")?);
    let pads: Vec<usize> = match node.attr_ints("pads") {
        None => vec![0; 2 * nsp],
        Some(p) if p.len() == 2 * nsp && p.iter().all(|&x| x >= 0) => {
            p.iter().map(|&x| x as usize).collect()
        }
        Some(_) => {
            return Err(node.invalid(format!("pads must have {} non-negative values", 2 * nsp)));
        }
    };
    // Rank 3: H is a unit axis.
    let (s2, d2, p2) = if nsp == 1 {
        ([1, s[0]], [1, d[0]], [(0, 0), (pads[0], pads[1])])
    } else {
        (
            [s[0], s[1]],
            [d[0], d[1]],
            [(pads[0], pads[2]), (pads[1], pads[3])],
        )
    };
    let h = spatial_axis(node, in_hw[0], kshape[0], s2[0], d2[0], p2[0], ceil)?;
    let w = spatial_axis(node, in_hw[1], kshape[1], s2[1], d2[1], p2[1], ceil)?;
    Ok(([h, w], s2, d2))
}

/// Fuse a following Relu / Clip (constant bounds) into the producer of `out`.
/// Returns the clamp and the name of the value the fused op produces.
pub(crate) fn fuse_act(lw: &mut Lowerer, out: &str) -> Result<(ClampF32, String)> {
    if !lw.single_use(out) {
        return Ok((ClampF32::NONE, out.to_string()));
    }
    let Some((idx, next)) = lw.consumer_of(out) else {
        return Ok((ClampF32::NONE, out.to_string()));
    };
    let clamp = match next.op_type.as_str() {
        "Relu" => Some(ClampF32 {
            min: 0.0,
            max: f32::INFINITY,
        }),
        "Clip" => clip_bounds(lw, next)?,
        _ => None,
    };
    match (clamp, next.output.first()) {
        (Some(c), Some(o)) if next.input.first().map(|s| s.as_str()) == Some(out) => {
            lw.skip.insert(idx);
            Ok((c, o.clone()))
        }
        _ => Ok((ClampF32::NONE, out.to_string())),
    }
}

/// Clip bounds when constant (attributes before opset 11, inputs after).
pub(crate) fn clip_bounds(lw: &Lowerer, node: &NodeProto) -> Result<Option<ClampF32>> {
    if lw.opset < 11 {
        return Ok(Some(ClampF32 {
            min: node.attr_f("min", f32::NEG_INFINITY),
            max: node.attr_f("max", f32::INFINITY),
        }));
    }
    let bound = |i: usize, dflt: f32| -> Result<Option<f32>> {
        match lw.opt_input(node, i) {
            None => Ok(Some(dflt)),
            Some(name) => match &lw.info(name)?.val {
                Val::Const(t) => Ok(t.to_f32().first().copied()),
                Val::Rt(_) => Ok(None),
            },
        }
    };
    match (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?) {
        (Some(min), Some(max)) => Ok(Some(ClampF32 { min, max })),
        _ => Ok(None),
    }
}

fn f32_input(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<VInfo> {
    let info = lw.info(lw.input(node, i)?)?.clone();
    if info.dtype != ElemType::F32 {
        return Err(node.unsupported(format!(
            "input {i} has type {} (only float32 here)",
            info.dtype.name()
        )));
    }
    Ok(info)
}

/// Convolution geometry (NHWC) and logical output shape from the input shape and
/// the ONNX weight shape `[M, C/groups, kH, (kW)]`.
pub(crate) fn conv_geom(
    node: &NodeProto,
    x: &[usize],
    w: &[usize],
) -> Result<(ConvGeom, Vec<usize>)> {
    let rank = x.len();
    if rank != 3 && rank != 4 || w.len() != rank {
        return Err(node.unsupported(format!("only 1-D and 2-D convolution (input rank {rank})")));
    }
    let [n, c, h, wd] = as4(x);
    let w4 = as4(w);
    let groups = node.attr_i("group", 1);
    if groups <= 0
        || !c.is_multiple_of(groups as usize)
        || !w4[0].is_multiple_of(groups as usize)
        || w4[1] * groups as usize != c
    {
        return Err(node.invalid("group does not divide the channels"));
    }
    if let Some(ks) = node.attr_ints("kernel_shape") {
        let want: Vec<i64> = w[2..].iter().map(|&d| d as i64).collect();
        if ks != want {
            return Err(node.invalid("kernel_shape does not match the weights"));
        }
    }
    let ([ah, aw], s, d) = spatial2(node, [h, wd], [w4[2], w4[3]], rank, false)?;
    let m = w4[0];
    let geom = ConvGeom {
        n: to_u32(n)?,
        in_h: to_u32(h)?,
        in_w: to_u32(wd)?,
        in_c: to_u32(c)?,
        out_h: to_u32(ah.out)?,
        out_w: to_u32(aw.out)?,
        out_c: to_u32(m)?,
        k_h: to_u32(w4[2])?,
        k_w: to_u32(w4[3])?,
        stride_h: to_u32(s[0])?,
        stride_w: to_u32(s[1])?,
        dil_h: to_u32(d[0])?,
        dil_w: to_u32(d[1])?,
        pad_top: to_u32(ah.pad_begin)?,
        pad_left: to_u32(aw.pad_begin)?,
        groups: groups as u32,
    };
    let out_shape = if rank == 3 {
        vec![n, m, aw.out]
    } else {
        vec![n, m, ah.out, aw.out]
    };
    Ok((geom, out_shape))
}

pub(crate) fn conv(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = f32_input(lw, node, 0)?;
    let w = lw.const_input(node, 1)?;
    let bias = lw.opt_const_input(node, 2)?;
    let (geom, out_shape) = conv_geom(node, &xi.shape, &w.shape)?;
    let w4 = as4(&w.shape);
    let m = w4[0];
    let ohwi = w.reshaped(w4.to_vec())?.transposed(&[0, 2, 3, 1])?;
    let weights = lw.blob_f32(&ohwi.to_f32());
    let bias = match bias {
        Some(b) if b.len() == m => Some(lw.blob_f32(&b.to_f32())),
        Some(_) => return Err(node.invalid("bias length differs from output channels")),
        None => None,
    };
    let (act, out_name) = fuse_act(lw, &node.output[0])?;
    let xin = lw.get(x, Layout::Nhwc, DType::F32)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&out_name, out_shape, Layout::Nhwc, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::ConvF32(ConvF32 {
            geom,
            input,
            weights,
            bias,
            output,
            act,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}

/// Pool geometry for a rank-3/4 input with kernel `k`.
pub(crate) fn pool_geom(
    node: &NodeProto,
    shape: &[usize],
    k: [usize; 2],
    kind: PoolKind,
    global: bool,
) -> Result<(PoolGeom, Vec<usize>)> {
    let rank = shape.len();
    if rank != 3 && rank != 4 {
        return Err(node.unsupported(format!("only 1-D and 2-D pooling (input rank {rank})")));
    }
    let [n, c, h, w] = as4(shape);
    let (axes, s, d) = if global {
        let a = |_: usize| Axis {
            out: 1,
            pad_begin: 0,
            pad_end: 0,
        };
        ([a(h), a(w)], [1, 1], [1, 1])
    } else {
        spatial2(node, [h, w], k, rank, node.attr_i("ceil_mode", 0) != 0)?
    };
    let geom = PoolGeom {
        kind,
        n: to_u32(n)?,
        in_h: to_u32(h)?,
        in_w: to_u32(w)?,
        c: to_u32(c)?,
        out_h: to_u32(axes[0].out)?,
        out_w: to_u32(axes[1].out)?,
        k_h: to_u32(k[0])?,
        k_w: to_u32(k[1])?,
        stride_h: to_u32(s[0])?,
        stride_w: to_u32(s[1])?,
        dil_h: to_u32(d[0])?,
        dil_w: to_u32(d[1])?,
        pad_top: to_u32(axes[0].pad_begin)?,
        pad_left: to_u32(axes[1].pad_begin)?,
        pad_bottom: to_u32(axes[0].pad_end)?,
        pad_right: to_u32(axes[1].pad_end)?,
        count_include_pad: node.attr_i("count_include_pad", 0) != 0,
    };
    let out_shape = if rank == 3 {
        vec![n, c, axes[1].out]
    } else {
        vec![n, c, axes[0].out, axes[1].out]
    };
    Ok((geom, out_shape))
}

pub(crate) fn pool(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.output.len() > 1 && !node.output[1].is_empty() {
        return Err(node.unsupported("the Indices output of MaxPool"));
    }
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let kind = if node.op_type == "MaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let ks = node
        .attr_ints("kernel_shape")
        .ok_or_else(|| node.invalid("kernel_shape is required"))?;
    let k = match ks.as_slice() {
        [kw] => [1, *kw as usize],
        [kh, kw] => [*kh as usize, *kw as usize],
        _ => return Err(node.unsupported(format!("{}-D pooling", ks.len()))),
    };
    if xi.shape.len() != ks.len() + 2 {
        return Err(node.invalid("kernel_shape rank does not match the input"));
    }
    if node.attr_i("storage_order", 0) != 0 {
        return Err(node.unsupported("storage_order=1"));
    }
    emit_pool(lw, node, x, &xi, k, kind, false)
}

pub(crate) fn global_pool(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let kind = if node.op_type == "GlobalMaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let [_, _, h, w] = as4(&xi.shape);
    if xi.shape.len() != 3 && xi.shape.len() != 4 {
        return Err(node.unsupported(format!(
            "global pooling of a rank-{} tensor",
            xi.shape.len()
        )));
    }
    emit_pool(lw, node, x, &xi, [h, w], kind, true)
}

fn emit_pool(
    lw: &mut Lowerer,
    node: &NodeProto,
    x: &str,
    xi: &VInfo,
    k: [usize; 2],
    kind: PoolKind,
    global: bool,
) -> Result<()> {
    let (geom, out_shape) = pool_geom(node, &xi.shape, k, kind, global)?;
    match xi.dtype {
        ElemType::F32 => {
            let (act, out_name) = fuse_act(lw, &node.output[0])?;
            let xin = lw.get(x, Layout::Nhwc, DType::F32)?;
            let input = lw.pbuf(xin);
            let out = lw.new_phys(&out_name, out_shape, Layout::Nhwc, DType::F32);
            let output = lw.pbuf(out);
            lw.emit(
                &node.label(),
                Op::PoolF32(PoolF32 {
                    geom,
                    input,
                    output,
                    act,
                }),
            );
            lw.set_rt(&out_name, ElemType::F32, out);
        }
        ElemType::I8 | ElemType::U8 if kind == PoolKind::Max => {
            // Plain integer max pooling: order is kept by the u8 -> i8 shift.
            let xin = lw.get(x, Layout::Nhwc, DType::I8)?;
            let input = lw.pbuf(xin);
            let rq = lw.requant(&[(IDENTITY_MULT, IDENTITY_SHIFT)], 0, -128, 127);
            let out_name = node.output[0].clone();
            let out = lw.new_phys(&out_name, out_shape, Layout::Nhwc, DType::I8);
            let output = lw.pbuf(out);
            lw.emit(
                &node.label(),
                Op::PoolI8(PoolI8 {
                    geom,
                    input,
                    output,
                    input_zero_point: 0,
                    rq,
                }),
            );
            lw.set_rt(&out_name, xi.dtype, out);
        }
        other => return Err(node.unsupported(format!("{} on {}", node.op_type, other.name()))),
    }
    Ok(())
}

pub(crate) fn gemm(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let a = lw.input(node, 0)?;
    let ai = f32_input(lw, node, 0)?;
    let b = lw.const_input(node, 1)?;
    let c = lw.opt_const_input(node, 2)?;
    let (alpha, beta) = (node.attr_f("alpha", 1.0), node.attr_f("beta", 1.0));
    let (ta, tb) = (node.attr_i("transA", 0) != 0, node.attr_i("transB", 0) != 0);
    if ai.shape.len() != 2 || b.shape.len() != 2 {
        return Err(node.invalid("Gemm takes 2-D A and B"));
    }
    let (m, k) = if ta {
        (ai.shape[1], ai.shape[0])
    } else {
        (ai.shape[0], ai.shape[1])
    };
    let bnk = if tb {
        b.clone()
    } else {
        b.transposed(&[1, 0])?
    }; // [N][K]
    if bnk.shape[1] != k {
        return Err(node.invalid("inner dimensions differ"));
    }
    let n = bnk.shape[0];
    let w: Vec<f32> = bnk.to_f32().iter().map(|v| v * alpha).collect();
    let weights = lw.blob_f32(&w);
    let (bias, bias_per_row) = match c {
        None => (None, false),
        Some(c) => {
            let cv: Vec<f32> = c.to_f32().iter().map(|v| v * beta).collect();
            let cs = &c.shape;
            let rows_vary = cs.len() == 2 && cs[0] == m && m != 1;
            let cols = match cs.as_slice() {
                [] | [1] => 1,
                [x] | [_, x] => *x,
                _ => return Err(node.invalid("C must be at most 2-D")),
            };
            if cols != 1 && cols != n || (cs.len() == 2 && cs[0] != 1 && cs[0] != m) {
                return Err(node.invalid("C is not broadcastable to [M, N]"));
            }
            let full: Vec<f32> = (0..if rows_vary { m } else { 1 })
                .flat_map(|r| (0..n).map(move |j| (r, j)))
                .map(|(r, j)| {
                    cv[if rows_vary { r * cols } else { 0 } + if cols == 1 { 0 } else { j }]
                })
                .collect();
            (Some(lw.blob_f32(&full)), rows_vary)
        }
    };
    let (act, out_name) = fuse_act(lw, &node.output[0])?;
    let mut ain = lw.get(a, Layout::Logical, DType::F32)?;
    if ta {
        let t = lw.new_phys(&format!("{a}.T"), vec![m, k], Layout::Logical, DType::F32);
        let (input, output) = (lw.pbuf(ain), lw.pbuf(t));
        lw.emit(
            &format!("{}.transA", node.label()),
            Op::Transpose(Transpose {
                elem: 4,
                shape: pad6(&[k, m])?,
                perm: perm6(&[1, 0]),
                input,
                output,
            }),
        );
        ain = t;
    }
    let input = lw.pbuf(ain);
    let out = lw.new_phys(&out_name, vec![m, n], Layout::Logical, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::FcF32(FcF32 {
            rows: to_u32(m)?,
            k: to_u32(k)?,
            n: to_u32(n)?,
            input,
            weights,
            bias,
            bias_per_row,
            output,
            act,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}

pub(crate) fn matmul(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let (a, b) = (lw.input(node, 0)?, lw.input(node, 1)?);
    let ai = f32_input(lw, node, 0)?;
    let bi = f32_input(lw, node, 1)?;
    let (ra, rb) = (ai.shape.len(), bi.shape.len());
    if ra == 0 || rb == 0 {
        return Err(node.invalid("MatMul of a scalar"));
    }
    let a2 = if ra == 1 {
        vec![1, ai.shape[0]]
    } else {
        ai.shape.clone()
    };
    let b2 = if rb == 1 {
        vec![bi.shape[0], 1]
    } else {
        bi.shape.clone()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(node.invalid("inner dimensions differ"));
    }
    let (ba, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast_shapes(node, ba, bb)?;
    let mut out_shape = batch.clone();
    if ra != 1 {
        out_shape.push(m);
    }
    if rb != 1 {
        out_shape.push(n);
    }
    let out_name = node.output[0].clone();
    // Constant 2-D B: a fully connected layer over all rows of A.
    if let (Val::Const(bt), true) = (&bi.val, bb.is_empty()) {
        let w = bt.reshaped(vec![k, n])?.transposed(&[1, 0])?;
        let weights = lw.blob_f32(&w.to_f32());
        let (act, out_name) = fuse_act(lw, &out_name)?;
        let ain = lw.get(a, Layout::Logical, DType::F32)?;
        let input = lw.pbuf(ain);
        let rows = numel(ba) * m;
        let out = lw.new_phys(&out_name, out_shape, Layout::Logical, DType::F32);
        let output = lw.pbuf(out);
        lw.emit(
            &node.label(),
            Op::FcF32(FcF32 {
                rows: to_u32(rows)?,
                k: to_u32(k)?,
                n: to_u32(n)?,
                input,
                weights,
                bias: None,
                bias_per_row: false,
                output,
                act,
            }),
        );
        lw.set_rt(&out_name, ElemType::F32, out);
        return Ok(());
    }
    if batch.len() > 4 {
        return Err(node.unsupported("more than 4 batch dimensions"));
    }
    let bstride = |dims: &[usize], mat: usize| -> Result<[u32; 4]> {
        let mut s = [0u32; 4];
        let off = 4 - batch.len();
        let st = strides(dims);
        let shift = batch.len() - dims.len();
        for i in 0..dims.len() {
            if dims[i] != 1 {
                s[off + shift + i] = to_u32(st[i] * mat)?;
            }
        }
        Ok(s)
    };
    let a_stride = bstride(ba, m * k)?;
    let b_stride = bstride(bb, k * n)?;
    let mut batch4 = [1u32; 4];
    for (i, &d) in batch.iter().enumerate() {
        batch4[4 - batch.len() + i] = to_u32(d)?;
    }
    let sa = lw.operand(a, Layout::Logical, DType::F32)?;
    let sb = lw.operand(b, Layout::Logical, DType::F32)?;
    let (abuf, bbuf) = (lw.buf(sa), lw.buf(sb));
    let out = lw.new_phys(&out_name, out_shape, Layout::Logical, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::MatMulF32(MatMulF32 {
            m: to_u32(m)?,
            k: to_u32(k)?,
            n: to_u32(n)?,
            batch: batch4,
            a_stride,
            b_stride,
            a: abuf,
            b: bbuf,
            output,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}

/// numpy broadcasting of two shapes.
pub(crate) fn broadcast_shapes(node: &NodeProto, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let db = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(node.invalid(format!("shapes {a:?} and {b:?} do not broadcast"))),
            }
        })
        .collect()
}

/// Element strides of operand `name` (shape `shape`) addressed in the physical
/// order of an output of logical shape `out` in `layout` (0 on broadcast axes).
pub(crate) fn operand_strides(
    shape: &[usize],
    src_layout: Layout,
    out: &[usize],
    layout: Layout,
) -> Result<[u32; MAX_RANK]> {
    let r = out.len();
    // Logical-axis strides of the operand's stored bytes.
    let pd = phys_dims(shape, src_layout);
    let ps = strides(&pd);
    let mut logical = vec![0usize; shape.len()];
    for (a, l) in logical.iter_mut().enumerate() {
        let pa = if src_layout == Layout::Nhwc && shape.len() == 3 {
            [0, 3, 2][a]
        } else {
            phys_axis(shape.len(), src_layout, a)
        };
        *l = if shape[a] == 1 {
            0
        } else {
            ps.get(pa).copied().unwrap_or(0)
        };
    }
    // Right-align to the output rank.
    let mut full = vec![0usize; r];
    for (i, &s) in logical.iter().enumerate() {
        full[r - shape.len() + i] = s;
    }
    // Order like the output's physical dims.
    let order: Vec<usize> = match (layout, r) {
        (Layout::Nhwc, 4) => vec![0, 2, 3, 1],
        _ => (0..r).collect(),
    };
    let phys: Vec<usize> = order.iter().map(|&a| full[a]).collect();
    let mut outv = [0u32; MAX_RANK];
    let off = MAX_RANK - r;
    for (i, &s) in phys.iter().enumerate() {
        outv[off + i] = to_u32(s)?;
    }
    Ok(outv)
}

/// Element-wise Add/Sub/Mul/Div, and Sum/Max/Min of one or more inputs (a
/// chain of binary operators, left to right; one input is an alias).
pub(crate) fn binary(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let kind = match node.op_type.as_str() {
        "Add" | "Sum" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        "Div" => BinaryKind::Div,
        "Max" => BinaryKind::Max,
        _ => BinaryKind::Min,
    };
    let variadic = matches!(node.op_type.as_str(), "Sum" | "Max" | "Min");
    let inputs: Vec<&str> = (0..node.input.len())
        .map(|i| lw.input(node, i))
        .collect::<Result<_>>()?;
    match inputs.as_slice() {
        [_] if variadic => shape_ops::reshape_like(lw, node),
        [a, b] => binary_pair(lw, node, kind, a, b, true).map(|_| ()),
        [first, rest @ ..] if variadic => {
            let mut acc = first.to_string();
            for (i, b) in rest.iter().enumerate() {
                let last = i + 1 == rest.len();
                acc = binary_pair(lw, node, kind, &acc, b, last)?;
            }
            Ok(())
        }
        _ => Err(node.invalid(format!("{} with {} inputs", node.op_type, inputs.len()))),
    }
}

/// One f32 binary operator `a (kind) b`. With `last` it writes the node's
/// output (fusing a following activation); otherwise a partial result, whose
/// name it returns.
fn binary_pair(
    lw: &mut Lowerer,
    node: &NodeProto,
    kind: BinaryKind,
    a: &str,
    b: &str,
    last: bool,
) -> Result<String> {
    let ai = lw.info(a)?.clone();
    let bi = lw.info(b)?.clone();
    if ai.dtype != ElemType::F32 || bi.dtype != ElemType::F32 {
        return Err(node.unsupported(format!(
            "{} on {} (only float32 and quantized int8 arithmetic)",
            node.op_type,
            ai.dtype.name()
        )));
    }
    let out_shape = broadcast_shapes(node, &ai.shape, &bi.shape)?;
    if out_shape.len() > MAX_RANK {
        return Err(node.unsupported(format!("rank {} > {MAX_RANK}", out_shape.len())));
    }
    let nhwc = out_shape.len() == 4
        && (lw.layout_of(a) == Layout::Nhwc || lw.layout_of(b) == Layout::Nhwc);
    let layout = if nhwc { Layout::Nhwc } else { Layout::Logical };
    let src = |lw: &mut Lowerer, name: &str, info: &VInfo| -> Result<(Src, Layout)> {
        match &info.val {
            Val::Const(t) => Ok((Src::Blob(lw.blob_f32(&t.to_f32())), Layout::Logical)),
            Val::Rt(p) => {
                let l = lw.phys[*p].layout;
                let l = if l == Layout::Nhwc && info.shape.len() != 4 {
                    Layout::Logical
                } else {
                    l
                };
                Ok((Src::Phys(lw.get(name, l, DType::F32)?), l))
            }
        }
    };
    let (sa, la) = src(lw, a, &ai)?;
    let (sb, lb) = src(lw, b, &bi)?;
    let a_stride = operand_strides(&ai.shape, la, &out_shape, layout)?;
    let b_stride = operand_strides(&bi.shape, lb, &out_shape, layout)?;
    let shape = pad6(&phys_dims(&out_shape, layout))?;
    let (act, out_name) = if last {
        fuse_act(lw, &node.output[0])?
    } else {
        (ClampF32::NONE, format!("{}.{b}", node.output[0]))
    };
    let (abuf, bbuf) = (lw.buf(sa), lw.buf(sb));
    let out = lw.new_phys(&out_name, out_shape, layout, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::BinaryF32(BinaryF32 {
            kind,
            shape,
            a_stride,
            b_stride,
            a: abuf,
            b: bbuf,
            output,
            act,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(out_name)
}

pub(crate) fn unary(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let layout = lw.layout_of(x);
    let out_name = node.output[0].clone();
    match xi.dtype {
        ElemType::F32 => {
            let (kind, clamp) = match node.op_type.as_str() {
                "Relu" => (
                    UnaryKind::Clamp,
                    ClampF32 {
                        min: 0.0,
                        max: f32::INFINITY,
                    },
                ),
                "Clip" => (
                    UnaryKind::Clamp,
                    clip_bounds(lw, node)?
                        .ok_or_else(|| node.unsupported("Clip with runtime bounds"))?,
                ),
                "Sigmoid" => (UnaryKind::Sigmoid, ClampF32::NONE),
                "Tanh" => (UnaryKind::Tanh, ClampF32::NONE),
                "Exp" => (UnaryKind::Exp, ClampF32::NONE),
                "Neg" => (UnaryKind::Neg, ClampF32::NONE),
                _ => (UnaryKind::Abs, ClampF32::NONE),
            };
            let xin = lw.get(x, layout, DType::F32)?;
            let input = lw.pbuf(xin);
            let out = lw.new_phys(&out_name, xi.shape.clone(), lw.phys[xin].layout, DType::F32);
            let output = lw.pbuf(out);
            lw.emit(
                &node.label(),
                Op::UnaryF32(UnaryF32 {
                    kind,
                    len: to_u32(numel(&xi.shape))?,
                    input,
                    output,
                    act: clamp,
                }),
            );
            lw.set_rt(&out_name, ElemType::F32, out);
            Ok(())
        }
        ElemType::I8 | ElemType::U8 if matches!(node.op_type.as_str(), "Relu" | "Clip") => {
            // Plain integer clamp as a byte lookup table in the value's own type.
            let (lo, hi) = if node.op_type == "Relu" {
                (0.0, f32::INFINITY)
            } else {
                let c = clip_bounds(lw, node)?
                    .ok_or_else(|| node.unsupported("Clip with runtime bounds"))?;
                (c.min, c.max)
            };
            let dt = rt_dtype(xi.dtype).ok_or_else(|| node.unsupported("dtype"))?;
            let table: Vec<u8> = (0..=255u8)
                .map(|b| {
                    let v = if dt == DType::I8 {
                        b as i8 as f32
                    } else {
                        b as f32
                    };
                    let c = if v < lo {
                        lo
                    } else if v > hi {
                        hi
                    } else {
                        v
                    };
                    if dt == DType::I8 {
                        c as i8 as u8
                    } else {
                        c as u8
                    }
                })
                .collect();
            let table = lw.blob_bytes(&table);
            let xin = lw.get(x, layout, dt)?;
            let input = lw.pbuf(xin);
            let out = lw.new_phys(&out_name, xi.shape.clone(), lw.phys[xin].layout, dt);
            let output = lw.pbuf(out);
            lw.emit(
                &node.label(),
                Op::Lut8(Lut8 {
                    len: to_u32(numel(&xi.shape))?,
                    input,
                    output,
                    table,
                }),
            );
            lw.set_rt(&out_name, xi.dtype, out);
            Ok(())
        }
        other => Err(node.unsupported(format!("{} on {}", node.op_type, other.name()))),
    }
}

pub(crate) fn softmax(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = f32_input(lw, node, 0)?;
    let r = xi.shape.len();
    let default_axis = if lw.opset >= 13 { -1 } else { 1 };
    let axis = norm_axis(node, node.attr_i("axis", default_axis), r)?;
    let log = node.op_type == "LogSoftmax";
    let (layout, outer, len, inner) = if lw.opset >= 13 {
        let layout = lw.layout_of(x);
        let pd = phys_dims(&xi.shape, layout);
        let pa = if layout == Layout::Nhwc && r == 3 {
            [0, 3, 2][axis]
        } else {
            phys_axis(r, layout, axis)
        };
        let pd4 = if layout == Layout::Nhwc {
            phys_dims(&xi.shape, layout)
        } else {
            pd
        };
        (layout, numel(&pd4[..pa]), pd4[pa], numel(&pd4[pa + 1..]))
    } else {
        (
            Layout::Logical,
            numel(&xi.shape[..axis]),
            numel(&xi.shape[axis..]),
            1,
        )
    };
    let xin = lw.get(x, layout, DType::F32)?;
    let input = lw.pbuf(xin);
    let out_name = node.output[0].clone();
    let out = lw.new_phys(&out_name, xi.shape.clone(), lw.phys[xin].layout, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::SoftmaxF32(SoftmaxF32 {
            outer: to_u32(outer)?,
            axis: to_u32(len)?,
            inner: to_u32(inner)?,
            log,
            input,
            output,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}

pub(crate) fn batchnorm(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    if node.output.iter().skip(1).any(|o| !o.is_empty()) || node.attr_i("training_mode", 0) != 0 {
        return Err(node.unsupported("training mode (running statistics outputs)"));
    }
    let x = lw.input(node, 0)?;
    let xi = f32_input(lw, node, 0)?;
    let (g, b, mean, var) = (
        lw.const_input(node, 1)?.to_f64(),
        lw.const_input(node, 2)?.to_f64(),
        lw.const_input(node, 3)?.to_f64(),
        lw.const_input(node, 4)?.to_f64(),
    );
    let eps = node.attr_f("epsilon", 1e-5) as f64;
    let c = *xi
        .shape
        .get(1)
        .ok_or_else(|| node.invalid("input needs a channel axis"))?;
    if [g.len(), b.len(), mean.len(), var.len()]
        .iter()
        .any(|&l| l != c)
    {
        return Err(node.invalid("parameter lengths differ from the channels"));
    }
    let scale: Vec<f32> = (0..c)
        .map(|i| (g[i] / (var[i] + eps).sqrt()) as f32)
        .collect();
    let shift: Vec<f32> = (0..c)
        .map(|i| (b[i] - mean[i] * g[i] / (var[i] + eps).sqrt()) as f32)
        .collect();
    let layout = lw.layout_of(x);
    let n = xi.shape[0];
    let (outer, inner) = if layout == Layout::Nhwc {
        (numel(&xi.shape) / c, 1)
    } else {
        (n, numel(&xi.shape[2..]))
    };
    let (scale, shift) = (lw.blob_f32(&scale), lw.blob_f32(&shift));
    let (act, out_name) = fuse_act(lw, &node.output[0])?;
    let xin = lw.get(x, layout, DType::F32)?;
    let input = lw.pbuf(xin);
    let out = lw.new_phys(&out_name, xi.shape.clone(), layout, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::ChannelAffineF32(ChannelAffineF32 {
            outer: to_u32(outer)?,
            channels: to_u32(c)?,
            inner: to_u32(inner)?,
            scale,
            shift,
            input,
            output,
            act,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}

/// ONNX LRN on a rank-3/4 (NHWC) or rank-2 (`[N, C]`) f32 tensor.
pub(crate) fn lrn(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = f32_input(lw, node, 0)?;
    let size = node.attr_i("size", 0);
    if size < 1 {
        return Err(node.invalid("size must be a positive integer"));
    }
    let (alpha, beta, bias) = (
        node.attr_f("alpha", 1e-4),
        node.attr_f("beta", 0.75),
        node.attr_f("bias", 1.0),
    );
    if !(alpha.is_finite() && beta.is_finite() && bias.is_finite()) {
        return Err(node.invalid("alpha, beta and bias must be finite"));
    }
    let c = match xi.shape.len() {
        2..=4 => xi.shape[1],
        r => return Err(node.unsupported(format!("rank {r} (only 2 to 4)"))),
    };
    if c == 0 {
        return Err(node.invalid("zero channels"));
    }
    // NHWC keeps each pixel's channels contiguous; `[N, C]` already is.
    let xin = lw.get(x, Layout::Nhwc, DType::F32)?;
    let layout = lw.phys[xin].layout;
    let input = lw.pbuf(xin);
    let out_name = node.output[0].clone();
    let out = lw.new_phys(&out_name, xi.shape.clone(), layout, DType::F32);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::LrnF32(LrnF32 {
            pixels: to_u32(numel(&xi.shape) / c)?,
            channels: to_u32(c)?,
            size: to_u32(size as usize)?,
            alpha,
            beta,
            bias,
            input,
            output,
        }),
    );
    lw.set_rt(&out_name, ElemType::F32, out);
    Ok(())
}
