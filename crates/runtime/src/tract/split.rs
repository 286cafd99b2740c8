//! Running a batch through tract one sample at a time, the samples shared out over threads.
//!
//! tract 0.23 optimizes a convolution differently once the batch is above 1: instead of reading the
//! input through a lazy im2col it materializes a packed im2col buffer per image, and that copy costs
//! more than the batching saves. Measured with `cargo run --release --example tract_profile` on one
//! thread: the bundled encoder costs 0.64 ms per sample at batch 1 and 0.82 ms at batch 32 (im2col
//! alone is 38 % of that run); ResNet-18 at 224×224 costs 49 ms per sample at batch 1 and 67 ms at
//! batch 4; MobileNetV3-Small 8.7 ms against 20.8 ms. tract's intra-op threads, for their part, only
//! split matrix products big enough to pay for the hand-off, which the small convolutions of an
//! edge encoder rarely are.
//!
//! So a batch of N is run as N batch-1 runs of the plan already optimized at load, on up to
//! `threads` single-threaded copies of its state, each thread taking one contiguous range of
//! samples. This is only correct for a model that treats the samples of a batch independently —
//! every inference-mode CNN encoder does — which [`splittable`] reads from the ONNX: one input and
//! every output with a dynamic leading dimension. A model that fixes its batch at 1 is run the same
//! way (the session decides, see `backend::fixed_batch`): one sample per run is all it accepts.

use std::ops::Range;

use edge_ssl_core::{Tensor, TensorView};
use ndarray::Axis;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{anyhow, bail};
use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};

use crate::TensorInfo;

/// One optimized plan and the state that runs it.
pub(crate) type Plan = TypedSimpleState;

/// Whether a batch of this model may be run one sample at a time: a single input, and the input and
/// every output declaring a dynamic (symbolic) batch dimension.
pub(crate) fn splittable(inputs: &[TensorInfo], outputs: &[TensorInfo]) -> bool {
    let dynamic_batch = |t: &TensorInfo| t.shape.len() >= 2 && t.shape[0].is_none();
    inputs.len() == 1
        && inputs.iter().all(dynamic_batch)
        && !outputs.is_empty()
        && outputs.iter().all(dynamic_batch)
}

/// The outputs of one worker: per model output, its samples' values back to back, and the shape of
/// one sample's output.
struct Part {
    data: Vec<Vec<f32>>,
    sample_shapes: Vec<Vec<usize>>,
}

/// Runs `input` (`[N, ...]`) sample by sample on `workers` (states of a plan optimized for batch 1;
/// at least one), one thread per worker, and reassembles the `[N, ...]` outputs.
pub(crate) fn run_split(workers: &mut [Plan], input: &TensorView) -> TractResult<Vec<Tensor>> {
    let n = input.shape()[0];
    let count = workers.len().min(n).max(1);
    let range = |w: usize| w * n / count..(w + 1) * n / count;
    let parts: Vec<TractResult<Part>> = std::thread::scope(|scope| {
        let mut rest = workers.iter_mut().take(count).enumerate();
        let (_, first) = rest.next().expect("at least one worker");
        let handles: Vec<_> = rest
            .map(|(w, state)| scope.spawn(move || run_range(state, input, range(w))))
            .collect();
        let mut parts = vec![run_range(first, input, range(0))];
        parts.extend(handles.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow!("a tract worker thread panicked")))
        }));
        parts
    });
    let parts = parts.into_iter().collect::<TractResult<Vec<Part>>>()?;
    let shapes = parts[0].sample_shapes.clone();
    shapes
        .iter()
        .enumerate()
        .map(|(o, sample_shape)| {
            let mut data = Vec::with_capacity(n * sample_shape.iter().product::<usize>());
            for part in &parts {
                if part.sample_shapes[o] != *sample_shape {
                    bail!("output {o} changes shape from sample to sample");
                }
                data.extend_from_slice(&part.data[o]);
            }
            let shape: Vec<usize> = std::iter::once(n)
                .chain(sample_shape.iter().copied())
                .collect();
            Ok(Tensor::from_shape_vec(shape, data)?)
        })
        .collect()
}

/// `view`'s values as a tract tensor of `shape` (the view's own shape, or it with a leading 1),
/// copied once whether or not the view is contiguous.
pub(crate) fn to_tract(
    view: &TensorView,
    shape: &[usize],
) -> TractResult<tract_onnx::prelude::Tensor> {
    match view.as_slice() {
        Some(data) => tract_onnx::prelude::Tensor::from_shape(shape, data),
        None => {
            let data: Vec<f32> = view.iter().copied().collect();
            tract_onnx::prelude::Tensor::from_shape(shape, &data)
        }
    }
}

