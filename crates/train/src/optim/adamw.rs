use std::collections::BTreeMap;

use ndarray::{Array2, Zip};

use super::Optimizer;
use super::optimizer::moment;
use crate::nn::Param;

/// Adam with decoupled weight decay (Loshchilov & Hutter). The default for adapter training:
/// SSL losses differ in scale by orders of magnitude (Barlow Twins sums a D×D matrix, BYOL is
/// in [0, 4]) and Adam's per-parameter normalization makes one learning rate work for all.
/// Decay applies only to parameters with `decay = true` (weights), pulling the adapter's `W2`
/// back towards the identity adapter.
#[derive(Clone, Debug)]
pub struct AdamW {
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    state: BTreeMap<String, Array2<f32>>,
}

impl AdamW {
    pub fn new(beta1: f32, beta2: f32, eps: f32, weight_decay: f32) -> Self {
        AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
            state: BTreeMap::new(),
        }
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, params: Vec<&mut Param>, lr: f32, t: u64) {
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let n = (t + 1) as i32;
        let (c1, c2) = (1.0 - b1.powi(n), 1.0 - b2.powi(n));
        for p in params {
            let decay = if p.decay {
                1.0 - lr * self.weight_decay
            } else {
                1.0
            };
            let mut m = std::mem::take(moment(&mut self.state, "adamw.m", p));
            let v = moment(&mut self.state, "adamw.v", p);
            Zip::from(&mut p.value)
                .and(&p.grad)
                .and(&mut m)
                .and(v)
                .for_each(|w, &g, m, v| {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    let update = (*m / c1) / ((*v / c2).sqrt() + eps);
                    *w = *w * decay - lr * update;
                });
            *moment(&mut self.state, "adamw.m", p) = m;
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
    fn first_step_moves_each_weight_by_lr() {
        // With bias correction, Adam's first update is lr·sign(g) regardless of |g|.
        let mut p = Param::new("w", Array2::zeros((1, 2)), false);
        p.grad = Array2::from_shape_vec((1, 2), vec![1e-3, -50.0]).unwrap();
        AdamW::new(0.9, 0.999, 1e-12, 0.0).step(vec![&mut p], 0.1, 0);
        assert!((p.value[[0, 0]] + 0.1).abs() < 1e-5 && (p.value[[0, 1]] - 0.1).abs() < 1e-5);
    }

    #[test]
    fn decay_only_where_asked() {
        let mut w = Param::new("w", Array2::ones((1, 1)), true);
        let mut b = Param::new("b", Array2::ones((1, 1)), false);
        AdamW::new(0.9, 0.999, 1e-8, 0.5).step(vec![&mut w, &mut b], 0.1, 0);
        assert!((w.value[[0, 0]] - 0.95).abs() < 1e-6);
        assert_eq!(b.value[[0, 0]], 1.0);
    }
}
