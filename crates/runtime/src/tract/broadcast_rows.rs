//! Per-channel operands behind a batch axis, made one value per row.
//!
//! tract runs an element-wise `a ∘ b` (Add, Sub, Mul, Div, …) with one vector-kernel call per
//! row of `a` when `b` holds one value per row: `b`'s leading axes equal to `a`'s, its trailing
//! ones 1 (`OptBinByScalar`). A per-channel operand behind a batch axis — `1 × C × 1` against
//! `N × C × S`, as the BN probe's train-mode arithmetic has, and the batch-norms tract leaves
//! unfused behind a batch axis — broadcasts along a leading axis too, and tract 0.23 then runs
//! its generic broadcast loop, a function call per value: on MobileNetV3-Small's BN probe that
//! loop took a third of the samples of a BN-only `adapt`. [`materialize`] broadcasts such an
//! operand along those leading axes first (`N × C × 1`, a few thousand values against `N·C·S`),
//! so that codegen picks the row kernel. The same IEEE operation runs on the same pairs of
//! values, so outputs do not change by a bit. Measured (`adapt --model mobilenet_v3_small.onnx
//! --data F200 --no-adapter --no-novelty --backend tract --threads 2`, release builds back to
//! back): BN phase 2.1–2.3 → 1.2–1.3 s, the same `encoder.onnx` bytes.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::MultiBroadcastTo;
use tract_onnx::tract_core::ops::binary::TypedBinOp;

/// tract takes its row kernel only for rows of more than this many values (below it, per-row
/// calls cost more than the generic loop).
const MIN_ROW: usize = 32;

/// Broadcasts, in a decluttered typed model, every small operand of an element-wise op that
/// broadcasts along a leading axis of the other one, as described above; returns how many.
pub(crate) fn materialize(model: &mut TypedModel) -> TractResult<usize> {
    let mut changed = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        if node.op_as::<TypedBinOp>().is_none() || node.inputs.len() != 2 {
            continue;
        }
        let facts = [
            model.outlet_fact(node.inputs[0])?,
            model.outlet_fact(node.inputs[1])?,
        ];
        let out = model.outlet_fact(id.into())?;
        let (Some(out_shape), Some(a), Some(b)) = (
            out.shape.as_concrete(),
            facts[0].shape.as_concrete(),
            facts[1].shape.as_concrete(),
        ) else {
            continue;
        };
        if facts.iter().any(|f| f.datum_type != f32::datum_type()) {
            continue;
        }
        // The small operand is the one the output is not shaped like.
        let small = match (a == out_shape, b == out_shape) {
            (true, false) => 1,
            (false, true) => 0,
            _ => continue,
        };
        let Some(rows) = row_shape(out_shape, [a, b][small]) else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let mut inputs = patch.taps(model, &node.inputs)?;
        let op = MultiBroadcastTo::new(ShapeFact::from_dims(rows));
        inputs[small] = patch.wire_node(format!("{}.rows", node.name), op, &[inputs[small]])?[0];
        let y = patch.wire_node(&node.name, node.op.clone(), &inputs)?[0];
        patch.shunt_outside(model, id.into(), y)?;
        patch.apply(model)?;
        changed += 1;
    }
    if changed > 0 {
        model.compact()?;
    }
    Ok(changed)
}

