//! The replacement loop the tract rewrites share: every node of a decluttered typed model, in
//! evaluation order, offered to a maker that may return an op to run instead. The ops made here
//! carry their constants (weights, bias) and take the node's data input only.

use tract_onnx::prelude::*;

/// Replaces each node of `model` for which `make` returns an op by that op, wired to the node's
/// first input; returns how many it replaced.
pub(crate) fn replace_nodes(
    model: &mut TypedModel,
    mut make: impl FnMut(&TypedModel, &TypedNode) -> TractResult<Option<Box<dyn TypedOp>>>,
) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = make(model, node)? else {
            continue;
        };
        TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op)?.apply(model)?;
        replaced += 1;
    }
    if replaced > 0 {
        model.compact()?;
    }
    Ok(replaced)
}

/// For the rewrites' tests: `replace` on `model(batch)` replaces one node at batches above 1 and
/// none at batch 1, and the model then gives what it gave before (within 1e-5 relative) on the
/// same input of `image`-shaped images.
#[cfg(test)]
pub(crate) fn assert_replacement_keeps_outputs(
    model: impl Fn(usize) -> TractResult<TypedModel>,
    replace: fn(&mut TypedModel) -> TractResult<usize>,
    image: [usize; 3],
) -> TractResult<()> {
    let run = |m: TypedModel, x: &Tensor| {
        m.into_optimized()?
            .into_runnable()?
            .run(tvec!(x.clone().into_tvalue()))
    };
    for batch in [1, 2, 5] {
        let len = batch * image.iter().product::<usize>();
        let x: Vec<f32> = (0..len).map(|i| ((i * 7 % 29) as f32).sin()).collect();
        let x = Tensor::from_shape(&[batch, image[0], image[1], image[2]], &x)?;
        let want = run(model(batch)?, &x)?;
        let mut m = model(batch)?;
        assert_eq!(replace(&mut m)?, usize::from(batch > 1), "batch {batch}");
        let got = run(m, &x)?;
        assert_eq!(got[0].shape(), want[0].shape(), "batch {batch}");
        let (got, want) = (
            got[0].to_plain_array_view::<f32>()?,
            want[0].to_plain_array_view::<f32>()?,
        );
        for (a, b) in got.iter().zip(want.iter()) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "batch {batch}: {a} vs {b}"
            );
        }
    }
    Ok(())
}
