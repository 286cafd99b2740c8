use ndarray::{Array2, ArrayView2, Zip};

use crate::nn::{Adapter, Module, Param, Projector};

/// The momentum copy of adapter + projector that MoCo keys and BYOL targets come from.
///
/// It is never differentiated; after every optimizer step it moves a little towards the online
/// networks (`θ_t ← m·θ_t + (1 − m)·θ`). The slow target is what keeps BYOL from collapsing and
/// keeps MoCo's queued keys consistent with each other.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub adapter: Adapter,
    pub projector: Projector,
}

impl Target {
    pub fn new(adapter: &Adapter, projector: &Projector) -> Self {
        Target {
            adapter: adapter.clone(),
            projector: projector.clone(),
        }
    }

    pub fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        self.projector.infer(self.adapter.infer(x).view())
    }

    pub fn update(&mut self, adapter: &Adapter, projector: &Projector, momentum: f32) {
        let online = adapter.params().into_iter().chain(projector.params());
        for (t, o) in self.params_mut().into_iter().zip(online) {
            Zip::from(&mut t.value)
                .and(&o.value)
                .for_each(|t, &o| *t = momentum * *t + (1.0 - momentum) * o);
        }
    }

    pub fn params(&self) -> Vec<&Param> {
        let mut v = self.adapter.params();
        v.extend(self.projector.params());
        v
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.adapter.params_mut();
        v.extend(self.projector.params_mut());
        v
    }
}
