//! Initializer payloads: ONNX stores a tensor either in a typed repeated field or as
//! little-endian `raw_data`; both are read here, and float tensors are written back as raw.

use ndarray::{ArrayD, IxDyn};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

pub(super) enum TensorData {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
    Other,
}

/// The shape of `t`, refusing negative dimensions and element counts that overflow.
pub(super) fn shape(t: &pb::TensorProto) -> Result<Vec<usize>, String> {
    let mut n: usize = 1;
    let dims = t
        .dims
        .iter()
        .map(|&d| {
            let d = usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
            n = n.checked_mul(d).ok_or("element count overflows")?;
            Ok(d)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(dims)
}

fn raw<const N: usize, T>(t: &pb::TensorProto, f: fn([u8; N]) -> T) -> Vec<T> {
    t.raw_data
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
        .collect()
}

fn array<T>(shape: Vec<usize>, data: Vec<T>) -> Result<ArrayD<T>, String> {
    let n = data.len();
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|_| format!("holds {n} values for shape {shape:?}"))
}

/// The values of `t`. External data is not followed (callers refuse such models first).
pub(super) fn decode(t: &pb::TensorProto) -> Result<TensorData, String> {
    let dims = shape(t)?;
    let kind = DataType::try_from(t.data_type).unwrap_or(DataType::Undefined);
    let has_raw = !t.raw_data.is_empty();
    Ok(match kind {
        DataType::Float => TensorData::F32(array(
            dims,
            if has_raw {
                raw(t, f32::from_le_bytes)
            } else {
                t.float_data.clone()
            },
        )?),
        DataType::Int64 => TensorData::I64(array(
            dims,
            if has_raw {
                raw(t, i64::from_le_bytes)
            } else {
                t.int64_data.clone()
            },
        )?),
        DataType::Int32 => TensorData::I64(array(
            dims,
            if has_raw {
                raw(t, |b: [u8; 4]| i32::from_le_bytes(b) as i64)
            } else {
                t.int32_data.iter().map(|&v| v as i64).collect()
            },
        )?),
        DataType::Bool => TensorData::I64(array(
            dims,
            if has_raw {
                raw(t, |b: [u8; 1]| b[0] as i64)
            } else {
                t.int32_data.iter().map(|&v| v as i64).collect()
            },
        )?),
        _ => TensorData::Other,
    })
}

/// A float32 initializer named `name` holding `a`, stored as raw little-endian bytes.
pub(super) fn float_tensor(name: &str, a: &ArrayD<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: a.shape().iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}
