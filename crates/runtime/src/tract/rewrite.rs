//! Running tract's depthwise convolutions channel-last where that is faster.
//!
//! tract 0.23 runs a depthwise convolution on NCHW data with its W-inner loop: one channel plane
//! at a time, a row of output points per step. On x86_64 that loop has no SIMD kernel, and it is
//! slow wherever a row is short or strided: MobileNetV3-Small spent 3.9 of 6.9 ms per run in its
//! eleven depthwise convolutions (224×224, batch 1, one thread), 0.59 ms for the 72-channel 3×3
//! stride-2 one alone. The same op on channel-last data ("HWC", `eval_c_inner`: taps outer,
//! channels inner, contiguous) ran that one in 0.19 ms, the 576-channel 5×5 ones on 7×7 in 0.19
//! instead of 0.48 ms, but the stride-1 ones on rows of 14 and 28 slower (0.39 against 0.37 ms,
//! 0.22 against 0.12 ms). tract itself only asks for channel-last where it has a vector kernel for
//! it (aarch64, wasm), and then lets the layout spread over the whole graph, which on x86_64 made
//! the batch-norms after the depthwise convs and the squeeze-excite products broadcast along the
//! last axis, unfused: 10.1 ms per run.
//!
//! So, after decluttering and before codegen, [`rewrite_depthwise`] turns a depthwise conv
//! channel-last only where its rows are strided or short (output width below kernel width + 7),
//! lowered straight to tract's `DepthWise` between two axis moves. Where the conv sits behind an
//! expansion 1×1 conv (an `EinSum` by then), through nothing but single-consumer ops on constants
//! (its batch-norm and activation), the move in front is pushed up there with tract's own
//! axis-change propagation and absorbed by the matrix product, which then writes channel-last for
//! free; elsewhere (behind the stem, the input, a fork) it stays a move. The move behind stays, so
//! the batch-norm and activations that follow keep running fused on NCHW. The rewritten model is
//! then only codegen'd: a second declutter would let the layout spread again.
//!
//! Measured with `cargo run --release --example tract_profile -- MODEL C H W 1 1 RUNS` (set
//! `NO_REWRITE=1` for the plain plan), batch 1, one thread, another job on the second core, four
//! alternated rounds of 30 runs: MobileNetV3-Small 7.2–7.6 → 5.4–5.8 ms per run (fastest run
//! 6.6–6.8 → 5.0–5.1 ms); depthwise 3.9 → 2.1–2.4 ms, the seven moves left 0.2–0.3 ms, matrix
//! products unchanged at 2.1–2.4 ms; outputs bit-identical on random input (batch 1 and 4, one and
//! two threads). Models without a depthwise conv (the bundled encoder, ResNet-18) get the plan they
//! had. A failure anywhere in the rewrite falls back to the plain optimization ([`optimize`]).
//!
//! The BN probe (a model with [`TrainBatchNorm`](super::train_batch_norm::TrainBatchNorm) nodes)
//! must run whole batches, where tract's batch lowering is at its worst, so it gets its own
//! path: the activation behind each batch-norm fused into it ([`super::train_batch_norm`]), its
//! 1×1 convs as one matrix product per image ([`super::pointwise`]), its depthwise convs on the
//! AVX2 kernel in NCHW, and its other convs through tract's batch-1 plan image by image
//! ([`super::per_image`]): no axis moves and no whole-batch im2col. MobileNetV3-Small's probe at
//! batch 32 (`PROBE=1` in `examples/tract_profile.rs`): two threads 250 → 100–120 ms a batch
//! before the per-image convs, one thread 148 → 142 ms with them; ResNet-18's, one thread,
//! 2,186 → 1,675 ms with them.
//!
//! Where the host has AVX2 and FMA, [`super::depthwise`] runs the depthwise convs instead of
//! tract's `DepthWise`, faster on NCHW than these moves: at batch 1 [`optimize`] hands it every
//! depthwise conv first, leaving none to move. Behind a batch axis it moves them first, as above,
//! and runs the moved ones channel-last: there tract leaves the batch-norms unfused, and the moves
//! let them run channel-last too (MobileNetV3-Small, batch 4, one thread, measured like the figures
//! in `depthwise`: 57–71 ms per run with every conv on NCHW, against 50–55 ms for the moves
//! alone in the same rounds and 39 ms for the moves and then the AVX2 kernel).

