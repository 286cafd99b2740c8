use std::collections::BTreeMap;

use ndarray::{Array2, Zip};

use super::Optimizer;
use super::optimizer::moment;
use crate::nn::Param;

/// SGD with heavy-ball momentum and coupled L2 weight decay, as PyTorch's `SGD` does it:
/// `buf = μ·buf + (g + λw)`, `w -= lr·buf`. Cheaper than AdamW (one moment, no sqrt) and the
/// classic choice for contrastive losses with large batches.
#[derive(Clone, Debug)]
pub struct Sgd {
    momentum: f32,
    weight_decay: f32,
    state: BTreeMap<String, Array2<f32>>,
}

impl Sgd {
    pub fn new(momentum: f32, weight_decay: f32) -> Self {
        Sgd {
            momentum,
            weight_decay,
            state: BTreeMap::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: Vec<&mut Param>, lr: f32, _t: u64) {
        let mu = self.momentum;
        for p in params {
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            let buf = moment(&mut self.state, "sgd.momentum", p);
            Zip::from(&mut p.value)
                .and(&p.grad)
                .and(buf)
                .for_each(|w, &g, b| {
                    *b = mu * *b + g + wd * *w;
                    *w -= lr * *b;
                });
        }
    }

    fn state(&self) -> &BTreeMap<String, Array2<f32>> {
        &self.state
    }

    fn restore(&mut self, state: BTreeMap<String, Array2<f32>>) {
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_accumulates() {
        let mut p = Param::new("w", Array2::zeros((1, 1)), false);
        let mut opt = Sgd::new(0.5, 0.0);
        p.grad.fill(1.0);
        opt.step(vec![&mut p], 1.0, 0);
        opt.step(vec![&mut p], 1.0, 1);
        // buf: 1, then 1.5; w: -1, then -2.5
        assert_eq!(p.value[[0, 0]], -2.5);
    }
}
