//! The probe graph: the model with every re-estimated BatchNormalization switched to training
//! mode, written in plain ONNX.
//!
//! A BatchNormalization node in an exported encoder normalizes with its stored running
//! statistics. PyTorch in train mode normalizes with the statistics of the batch at hand instead:
//! per channel, the mean and the population (biased) variance over every axis but the channel
//! one. The probe replaces each node by exactly that,
//!
//! ```text
//! x3   = Reshape(x, [0, C, -1])                      N × C × S (any rank ≥ 2 folds to this)
//! mean = ReduceMean(x3, axes [0, 2])                 1 × C × 1
//! d    = x3 − mean
//! var  = ReduceMean(d · d, axes [0, 2])              two passes: no E[x²] − E[x]² cancellation
//! y    = Reshape(d · (scale / √(var + ε)) + bias, Shape(x))
//! ```
//!
//! and makes `mean`, `var` (each `[C]`) and the float shape of `x3` (`[3]`, which gives the
//! number of values per channel) the probe's outputs, three per layer in the order of
//! [`edit::batch_norms`](crate::onnx::edit::batch_norms). Since every layer sees activations normalized the way PyTorch
//! normalizes them during training, one forward pass yields every layer's train-mode statistics
//! at once, however deep the network: no fixed point to iterate, and no activation ever leaves
//! the runtime, only `2·C + 3` floats per layer.
//!
//! Runtimes that run ONNX's own training-mode BatchNormalization (opset 14 on, `training_mode =
//! 1`, `momentum = 0`: the batch's mean and population variance come out as its second and third
//! outputs) get that one node per layer instead ([`Form::TrainingNode`]); ONNX Runtime's CPU
//! kernel does it in one pass over the activation where the arithmetic above takes nine, which
//! took MobileNetV3-Small's BN phase over 1,000 frames from 2.9–3.1 s to 2.1–2.3 s (ResNet-18's
//! from 18.2 to 14.9 s). tract imports the node through an op of ours
//! (`tract/train_batch_norm.rs`: 200 frames, 1.2–1.4 → 0.9–1.0 s); the GPU providers of ONNX
//! Runtime and models before opset 14 keep the arithmetic.
//!
//! The model's own outputs are dropped, so runtimes that prune (tract) skip the layers after the
//! last BN. No output has a batch axis, which also tells tract's sample-by-sample splitting (that
//! would turn batch statistics into per-sample ones) to leave the probe alone. Only operators that
//! tract, ONNX Runtime and TensorRT all run are used; opset 18 moved ReduceMean's `axes` from
//! attribute to input, which [`GraphBuilder::reduce`] handles. Before opset 7 the arithmetic ops
//! did not broadcast, so older models are refused.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use crate::onnx::GraphBuilder;
use crate::onnx::edit::BatchNorm;
use crate::{Result, RuntimeError};

/// The BatchNormalization epsilon when the node does not set one (ONNX's default).
const DEFAULT_EPSILON: f32 = 1e-5;

/// Outputs per layer: mean, variance, shape of the folded input.
pub(crate) const OUTPUTS_PER_LAYER: usize = 3;

/// One layer's probe outputs: (tensor name, fixed shape) each.
type LayerOutputs = [(String, Vec<usize>); OUTPUTS_PER_LAYER];

fn probe_error(message: String) -> RuntimeError {
    RuntimeError::Input(format!("cannot build the BN probe: {message}"))
}

/// How the probe writes a train-mode BatchNormalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// The arithmetic above, in operators every runtime runs.
    Decomposed,
    /// ONNX's own `BatchNormalization` with `training_mode = 1` and `momentum = 0` (opset 14
    /// on), whose second and third outputs are the batch's mean and population variance: one
    /// kernel instead of nine element-wise passes, for runtimes that run it
    /// ([`Backend::runs_training_batch_norm`](crate::Backend::runs_training_batch_norm)).
    /// Models older than opset 14 get the decomposed form.
    TrainingNode,
}

/// The first opset whose BatchNormalization has `training_mode`.
const TRAINING_MODE_OPSET: i64 = 14;

