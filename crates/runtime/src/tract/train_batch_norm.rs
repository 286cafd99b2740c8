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
//! `momentum = 0` into [`TrainBatchNorm`]: per channel the batch's mean and population variance
//! (two passes, sums of `f32` lanes per row carried in `f64`), then `y = (x − mean) · scale /
//! √(var + ε) + bias` in one more — the node's three outputs, as ONNX defines them with that
//! momentum and as ONNX Runtime's CPU kernel computes them. The probe is then the same
//! `training_mode` node for both engines ([`Backend::runs_training_batch_norm`](crate::Backend::runs_training_batch_norm)).

use std::sync::OnceLock;

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
pub(crate) fn onnx() -> tract_onnx::Onnx {
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
}

impl PartialEq for TrainBatchNorm {
    fn eq(&self, other: &Self) -> bool {
        self.epsilon.to_bits() == other.epsilon.to_bits() && self.axis == other.axis
    }
}

impl Eq for TrainBatchNorm {}

impl Op for TrainBatchNorm {
    fn name(&self) -> StaticName {
        "TrainBatchNorm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "epsilon {}, channels on axis {}",
            self.epsilon, self.axis
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
            normalize(
                y,
                (outer, c, inner),
                (scale, bias),
                self.epsilon,
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

/// The batch statistics of `x` (`outer × c × inner`, row-major), means and population
/// variances into `stats`, then `x` replaced by `(x − mean) · scale / √(var + ε) + bias`.
fn normalize(
    x: &mut [f32],
    (outer, c, inner): (usize, usize, usize),
    (scale, bias): (&[f32], &[f32]),
    epsilon: f32,
    (means, vars): (&mut [f32], &mut [f32]),
) {
    let count = (outer * inner).max(1) as f64;
    if inner == 1 {
        // Channels last: every row holds one value of each channel.
        let sums = column_sums(x, c, |v, _| v);
        means
            .iter_mut()
            .zip(&sums)
            .for_each(|(m, s)| *m = (s / count) as f32);
        let squares = column_sums(x, c, |v, ch| {
            let d = v - means[ch];
            d * d
        });
        vars.iter_mut()
            .zip(&squares)
            .for_each(|(v, s)| *v = (s / count) as f32);
        let gain: Vec<f32> = (0..c)
            .map(|ch| scale[ch] / (vars[ch] + epsilon).sqrt())
            .collect();
        for row in x.chunks_exact_mut(c.max(1)) {
            for ch in 0..c {
                row[ch] = (row[ch] - means[ch]) * gain[ch] + bias[ch];
            }
        }
        return;
    }
    let rows = |ch: usize| (0..outer).map(move |b| (b * c + ch) * inner..(b * c + ch + 1) * inner);
    for ch in 0..c {
        let sum: f64 = rows(ch).map(|r| lane_sum(&x[r], |v| v)).sum();
        let mean = (sum / count) as f32;
        let squares: f64 = rows(ch)
            .map(|r| {
                lane_sum(&x[r], |v| {
                    let d = v - mean;
                    d * d
                })
            })
            .sum();
        let var = (squares / count) as f32;
        (means[ch], vars[ch]) = (mean, var);
        let gain = scale[ch] / (var + epsilon).sqrt();
        let shift = bias[ch];
        for r in rows(ch) {
            for v in &mut x[r] {
                *v = (*v - mean) * gain + shift;
            }
        }
    }
}

/// Per column `ch` of the `c`-wide rows of `x`, `Σ f(v, ch)`: `f32` partial sums over blocks
/// of 256 rows (they vectorize across the row), carried in `f64`.
fn column_sums(x: &[f32], c: usize, f: impl Fn(f32, usize) -> f32) -> Vec<f64> {
    let mut total = vec![0.0f64; c];
    let mut part = vec![0.0f32; c];
    for block in x.chunks(256 * c.max(1)) {
        part.iter_mut().for_each(|p| *p = 0.0);
        for row in block.chunks_exact(c.max(1)) {
            for (ch, (p, &v)) in part.iter_mut().zip(row).enumerate() {
                *p += f(v, ch);
            }
        }
        total
            .iter_mut()
            .zip(&part)
            .for_each(|(t, &p)| *t += f64::from(p));
    }
    total
}

/// `Σ f(v)` over `values`, in eight `f32` lanes (it vectorizes), returned as `f64`.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let mut eights = values.chunks_exact(8);
    for eight in &mut eights {
        for (l, &v) in lanes.iter_mut().zip(eight) {
            *l += f(v);
        }
    }
    let rest: f64 = eights.remainder().iter().map(|&v| f64::from(f(v))).sum();
    lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + rest
}

#[cfg(test)]
mod tests {
    use super::normalize;

    /// Channels last (`N·H·W × C`) give what channels second gives on the same values.
    #[test]
    fn channels_last_equals_channels_second() {
        let (n, c, s) = (2, 5, 9);
        let x: Vec<f32> = (0..n * c * s)
            .map(|i| ((i * 29 % 53) as f32).cos() * 3.0)
            .collect();
        let last: Vec<f32> = (0..n * s * c)
            .map(|i| {
                let (b, p, ch) = (i / (s * c), (i / c) % s, i % c);
                x[(b * c + ch) * s + p]
            })
            .collect();
        let (scale, bias) = ([1.0, 2.0, 0.5, -1.0, 3.0], [0.0, 0.1, 0.2, 0.3, 0.4]);
        let run = |x: &[f32], shape| {
            let (mut y, mut m, mut v) = (x.to_vec(), vec![0.0; c], vec![0.0; c]);
            normalize(&mut y, shape, (&scale, &bias), 1e-5, (&mut m, &mut v));
            (y, m, v)
        };
        let (y2, m2, v2) = run(&x, (n, c, s));
        let (yl, ml, vl) = run(&last, (n * s, c, 1));
        for ch in 0..c {
            assert!(
                (m2[ch] - ml[ch]).abs() < 1e-6 && (v2[ch] - vl[ch]).abs() < 1e-5,
                "{ch}"
            );
        }
        for i in 0..n * s * c {
            let (b, p, ch) = (i / (s * c), (i / c) % s, i % c);
            assert!((yl[i] - y2[(b * c + ch) * s + p]).abs() < 1e-5, "{i}");
        }
    }

    /// Against the definition in `f64`: a batch of 3, 4 channels of 5 × 7, values with a
    /// per-channel offset (so a one-pass E[x²] − E[x]² would cancel).
    #[test]
    fn statistics_and_outputs_match_the_definition() {
        let (n, c, s) = (3, 4, 35);
        let x: Vec<f32> = (0..n * c * s)
            .map(|i| {
                let ch = (i / s) % c;
                100.0 * ch as f32 + ((i * 37 % 101) as f32 / 50.0).sin()
            })
            .collect();
        let (scale, bias) = ([1.0, 0.5, -2.0, 3.0], [0.1, -0.2, 0.3, 0.0]);
        let (mut y, mut means, mut vars) = (x.clone(), vec![0.0; c], vec![0.0; c]);
        normalize(
            &mut y,
            (n, c, s),
            (&scale, &bias),
            1e-5,
            (&mut means, &mut vars),
        );
        for ch in 0..c {
            let values: Vec<f64> = (0..n)
                .flat_map(|b| x[(b * c + ch) * s..(b * c + ch + 1) * s].iter())
                .map(|&v| f64::from(v))
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (f64::from(means[ch]) - mean).abs() < 1e-4,
                "{ch}: {} vs {mean}",
                means[ch]
            );
            assert!(
                (f64::from(vars[ch]) - var).abs() < 1e-5 * var.max(1.0),
                "{ch}"
            );
            for b in 0..n {
                for i in 0..s {
                    let at = (b * c + ch) * s + i;
                    let want = (f64::from(x[at]) - mean) * f64::from(scale[ch])
                        / (var + 1e-5).sqrt()
                        + f64::from(bias[ch]);
                    assert!((f64::from(y[at]) - want).abs() < 1e-3, "{ch} {b} {i}");
                }
            }
        }
    }
}
