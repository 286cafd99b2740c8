//! Batched 1×1 convolutions for tract without the axis moves around their matrix product.
//!
//! tract 0.23 declutters a 1×1 convolution on NCHW data into the einsum `NIHW,OI->NOHW` and
//! runs it as one matrix product over the whole batch, `(N·H·W) × I` by `I × O`: it moves the
//! channels of the input last before it and of the output back after it. At batch 1 the moves
//! are free (tract writes the product where it belongs); behind a batch axis each is a copy of an
//! activation. In MobileNetV3-Small's BN probe (224×224, batch 32, two threads) those moves took
//! 44–60 of the 157–184 ms a batch, more than the products themselves. Per image the product is
//! `O × I` by `I × H·W` on data already in NCHW order, so [`BatchedPointwise`] runs one
//! GEMM per image ([`edge_ssl_core::gemm`]), the images shared out over tract's threads, and moves
//! nothing. [`replace_pointwise`] puts it in place of those einsums in models that probe batch
//! statistics (where a batch is the point: a plain forward pass runs sample by sample, see
//! [`super::split`]).

use std::sync::Arc;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::per_image::each_image;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// `y[n] = W · x[n]` for every image `n` of NCHW data, `W` being `O × I`.
#[derive(Debug, Clone)]
pub(crate) struct BatchedPointwise {
    /// `O × I`, row-major.
    weights: Arc<[f32]>,
    outputs: usize,
    inputs: usize,
}

impl PartialEq for BatchedPointwise {
    fn eq(&self, other: &Self) -> bool {
        // Bit for bit (NaN weights compare equal to themselves), without copying the weights.
        (self.outputs, self.inputs) == (other.outputs, other.inputs)
            && (Arc::ptr_eq(&self.weights, &other.weights)
                || self
                    .weights
                    .iter()
                    .map(|x| x.to_bits())
                    .eq(other.weights.iter().map(|x| x.to_bits())))
    }
}

impl Eq for BatchedPointwise {}

impl Op for BatchedPointwise {
    fn name(&self) -> StaticName {
        "BatchedPointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{} → {} channels", self.inputs, self.outputs)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for BatchedPointwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 1, "BatchedPointwise takes one input");
        let shape = inputs[0].shape();
        ensure!(
            shape.len() == 4 && shape[1] == self.inputs,
            "BatchedPointwise: input {shape:?} for {} channels",
            self.inputs
        );
        let (o, i, plane) = (self.outputs, self.inputs, shape[2] * shape[3]);
        let y = each_image(
            &inputs[0],
            [o, shape[2], shape[3]],
            o * i * plane,
            || Ok(()),
            |_, x, y| product(&self.weights, x, y, (o, i, plane)),
        )?;
        Ok(tvec!(y.into_tvalue()))
    }
}

/// `y (o × p) = w (o × i) · x (i × p)`, all row-major, through [`edge_ssl_core::gemm`].
fn product(
    w: &[f32],
    x: &[f32],
    y: &mut [f32],
    (o, i, p): (usize, usize, usize),
) -> TractResult<()> {
    let w = ArrayView2::from_shape((o, i), w)?;
    let x = ArrayView2::from_shape((i, p), x)?;
    let y = ArrayViewMut2::from_shape((o, p), y)?;
    edge_ssl_core::gemm(1.0, w, x, 0.0, y);
    Ok(())
}

impl TypedOp for BatchedPointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type());
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "BatchedPointwise takes NCHW data");
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            self.outputs.to_dim(),
            shape[2].clone(),
            shape[3].clone()
        ])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let shape = &inputs[0].shape;
        let per_point = (self.outputs * self.inputs).to_dim();
        let points = shape[0].clone() * shape[2].clone() * shape[3].clone();
        Ok(tvec!((Cost::FMA(f32::datum_type()), points * per_point)))
    }

    as_op!();
}

/// Replaces the `NIHW,OI->NOHW` einsums of a decluttered typed model with constant f32 weights
/// and a concrete batch above 1 by [`BatchedPointwise`]; returns how many.
pub(crate) fn replace_pointwise(model: &mut TypedModel) -> TractResult<usize> {
    super::replace::replace_nodes(model, |model, node| {
        let Some(einsum) = node.op_as::<EinSum>() else {
            return Ok(None);
        };
        if node.inputs.len() != 2 || einsum.axes.to_string() != "NIHW,OI->NOHW" {
            return Ok(None);
        }
        let (x, w) = (
            model.outlet_fact(node.inputs[0])?,
            model.outlet_fact(node.inputs[1])?,
        );
        let Some(weights) = &w.konst else {
            return Ok(None);
        };
        let batched = x
            .shape
            .as_concrete()
            .is_some_and(|s| s.len() == 4 && s[0] > 1);
        let f32s = einsum.q_params.is_none()
            && x.datum_type == f32::datum_type()
            && weights.datum_type() == f32::datum_type()
            && einsum.operating_dt == f32::datum_type();
        if !batched || !f32s || weights.rank() != 2 {
            return Ok(None);
        }
        let (outputs, inputs) = (weights.shape()[0], weights.shape()[1]);
        let op = BatchedPointwise {
            weights: weights
                .to_plain_array_view::<f32>()?
                .iter()
                .copied()
                .collect(),
            outputs,
            inputs,
        };
        Ok(Some(Box::new(op) as Box<dyn TypedOp>))
    })
}

#[cfg(test)]
mod tests {
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::ops::einsum::EinSum;

    use super::replace_pointwise;
    use crate::tract::replace::assert_replacement_keeps_outputs;

    /// `x (batch × 5 × 3 × 4) → NIHW,OI->NOHW with 7 × 5 weights`.
    fn model(batch: usize) -> TractResult<TypedModel> {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([batch, 5, 3, 4]))?;
        let w: Vec<f32> = (0..35)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.125)
            .collect();
        let w = m.add_const("w", Tensor::from_shape(&[7, 5], &w)?)?;
        let op = EinSum::new("NIHW,OI->NOHW".parse()?, f32::datum_type());
        let y = m.wire_node("pointwise", op, &[x, w])?;
        m.select_output_outlets(&y)?;
        Ok(m)
    }

    #[test]
    fn batched_pointwise_equals_the_einsum_and_leaves_batch_1_alone() -> TractResult<()> {
        assert_replacement_keeps_outputs(model, replace_pointwise, [5, 3, 4])
    }
}
