//! ONNX's training-mode BatchNormalization for tract, so the BN probe runs one node per layer.
//!
//! tract 0.23 imports BatchNormalization in inference mode only (folded into a multiply and an
//! add with constant statistics). The BN probe ([`crate::onnx::bn`]) therefore gave tract its
//! decomposed form — per layer a `ReduceMean` over the batch and spatial axes, a subtraction, a
//! square, a second `ReduceMean`, a division and a multiply-add, nine element-wise passes over
//! the activation, with tract's generic reduction over two non-adjacent axes. On
//! MobileNetV3-Small (200 frames, 34 layers) the BN phase took 1.2–1.3 s, three times one
//! forward pass over the same frames.
//!
//! [`onnx`] is tract's ONNX importer with `BatchNormalization` replaced by a builder that hands
//! inference-mode nodes to tract's own and turns a node with `training_mode = 1` and
//! `momentum = 0` into [`TrainBatchNorm`]: per channel the batch's mean and population variance,
//! then `y = (x − mean) · scale / √(var + ε) + bias` — the node's three outputs, as ONNX defines
//! them with that momentum and as ONNX Runtime's CPU kernel computes them ([`kernel`]: statistics
//! block by block while a block is in cache, on tract's threads, AVX2 where the CPU has it). The
//! probe is then the same `training_mode` node for both engines
//! ([`Backend::runs_training_batch_norm`](crate::Backend::runs_training_batch_norm)). An
//! activation that alone reads `y` (ReLU, Clip, HardSwish) is applied in the same pass
//! ([`fuse`]).
//!
//! Measured with `PROBE=1 target/release/examples/tract_profile MOBILENET_V3_SMALL.onnx 3 224 224
//! 32 2 5` (the probe at batch 32, two threads): 250 ms a batch with the two passes of
//! statistics over the whole batch on one thread and the activations as nodes of their own
//! (`TrainBatchNorm` 61 ms, ReLU 20 ms, HardSwish 12 ms), 157–184 ms with blocks, threads, AVX2
//! and the activations fused (`TrainBatchNorm` 24–34 ms).

mod fuse;
mod kernel;

use std::sync::OnceLock;

pub(crate) use fuse::fuse_activations;
use kernel::Activation;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::{
    Expansion, InferenceOp, InferenceResult, Solver, TensorProxy, check_input_arity,
    check_output_arity, expand,
};

/// An ONNX node builder, as tract's importer registers them.
type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own BatchNormalization builder (inference mode).
static TRACT_BATCH_NORM: OnceLock<Option<Builder>> = OnceLock::new();

/// tract's ONNX importer, with training-mode BatchNormalization.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    TRACT_BATCH_NORM.get_or_init(|| onnx.op_register.0.get("BatchNormalization").copied());
    onnx.op_register
        .insert("BatchNormalization", batch_normalization);
    onnx
}

fn batch_normalization(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let training: i64 = node.get_attr_opt("training_mode")?.unwrap_or(0);
    if training == 0 {
        let Some(tract) = TRACT_BATCH_NORM.get().copied().flatten() else {
            bail!("tract has no BatchNormalization importer");
        };
        return tract(ctx, node);
    }
    let epsilon: f32 = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
    let momentum: f32 = node.get_attr_opt("momentum")?.unwrap_or(0.9);
    ensure!(
        momentum == 0.0,
        "training-mode BatchNormalization is supported with momentum 0 only (got {momentum})"
    );
    ensure!(
        epsilon.is_finite() && epsilon >= 0.0,
        "BatchNormalization epsilon {epsilon}"
    );
    Ok((expand(TrainBatchNormExpansion { epsilon }), vec![]))
}

/// The imported node: inputs `x, scale, bias, mean, var` (the last two unused at momentum 0),
/// outputs `y, batch mean, batch variance`.
#[derive(Debug, Clone)]
struct TrainBatchNormExpansion {
    epsilon: f32,
}

impl Expansion for TrainBatchNormExpansion {
    fn name(&self) -> StaticName {
        "TrainBatchNorm".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(3)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 5)?;
        check_output_arity(outputs, 3)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        for output in outputs {
            s.equals(&output.datum_type, f32::datum_type())?;
        }
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        s.equals(&outputs[1].rank, 1)?;
        s.equals(&outputs[2].rank, 1)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let c = shape.get(1).cloned().unwrap_or_else(|| 1.to_dim());
            s.equals(&outputs[1].shape[0], c.clone())?;
            s.equals(&outputs[2].shape[0], c)
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        target: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        ensure!(inputs.len() >= 3, "TrainBatchNorm needs x, scale and bias");
        let op = TrainBatchNorm {
            epsilon: self.epsilon,
            axis: 1,
            act: Activation::Identity,
        };
        target.wire_node(prefix, op, &inputs[..3])
    }
}

