//! Detection operators: ONNX NonMaxSuppression.
//!
//! Its output `selected_indices` is int64 `[num_selected, 3]`, with a
//! data-dependent first dimension. edgerun keeps static shapes and 32-bit
//! kernels: the op writes `i32` rows into a fixed `[max_rows, 3]` tensor
//! (`max_rows = batches * classes * min(max_output_boxes_per_class, boxes)`),
//! pads the unused rows with -1 and stores the count beside them
//! ([`edgerun::format::schema::NmsOp`]). The runtime reports the count with
//! `Interpreter::output_rows`; [`crate::host::HostModel::run`] trims the rows to
//! it and returns ONNX's int64. Because the shape is only known after running,
//! the output must be a graph output: another node consuming it is unsupported.

use super::attrs::NodeExt;
use super::*;

/// The one value of an optional scalar input (`[]` or `[1]`), or `None` when the
/// input is absent or empty (the ONNX reference treats both as absent).
fn scalar_input(lw: &Lowerer, node: &NodeProto, i: usize) -> Result<Option<Tensor>> {
    match lw.opt_const_input(node, i)? {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) if t.len() == 1 => Ok(Some(t)),
        Some(t) => Err(node.invalid(format!(
            "input {i} must be a scalar, got shape {:?}",
            t.shape
        ))),
    }
}

pub(crate) fn non_max_suppression(lw: &mut Lowerer, node: &NodeProto) -> Result<()> {
    let (boxes, scores) = (lw.input(node, 0)?, lw.input(node, 1)?);
    let (bi, si) = (lw.info(boxes)?.clone(), lw.info(scores)?.clone());
    if bi.dtype != ElemType::F32 || si.dtype != ElemType::F32 {
        return Err(node.unsupported(format!(
            "boxes of type {} and scores of type {} (only float32)",
            bi.dtype.name(),
            si.dtype.name()
        )));
    }
    let (&[nb, n, 4], &[sb, nc, sn]) = (bi.shape.as_slice(), si.shape.as_slice()) else {
        return Err(node.invalid(format!(
            "boxes {:?} must be [batches, boxes, 4] and scores {:?} [batches, classes, boxes]",
            bi.shape, si.shape
        )));
    };
    if sb != nb || sn != n {
        return Err(node.invalid(format!(
            "boxes {:?} and scores {:?} disagree",
            bi.shape, si.shape
        )));
    }
    let center_point_box = match node.attr_i("center_point_box", 0) {
        0 => false,
        1 => true,
        v => return Err(node.invalid(format!("center_point_box must be 0 or 1, got {v}"))),
    };
    // Absent: 0, which selects nothing. Negative: 0 (as the reference's max(v, 0)).
    let max_out = match scalar_input(lw, node, 2)? {
        None => 0,
        Some(t) => t.to_i64()?.first().copied().unwrap_or(0).max(0),
    };
    let max_per_class = usize::try_from(max_out).unwrap_or(usize::MAX).min(n);
    let iou_threshold = match scalar_input(lw, node, 3)? {
        None => 0.0,
        Some(t) => t.to_f32().first().copied().unwrap_or(0.0),
    };
    let score_threshold = scalar_input(lw, node, 4)?.and_then(|t| t.to_f32().first().copied());

    let out_name = match node.output.first() {
        Some(o) if !o.is_empty() => o.as_str(),
        _ => return Err(node.invalid("the output is missing")),
    };
    let graph: &GraphProto = lw.graph;
    if graph
        .node
        .iter()
        .any(|other| other.input.iter().any(|i| i == out_name))
    {
        return Err(node.unsupported(
            "its output feeds another node: the number of selected boxes is only known at \
             run time, which edgerun supports only for a model output",
        ));
    }
    let rows = nb * nc * max_per_class;
    let words = rows * 3 + 1 + n;
    let ws = lw.new_phys(
        &format!("{out_name}.nms_workspace"),
        vec![words],
        Layout::Logical,
        DType::I32,
    );
    let bx = lw.get(boxes, Layout::Logical, DType::F32)?;
    let sc = lw.get(scores, Layout::Logical, DType::F32)?;
    let (boxes_buf, scores_buf) = (lw.pbuf(bx), lw.pbuf(sc));
    let output = lw.pbuf(ws);
    lw.emit(
        &node.label(),
        Op::Nms(NmsOp {
            num_batches: to_u32(nb)?,
            num_classes: to_u32(nc)?,
            num_boxes: to_u32(n)?,
            center_point_box,
            max_per_class: to_u32(max_per_class)?,
            iou_threshold,
            score_threshold,
            boxes: boxes_buf,
            scores: scores_buf,
            output,
        }),
    );
    let selected = lw.alias(ws, out_name, vec![rows, 3], Layout::Logical, DType::I32);
    lw.set_rt(out_name, ElemType::I32, selected);
    Ok(())
}
