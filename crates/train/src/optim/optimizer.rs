use std::collections::BTreeMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{AdamW, Sgd};
use crate::nn::Param;

/// Updates parameters from their accumulated gradients.
///
/// The learning rate comes from outside (a [`super::Schedule`]) and `t`, the number of updates
/// already applied, is passed in rather than counted inside: the trainer's step counter is then
/// the single source of truth, which keeps resume-from-checkpoint trivially exact. The only
/// internal state is per-parameter moment tensors, exposed by name for checkpoints.
pub trait Optimizer {
    fn step(&mut self, params: Vec<&mut Param>, lr: f32, t: u64);
    /// Moment tensors keyed `"<slot>.<param name>"`.
    fn state(&self) -> &BTreeMap<String, Array2<f32>>;
    fn restore(&mut self, state: BTreeMap<String, Array2<f32>>);
}

/// Serializable choice of optimizer and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    AdamW {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    Sgd {
        momentum: f32,
        weight_decay: f32,
    },
}

impl Default for OptimizerKind {
    fn default() -> Self {
        OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
        }
    }
}

impl OptimizerKind {
    pub fn sgd() -> Self {
        OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 1e-4,
        }
    }

    pub fn build(self) -> Box<dyn Optimizer + Send> {
        match self {
            OptimizerKind::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => Box::new(AdamW::new(beta1, beta2, eps, weight_decay)),
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => Box::new(Sgd::new(momentum, weight_decay)),
        }
    }
}

/// Moment tensor for `name` in `slot`, created as zeros the first time it is needed.
pub(super) fn moment<'a>(
    state: &'a mut BTreeMap<String, Array2<f32>>,
    slot: &str,
    p: &Param,
) -> &'a mut Array2<f32> {
    state
        .entry(format!("{slot}.{}", p.name))
        .or_insert_with(|| Array2::zeros(p.value.raw_dim()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Minimizes ½‖w − target‖² and returns the final distance; both optimizers must converge.
    pub fn distance_after(kind: OptimizerKind, lr: f32, steps: u64) -> f32 {
        let target = Array2::from_shape_vec((1, 3), vec![1.0, -2.0, 0.5]).unwrap();
        let mut p = Param::new("w", Array2::zeros((1, 3)), false);
        let mut opt = kind.build();
        for t in 0..steps {
            p.grad = &p.value - &target;
            opt.step(vec![&mut p], lr, t);
        }
        (&p.value - &target).mapv(|v| v * v).sum().sqrt()
    }

    #[test]
    fn both_optimizers_minimize_a_quadratic() {
        assert!(distance_after(OptimizerKind::default(), 0.05, 400) < 1e-2);
        assert!(distance_after(OptimizerKind::sgd(), 0.05, 400) < 1e-2);
    }

    #[test]
    fn state_restores_exactly() {
        let mut p = Param::new("w", Array2::ones((2, 2)), true);
        p.grad.fill(0.3);
        let mut a = OptimizerKind::default().build();
        a.step(vec![&mut p.clone()], 0.1, 0);
        let mut b = OptimizerKind::default().build();
        b.restore(a.state().clone());
        let (mut pa, mut pb) = (p.clone(), p.clone());
        a.step(vec![&mut pa], 0.1, 1);
        b.step(vec![&mut pb], 0.1, 1);
        assert_eq!(pa.value, pb.value);
    }
}