/// Runs samples `range` of `input` one at a time on `state`, single-threaded.
fn run_range(state: &mut Plan, input: &TensorView, range: Range<usize>) -> TractResult<Part> {
    let mut part = Part {
        data: Vec::new(),
        sample_shapes: Vec::new(),
    };
    multithread_tract_scope(Executor::SingleThread, || {
        for i in range {
            let sample = input.index_axis(Axis(0), i);
            let mut shape = vec![1];
            shape.extend_from_slice(sample.shape());
            let tensor = to_tract(&sample, &shape)?;
            let outputs = state.run(tvec!(tensor.into_tvalue()))?;
            if part.sample_shapes.is_empty() {
                part.data = vec![Vec::new(); outputs.len()];
                part.sample_shapes = outputs.iter().map(|t| t.shape()[1..].to_vec()).collect();
            }
            for (o, t) in outputs.iter().enumerate() {
                let view = t.to_plain_array_view::<f32>()?;
                if view.shape().first() != Some(&1) || view.shape()[1..] != part.sample_shapes[o] {
                    bail!("output {o} has shape {:?} for one sample", view.shape());
                }
                part.data[o].extend(view.iter().copied());
            }
        }
        Ok(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn info(shape: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: "t".into(),
            shape: shape.to_vec(),
            element: "float32",
        }
    }

    #[test]
    fn only_models_with_a_dynamic_batch_everywhere_are_split() {
        let dynamic = info(&[None, Some(1), Some(28), Some(28)]);
        let out = info(&[None, Some(128)]);
        assert!(splittable(
            std::slice::from_ref(&dynamic),
            std::slice::from_ref(&out)
        ));
        let fixed = info(&[Some(4), Some(1), Some(28), Some(28)]);
        assert!(!splittable(
            std::slice::from_ref(&fixed),
            std::slice::from_ref(&out)
        ));
        let fixed_out = info(&[Some(1), Some(128)]);
        assert!(!splittable(
            std::slice::from_ref(&dynamic),
            &[out.clone(), fixed_out]
        ));
        assert!(!splittable(
            &[dynamic.clone(), dynamic.clone()],
            std::slice::from_ref(&out)
        ));
        assert!(!splittable(std::slice::from_ref(&dynamic), &[]));
        assert!(!splittable(&[info(&[None])], &[info(&[None])]));
    }

    fn bundled_plan(batch: usize) -> Plan {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/fmnist-ssl/encoder.onnx"
        );
        tract_onnx::onnx()
            .model_for_path(path)
            .unwrap()
            .with_input_fact(0, f32::fact([batch, 1, 28, 28]).into())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap()
            .spawn()
            .unwrap()
    }

    #[test]
    fn split_runs_match_one_batched_run_for_uneven_shares() {
        let n = 5;
        let input = ArrayD::from_shape_fn(IxDyn(&[n, 1, 28, 28]), |ix| {
            ((ix[0] * 31 + ix[2] * 7 + ix[3] * 3) % 17) as f32 / 8.0 - 1.0
        });
        let batched = bundled_plan(n)
            .run(tvec!(
                tract_onnx::prelude::Tensor::from_shape(input.shape(), input.as_slice().unwrap())
                    .unwrap()
                    .into_tvalue()
            ))
            .unwrap();
        let expected = batched[0].to_plain_array_view::<f32>().unwrap().to_owned();
        let one = bundled_plan(1);
        // 1, 2 and 4 workers: shares of 5, 2+3 and 1+1+1+2 samples; 8 workers for 5 samples use 5.
        for workers in [1, 2, 4, 8] {
            let mut states: Vec<Plan> = (0..workers).map(|_| one.clone()).collect();
            let got = run_split(&mut states, &input.view()).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].shape(), expected.shape());
            let diff = (&got[0] - &expected)
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(diff < 1e-4, "{workers} workers: max abs diff {diff}");
            // Each sample differs from its neighbours, so a mixed-up order could not pass.
            assert!(
                (&expected.index_axis(Axis(0), 0) - &expected.index_axis(Axis(0), 1))
                    .iter()
                    .any(|d| d.abs() > 1e-3)
            );
        }
    }
}