/// The probe of `original` for the layers `bns` (from [`crate::onnx::edit::batch_norms`] on the
/// same model), written in `form`. Every other node is kept as it is.
pub(crate) fn build(
    original: &pb::ModelProto,
    bns: &[BatchNorm],
    form: Form,
) -> Result<pb::ModelProto> {
    let mut b = GraphBuilder::from_proto(original.clone(), "BN probe")?;
    let form = if b.opset() >= TRAINING_MODE_OPSET {
        form
    } else {
        Form::Decomposed
    };
    if b.opset() < 7 {
        return Err(probe_error(format!(
            "the model uses opset {}; broadcasting arithmetic needs 7 or later",
            b.opset()
        )));
    }
    // Keyed by the running-mean initializer: node names may be empty or repeated.
    let layer: HashMap<&str, (usize, &BatchNorm)> = bns
        .iter()
        .enumerate()
        .map(|(k, bn)| (bn.mean.as_str(), (k, bn)))
        .collect();
    let mut outputs: Vec<Option<LayerOutputs>> = vec![None; bns.len()];
    for node in b.take_nodes() {
        let found = (node.op_type == "BatchNormalization")
            .then(|| node.input.get(3).and_then(|m| layer.get(m.as_str())))
            .flatten();
        match found {
            Some(&(k, bn)) if outputs[k].is_none() => {
                outputs[k] = Some(train_mode(&mut b, &node, bn, form)?);
            }
            Some(_) => {
                return Err(probe_error(format!(
                    "two BatchNormalization nodes share the statistics `{}`",
                    node.input[3]
                )));
            }
            None => b.push_node(node),
        }
    }
    let mut declared = Vec::with_capacity(bns.len() * OUTPUTS_PER_LAYER);
    for (bn, outs) in bns.iter().zip(outputs) {
        let outs = outs.ok_or_else(|| probe_error(format!("BN node {} not found", bn.node)))?;
        declared.extend(outs);
    }
    b.set_fixed_outputs(&declared);
    // The running statistics no longer feed anything; ONNX Runtime warns about each unused
    // initializer (and, for models that list initializers as inputs, would want them fed).
    let mut proto = b.into_proto();
    if form == Form::TrainingNode {
        // The node still takes its running statistics as inputs (momentum 0 ignores them).
        return Ok(proto);
    }
    let unused: HashSet<&str> = bns
        .iter()
        .flat_map(|bn| [bn.mean.as_str(), bn.var.as_str()])
        .collect();
    if let Some(g) = proto.graph.as_mut() {
        g.initializer.retain(|t| !unused.contains(t.name.as_str()));
        g.input.retain(|v| !unused.contains(v.name.as_str()));
    }
    Ok(proto)
}

/// Appends the train-mode replacement of `node` and returns its statistics outputs with shapes.
fn train_mode(
    b: &mut GraphBuilder,
    node: &pb::NodeProto,
    bn: &BatchNorm,
    form: Form,
) -> Result<LayerOutputs> {
    let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
    if attr("spatial").is_some_and(|a| a.i == 0) {
        return Err(probe_error(format!(
            "BN node {} keeps statistics per activation (spatial = 0)",
            bn.node
        )));
    }
    if node.output.iter().skip(1).any(|o| !o.is_empty()) || node.output.is_empty() {
        return Err(probe_error(format!(
            "BN node {} is exported in training mode (it outputs its statistics)",
            bn.node
        )));
    }
    let epsilon = attr("epsilon").map_or(DEFAULT_EPSILON, |a| a.f);
    let channels = i64::try_from(bn.channels)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| probe_error(format!("BN node {} has no channels", bn.node)))?;
    let (x, scale, bias) = (&node.input[0], &node.input[1], &node.input[2]);

    let folded = b.ints_constant("bn_folded_shape", &[0, channels, -1]);
    let x3 = b.reshape(x, &folded);
    let c = bn.channels;
    if form == Form::TrainingNode {
        let (mean, var) = (&node.input[3], &node.input[4]);
        let [y, mean, var] = b.batch_norm_training([x, scale, bias, mean, var], epsilon);
        b.alias(&y, &node.output[0]);
        let dims = b.shape_of(&x3);
        let dims = b.cast_to_float(&dims);
        return Ok([(mean, vec![c]), (var, vec![c]), (dims, vec![3])]);
    }
    let mean = b.reduce("ReduceMean", &x3, &[0, 2]);
    let centered = b.sub(&x3, &mean);
    let squared = b.mul(&centered, &centered);
    let var = b.reduce("ReduceMean", &squared, &[0, 2]);
    let eps = b.scalar("bn_epsilon", epsilon)?;
    let var_eps = b.add(&var, &eps);
    let std = b.sqrt(&var_eps);
    let column = b.ints_constant("bn_column", &[-1, 1]);
    let gain = b.reshape(scale, &column);
    let gain = b.div(&gain, &std);
    let shift = b.reshape(bias, &column);
    let scaled = b.mul(&centered, &gain);
    let y3 = b.add(&scaled, &shift);
    let shape = b.shape_of(x);
    let y = b.reshape(&y3, &shape);
    b.alias(&y, &node.output[0]);

    let flat = b.ints_constant("bn_channels", &[channels]);
    let mean = b.reshape(&mean, &flat);
    let var = b.reshape(&var, &flat);
    let dims = b.shape_of(&x3);
    let dims = b.cast_to_float(&dims);
    Ok([(mean, vec![c]), (var, vec![c]), (dims, vec![3])])
}

/// Writes to `out` the BN probe of the model `onnx` in its training-node form, as the BN phase
/// builds it for tract and ONNX Runtime, and returns how many layers it probes: for profiling
/// (`examples/tract_profile.rs`), not a stable API.
#[doc(hidden)]
pub fn write_probe(onnx: &std::path::Path, out: &std::path::Path) -> Result<usize> {
    let original = crate::onnx::edit::read_for_editing(onnx)?;
    let bns = crate::onnx::edit::batch_norms(&original);
    crate::onnx::edit::save(&build(&original, &bns, Form::TrainingNode)?, out)?;
    Ok(bns.len())
}
