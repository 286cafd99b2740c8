//! `MatMul` with NumPy semantics for rank ≥ 2: the last two axes multiply, leading (batch)
//! axes broadcast. Linear layers on token sequences (`B × N × D · D × E`) and attention
//! (`B × H × N × d · B × H × d × N`) are the cases that matter. A 2-D right operand is
//! shared by the whole batch, so it multiplies the flattened left operand in one GEMM.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, Axis, Ix2, IxDyn};

use super::broadcast::{broadcast_shape, unbroadcast};
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::Tensor;
use edge_ssl_core::gemm;

#[derive(Debug)]
pub(crate) struct MatMul;

/// The broadcast batch shape and each operand's matrices, one per batch index.
type Batched<'a> = (
    Vec<usize>,
    Vec<ArrayView2<'a, f32>>,
    Vec<ArrayView2<'a, f32>>,
);

/// Batch shape, and each operand broadcast to `batch × r × c` as a list of 2-D views.
fn batched<'a>(a: &'a ArrayViewD<'a, f32>, b: &'a ArrayViewD<'a, f32>) -> OpResult<Batched<'a>> {
    if a.ndim() < 2 || b.ndim() < 2 {
        return Err(format!(
            "operands {:?} and {:?} must be at least 2-D",
            a.shape(),
            b.shape()
        ));
    }
    let (ra, rb) = (a.ndim() - 2, b.ndim() - 2);
    let batch = broadcast_shape(&a.shape()[..ra], &b.shape()[..rb])?;
    if a.shape()[ra + 1] != b.shape()[rb] {
        return Err(format!(
            "{:?} and {:?} do not multiply",
            a.shape(),
            b.shape()
        ));
    }
    let views = |t: &'a ArrayViewD<'a, f32>, r: usize| -> OpResult<Vec<ArrayView2<'a, f32>>> {
        let mut full = batch.clone();
        full.extend_from_slice(&t.shape()[r..]);
        let view = t.broadcast(IxDyn(&full)).ok_or("broadcast failed")?;
        let count: usize = batch.iter().product();
        (0..count)
            .map(|idx| {
                let mut index = vec![0; batch.len()];
                let mut rem = idx;
                for axis in (0..batch.len()).rev() {
                    index[axis] = rem % batch[axis];
                    rem /= batch[axis];
                }
                let mut v = view.clone();
                for i in index {
                    v = v.index_axis_move(Axis(0), i);
                }
                v.into_dimensionality::<Ix2>().map_err(|e| e.to_string())
            })
            .collect()
    };
    let (va, vb) = (views(a, ra)?, views(b, rb)?);
    Ok((batch, va, vb))
}

impl MatMul {
    fn product(a: &ArrayViewD<f32>, b: &ArrayViewD<f32>) -> OpResult<ArrayD<f32>> {
        if b.ndim() == 2 && a.ndim() >= 2 {
            let k = b.shape()[0];
            let a2 = a.as_standard_layout();
            let lead: usize = a.shape()[..a.ndim() - 1].iter().product();
            if a.shape()[a.ndim() - 1] != k {
                return Err(format!(
                    "{:?} and {:?} do not multiply",
                    a.shape(),
                    b.shape()
                ));
            }
            let a2v = a2
                .view()
                .into_shape_with_order((lead, k))
                .map_err(|e| e.to_string())?;
            let b2 = b
                .view()
                .into_dimensionality::<Ix2>()
                .map_err(|e| e.to_string())?;
            let mut y = Array2::zeros((lead, b2.ncols()));
            gemm(1.0, a2v, b2, 0.0, y.view_mut());
            let mut shape = a.shape().to_vec();
            *shape.last_mut().expect("rank ≥ 2") = b2.ncols();
            return y
                .into_shape_with_order(IxDyn(&shape))
                .map_err(|e| e.to_string());
        }
        let (batch, av, bv) = batched(a, b)?;
        let (m, n) = (av[0].nrows(), bv[0].ncols());
        let mut shape = batch.clone();
        shape.extend([m, n]);
        let mut y = ArrayD::<f32>::zeros(IxDyn(&shape));
        let ys = y.as_slice_mut().expect("fresh array");
        for (i, (x, w)) in av.iter().zip(&bv).enumerate() {
            let out =
                ndarray::ArrayViewMut2::from_shape((m, n), &mut ys[i * m * n..(i + 1) * m * n])
                    .map_err(|e| e.to_string())?;
            gemm(1.0, x.view(), w.view(), 0.0, out);
        }
        Ok(y)
    }
}

impl Op for MatMul {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        Ok(vec![Tensor::F32(Self::product(&x.f32(0)?, &x.f32(1)?)?)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let (a, b) = (x.f32(0)?, x.f32(1)?);
        let g = single(dy)?;
        fn t<'v>(v: &ArrayViewD<'v, f32>) -> ArrayViewD<'v, f32> {
            let mut v = v.clone();
            let r = v.ndim();
            v.swap_axes(r - 2, r - 1);
            v
        }
        // dA = dY·Bᵀ, dB = Aᵀ·dY, each summed over the batch axes it was broadcast along.
        let da = if need[0] {
            let full = Self::product(&g.view(), &t(&b))?;
            Some(unbroadcast(full.view(), a.shape()))
        } else {
            None
        };
        let db = if need.get(1).copied().unwrap_or(false) {
            let full = if b.ndim() == 2 {
                // Shared weight: Aᵀ·dY over all leading axes at once.
                let k = a.shape()[a.ndim() - 1];
                let n = g.shape()[g.ndim() - 1];
                let a2 = a.as_standard_layout();
                let g2 = g.as_standard_layout();
                let rows = a.len() / k.max(1);
                let a2v = a2
                    .view()
                    .into_shape_with_order((rows, k))
                    .map_err(|e| e.to_string())?;
                let g2v = g2
                    .view()
                    .into_shape_with_order((rows, n))
                    .map_err(|e| e.to_string())?;
                let mut d = Array2::zeros((k, n));
                gemm(1.0, a2v.t(), g2v, 0.0, d.view_mut());
                d.into_dyn()
            } else {
                Self::product(&t(&a), &g.view())?
            };
            Some(unbroadcast(full.view(), b.shape()))
        } else {
            None
        };
        Ok(vec![da, db])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::Case;

    fn matmul() -> NodeSpec {
        NodeSpec::new("MatMul", "mm", &["a", "b"], &["y"])
    }

    #[test]
    fn tokens_times_shared_weight() {
        Case::node(matmul())
            .input("a", &[2, 3, 4], 1)
            .param("b", &[4, 5], 2)
            .check();
    }

    #[test]
    fn attention_batches_and_broadcast_batches() {
        Case::node(matmul())
            .input("a", &[2, 2, 3, 4], 3)
            .input("b", &[2, 2, 4, 3], 4)
            .check();
        Case::node(matmul())
            .input("a", &[2, 1, 3, 4], 5)
            .input("b", &[3, 4, 2], 6)
            .check();
        Case::node(matmul())
            .input("a", &[3, 4], 7)
            .input("b", &[2, 4, 2], 8)
            .check();
    }
}