/// The shape `small` takes to hold one value per row of `big` (same rank): `big`'s axes up to
/// `small`'s last one above 1, then 1s — when `small` broadcasts along one of those leading axes,
/// matches `big` on the others, and leaves rows of more than [`MIN_ROW`] values. `None` when it
/// is already one value per row, or cannot be.
fn row_shape(big: &[usize], small: &[usize]) -> Option<Vec<usize>> {
    if big.len() != small.len() {
        return None;
    }
    let k = small.iter().rposition(|&d| d != 1)? + 1;
    let leading_ok = big[..k]
        .iter()
        .zip(&small[..k])
        .all(|(&g, &s)| s == g || s == 1);
    let broadcasts = big[..k]
        .iter()
        .zip(&small[..k])
        .any(|(&g, &s)| s == 1 && g > 1);
    let row: usize = big[k..].iter().product();
    (leading_ok && broadcasts && row > MIN_ROW).then(|| {
        big[..k]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(1, big.len() - k))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::math;

    /// The BN probe's arithmetic on a batch: `(x − mean) · gain`, both per channel.
    fn per_channel_model() -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([4, 16, 96])).unwrap();
        let mean = model.add_source("mean", f32::fact([1, 16, 1])).unwrap();
        let gain: Vec<f32> = (0..16).map(|c| 0.5 + c as f32 * 0.125).collect();
        let gain = model
            .add_const("gain", Tensor::from_shape(&[1, 16, 1], &gain).unwrap())
            .unwrap();
        let d = model.wire_node("d", math::sub(), &[x, mean]).unwrap();
        let y = model.wire_node("y", math::mul(), &[d[0], gain]).unwrap();
        model.select_output_outlets(&y).unwrap();
        model.into_decluttered().unwrap()
    }

    fn op_names(model: &TypedModel) -> Vec<String> {
        model
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect()
    }

    #[test]
    fn per_channel_operands_run_by_row_with_the_same_bits() {
        let plain = per_channel_model().into_optimized().unwrap();
        let mut rows = per_channel_model();
        assert_eq!(materialize(&mut rows).unwrap(), 2);
        rows.optimize().unwrap();
        // tract's generic broadcast ops before (`Sub`, `Mul`); its row kernels after (one
        // `OptSubByScalar`/`OptMulByScalar` each, or both chained in one `OptBinChain`).
        let generic = |names: &[String]| names.iter().any(|n| n == "Sub" || n == "Mul");
        assert!(generic(&op_names(&plain)), "{:?}", op_names(&plain));
        assert!(!generic(&op_names(&rows)), "{:?}", op_names(&rows));
        let x: Vec<f32> = (0..4 * 16 * 96)
            .map(|i| (i as f32 * 0.37).sin() * 3.0)
            .collect();
        let mean: Vec<f32> = (0..16).map(|c| c as f32 * 0.1 - 0.7).collect();
        let run = |model: TypedModel| {
            let inputs = tvec!(
                Tensor::from_shape(&[4, 16, 96], &x).unwrap().into_tvalue(),
                Tensor::from_shape(&[1, 16, 1], &mean)
                    .unwrap()
                    .into_tvalue()
            );
            let out = model.into_runnable().unwrap().run(inputs).unwrap();
            let view = out[0].to_plain_array_view::<f32>().unwrap();
            view.iter().copied().collect::<Vec<f32>>()
        };
        let (want, got) = (run(plain), run(rows));
        assert_eq!(want.len(), got.len());
        assert!(
            want.iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn row_shapes() {
        // A per-channel operand behind a batch axis: one value per (sample, channel).
        assert_eq!(
            row_shape(&[32, 16, 3136], &[1, 16, 1]),
            Some(vec![32, 16, 1])
        );
        assert_eq!(
            row_shape(&[8, 16, 56, 56], &[1, 16, 1, 1]),
            Some(vec![8, 16, 1, 1])
        );
        // Already one per row, a scalar, rows too short, other ranks, mismatched axes.
        assert_eq!(row_shape(&[32, 16, 3136], &[32, 16, 1]), None);
        assert_eq!(row_shape(&[1, 16, 3136], &[1, 16, 1]), None);
        assert_eq!(row_shape(&[32, 16, 3136], &[1, 1, 1]), None);
        assert_eq!(row_shape(&[32, 16, 7], &[1, 16, 1]), None);
        assert_eq!(row_shape(&[32, 16, 3136], &[16, 1]), None);
        assert_eq!(row_shape(&[32, 16, 3136], &[1, 8, 1]), None);
        // Broadcast along the last axis only (not per row): left alone.
        assert_eq!(row_shape(&[32, 16, 3136], &[1, 1, 3136]), None);
    }
}
