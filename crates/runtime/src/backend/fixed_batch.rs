//! Running any batch through a model whose batch dimension is fixed.
//!
//! Exporters often fix the batch (most often to 1: `torch.onnx.export` without `dynamic_axes`,
//! TensorFlow converters, vendor model zoos), while callers batch frames by the dozen. An engine
//! handed a batch of 32 for a model that declares 1 refuses it ("Got: 32 Expected: 1"), so the
//! batch is cut into chunks of the declared size, each run on its own, and the outputs put back
//! together in order.
//!
//! A last chunk shorter than the declared size (a batch of 10 for a model fixed at 4) is padded
//! with copies of its last sample, and the outputs of the copies are dropped. Padding with copies
//! rather than zeros keeps every row the model sees a real input, so a model that normalizes or
//! divides cannot turn the padding into NaN or an error; dropping the rows is exact because a
//! model in inference mode treats the samples of a batch independently (refusing such a batch
//! would make a fixed-batch-4 model unusable for the common batch sizes).

use edge_ssl_core::{Tensor, TensorView};
use ndarray::{Axis, concatenate};

use crate::{Result, RuntimeError, TensorInfo};

/// The batch size every input fixes, when they all have a leading (batch) dimension of the same
/// declared size; `None` when the batch is free or the inputs disagree.
pub(crate) fn fixed_batch(inputs: &[TensorInfo]) -> Option<usize> {
    let first = inputs.first()?;
    let batch = match first.shape.as_slice() {
        [Some(b), _, ..] => *b,
        _ => return None,
    };
    inputs
        .iter()
        .all(|i| i.shape.len() >= 2 && i.shape[0] == Some(batch))
        .then_some(batch)
}

/// Operators whose result for one sample depends on the other samples of its batch: dynamic
/// quantization takes one scale and zero point from the minimum and maximum of the whole tensor,
/// batch included (what `onnxruntime.quantization.quantize_dynamic` writes, and the fused forms
/// ONNX Runtime saves from it).
const BATCH_COUPLING: [&str; 3] = [
    "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul",
    "DynamicQuantizeLSTM",
];

/// The first operator of `operators` (type, count) that couples the samples of a batch, if any:
/// such a model must run one sample a call, or an image's embedding would depend on which
/// images were batched with it (a head fitted on batches of 32 then classifies frames that
/// `run` sends one at a time).
pub(crate) fn batch_coupling(operators: &[(String, usize)]) -> Option<&'static str> {
    BATCH_COUPLING
        .into_iter()
        .find(|op| operators.iter().any(|(name, _)| name == op))
}

/// Whether the graph normalizes with its batch's statistics (a BatchNormalization in training
/// mode, as the BN probe does): it couples the samples of a batch on purpose, so it runs batched
/// even when [`batch_coupling`] finds dynamic quantization in it too.
pub(crate) fn normalizes_by_batch(proto: &tract_onnx::pb::ModelProto) -> bool {
    proto.graph.iter().flat_map(|g| &g.node).any(|node| {
        node.op_type == "BatchNormalization"
            && node
                .attribute
                .iter()
                .any(|a| a.name == "training_mode" && a.i == 1)
    })
}

/// Runs `inputs` (all with the same leading size N) through `run` in chunks of exactly `batch`
/// samples and returns the outputs of the N samples, concatenated along the leading axis. Every
/// output of a chunk must have `batch` rows.
pub(crate) fn run_in_chunks(
    batch: usize,
    inputs: &[TensorView],
    mut run: impl FnMut(&[TensorView]) -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let n = match inputs.first().and_then(|t| t.shape().first()) {
        Some(&n) => n,
        None => return run(inputs),
    };
    if batch == 0 || n == batch || n == 0 {
        return run(inputs);
    }
    if let Some(t) = inputs.iter().find(|t| t.shape().first() != Some(&n)) {
        return Err(RuntimeError::Input(format!(
            "the inputs' batch sizes differ ({n} and {:?})",
            t.shape().first()
        )));
    }
    let mut outputs: Vec<Vec<Tensor>> = Vec::new();
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let rows = end - start;
        let chunk_out = if rows == batch {
            let views: Vec<TensorView> = inputs
                .iter()
                .map(|t| t.slice_axis(Axis(0), (start..end).into()))
                .collect();
            run(&views)?
        } else {
            let padded = inputs
                .iter()
                .map(|t| pad(t.slice_axis(Axis(0), (start..end).into()), batch))
                .collect::<Result<Vec<Tensor>>>()?;
            let views: Vec<TensorView> = padded.iter().map(|t| t.view()).collect();
            run(&views)?
        };
        if outputs.is_empty() {
            outputs = vec![Vec::new(); chunk_out.len()];
        }
        if chunk_out.len() != outputs.len() {
            return Err(run_error(
                "the number of outputs changed between chunks".into(),
            ));
        }
        for (o, out) in chunk_out.into_iter().enumerate() {
            if out.shape().first() != Some(&batch) {
                return Err(run_error(format!(
                    "the model fixes its batch at {batch} but output {o} has shape {:?}",
                    out.shape()
                )));
            }
            outputs[o].push(out.slice_axis(Axis(0), (0..rows).into()).to_owned());
        }
    }
    outputs
        .into_iter()
        .enumerate()
        .map(|(o, parts)| {
            let views: Vec<TensorView> = parts.iter().map(|t| t.view()).collect();
            concatenate(Axis(0), &views).map_err(|e| {
                run_error(format!("output {o} changes shape from chunk to chunk: {e}"))
            })
        })
        .collect()
}

