//! Running `.edge` models on the host with [`Tensor`]s (tools and tests).
//!
//! Outputs come back with their static shape and type, except an output whose
//! first dimension depends on the data ([`edgerun::Interpreter::output_rows`]):
//! ONNX NonMaxSuppression's `selected_indices`, which the runtime stores as
//! `i32` rows padded to a maximum. It is returned trimmed to the selected rows
//! and widened to int64, the type ONNX gives it.

use crate::error::{CompileError, Result};
use crate::tensor::{Data, Tensor};
use edgerun::format::write::AlignedBytes;
use edgerun::{DType, Interpreter, Model};

/// A model loaded on the host, with its arena.
pub struct HostModel {
    bytes: AlignedBytes,
    arena: Vec<u8>,
}

fn rt(e: edgerun::Error) -> CompileError {
    CompileError::Runtime(e)
}

impl HostModel {
    /// Validate `.edge` bytes (copied to an aligned buffer) and allocate the arena.
    pub fn new(edge: &[u8]) -> Result<Self> {
        let bytes = AlignedBytes::new(edge);
        let model = Model::parse(&bytes).map_err(rt)?;
        let arena = vec![0u8; model.arena_bytes_unaligned()];
        Ok(HostModel { bytes, arena })
    }

    /// The model (parsed again, without the checksum that [`Self::new`]
    /// verified: the bytes are this value's own and never change).
    pub fn model(&self) -> Result<Model<'_>> {
        Model::reparse(&self.bytes).map_err(rt)
    }

    /// The `.edge` bytes.
    pub fn edge_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Run once: inputs in model order, outputs in model order.
    pub fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_with_hook(inputs, &mut edgerun::NoHook)
    }

    /// [`Self::run`], calling `hook` around every operator (e.g. to time it).
    pub fn run_with_hook(
        &mut self,
        inputs: &[Tensor],
        hook: &mut impl edgerun::OpHook,
    ) -> Result<Vec<Tensor>> {
        let model = Model::reparse(&self.bytes).map_err(rt)?;
        let mut interp = Interpreter::new(&model, &mut self.arena).map_err(rt)?;
        if inputs.len() != model.num_inputs() {
            return Err(CompileError::invalid(format!(
                "the model takes {} inputs, got {}",
                model.num_inputs(),
                inputs.len()
            )));
        }
        for (i, t) in inputs.iter().enumerate() {
            let d = model.input(i).map_err(rt)?;
            let want: Vec<usize> = d.shape.dims().iter().map(|&x| x as usize).collect();
            if t.len() != want.iter().product::<usize>() {
                return Err(CompileError::invalid(format!(
                    "input '{}' needs shape {want:?}, got {:?}",
                    d.name, t.shape
                )));
            }
            let bytes = match (d.dtype, &t.data) {
                (DType::F32, Data::F32(_))
                | (DType::U8, Data::U8(_))
                | (DType::I8, Data::I8(_))
                | (DType::I32, Data::I32(_)) => t.to_bytes(),
                (dt, _) => {
                    return Err(CompileError::invalid(format!(
                        "input '{}' is {}, got {:?}",
                        d.name,
                        dt.name(),
                        t.elem_type()
                    )));
                }
            };
            interp
                .input_bytes_mut(i)
                .map_err(rt)?
                .copy_from_slice(&bytes);
        }
        interp.invoke_with_hook(hook).map_err(rt)?;
        (0..model.num_outputs())
            .map(|i| {
                let d = model.output(i).map_err(rt)?;
                let mut shape: Vec<usize> = d.shape.dims().iter().map(|&x| x as usize).collect();
                let b = interp.output_bytes(i).map_err(rt)?;
                if let Some(rows) = interp.output_rows(i).map_err(rt)? {
                    // NonMaxSuppression's selected indices (see the module docs).
                    let row_len: usize = shape.iter().skip(1).product();
                    let data: Vec<i64> = interp
                        .output_i32(i)
                        .map_err(rt)?
                        .iter()
                        .take(rows * row_len)
                        .map(|&v| v as i64)
                        .collect();
                    if let Some(first) = shape.first_mut() {
                        *first = rows;
                    }
                    return Ok(Tensor {
                        shape,
                        data: Data::I64(data),
                    });
                }
                let data = match d.dtype {
                    DType::F32 => Data::F32(
                        b.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    ),
                    DType::I32 => Data::I32(
                        b.chunks_exact(4)
                            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    ),
                    DType::U8 => Data::U8(b.to_vec()),
                    _ => Data::I8(b.iter().map(|&x| x as i8).collect()),
                };
                Ok(Tensor { shape, data })
            })
            .collect()
    }
}
