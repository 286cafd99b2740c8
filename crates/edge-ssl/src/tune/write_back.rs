//! Trained weights back into the encoder's ONNX: same graph, new initializers.

use std::path::Path;

use edge_ssl_runtime::RuntimeError;
use edge_ssl_runtime::onnx::graph::OnnxModel;
use edge_ssl_train::graph::Graph;

use super::{Result, TuneError};

/// Writes `model` to `out` (atomically; `out` may be `model` itself) with every float
/// initializer of `graph` — trained weights and updated BatchNormalization running statistics
/// — in place of the original. Initializers the import untied become tensors of their own.
/// Before anything is written the new bytes are parsed back and every replaced tensor
/// compared bit for bit. Returns how many tensors were replaced.
pub fn write_back(model: &Path, graph: &Graph, out: &Path) -> Result<usize> {
    let mut onnx = OnnxModel::open(model)?;
    let values = graph.initializers();
    let written = onnx.replace_initializers(&values)?;
    let bytes = onnx.to_bytes();
    drop(onnx);
    let reread = OnnxModel::from_bytes(&bytes, out)?;
    let reread = reread.float_initializers(&|name| values.contains_key(name))?;
    for (name, value) in &values {
        let same = reread.get(name).is_some_and(|r| {
            r.shape() == value.shape()
                && r.iter().zip(value).all(|(a, b)| a.to_bits() == b.to_bits())
        });
        if !same {
            return Err(TuneError::WriteBack(format!(
                "initializer `{name}` reads back different"
            )));
        }
    }
    edge_ssl_core::write_atomic(out, |w| w.write_all(&bytes)).map_err(RuntimeError::from)?;
    Ok(written)
}
