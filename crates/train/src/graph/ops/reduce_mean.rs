//! `ReduceMean` and `GlobalAveragePool` (the mean over every axis after the channel axis,
//! kept as size 1). Backward spreads `dy / count` over the reduced elements.

use ndarray::{ArrayD, Axis, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};

#[derive(Debug)]
pub(crate) struct ReduceMean {
    /// `None`: from input 1 (opset 18), or all axes when that is absent too.
    axes: Option<Vec<i64>>,
    keepdims: bool,
    /// GlobalAveragePool: axes 2.. whatever the rank.
    global_pool: bool,
    noop_with_empty_axes: bool,
}

impl ReduceMean {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(ReduceMean {
            axes: attrs::ints(node, "axes")?,
            keepdims: attrs::int(node, "keepdims", 1)? != 0,
            global_pool: false,
            noop_with_empty_axes: attrs::int(node, "noop_with_empty_axes", 0)? != 0,
        })
    }

    pub fn global_average_pool() -> Self {
        ReduceMean {
            axes: None,
            keepdims: true,
            global_pool: true,
            noop_with_empty_axes: false,
        }
    }

    /// Sorted, deduplicated non-negative axes.
    fn axes(&self, x: &Inputs<'_>, rank: usize) -> OpResult<Vec<usize>> {
        if self.global_pool {
            if rank < 3 {
                return Err(format!(
                    "GlobalAveragePool needs N × C × spatial, got rank {rank}"
                ));
            }
            return Ok((2..rank).collect());
        }
        let given = match &self.axes {
            Some(a) => Some(a.clone()),
            None => x.opt_i64(1)?,
        };
        let mut axes = match given {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|&a| attrs::axis(a, rank))
                .collect::<OpResult<Vec<_>>>()?,
            _ if self.noop_with_empty_axes => Vec::new(),
            _ => (0..rank).collect(),
        };
        axes.sort_unstable();
        axes.dedup();
        Ok(axes)
    }
}

/// With `axes` the last axes of `shape` (one or more, none empty), how many elements each
/// output value averages; `None` otherwise.
fn trailing_count(axes: &[usize], shape: &[usize]) -> Option<usize> {
    let trailing = !axes.is_empty()
        && axes
            .iter()
            .rev()
            .zip((0..shape.len()).rev())
            .all(|(&a, b)| a == b);
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    (trailing && count > 0).then_some(count)
}

/// The sum of `run`, eight partial sums side by side (vectorizes) added at the end.
fn run_sum(run: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = run.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Op for ReduceMean {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.f32(0)?;
        let axes = self.axes(x, input.ndim())?;
        if let Some(count) = trailing_count(&axes, input.shape())
            && let Some(xs) = input.as_slice()
        {
            // Contiguous runs of `count` (GlobalAveragePool): one pass, no copy of the input.
            let mut shape = input.shape().to_vec();
            for &a in &axes {
                shape[a] = 1;
            }
            if !self.keepdims {
                shape.truncate(shape.len() - axes.len());
            }
            let means: Vec<f32> = xs
                .chunks_exact(count)
                .map(|run| run_sum(run) / count as f32)
                .collect();
            let y = ArrayD::from_shape_vec(IxDyn(&shape), means).map_err(|e| e.to_string())?;
            return Ok(vec![Tensor::F32(y)]);
        }
        let mut y = input.to_owned();
        for &a in axes.iter().rev() {
            y = y.mean_axis(Axis(a)).ok_or("mean over an empty axis")?;
            if self.keepdims {
                y = y.insert_axis(Axis(a));
            }
        }
        Ok(vec![Tensor::F32(y)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let axes = self.axes(x, input.ndim())?;
        let count: usize = axes.iter().map(|&a| input.shape()[a]).product();
        let dy = single(dy)?;
        // The last axes (GlobalAveragePool): each gradient value fills a run of `count`.
        if trailing_count(&axes, input.shape()).is_some() && count > 0 {
            let mut spread = vec![0.0f32; input.len()];
            for (run, &v) in spread.chunks_exact_mut(count).zip(dy.iter()) {
                run.fill(v / count as f32);
            }
            let spread =
                ArrayD::from_shape_vec(input.raw_dim(), spread).map_err(|e| e.to_string())?;
            return Ok(vec![Some(spread), None]);
        }
        let mut g = dy.clone();
        if !self.keepdims {
            for &a in &axes {
                g = g.insert_axis(Axis(a));
            }
        }
        let spread = g
            .broadcast(IxDyn(input.shape()))
            .ok_or("gradient does not broadcast to the input")?
            .mapv(|v| v / count as f32);
        Ok(vec![Some(spread), None])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn global_average_pool() {
        Case::node(NodeSpec::new("GlobalAveragePool", "gap", &["x"], &["y"]))
            .input("x", &[2, 3, 4, 5], 1)
            .check();
    }

    /// The contiguous fast path against the mean computed in f64, on planes whose size is not
    /// a multiple of the eight partial sums.
    #[test]
    fn global_average_pool_values() {
        let c = Case::node(NodeSpec::new("GlobalAveragePool", "gap", &["x"], &["y"])).input(
            "x",
            &[3, 4, 5, 7],
            3,
        );
        let x = c.inputs[0].1.clone();
        let y = c.build().forward(vec![x.clone()], false).unwrap().remove(0);
        assert_eq!(y.shape(), &[3, 4, 1, 1]);
        for (plane, got) in x.as_slice().unwrap().chunks(35).zip(y.iter()) {
            let want = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / 35.0;
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn reduce_mean_axes_attr_and_input() {
        let node = NodeSpec::new("ReduceMean", "rm", &["x"], &["y"])
            .with_attr("axes", Attr::Ints(vec![-1, 1]))
            .with_attr("keepdims", Attr::Int(0));
        let c = Case::node(node).input("x", &[2, 3, 4], 1);
        assert_eq!(
            c.build()
                .forward(vec![c.inputs[0].1.clone()], false)
                .unwrap()[0]
                .shape(),
            &[2]
        );
        c.check();
        Case::node(NodeSpec::new("ReduceMean", "rm", &["x", "axes"], &["y"]))
            .input("x", &[2, 3, 4], 2)
            .ints("axes", &[1])
            .check();
    }
}
