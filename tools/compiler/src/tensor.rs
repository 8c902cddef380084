//! Compile-time tensors (constants, test data) and ONNX TensorProto conversion.

use crate::error::{CompileError, Result};
use crate::pb::{TensorProto, tensor_proto::DataType};

/// ONNX element types edgerun knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F32,
    U8,
    I8,
    I32,
    I64,
    /// Any other ONNX type (code), supported by nothing but shape-only ops.
    Other(i32),
}

impl ElemType {
    pub fn from_onnx(code: i32) -> ElemType {
        match DataType::try_from(code) {
            Ok(DataType::Float) => ElemType::F32,
            Ok(DataType::Uint8) => ElemType::U8,
            Ok(DataType::Int8) => ElemType::I8,
            Ok(DataType::Int32) => ElemType::I32,
            Ok(DataType::Int64) => ElemType::I64,
            _ => ElemType::Other(code),
        }
    }
    pub fn name(self) -> String {
        match self {
            ElemType::F32 => "float32".into(),
            ElemType::U8 => "uint8".into(),
            ElemType::I8 => "int8".into(),
            ElemType::I32 => "int32".into(),
            ElemType::I64 => "int64".into(),
            ElemType::Other(c) => match DataType::try_from(c) {
                Ok(d) => d.as_str_name().to_lowercase(),
                Err(_) => format!("type {c}"),
            },
        }
    }
}

/// Tensor data.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// A dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Element count, saturating (a corrupt shape must not overflow).
fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor {
            shape,
            data: Data::F32(v),
        }
    }
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn elem_type(&self) -> ElemType {
        match &self.data {
            Data::F32(_) => ElemType::F32,
            Data::U8(_) => ElemType::U8,
            Data::I8(_) => ElemType::I8,
            Data::I32(_) => ElemType::I32,
            Data::I64(_) => ElemType::I64,
        }
    }
    /// Values as f64 (any type).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
    /// Values as f32 (any type).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            _ => self.to_f64().into_iter().map(|x| x as f32).collect(),
        }
    }
    /// Integer values as i64 (floats are rejected).
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        Ok(match &self.data {
            Data::F32(_) => return Err(CompileError::invalid("expected an integer tensor")),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
        })
    }
    /// Raw little-endian bytes of the elements.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U8(v) => v.clone(),
            Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    /// Same data, new shape (element count must match).
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Tensor> {
        if numel(&shape) != self.len() {
            return Err(CompileError::invalid("reshape changes the element count"));
        }
        Ok(Tensor {
            shape,
            data: self.data.clone(),
        })
    }

    /// Permute axes (`out.shape[i] = in.shape[perm[i]]`).
    pub fn transposed(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.shape.len();
        if perm.len() != r {
            return Err(CompileError::invalid(
                "transpose: permutation rank mismatch",
            ));
        }
        let out_shape: Vec<usize> = perm
            .iter()
            .map(|&p| self.shape.get(p).copied().unwrap_or(1))
            .collect();
        let mut in_strides = vec![1usize; r];
        for d in (0..r.saturating_sub(1)).rev() {
            in_strides[d] = in_strides[d + 1] * self.shape[d + 1];
        }
        let n = self.len();
        let mut src_index = Vec::with_capacity(n);
        let mut idx = vec![0usize; r];
        for _ in 0..n {
            let off: usize = (0..r).map(|d| idx[d] * in_strides[perm[d]]).sum();
            src_index.push(off);
            for d in (0..r).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        fn pick<T: Copy>(v: &[T], ix: &[usize]) -> Vec<T> {
            ix.iter().map(|&i| v[i]).collect()
        }
        let data = match &self.data {
            Data::F32(v) => Data::F32(pick(v, &src_index)),
            Data::U8(v) => Data::U8(pick(v, &src_index)),
            Data::I8(v) => Data::I8(pick(v, &src_index)),
            Data::I32(v) => Data::I32(pick(v, &src_index)),
            Data::I64(v) => Data::I64(pick(v, &src_index)),
        };
        Ok(Tensor {
            shape: out_shape,
            data,
        })
    }
}

