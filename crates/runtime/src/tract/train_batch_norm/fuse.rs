//! The activation behind a training-mode batch-norm, run in the batch-norm's last pass.
//!
//! In the BN probe every layer's batch-norm normalizes with its batch's own statistics, so tract
//! cannot fold it into the convolution before it, nor fuse the activation after it into the
//! matrix product's output as it does in a plain forward pass: a [`TrainBatchNorm`] writes its
//! batch-sized activation, then a ReLU or HardSwish reads and writes it once more (MobileNetV3-
//! Small, 224×224, batch 32: 32 of the probe's 250 ms per batch in those two ops). Where the
//! normalized output feeds nothing but such an activation, [`fuse_activations`] gives the
//! activation to the batch-norm, which applies it to each value as it stores it.
//!
//! Taken: tract's imports of ONNX's Relu and Clip (a `Max` with a constant, then a `Min` with a
//! constant) and HardSwish (an element-wise `HardSwish`), on f32.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::{Max, Min};
use tract_onnx::tract_core::ops::nn::HardSwish;

use super::TrainBatchNorm;
use super::kernel::Activation;

/// Fuses into each [`TrainBatchNorm`] of a typed model the activations that alone read its
/// normalized output; returns how many it fused.
pub(crate) fn fuse_activations(model: &mut TypedModel) -> TractResult<usize> {
    let mut fused = 0;
    // One activation per sweep and node: a Clip is a Max, then a Min.
    loop {
        let mut changed = false;
        for id in model.eval_order()? {
            let Some(bn) = model.node(id).op_as::<TrainBatchNorm>().cloned() else {
                continue;
            };
            let y = OutletId::new(id, 0);
            if model.output_outlets()?.contains(&y) {
                continue;
            }
            let successors = model.outlet_successors(y);
            let [next] = successors else {
                continue;
            };
            let next = model.node(next.node);
            let Some(act) = absorbed(model, next, y, bn.act)? else {
                continue;
            };
            let node = model.node(id);
            let mut patch = TypedModelPatch::default();
            let inputs = patch.taps(model, &node.inputs)?;
            let op = TrainBatchNorm { act, ..bn };
            let outs = patch.wire_node(&node.name, op, &inputs)?;
            patch.shunt_outside(model, OutletId::new(next.id, 0), outs[0])?;
            for slot in 1..node.outputs.len() {
                patch.shunt_outside(model, OutletId::new(id, slot), outs[slot])?;
            }
            patch.obliterate(next.id)?;
            patch.obliterate(id)?;
            patch.apply(model)?;
            fused += 1;
            changed = true;
            break;
        }
        if !changed {
            break;
        }
    }
    if fused > 0 {
        model.compact()?;
    }
    Ok(fused)
}

/// The activation `act` followed by the node `next`, which reads `y`, if `next` is an activation
/// that can be fused after it.
fn absorbed(
    model: &TypedModel,
    next: &TypedNode,
    y: OutletId,
    act: Activation,
) -> TractResult<Option<Activation>> {
    if model.outlet_fact(y)?.datum_type != f32::datum_type() || next.outputs.len() != 1 {
        return Ok(None);
    }
    if let Some(op) = next.op_as::<ElementWiseOp>() {
        let hard_swish = op.0.is::<HardSwish>() && op.1.is_none();
        return Ok((hard_swish && act == Activation::Identity).then_some(Activation::HardSwish));
    }
    let Some(op) = next.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    let (is_max, is_min) = (op.0.is::<Max>(), op.0.is::<Min>());
    if !(is_max || is_min) || next.inputs.len() != 2 || op.1.is_some() {
        return Ok(None);
    }
    let other = if next.inputs[0] == y {
        next.inputs[1]
    } else {
        next.inputs[0]
    };
    let Some(bound) = uniform_constant(model, other)? else {
        return Ok(None);
    };
    // The output keeps `y`'s shape: a constant that broadcasts it wider is not fusable.
    if model.outlet_fact(OutletId::new(next.id, 0))?.shape != model.outlet_fact(y)?.shape {
        return Ok(None);
    }
    Ok(match (act, is_max) {
        (Activation::Identity, true) => Some(Activation::Clamp {
            low: Some(bound),
            high: None,
        }),
        (Activation::Identity, false) => Some(Activation::Clamp {
            low: None,
            high: Some(bound),
        }),
        // max then min is a clamp; min then max is one only where low ≤ high.
        (Activation::Clamp { low, high: None }, false) if low.is_none_or(|l| l <= bound) => {
            Some(Activation::Clamp {
                low,
                high: Some(bound),
            })
        }
        _ => None,
    })
}