use std::collections::HashSet;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_core::ops::change_axes::{AxisChange, AxisOp};
use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::cnn::conv::Conv;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::optim::change_axes::change_axes;

use super::{broadcast_rows, depthwise, per_image, pointwise, train_batch_norm};

/// Channel-last only pays back for depthwise convs with at least this many channels: the
/// channel-inner loop runs over blocks of 16 (tract's own threshold for its suggestion).
const MIN_CHANNELS: usize = 16;

/// An output row this much longer than the kernel keeps the W-inner NCHW loop ahead.
const SHORT_ROW: usize = 7;

/// Optimizes a decluttered typed model for running, with its depthwise convs on the AVX2 kernel
/// where the host has one (`depthwise`) and channel-last where that is faster, and per-channel
/// operands behind a batch axis one value per row (`broadcast_rows`). If a rewrite fails or
/// panics, the model is optimized as it was.
pub fn optimize(model: TypedModel) -> TractResult<TypedModel> {
    let attempt = model.clone();
    let rewritten = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        move || -> TractResult<Option<TypedModel>> {
            let mut model = attempt;
            // The BN probe's activations run in its batch-norms' last pass, and its 1×1 convs
            // image by image without moves; the probe keeps NCHW throughout.
            let probe = probes_batch_norm(&model);
            let mut n = train_batch_norm::fuse_activations(&mut model)?;
            if probe {
                n += pointwise::replace_pointwise(&mut model)?;
            }
            // Elsewhere (aarch64, wasm) tract has a vector channel-last depthwise kernel and
            // moves the convs that gain from it itself; these rewrites are for x86_64, where it
            // has neither.
            n += if !cfg!(target_arch = "x86_64") {
                0
            } else if batched(&model)? && !probe {
                // Behind a batch axis tract leaves the batch-norms around the depthwise convs
                // as broadcast `Mul`s and `Add`s, which run faster channel-last, as the moves
                // leave them: there the moves go first, and the AVX2 kernel takes the convs
                // they leave.
                let moved = rewrite_depthwise(&mut model)?;
                moved + depthwise::replace_depthwise(&mut model)?
            } else {
                let fast = depthwise::replace_depthwise(&mut model)?;
                fast + rewrite_depthwise(&mut model)?
            };
            // The probe's other convs run image by image, as tract plans them at batch 1.
            if probe {
                n += per_image::replace_convs(&mut model)?;
            }
            n += broadcast_rows::materialize(&mut model)?;
            if n == 0 {
                return Ok(None);
            }
            model.optimize()?;
            Ok(Some(model))
        },
    ));
    match rewritten {
        Ok(Ok(Some(model))) => Ok(model),
        _ => model.into_optimized(),
    }
}

/// Whether the model normalizes with its batch's own statistics (the BN probe): its batch-norms
/// are [`TrainBatchNorm`](train_batch_norm::TrainBatchNorm) nodes, which run on any layout.
fn probes_batch_norm(model: &TypedModel) -> bool {
    model
        .nodes
        .iter()
        .any(|n| n.op_is::<train_batch_norm::TrainBatchNorm>())
}

