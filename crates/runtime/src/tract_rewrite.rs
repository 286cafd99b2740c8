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

/// Channel-last only pays back for depthwise convs with at least this many channels: the
/// channel-inner loop runs over blocks of 16 (tract's own threshold for its suggestion).
const MIN_CHANNELS: usize = 16;

/// An output row this much longer than the kernel keeps the W-inner NCHW loop ahead.
const SHORT_ROW: usize = 7;

/// Optimizes a decluttered typed model for running, with its depthwise convs channel-last where
/// that is faster. If the rewrite fails or panics, the model is optimized as it was.
pub fn optimize(model: TypedModel) -> TractResult<TypedModel> {
    let attempt = model.clone();
    let rewritten = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        move || -> TractResult<Option<TypedModel>> {
            let mut model = attempt;
            if rewrite_depthwise(&mut model)? == 0 {
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

/// Rewrites the depthwise convs of a decluttered typed model that run faster channel-last; returns
/// how many it rewrote. The model must then be codegen'd (`optimize`), not decluttered again.
pub fn rewrite_depthwise(model: &mut TypedModel) -> TractResult<usize> {
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
        let y = channel_last.wire_as_depth_wise(&mut patch, &name, &wires)?;
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
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::PaddingSpec;
    use tract_onnx::tract_core::ops::cnn::conv::KernelFormat;

    /// A conv with made-up weights, NCHW, "same" padding.
    fn conv(
        model: &mut TypedModel,
        name: &str,
        x: OutletId,
        (c_in, c_out, group, kernel, stride): (usize, usize, usize, usize, usize),
    ) -> OutletId {
        let k: Vec<f32> = (0..c_out * (c_in / group) * kernel * kernel)
            .map(|i| (i as f32 * 0.091).cos() * 0.3)
            .collect();
        let b: Vec<f32> = (0..c_out).map(|i| i as f32 * 0.05 - 0.1).collect();
        let k = Tensor::from_shape(&[c_out, c_in / group, kernel, kernel], &k).unwrap();
        let k = model.add_const(format!("{name}.k"), k).unwrap();
        let b = Tensor::from_shape(&[c_out], &b).unwrap();
        let b = model.add_const(format!("{name}.b"), b).unwrap();
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(kernel, kernel),
            padding: PaddingSpec::SameUpper,
            dilations: None,
            strides: Some(tvec!(stride, stride)),
            input_channels: c_in,
            output_channels: c_out,
        };
        let op = Conv {
            pool_spec,
            kernel_fmt: KernelFormat::OIHW,
            group,
            q_params: None,
        };
        model.wire_node(name, op, &[x, k, b]).unwrap()[0]
    }

    /// An inverted-residual-like chain: 1×1 expansion, a strided 3×3 depthwise conv, a stride-1
    /// 3×3 depthwise conv on wide rows, a 5×5 one on short rows, a 1×1 projection.
    fn mobile_block() -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 8, 32, 32])).unwrap();
        let x = conv(&mut model, "expand", x, (8, 32, 1, 1, 1));
        let x = conv(&mut model, "dw_strided", x, (32, 32, 32, 3, 2));
        let x = conv(&mut model, "dw_wide", x, (32, 32, 32, 3, 1));
        let x = conv(&mut model, "dw_short", x, (32, 32, 32, 5, 2));
        let x = conv(&mut model, "dw_short_s1", x, (32, 32, 32, 5, 1));
        let x = conv(&mut model, "project", x, (32, 16, 1, 1, 1));
        model.select_output_outlets(&[x]).unwrap();
        model.into_decluttered().unwrap()
    }

    fn run(model: TypedModel, x: &Tensor) -> Tensor {
        let plan = model.into_runnable().unwrap();
        let mut out = plan.run(tvec!(x.clone().into_tvalue())).unwrap();
        out.remove(0).into_tensor()
    }

    #[test]
    fn only_strided_or_short_row_depthwise_convs_are_rewritten() {
        let mut model = mobile_block();
        assert_eq!(rewrite_depthwise(&mut model).unwrap(), 3);
        let rewritten = |name: &str| {
            model
                .nodes
                .iter()
                .any(|n| n.name == format!("{name}.nhwc_out"))
        };
        assert!(rewritten("dw_strided"));
        assert!(!rewritten("dw_wide"));
        assert!(rewritten("dw_short"));
        assert!(rewritten("dw_short_s1"));
    }

    #[test]
    fn rewritten_model_computes_the_same() {
        let mut seed = 7u64;
        let data: Vec<f32> = (0..8 * 32 * 32)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect();
        let x = Tensor::from_shape(&[1, 8, 32, 32], &data).unwrap();
        let want = run(mobile_block().into_optimized().unwrap(), &x);
        let optimized = optimize(mobile_block()).unwrap();
        let has = |name: &str| optimized.nodes.iter().any(|n| n.name == name);
        // Rewritten, not fallen back; the move in front of the first depthwise conv went into the
        // expansion's matrix product, the one behind it stayed.
        assert!(has("dw_strided.nhwc_out"));
        assert!(!has("dw_strided.nhwc_in"));
        assert!(
            !has("dw_wide.kernel_c_inner"),
            "the wide-row conv went channel-last"
        );
        let got = run(optimized, &x);
        assert_eq!(want.shape(), got.shape());
        let want = want.to_plain_array_view::<f32>().unwrap();
        let got = got.to_plain_array_view::<f32>().unwrap();
        let max_abs = want
            .iter()
            .zip(got.iter())
            .map(|(w, g)| (w - g).abs())
            .fold(0f32, f32::max);
        assert!(max_abs < 1e-4, "max abs diff {max_abs}");
    }

    #[test]
    fn a_model_without_depthwise_convs_is_left_alone() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 3, 16, 16])).unwrap();
        let x = conv(&mut model, "stem", x, (3, 16, 1, 3, 2));
        model.select_output_outlets(&[x]).unwrap();
        let mut model = model.into_decluttered().unwrap();
        let before = model.nodes.len();
        assert_eq!(rewrite_depthwise(&mut model).unwrap(), 0);
        assert_eq!(model.nodes.len(), before);
    }
}
