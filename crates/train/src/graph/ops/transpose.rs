//! `Transpose` (default: reverse the axes). The gradient is `dy` under the inverse permutation.

use ndarray::ArrayD;

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Transpose {
    perm: Option<Vec<i64>>,
}

impl Transpose {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Transpose {
            perm: attrs::ints(node, "perm")?,
        })
    }

    fn perm(&self, rank: usize) -> OpResult<Vec<usize>> {
        let perm: Vec<usize> = match &self.perm {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| attrs::axis(a, rank))
                .collect::<OpResult<_>>()?,
        };
        let mut seen = perm.clone();
        seen.sort_unstable();
        if seen != (0..rank).collect::<Vec<_>>() {
            return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
        }
        Ok(perm)
    }
}

fn permute<T: Clone>(a: ndarray::ArrayViewD<T>, perm: &[usize]) -> ArrayD<T> {
    a.permuted_axes(perm).as_standard_layout().into_owned()
}

impl Op for Transpose {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let perm = self.perm(input.shape().len())?;
        Ok(vec![match input {
            TensorView::F32(a) => Tensor::F32(permute(a.clone(), &perm)),
            TensorView::I64(a) => Tensor::I64(permute(a.clone(), &perm)),
        }])
    }

    fn backward(
        &mut self,
        _x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let g = single(dy)?;
        let perm = self.perm(g.ndim())?;
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(vec![Some(permute(g.view(), &inverse))])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn backward_matches_finite_differences() {
        let node = NodeSpec::new("Transpose", "t", &["x"], &["y"])
            .with_attr("perm", Attr::Ints(vec![2, 0, 3, 1]));
        Case::node(node).input("x", &[2, 3, 4, 2], 1).check();
        Case::node(NodeSpec::new("Transpose", "t", &["w"], &["y"]))
            .param("w", &[3, 4], 2)
            .check();
    }
}