fn run_error(message: String) -> RuntimeError {
    RuntimeError::Run {
        backend: "fixed-batch chunking".into(),
        message,
    }
}

/// `rows` followed by copies of its last row, `batch` rows in all.
fn pad(rows: TensorView, batch: usize) -> Result<Tensor> {
    let n = rows.shape()[0];
    let mut last = rows.clone();
    last.slice_axis_inplace(Axis(0), (n - 1..n).into());
    let mut parts = vec![rows];
    parts.extend(std::iter::repeat_n(last, batch - n));
    concatenate(Axis(0), &parts).map_err(|e| RuntimeError::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn info(shape: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: "x".into(),
            shape: shape.to_vec(),
            element: "float32",
        }
    }

    #[test]
    fn only_a_leading_dimension_fixed_on_every_input_is_a_fixed_batch() {
        assert_eq!(
            fixed_batch(&[info(&[Some(1), Some(3), None, None])]),
            Some(1)
        );
        assert_eq!(fixed_batch(&[info(&[Some(4), Some(8)])]), Some(4));
        assert_eq!(fixed_batch(&[info(&[None, Some(3)])]), None);
        assert_eq!(fixed_batch(&[info(&[Some(4)])]), None);
        assert_eq!(fixed_batch(&[]), None);
        assert_eq!(
            fixed_batch(&[info(&[Some(4), Some(8)]), info(&[Some(2), Some(8)])]),
            None
        );
    }

    /// A fake model fixed at `batch` that outputs, per sample, its sum and the sum of the whole
    /// chunk — the second column shows which rows shared a chunk, so padding is visible.
    fn fake(batch: usize) -> impl FnMut(&[TensorView]) -> Result<Vec<Tensor>> {
        move |inputs: &[TensorView]| {
            let x = &inputs[0];
            assert_eq!(
                x.shape()[0],
                batch,
                "the model only takes batches of {batch}"
            );
            let total: f32 = x.sum();
            let out = ArrayD::from_shape_fn(IxDyn(&[batch, 2]), |ix| {
                if ix[1] == 0 {
                    x.index_axis(Axis(0), ix[0]).sum()
                } else {
                    total
                }
            });
            Ok(vec![out])
        }
    }

    #[test]
    fn chunks_pad_the_remainder_with_its_last_sample_and_drop_those_rows() {
        let input = ArrayD::from_shape_fn(IxDyn(&[10, 3]), |ix| (ix[0] * 10 + ix[1]) as f32);
        let got = run_in_chunks(4, &[input.view()], fake(4)).unwrap();
        assert_eq!(got[0].shape(), &[10, 2]);
        for i in 0..10 {
            let row_sum: f32 = (0..3).map(|j| (i * 10 + j) as f32).sum();
            assert_eq!(got[0][[i, 0]], row_sum, "sample {i} in order");
        }
        // The last chunk held samples 8, 9 and two copies of 9.
        let sum = |i: usize| (0..3).map(|j| (i * 10 + j) as f32).sum::<f32>();
        assert_eq!(got[0][[9, 1]], sum(8) + 3.0 * sum(9));
        assert_eq!(got[0][[0, 1]], (0..4).map(sum).sum::<f32>());
    }

    #[test]
    fn a_batch_smaller_than_the_fixed_one_is_padded_and_batch_1_splits() {
        let input = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |ix| (ix[0] + 1) as f32);
        let got = run_in_chunks(4, &[input.view()], fake(4)).unwrap();
        assert_eq!(got[0].shape(), &[3, 2]);
        assert_eq!(
            got[0]
                .index_axis(Axis(1), 0)
                .iter()
                .copied()
                .collect::<Vec<f32>>(),
            vec![2.0, 4.0, 6.0]
        );
        let got = run_in_chunks(1, &[input.view()], fake(1)).unwrap();
        assert_eq!(
            got[0]
                .index_axis(Axis(1), 1)
                .iter()
                .copied()
                .collect::<Vec<f32>>(),
            vec![2.0, 4.0, 6.0]
        );
    }

    #[test]
    fn an_output_without_the_fixed_batch_is_an_error() {
        let input = ArrayD::<f32>::zeros(IxDyn(&[3, 2]));
        let err = run_in_chunks(1, &[input.view()], |_: &[TensorView]| {
            Ok(vec![ArrayD::zeros(IxDyn(&[5]))])
        })
        .unwrap_err();
        assert!(err.to_string().contains("fixes its batch at 1"), "{err}");
    }
}
