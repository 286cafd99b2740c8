//! `Gemm`: `Y = α·A'·B' + β·C`, `A' = transA ? Aᵀ : A` (likewise B), C broadcast to `M × N`.
//! PyTorch's `Linear` on 2-D input exports as `Gemm(transB = 1)`.

use ndarray::{Array2, ArrayD, ArrayView2, Ix2, IxDyn};

use super::attrs;
use super::broadcast::unbroadcast;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};
use edge_ssl_core::gemm;

#[derive(Debug)]
pub(crate) struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

impl Gemm {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Gemm {
            alpha: attrs::float(node, "alpha", 1.0)?,
            beta: attrs::float(node, "beta", 1.0)?,
            trans_a: attrs::int(node, "transA", 0)? != 0,
            trans_b: attrs::int(node, "transB", 0)? != 0,
        })
    }

    fn operands<'a>(&self, x: &Inputs<'a>) -> OpResult<(ArrayView2<'a, f32>, ArrayView2<'a, f32>)> {
        let two = |i: usize| -> OpResult<ArrayView2<'a, f32>> {
            x.f32(i)?
                .into_dimensionality::<Ix2>()
                .map_err(|_| format!("input {i} must be 2-D"))
        };
        let (a, b) = (two(0)?, two(1)?);
        let a = if self.trans_a { a.reversed_axes() } else { a };
        let b = if self.trans_b { b.reversed_axes() } else { b };
        if a.ncols() != b.nrows() {
            return Err(format!(
                "A' {:?} and B' {:?} do not multiply",
                a.dim(),
                b.dim()
            ));
        }
        Ok((a, b))
    }
}

impl Op for Gemm {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let (a, b) = self.operands(x)?;
        let mut y = Array2::<f32>::zeros((a.nrows(), b.ncols()));
        if let Some(c) = x.opt_f32(2)? {
            let c = c
                .broadcast(IxDyn(&[a.nrows(), b.ncols()]))
                .ok_or_else(|| format!("C {:?} does not broadcast to the output", c.shape()))?;
            y.assign(&c.into_dimensionality::<Ix2>().map_err(|e| e.to_string())?);
            y *= self.beta;
        }
        gemm(self.alpha, a, b, 1.0, y.view_mut());
        Ok(vec![Tensor::F32(y.into_dyn())])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let (a, b) = self.operands(x)?;
        let g = single(dy)?
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        // dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY; transposed back when the input was.
        let da = need[0].then(|| {
            let mut d = Array2::zeros((a.nrows(), a.ncols()));
            gemm(self.alpha, g, b.t(), 0.0, d.view_mut());
            if self.trans_a {
                d.reversed_axes().as_standard_layout().into_owned()
            } else {
                d
            }
            .into_dyn()
        });
        let db = need.get(1).copied().unwrap_or(false).then(|| {
            let mut d = Array2::zeros((b.nrows(), b.ncols()));
            gemm(self.alpha, a.t(), g, 0.0, d.view_mut());
            if self.trans_b {
                d.reversed_axes().as_standard_layout().into_owned()
            } else {
                d
            }
            .into_dyn()
        });
        let dc = match (need.get(2).copied().unwrap_or(false), x.opt_f32(2)?) {
            (true, Some(c)) => Some(unbroadcast(g.into_dyn(), c.shape()).mapv(|v| v * self.beta)),
            _ => None,
        };
        Ok(vec![da, db, dc])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn linear_layer_and_transposed_a() {
        let node =
            NodeSpec::new("Gemm", "fc", &["x", "w", "b"], &["y"]).with_attr("transB", Attr::Int(1));
        Case::node(node)
            .input("x", &[3, 4], 1)
            .param("w", &[5, 4], 2)
            .param("b", &[5], 3)
            .check();
        let node = NodeSpec::new("Gemm", "fc", &["x", "w", "b"], &["y"])
            .with_attr("transA", Attr::Int(1))
            .with_attr("alpha", Attr::Float(0.5))
            .with_attr("beta", Attr::Float(2.0));
        Case::node(node)
            .input("x", &[4, 3], 4)
            .param("w", &[4, 5], 5)
            .param("b", &[1, 5], 6)
            .check();
    }
}
