use ndarray::{Array2, ArrayView2, Axis};

use super::classifier::softmax_rows;
use crate::Result;
use crate::nn::{Linear, Module};
use crate::optim::{AdamW, Optimizer};
use crate::tensor_file::TensorFile;

/// Options for `SoftmaxHead::fit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxOptions {
    /// L2 penalty `λ/2·‖W‖²` — with 5–10 labels per class this is what keeps the head from
    /// memorizing the particular shots.
    pub l2: f32,
    pub iterations: usize,
    pub lr: f32,
}

impl Default for SoftmaxOptions {
    fn default() -> Self {
        SoftmaxOptions {
            l2: 1e-3,
            iterations: 300,
            lr: 0.05,
        }
    }
}

impl SoftmaxOptions {
    pub fn with_l2(mut self, l2: f32) -> Self {
        self.l2 = l2;
        self
    }

    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.iterations = iterations;
        self
    }
}

/// Multinomial logistic regression `softmax(W·x̂ + b)` on unit embeddings.
///
/// Fitted full-batch (few labels: the whole set is one batch) from zero weights with Adam, so
/// it is deterministic without a seed. The problem is convex, so the fixed iteration count
/// only has to be large enough, not tuned.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxHead {
    /// `C × D`.
    pub weight: Array2<f32>,
    /// `1 × C`.
    pub bias: Array2<f32>,
}

impl SoftmaxHead {
    /// `x` unit rows, labels validated by the caller.
    pub(super) fn fit(
        x: ArrayView2<f32>,
        labels: &[usize],
        classes: usize,
        opts: &SoftmaxOptions,
    ) -> Result<Self> {
        let n = x.nrows() as f32;
        let mut layer = Linear::zeros("softmax", x.ncols(), classes);
        // AdamW's decay would be decoupled; the L2 term is added to the gradient instead so the
        // optimum is the regularized maximum-likelihood one, independent of the optimizer.
        let mut opt = AdamW::new(0.9, 0.999, 1e-8, 0.0);
        for t in 0..opts.iterations {
            layer.zero_grad();
            let mut g = softmax_rows(layer.forward(x), 1.0);
            for (mut row, &y) in g.axis_iter_mut(Axis(0)).zip(labels) {
                row[y] -= 1.0;
                row /= n;
            }
            layer.backward(g.view());
            layer.weight.grad.scaled_add(opts.l2, &layer.weight.value);
            opt.step(vec![&mut layer.weight, &mut layer.bias], opts.lr, t as u64);
        }
        Ok(SoftmaxHead {
            weight: layer.weight.value,
            bias: layer.bias.value,
        })
    }

    pub(super) fn probabilities(&self, unit: ArrayView2<f32>) -> Array2<f32> {
        softmax_rows(unit.dot(&self.weight.t()) + &self.bias, 1.0)
    }

    pub(super) fn write(&self, f: &mut TensorFile) {
        f.insert2("softmax.weight", &self.weight);
        f.insert2("softmax.bias", &self.bias);
    }

    pub(super) fn read(f: &mut TensorFile, classes: usize, dim: usize) -> Result<Self> {
        Ok(SoftmaxHead {
            weight: f.take2("softmax.weight", Some((classes, dim)))?,
            bias: f.take2("softmax.bias", Some((1, classes)))?,
        })
    }
}