/// The value of a constant f32 outlet whose elements are all the same (a scalar broadcast).
fn uniform_constant(model: &TypedModel, outlet: OutletId) -> TractResult<Option<f32>> {
    let fact = model.outlet_fact(outlet)?;
    let Some(konst) = &fact.konst else {
        return Ok(None);
    };
    if konst.datum_type() != f32::datum_type() || konst.len() == 0 {
        return Ok(None);
    }
    let values = konst.to_plain_array_view::<f32>()?;
    let mut values = values.iter();
    let Some(&first) = values.next() else {
        return Ok(None);
    };
    let uniform = values.all(|v| v.to_bits() == first.to_bits());
    Ok((uniform && !first.is_nan()).then_some(first))
}

#[cfg(test)]
mod tests {
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::ops::math::{max, min};
    use tract_onnx::tract_core::ops::nn::hard_swish;

    use super::super::{Activation, TrainBatchNorm};
    use super::fuse_activations;

    /// `x → TrainBatchNorm → (activation nodes) → outputs`, with the batch statistics as outputs
    /// too; `tail` wires the activation after the normalized output.
    fn model(
        tail: impl Fn(&mut TypedModel, OutletId) -> TractResult<OutletId>,
    ) -> TractResult<TypedModel> {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([2, 3, 4, 5]))?;
        let scale = m.add_const("scale", tensor1(&[1.0f32, 2.0, 0.5]))?;
        let bias = m.add_const("bias", tensor1(&[0.5f32, -0.5, 3.0]))?;
        let bn = TrainBatchNorm {
            epsilon: 1e-5,
            axis: 1,
            act: Activation::Identity,
        };
        let outs = m.wire_node("bn", bn, &[x, scale, bias])?;
        let y = tail(&mut m, outs[0])?;
        m.select_output_outlets(&[y, outs[1], outs[2]])?;
        Ok(m)
    }

    fn run(m: TypedModel, x: &Tensor) -> TractResult<TVec<TValue>> {
        m.into_runnable()?.run(tvec!(x.clone().into_tvalue()))
    }

    fn scalar(m: &mut TypedModel, name: &str, v: f32) -> TractResult<OutletId> {
        m.add_const(name, tensor0(v).broadcast_into_rank(4)?)
    }

    #[test]
    fn relu_clip_and_hard_swish_fuse_with_the_same_outputs() -> TractResult<()> {
        let x = Tensor::from_shape(
            &[2, 3, 4, 5],
            &(0..120)
                .map(|i| ((i * 17 % 23) as f32 - 11.0) * 0.7)
                .collect::<Vec<_>>(),
        )?;
        type Tail = fn(&mut TypedModel, OutletId) -> TractResult<OutletId>;
        let cases: [(Tail, usize); 4] = [
            (
                |m, y| {
                    let zero = scalar(m, "zero", 0.0)?;
                    Ok(m.wire_node("relu", max(), &[y, zero])?[0])
                },
                1,
            ),
            (
                |m, y| {
                    let (zero, high) = (scalar(m, "zero", 0.0)?, scalar(m, "bound", 1.5)?);
                    let low = m.wire_node("low", max(), &[y, zero])?[0];
                    Ok(m.wire_node("high", min(), &[low, high])?[0])
                },
                2,
            ),
            (|m, y| Ok(m.wire_node("hs", hard_swish(), &[y])?[0]), 1),
            // A bound that is not one value for every element stays a node of its own.
            (
                |m, y| {
                    let per = tensor1(&[0.0f32, 1.0, 2.0]).into_shape(&[1, 3, 1, 1])?;
                    let per = m.add_const("per", per)?;
                    Ok(m.wire_node("relu", max(), &[y, per])?[0])
                },
                0,
            ),
        ];
        for (i, (tail, want)) in cases.into_iter().enumerate() {
            let plain = run(model(tail)?, &x)?;
            let mut fused = model(tail)?;
            let before = fused.nodes.len();
            assert_eq!(fuse_activations(&mut fused)?, want, "case {i}");
            // Fused: the source, scale, bias and the batch-norm are left.
            let left = if want > 0 { 4 } else { before };
            assert_eq!(fused.nodes.len(), left, "case {i}");
            let got = run(fused, &x)?;
            for (a, b) in got.iter().zip(&plain) {
                let (a, b) = (
                    a.to_plain_array_view::<f32>()?,
                    b.to_plain_array_view::<f32>()?,
                );
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (u - v).abs() <= 1e-6 * v.abs().max(1.0),
                        "case {i}: {u} vs {v}"
                    );
                }
            }
        }
        Ok(())
    }
}