fn dims_of(t: &TensorProto) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                CompileError::invalid(format!("tensor '{}' has a negative dimension", t.name))
            })
        })
        .collect()
}

fn from_raw<T, const N: usize>(
    raw: &[u8],
    n: usize,
    f: fn([u8; N]) -> T,
    name: &str,
) -> Result<Vec<T>> {
    if raw.len() != n * N {
        return Err(CompileError::invalid(format!(
            "tensor '{name}': raw data has {} bytes, expected {}",
            raw.len(),
            n * N
        )));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect())
}

/// Decode an ONNX TensorProto (raw_data or typed fields).
pub fn from_proto(t: &TensorProto) -> Result<Tensor> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(CompileError::invalid(format!(
            "tensor '{}' uses external data, which edgerun does not read",
            t.name
        )));
    }
    let shape = dims_of(t)?;
    let n = numel(&shape);
    let raw = !t.raw_data.is_empty();
    let name = t.name.as_str();
    let data = match ElemType::from_onnx(t.data_type) {
        ElemType::F32 => Data::F32(if raw {
            from_raw(&t.raw_data, n, f32::from_le_bytes, name)?
        } else {
            t.float_data.clone()
        }),
        ElemType::I64 => Data::I64(if raw {
            from_raw(&t.raw_data, n, i64::from_le_bytes, name)?
        } else {
            t.int64_data.clone()
        }),
        ElemType::I32 => Data::I32(if raw {
            from_raw(&t.raw_data, n, i32::from_le_bytes, name)?
        } else {
            t.int32_data.clone()
        }),
        ElemType::U8 => Data::U8(if raw {
            t.raw_data.clone()
        } else {
            t.int32_data.iter().map(|&x| x as u8).collect()
        }),
        ElemType::I8 => Data::I8(if raw {
            t.raw_data.iter().map(|&x| x as i8).collect()
        } else {
            t.int32_data.iter().map(|&x| x as i8).collect()
        }),
        other => {
            return Err(CompileError::Unsupported {
                node: name.to_string(),
                op: "tensor".into(),
                reason: format!("element type {} is not supported", other.name()),
            });
        }
    };
    let tensor = Tensor { shape, data };
    if tensor.len() != n {
        return Err(CompileError::invalid(format!(
            "tensor '{name}' has {} values for {n} elements",
            tensor.len()
        )));
    }
    Ok(tensor)
}

/// Decode a serialized TensorProto (`input_0.pb` of an ONNX test case).
pub fn from_pb_bytes(bytes: &[u8]) -> Result<(String, Tensor)> {
    use prost::Message;
    let t = TensorProto::decode(bytes).map_err(|e| CompileError::Protobuf(e.to_string()))?;
    Ok((t.name.clone(), from_proto(&t)?))
}

/// Encode as a TensorProto (raw data).
pub fn to_proto(name: &str, t: &Tensor) -> TensorProto {
    let data_type = match t.elem_type() {
        ElemType::F32 => DataType::Float,
        ElemType::U8 => DataType::Uint8,
        ElemType::I8 => DataType::Int8,
        ElemType::I32 => DataType::Int32,
        _ => DataType::Int64,
    } as i32;
    TensorProto {
        name: name.to_string(),
        dims: t.shape.iter().map(|&d| d as i64).collect(),
        data_type,
        raw_data: t.to_bytes(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_2x3() {
        let t = Tensor::f32(vec![2, 3], vec![0., 1., 2., 3., 4., 5.]);
        let u = t.transposed(&[1, 0]).unwrap();
        assert_eq!(u.shape, vec![3, 2]);
        assert_eq!(u.data, Data::F32(vec![0., 3., 1., 4., 2., 5.]));
    }

    #[test]
    fn proto_round_trip() {
        let t = Tensor {
            shape: vec![2, 2],
            data: Data::I32(vec![1, -2, 3, 4]),
        };
        let p = to_proto("x", &t);
        assert_eq!(from_proto(&p).unwrap(), t);
    }
}
