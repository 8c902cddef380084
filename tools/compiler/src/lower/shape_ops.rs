//! Shape and data-movement operators, and constant folding.

use super::attrs::{NodeExt, norm_axis};
use super::*;

/// Output shape of Flatten / Reshape / Squeeze / Unsqueeze / Identity / Dropout.
fn reshape_target(lw: &Lowerer, node: &NodeProto, shape: &[usize]) -> Result<Vec<usize>> {
    let r = shape.len();
    let axes_of = |lw: &Lowerer| -> Result<Option<Vec<i64>>> {
        if lw.opset >= 13 {
            match lw.opt_const_input(node, 1)? {
                Some(t) => Ok(Some(t.to_i64()?)),
                None => Ok(None),
            }
        } else {
            Ok(node.attr_ints("axes"))
        }
    };
    match node.op_type.as_str() {
        "Flatten" => {
            let a = node.attr_i("axis", 1);
            let a = if a < 0 { a + r as i64 } else { a };
            if a < 0 || a > r as i64 {
                return Err(node.invalid("axis out of range"));
            }
            let a = a as usize;
            Ok(vec![numel(&shape[..a]), numel(&shape[a..])])
        }
        "Reshape" => {
            let spec = lw.const_input(node, 1)?.to_i64()?;
            let allowzero = node.attr_i("allowzero", 0) != 0;
            let mut out = Vec::with_capacity(spec.len());
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    0 if !allowzero => out.push(
                        *shape
                            .get(i)
                            .ok_or_else(|| node.invalid("0 refers to a missing dimension"))?,
                    ),
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        out.push(1);
                    }
                    d if d >= 0 => out.push(d as usize),
                    _ => return Err(node.invalid(format!("bad shape value {d}"))),
                }
            }
            let total = numel(shape);
            if let Some(i) = infer {
                let rest = numel(&out);
                if rest == 0 || !total.is_multiple_of(rest) {
                    return Err(node.invalid("cannot infer the -1 dimension"));
                }
                out[i] = total / rest;
            }
            if numel(&out) != total {
                return Err(node.invalid(format!("cannot reshape {shape:?} to {out:?}")));
            }
            Ok(out)
        }
        "Squeeze" => {
            let axes = axes_of(lw)?;
            let drop: Vec<usize> = match axes {
                None => (0..r).filter(|&i| shape[i] == 1).collect(),
                Some(a) => a
                    .iter()
                    .map(|&x| norm_axis(node, x, r))
                    .collect::<Result<_>>()?,
            };
            if drop.iter().any(|&i| shape[i] != 1) {
                return Err(node.invalid("cannot squeeze a non-unit axis"));
            }
            Ok((0..r)
                .filter(|i| !drop.contains(i))
                .map(|i| shape[i])
                .collect())
        }
        "Unsqueeze" => {
            let axes = axes_of(lw)?.ok_or_else(|| node.invalid("axes are required"))?;
            let out_r = r + axes.len();
            let ins: Vec<usize> = axes
                .iter()
                .map(|&x| norm_axis(node, x, out_r))
                .collect::<Result<_>>()?;
            let mut it = shape.iter();
            Ok((0..out_r)
                .map(|i| {
                    if ins.contains(&i) {
                        1
                    } else {
                        *it.next().unwrap_or(&1)
                    }
                })
                .collect())
        }
        _ => Ok(shape.to_vec()),
    }
}

pub(crate) fn reshape_like(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    // Dropout at inference is the identity; its optional mask output (all
    // true) is refused only when something reads it.
    if node.op_type == "Dropout" {
        let training = match lw.opt_const_input(node, 2) {
            Ok(None) => false,
            Ok(Some(t)) => t.to_i64()?.iter().any(|&v| v != 0),
            Err(_) => true,
        };
        if training {
            return Err(node.unsupported("Dropout in training mode"));
        }
        if node
            .output
            .get(1)
            .is_some_and(|m| !m.is_empty() && lw.consumers.get(m).is_some_and(|&n| n > 0))
        {
            return Err(node.unsupported("the mask output of Dropout"));
        }
    }
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let shape = reshape_target(lw, node, &xi.shape)?;
    let dt =
        rt_dtype(xi.dtype).ok_or_else(|| node.unsupported(format!("type {}", xi.dtype.name())))?;
    let p = lw.get(x, Layout::Logical, dt)?;
    let out = node.output[0].clone();
    let q = lw.alias(p, &out, shape, Layout::Logical, dt);
    lw.set_rt(&out, xi.dtype, q);
    Ok(())
}

