//! `Where(cond, x, y)` with broadcasting; `cond` is 0/1 (i64, as `Equal` produces). On shape
//! vectors it is plumbing; on floats `dx = dy` where cond holds and `dy` to `y` elsewhere.

use ndarray::{ArrayD, IxDyn, Zip};

use super::broadcast::{broadcast_shape, unbroadcast};
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Where;

fn shape3(a: &[usize], b: &[usize], c: &[usize]) -> OpResult<Vec<usize>> {
    broadcast_shape(&broadcast_shape(a, b)?, c)
}

fn pick<T: Copy>(
    cond: &ndarray::ArrayViewD<i64>,
    a: &ndarray::ArrayViewD<T>,
    b: &ndarray::ArrayViewD<T>,
) -> OpResult<ArrayD<T>> {
    let s = IxDyn(&shape3(cond.shape(), a.shape(), b.shape())?);
    let (c, a, b) = (
        cond.broadcast(s.clone()).ok_or("broadcast")?,
        a.broadcast(s.clone()).ok_or("broadcast")?,
        b.broadcast(s).ok_or("broadcast")?,
    );
    Ok(Zip::from(&c)
        .and(&a)
        .and(&b)
        .map_collect(|&c, &a, &b| if c != 0 { a } else { b }))
}

impl Op for Where {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let cond = x.i64(0)?;
        Ok(vec![match (x.get(1), x.get(2)) {
            (Some(TensorView::I64(a)), Some(TensorView::I64(b))) => Tensor::I64(pick(&cond, a, b)?),
            _ => Tensor::F32(pick(&cond, &x.f32(1)?, &x.f32(2)?)?),
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let cond = x.i64(0)?;
        let (a, b) = (x.f32(1)?, x.f32(2)?);
        let g = single(dy)?;
        let c = cond.broadcast(g.raw_dim()).ok_or("broadcast")?;
        let masked = |keep: bool| {
            Zip::from(g)
                .and(&c)
                .map_collect(|&g, &c| if (c != 0) == keep { g } else { 0.0 })
        };
        let da = need
            .get(1)
            .copied()
            .unwrap_or(false)
            .then(|| unbroadcast(masked(true).view(), a.shape()));
        let db = need
            .get(2)
            .copied()
            .unwrap_or(false)
            .then(|| unbroadcast(masked(false).view(), b.shape()));
        Ok(vec![None, da, db])
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use crate::graph::NodeSpec;
    use crate::graph::check::Case;

    #[test]
    fn backward_matches_finite_differences() {
        let mut c = Case::node(NodeSpec::new("Where", "w", &["c", "x", "y"], &["z"]))
            .input("x", &[2, 3], 1)
            .input("y", &[3], 2);
        c.ints.push((
            "c",
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1, 0, 1, 0, 0, 1]).unwrap(),
        ));
        c.check();
    }
}
