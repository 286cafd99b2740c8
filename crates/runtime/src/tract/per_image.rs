//! Batched convolutions for tract run image by image, as tract runs them at batch 1.
//!
//! Behind a batch axis tract 0.23 lowers a convolution to one `Im2col` of the whole batch — every
//! image's patches unrolled and packed at once, `k·k` times the input — then one matrix product.
//! At batch 1 it reads the patches lazily from the input inside the product. In the BN probe,
//! which must run a batch to take its statistics, the unrolled batch is the largest allocation
//! of a ResNet layer (64 channels, 3×3, 56×56, batch 32: 231 MB) and MobileNetV3-Small's stem
//! spent 28 of the probe's 148 ms a batch there. [`PerImageConv`] holds the same convolution
//! planned by tract for one image and runs it on each image of the batch in turn (shared out
//! over tract's threads); [`replace_convs`] puts it in place of the plain convolutions of a model
//! that probes batch statistics.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::conv::Conv;
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg::multithread;

/// A convolution of NCHW f32 data run as tract's plan for one image, image after image.
#[derive(Debug, Clone)]
pub(crate) struct PerImageConv {
    plan: Arc<TypedRunnableModel>,
    /// `[C, H, W]` of one input image.
    input: [usize; 3],
    /// `[O, OH, OW]` of one output image.
    output: [usize; 3],
}

impl PartialEq for PerImageConv {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.plan, &other.plan)
    }
}

impl Eq for PerImageConv {}

impl Op for PerImageConv {
    fn name(&self) -> StaticName {
        "PerImageConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} → {:?} per image",
            self.input, self.output
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for PerImageConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 1, "PerImageConv takes one input");
        let shape = inputs[0].shape();
        ensure!(
            shape.len() == 4 && shape[1..] == self.input,
            "PerImageConv: input {shape:?} for images {:?}",
            self.input
        );
        let [c, h, w] = self.input;
        let out_len = self.output.iter().product::<usize>();
        let y = each_image(
            &inputs[0],
            self.output,
            out_len,
            || self.plan.spawn(),
            |state, x, y| {
                let image = Tensor::from_shape(&[1, c, h, w], x)?;
                let out = state.run(tvec!(image.into_tvalue()))?;
                let out = out[0].try_as_plain_ram()?;
                let out = out.as_slice::<f32>()?;
                ensure!(out.len() == y.len(), "PerImageConv: output size");
                y.copy_from_slice(out);
                Ok(())
            },
        )?;
        Ok(tvec!(y.into_tvalue()))
    }
}

/// The `[N, O, OH, OW]` tensor whose image `k` is `image(state, x_k, y_k)`, `x_k` being image
/// `k` of the NCHW tensor `x` and `out` the shape of one output image; the images are shared out
/// over tract's threads, each thread with a `state()` of its own, and `work` is an image's cost
/// for tract's threading threshold. Every value of `y_k` must be written.
pub(crate) fn each_image<S>(
    x: &TValue,
    out: [usize; 3],
    work: usize,
    state: impl Fn() -> TractResult<S> + Send + Sync,
    image: impl Fn(&mut S, &[f32], &mut [f32]) -> TractResult<()> + Send + Sync,
) -> TractResult<Tensor> {
    let n = x.shape().first().copied().unwrap_or(0);
    let input = x.try_as_plain_ram()?;
    let x = input.as_slice::<f32>()?;
    let (in_len, out_len) = (x.len() / n.max(1), out.iter().product::<usize>());
    let [o, oh, ow] = out;
    // SAFETY: every image's output is written by `image` before the tensor is read.
    let mut output = unsafe { Tensor::uninitialized::<f32>(&[n, o, oh, ow])? };
    {
        let mut out_view = output.try_as_plain_ram_mut()?;
        let y = out_view.as_slice_mut::<f32>()?;
        if y.is_empty() {
            return Ok(output);
        }
        multithread::par_chunks_mut(y, out_len, n * work, |first, ys| {
            let mut state = state()?;
            for (k, y) in ys.chunks_exact_mut(out_len).enumerate() {
                image(&mut state, &x[(first + k) * in_len..][..in_len], y)?;
            }
            Ok(())
        })?;
    }
    Ok(output)
}

impl TypedOp for PerImageConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type());
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "PerImageConv takes NCHW data");
        let [o, oh, ow] = self.output;
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            o.to_dim(),
            oh.to_dim(),
            ow.to_dim()
        ])))
    }

    as_op!();
}

/// Replaces the f32 NCHW convolutions of a decluttered typed model that have constant weights
/// and bias and a concrete batch above 1 by [`PerImageConv`]; returns how many.
pub(crate) fn replace_convs(model: &mut TypedModel) -> TractResult<usize> {
    super::replace::replace_nodes(model, |model, node| {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        if node.inputs.len() != 3
            || conv.q_params.is_some()
            || conv.pool_spec.data_format != DataFormat::NCHW
        {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let (Some(shape), Some(weights), Some(bias)) = (
            x.shape.as_concrete(),
            model.outlet_fact(node.inputs[1])?.konst.clone(),
            model.outlet_fact(node.inputs[2])?.konst.clone(),
        ) else {
            return Ok(None);
        };
        let Some(out) = model.outlet_fact(node.id.into())?.shape.as_concrete() else {
            return Ok(None);
        };
        let (&[n, c, h, w], &[_, o, oh, ow]) = (shape, out) else {
            return Ok(None);
        };
        if n < 2 || x.datum_type != f32::datum_type() {
            return Ok(None);
        }
        let mut one = TypedModel::default();
        let image = one.add_source("x", f32::fact([1, c, h, w]))?;
        let weights = one.add_const("w", weights)?;
        let bias = one.add_const("b", bias)?;
        let y = one.wire_node("conv", conv.clone(), &[image, weights, bias])?;
        one.select_output_outlets(&y)?;
        let op = PerImageConv {
            plan: one.into_optimized()?.into_runnable()?,
            input: [c, h, w],
            output: [o, oh, ow],
        };
        Ok(Some(Box::new(op) as Box<dyn TypedOp>))
    })
}

#[cfg(test)]
mod tests {
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::ops::cnn::conv::{Conv, KernelFormat};
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    use super::replace_convs;
    use crate::tract::replace::assert_replacement_keeps_outputs;

    /// `x (batch × 3 × 9 × 8) → 3×3 conv, stride 2, padding 1, 4 outputs, with a bias`.
    fn model(batch: usize) -> TractResult<TypedModel> {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([batch, 3, 9, 8]))?;
        let w: Vec<f32> = (0..108)
            .map(|i| ((i * 11 % 19) as f32 - 9.0) * 0.1)
            .collect();
        let w = m.add_const("w", Tensor::from_shape(&[4, 3, 3, 3], &w)?)?;
        let b = m.add_const("b", tensor1(&[0.5f32, -0.25, 0.0, 1.0]))?;
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec!(3, 3),
                padding: PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1)),
                dilations: None,
                strides: Some(tvec!(2, 2)),
                input_channels: 3,
                output_channels: 4,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = m.wire_node("conv", conv, &[x, w, b])?;
        m.select_output_outlets(&y)?;
        Ok(m)
    }

    #[test]
    fn per_image_convs_equal_the_batched_conv_and_leave_batch_1_alone() -> TractResult<()> {
        assert_replacement_keeps_outputs(model, replace_convs, [3, 9, 8])
    }
}