pub(crate) fn transpose(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let r = xi.shape.len();
    let perm = perm_of(node, r)?;
    let dt =
        rt_dtype(xi.dtype).ok_or_else(|| node.unsupported(format!("type {}", xi.dtype.name())))?;
    let out_shape: Vec<usize> = perm.iter().map(|&p| xi.shape[p]).collect();
    let p = lw.get(x, Layout::Logical, dt)?;
    let input = lw.pbuf(p);
    let out = lw.new_phys(&node.output[0], out_shape, Layout::Logical, dt);
    let output = lw.pbuf(out);
    lw.emit(
        &node.label(),
        Op::Transpose(Transpose {
            elem: dt.size() as u32,
            shape: pad6(&xi.shape)?,
            perm: perm6(&perm),
            input,
            output,
        }),
    );
    lw.set_rt(&node.output[0], xi.dtype, out);
    Ok(())
}

fn perm_of(node: &NodeProto, r: usize) -> Result<Vec<usize>> {
    let perm: Vec<usize> = match node.attr_ints("perm") {
        Some(p) => p
            .iter()
            .map(|&x| norm_axis(node, x, r))
            .collect::<Result<_>>()?,
        None => (0..r).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort();
    if seen != (0..r).collect::<Vec<_>>() {
        return Err(node.invalid("perm is not a permutation"));
    }
    if r > MAX_RANK {
        return Err(node.unsupported(format!("rank {r} > {MAX_RANK}")));
    }
    Ok(perm)
}

pub(crate) fn concat(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let names: Vec<&str> = node
        .input
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect();
    let infos: Vec<VInfo> = names
        .iter()
        .map(|n| lw.info(n).cloned())
        .collect::<Result<_>>()?;
    let first = infos.first().ok_or_else(|| node.invalid("no inputs"))?;
    let r = first.shape.len();
    let axis = norm_axis(node, node.attr_i("axis", 1), r)?;
    let dtype = first.dtype;
    let dt = rt_dtype(dtype).ok_or_else(|| node.unsupported(format!("type {}", dtype.name())))?;
    let mut out_shape = first.shape.clone();
    out_shape[axis] = 0;
    for i in &infos {
        if i.dtype != dtype
            || i.shape.len() != r
            || (0..r).any(|d| d != axis && i.shape[d] != first.shape[d])
        {
            return Err(node.invalid("inputs differ in type or shape"));
        }
        out_shape[axis] += i.shape[axis];
    }
    let nhwc = r == 4 && names.iter().any(|n| lw.layout_of(n) == Layout::Nhwc);
    let layout = if nhwc { Layout::Nhwc } else { Layout::Logical };
    let pd = phys_dims(&out_shape, layout);
    let pa = phys_axis(r, layout, axis);
    let es = dt.size();
    let inner_out = numel(&pd[pa + 1..]) * es;
    let outer = numel(&pd[..pa]);
    let out = lw.new_phys(&node.output[0], out_shape.clone(), layout, dt);
    let mut at = 0usize;
    for (name, info) in names.iter().zip(&infos) {
        let src = lw.operand(name, layout, dt)?;
        let input = lw.buf(src);
        let output = lw.pbuf(out);
        let len = info.shape[axis];
        lw.emit(
            &format!("{}[{name}]", node.label()),
            Op::CopyChunks(CopyChunks {
                outer: to_u32(outer)?,
                chunk: to_u32(len * inner_out)?,
                dst_start: to_u32(at * inner_out)?,
                dst_stride: to_u32(pd[pa] * inner_out)?,
                input,
                output,
                table: None,
            }),
        );
        at += len;
    }
    lw.set_rt(&node.output[0], dtype, out);
    Ok(())
}

/// Nearest-neighbour Resize (any rank, any axes): per-axis index tables.
pub(crate) fn resize(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let mode = node.attr_s("mode", "nearest");
    if mode != "nearest" {
        return Err(node.unsupported(format!("mode={mode} (only nearest)")));
    }
    let ctm = node.attr_s(
        "coordinate_transformation_mode",
        if lw.opset >= 11 {
            "half_pixel"
        } else {
            "asymmetric"
        },
    );
    if ctm == "tf_crop_and_resize" {
        return Err(node.unsupported("coordinate_transformation_mode=tf_crop_and_resize"));
    }
    let nearest = node.attr_s(
        "nearest_mode",
        if lw.opset >= 11 {
            "round_prefer_floor"
        } else {
            "floor"
        },
    );
    let x = lw.input(node, 0)?;
    let xi = lw.info(x)?.clone();
    let r = xi.shape.len();
    let (scales_in, sizes_in) = if node.op_type == "Upsample" || lw.opset < 11 {
        (lw.opt_const_input(node, 1)?, None)
    } else {
        (
            lw.opt_const_input(node, 2)?.filter(|t| !t.is_empty()),
            lw.opt_const_input(node, 3)?.filter(|t| !t.is_empty()),
        )
    };
    let axes: Vec<usize> = match node.attr_ints("axes") {
        Some(a) => a
            .iter()
            .map(|&v| norm_axis(node, v, r))
            .collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    let mut scale = vec![1f64; r];
    let mut out = xi.shape.clone();
    if let Some(sz) = sizes_in {
        let sz = sz.to_i64()?;
        if sz.len() != axes.len() {
            return Err(node.invalid("sizes length differs from axes"));
        }
        let policy = node.attr_s("keep_aspect_ratio_policy", "stretch");
        let ratios: Vec<f64> = axes
            .iter()
            .zip(&sz)
            .map(|(&a, &s)| s as f64 / xi.shape[a] as f64)
            .collect();
        match policy.as_str() {
            "stretch" => {
                for (i, &a) in axes.iter().enumerate() {
                    scale[a] = ratios[i];
                    out[a] = sz[i] as usize;
                }
            }
            "not_larger" | "not_smaller" => {
                let s = if policy == "not_larger" {
                    ratios.iter().cloned().fold(f64::INFINITY, f64::min)
                } else {
                    ratios.iter().cloned().fold(0.0, f64::max)
                };
                for &a in &axes {
                    scale[a] = s;
                    out[a] = round_half_even(s * xi.shape[a] as f64) as usize;
                }
            }
            p => return Err(node.invalid(format!("keep_aspect_ratio_policy {p}"))),
        }
    } else if let Some(sc) = scales_in {
        let sc = sc.to_f64();
        if sc.len() != axes.len() {
            return Err(node.invalid("scales length differs from axes"));
        }
        for (i, &a) in axes.iter().enumerate() {
            if sc[i] <= 0.0 {
                return Err(node.invalid("scales must be positive"));
            }
            scale[a] = sc[i];
            out[a] = (xi.shape[a] as f64 * sc[i]).floor() as usize;
        }
    } else {
        return Err(node.invalid("needs scales or sizes"));
    }
    // Index maps per logical axis.
    let mut maps: Vec<Vec<u32>> = Vec::with_capacity(r);
    for a in 0..r {
        let (n_in, n_out, s) = (xi.shape[a], out[a], scale[a]);
        let mut m = Vec::with_capacity(n_out);
        for o in 0..n_out {
            let xo = o as f64;
            let x_orig = match ctm.as_str() {
                "half_pixel" => (xo + 0.5) / s - 0.5,
                "pytorch_half_pixel" => {
                    if n_out > 1 {
                        (xo + 0.5) / s - 0.5
                    } else {
                        0.0
                    }
                }
                "align_corners" => {
                    if n_out == 1 {
                        0.0
                    } else {
                        xo * (n_in as f64 - 1.0) / (n_out as f64 - 1.0)
                    }
                }
                "asymmetric" => xo / s,
                "tf_half_pixel_for_nn" => (xo + 0.5) / s,
                "half_pixel_symmetric" => {
                    let adj = n_out as f64 / (s * n_in as f64);
                    let center = n_in as f64 / 2.0;
                    let offset = center * (1.0 - adj);
                    offset + (xo + 0.5) / s - 0.5
                }
                other => {
                    return Err(node.unsupported(format!("coordinate_transformation_mode={other}")));
                }
            };
            let i = match nearest.as_str() {
                "round_prefer_floor" => {
                    if x_orig.fract() == 0.5 || x_orig.fract() == -0.5 {
                        x_orig.floor()
                    } else {
                        x_orig.round()
                    }
                }
                "round_prefer_ceil" => {
                    if x_orig.fract() == 0.5 || x_orig.fract() == -0.5 {
                        x_orig.ceil()
                    } else {
                        x_orig.round()
                    }
                }
                "floor" => x_orig.floor(),
                "ceil" => x_orig.ceil(),
                other => return Err(node.unsupported(format!("nearest_mode={other}"))),
            };
            m.push(i.clamp(0.0, n_in as f64 - 1.0) as u32);
        }
        maps.push(m);
    }
    let dt =
        rt_dtype(xi.dtype).ok_or_else(|| node.unsupported(format!("type {}", xi.dtype.name())))?;
    let layout = lw.layout_of(x);
    let layout = if r == 4 { layout } else { Layout::Logical };
    let order: Vec<usize> = if layout == Layout::Nhwc {
        vec![0, 2, 3, 1]
    } else {
        (0..r).collect()
    };
    let in_pd: Vec<usize> = order.iter().map(|&a| xi.shape[a]).collect();
    let out_pd: Vec<usize> = order.iter().map(|&a| out[a]).collect();
    let mut table: Vec<u32> = vec![0; MAX_RANK - r];
    for &a in &order {
        table.extend_from_slice(&maps[a]);
    }
    if r > MAX_RANK {
        return Err(node.unsupported(format!("rank {r} > {MAX_RANK}")));
    }
    let maps_buf = lw.blob_u32(&table);
    let p = lw.get(x, layout, dt)?;
    let input = lw.pbuf(p);
    let o = lw.new_phys(&node.output[0], out.clone(), layout, dt);
    let output = lw.pbuf(o);
    lw.emit(
        &node.label(),
        Op::Gather(Gather {
            elem: dt.size() as u32,
            in_shape: pad6(&in_pd)?,
            out_shape: pad6(&out_pd)?,
            maps: maps_buf,
            input,
            output,
        }),
    );
    lw.set_rt(&node.output[0], xi.dtype, o);
    Ok(())
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Evaluate a node whose inputs are all constants. Returns false when the op is
/// not foldable here (it is then lowered normally).
pub(crate) fn fold(lw: &mut Lowerer, node: &NodeProto) -> Result<bool> {
    let out = match node.output.first() {
        Some(o) => o.clone(),
        None => return Ok(false),
    };
    let c = |i: usize| lw.const_input(node, i);
    let t = match node.op_type.as_str() {
        "Constant" => match node.attr_t("value")? {
            Some(t) => t,
            None => return Err(node.unsupported("Constant without a tensor 'value'")),
        },
        "Identity" | "Dropout" | "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => {
            let x = c(0)?;
            let shape = reshape_target(lw, node, &x.shape)?;
            x.reshaped(shape)?
        }
        "Transpose" => {
            let x = c(0)?;
            let perm = perm_of(node, x.shape.len())?;
            x.transposed(&perm)?
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = c(0)?.to_i64()?.iter().map(|&d| d.max(0) as usize).collect();
            let n = numel(&shape);
            if n > MAX_CONST_ELEMS {
                return Err(node.unsupported(format!(
                    "a constant of {n} elements (limit {MAX_CONST_ELEMS})"
                )));
            }
            match node.attr_t("value")? {
                None => Tensor::f32(shape, vec![0.0; n]),
                Some(v) => {
                    let fill = |t: &Tensor| Tensor {
                        shape: shape.clone(),
                        data: repeat(&t.data, n),
                    };
                    fill(&v)
                }
            }
        }
        "DequantizeLinear" => {
            let x = c(0)?;
            let scale = c(1)?.to_f32();
            let zp = match lw.opt_const_input(node, 2)? {
                Some(z) => z.to_i64()?,
                None => vec![0],
            };
            let axis = norm_axis(node, node.attr_i("axis", 1), x.shape.len().max(1))?;
            let inner = if x.shape.is_empty() {
                1
            } else {
                numel(&x.shape[axis + 1..])
            };
            let dim = x.shape.get(axis).copied().unwrap_or(1);
            let xv = x.to_i64()?;
            let v: Vec<f32> = xv
                .iter()
                .enumerate()
                .map(|(i, &q)| {
                    let a = if scale.len() == 1 {
                        0
                    } else {
                        (i / inner) % dim
                    };
                    let z = zp.get(a).or(zp.first()).copied().unwrap_or(0);
                    edgerun::quant::dequantize(
                        q as i32,
                        scale.get(a).copied().unwrap_or(1.0),
                        z as i32,
                    )
                })
                .collect();
            lw.const_q.insert(
                out.clone(),
                ConstQ {
                    data: x.clone(),
                    scales: scale.clone(),
                    zps: zp.clone(),
                    axis,
                },
            );
            Tensor::f32(x.shape.clone(), v)
        }
        _ => return Ok(false),
    };
    lw.set_const(&out, t);
    Ok(true)
}

fn repeat(d: &Data, n: usize) -> Data {
    match d {
        Data::F32(v) => Data::F32(vec![v.first().copied().unwrap_or(0.0); n]),
        Data::U8(v) => Data::U8(vec![v.first().copied().unwrap_or(0); n]),
        Data::I8(v) => Data::I8(vec![v.first().copied().unwrap_or(0); n]),
        Data::I32(v) => Data::I32(vec![v.first().copied().unwrap_or(0); n]),
        Data::I64(v) => Data::I64(vec![v.first().copied().unwrap_or(0); n]),
    }
}