/// Whether a depthwise conv of the model runs on a batch axis: NCHW data with more than one image.
fn batched(model: &TypedModel) -> TractResult<bool> {
    for node in &model.nodes {
        if let Some(conv) = node.op_as::<Conv>() {
            let shape = &model.outlet_fact(node.inputs[0])?.shape;
            let depthwise = conv.group > 1 && conv.group == conv.input_channels();
            if depthwise && conv.pool_spec.data_format == DataFormat::NCHW && shape[0] != 1.into() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Rewrites the depthwise convs of a decluttered typed model that run faster channel-last; returns
/// how many it rewrote. The model must then be codegen'd (`optimize`), not decluttered again.
pub(crate) fn rewrite_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    let mut rewritten = Vec::new();
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        if !worth_channel_last(model, node, conv)? {
            continue;
        }
        let fact = model.outlet_fact(node.inputs[0])?;
        let rank = fact.rank();
        let c_axis = conv.pool_spec.data_format.shape(&fact.shape)?.c_axis();
        let data_format = match conv.pool_spec.data_format {
            DataFormat::NCHW => DataFormat::NHWC,
            _ => DataFormat::HWC,
        };
        let channel_last = Conv {
            pool_spec: PoolSpec {
                data_format,
                ..conv.pool_spec.clone()
            },
            ..conv.clone()
        };
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let mut wires = patch.taps(model, &node.inputs)?;
        let to_last = AxisOp::Move(c_axis, rank - 1);
        wires[0] = patch.wire_node(format!("{name}.nhwc_in"), to_last.clone(), &[wires[0]])?[0];
        let y = match depthwise::available() {
            true => depthwise::avx_depthwise(model, node, conv)?,
            false => None,
        };
        let y = match y {
            Some(op) => patch.wire_node(&name, op.channel_last(), &wires[..1])?[0],
            None => channel_last.wire_as_depth_wise(&mut patch, &name, &wires)?,
        };
        let y = patch.wire_node(
            format!("{name}.nhwc_out"),
            AxisOp::Move(rank - 1, c_axis),
            &[y],
        )?;
        patch.shunt_outside(model, id.into(), y[0])?;
        patch.apply(model)?;
        rewritten.push((format!("{name}.nhwc_in"), to_last));
    }
    let mut locked = model.input_outlets()?.to_vec();
    locked.extend(model.output_outlets()?);
    for (name, to_last) in &rewritten {
        // Offering the producer the move the conv wants: where it propagates up to an op that
        // absorbs it, the move node itself becomes an identity.
        let node = model.node(model.node_id_by_name(name)?);
        if !behind_einsum(model, node.inputs[0]) {
            continue;
        }
        let change = AxisChange {
            outlet: node.inputs[0],
            op: to_last.clone(),
        };
        if let Some((patch, _)) = change_axes(model, &change, &locked, &[], &mut HashSet::new())? {
            patch.apply(model)?;
        }
    }
    if !rewritten.is_empty() {
        model.compact()?;
    }
    Ok(rewritten.len())
}

/// Whether `outlet` comes out of an `EinSum` through a chain of ops that each feed only the next and
/// take nothing else than constants (a fused batch-norm, an activation). Only there is pushing the
/// move upstream known to end in the matrix product rather than spread over the graph.
fn behind_einsum(model: &TypedModel, mut outlet: OutletId) -> bool {
    for _ in 0..8 {
        let node = model.node(outlet.node);
        if model.outlet_successors(outlet).len() != 1 {
            return false;
        }
        if node.op_is::<EinSum>() {
            return true;
        }
        let mut wired = node
            .inputs
            .iter()
            .filter(|i| !model.node(i.node).op_is::<Const>());
        match (wired.next(), wired.next()) {
            (Some(&input), None) => outlet = input,
            _ => return false,
        }
    }
    false
}

/// A plain f32 depthwise conv on NCHW (or CHW) data of known shape, with enough channels, whose
/// output rows are strided or short.
fn worth_channel_last(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<bool> {
    let input = model.outlet_fact(node.inputs[0])?;
    let output = model.outlet_fact(node.id.into())?;
    let channels = conv.input_channels();
    let depthwise = node.inputs.len() == 3
        && conv.q_params.is_none()
        && conv.group == channels
        && conv.group == conv.output_channels()
        && channels >= MIN_CHANNELS;
    let nchw = matches!(
        conv.pool_spec.data_format,
        DataFormat::NCHW | DataFormat::CHW
    );
    if !depthwise
        || !nchw
        || input.datum_type != f32::datum_type()
        || input.shape.as_concrete().is_none()
    {
        return Ok(false);
    }
    let (Some(out_w), Some(&k_w)) = (
        output.shape.last().and_then(|d| d.to_usize().ok()),
        conv.pool_spec.kernel_shape.last(),
    ) else {
        return Ok(false);
    };
    let strided = conv
        .pool_spec
        .strides
        .as_ref()
        .is_some_and(|s| s.iter().any(|&s| s > 1));
    Ok(strided || out_w < k_w + SHORT_ROW)
}

#[cfg(test)]
mod tests;