/// Training-mode batch normalization of an f32 tensor whose channels are axis `axis` (1 as
/// imported; tract may move it, as it moves the channels of a depthwise conv run channel-last
/// next to it, and the op follows instead of making tract copy the tensor back and forth).
#[derive(Debug, Clone)]
pub(crate) struct TrainBatchNorm {
    epsilon: f32,
    axis: usize,
    /// The activation behind it, fused into its last pass by [`fuse::fuse_activations`].
    act: Activation,
}

impl PartialEq for TrainBatchNorm {
    fn eq(&self, other: &Self) -> bool {
        self.epsilon.to_bits() == other.epsilon.to_bits()
            && self.axis == other.axis
            && self.act.key() == other.act.key()
    }
}

impl Eq for TrainBatchNorm {}

impl Op for TrainBatchNorm {
    fn name(&self) -> StaticName {
        "TrainBatchNorm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "epsilon {}, channels on axis {}, then {:?}",
            self.epsilon, self.axis, self.act
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for TrainBatchNorm {
    op_out_of_plan!();

    /// In place: `y` is written over `x` (a copy of it only when another node still reads it),
    /// so the op holds one activation, as tract's own element-wise ops do.
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 3, "TrainBatchNorm takes x, scale and bias");
        let mut inputs = inputs.into_iter();
        let (Some(x), Some(scale), Some(bias)) = (inputs.next(), inputs.next(), inputs.next())
        else {
            bail!("TrainBatchNorm takes x, scale and bias");
        };
        let shape = x.shape().to_vec();
        ensure!(
            self.axis < shape.len(),
            "TrainBatchNorm: axis {} of {shape:?}",
            self.axis
        );
        let (outer, c) = (
            shape[..self.axis].iter().product::<usize>(),
            shape[self.axis],
        );
        let inner: usize = shape[self.axis + 1..].iter().product();
        let scale_plain = scale.try_as_plain_ram()?;
        let scale = scale_plain.as_slice::<f32>()?;
        let bias_plain = bias.try_as_plain_ram()?;
        let bias = bias_plain.as_slice::<f32>()?;
        let mut y = x.into_tensor();
        let mut mean = Tensor::zero::<f32>(&[c])?;
        let mut var = Tensor::zero::<f32>(&[c])?;
        {
            let mut y_plain = y.try_as_plain_ram_mut()?;
            let y = y_plain.as_slice_mut::<f32>()?;
            ensure!(
                scale.len() == c && bias.len() == c && y.len() == outer * c * inner,
                "TrainBatchNorm: {c} channels, scale {} and bias {}",
                scale.len(),
                bias.len()
            );
            let mut mean_plain = mean.try_as_plain_ram_mut()?;
            let means = mean_plain.as_slice_mut::<f32>()?;
            let mut var_plain = var.try_as_plain_ram_mut()?;
            let vars = var_plain.as_slice_mut::<f32>()?;
            kernel::normalize(
                y,
                (outer, c, inner),
                (scale, bias),
                self.epsilon,
                self.act,
                (means, vars),
            );
        }
        Ok(tvec!(
            y.into_tvalue(),
            mean.into_tvalue(),
            var.into_tvalue()
        ))
    }
}

impl TypedOp for TrainBatchNorm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3 && inputs[0].datum_type == f32::datum_type());
        ensure!(
            inputs[0].rank() > self.axis,
            "TrainBatchNorm: no axis {}",
            self.axis
        );
        let c = inputs[0].shape[self.axis].clone();
        Ok(tvec!(
            inputs[0].without_value(),
            f32::fact([c.clone()]),
            f32::fact([c])
        ))
    }

    /// An axis change of `x` (and so of `y`) moves the channel axis with it; the per-channel
    /// inputs and outputs do not change. A change that loses the channel axis is refused.
    fn change_axes(
        &self,
        _model: &TypedModel,
        _node: &TypedNode,
        io: InOut,
        change: &AxisOp,
    ) -> TractResult<Option<AxisChangeConsequence>> {
        if !matches!(io, InOut::In(0) | InOut::Out(0)) {
            return Ok(None);
        }
        let Some(axis) = change.transform_axis(self.axis) else {
            return Ok(None);
        };
        let op = TrainBatchNorm { axis, ..*self };
        Ok(Some(AxisChangeConsequence {
            substitute_op: Some(Box::new(op)),
            wire_changes: tvec!(
                (InOut::In(0), change.clone()),
                (InOut::Out(0), change.clone())
            ),
        }))
    }

    as_op!();
}
