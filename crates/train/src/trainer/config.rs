use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::loss::{BarlowTwins, Emp, Margin, NtXent, VicReg};
use crate::nn::NormKind;
use crate::optim::OptimizerKind;
use crate::{Result, TrainError};

/// The self-supervised objective `adapt --method` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Vicreg,
    Barlow,
    Simclr,
    Moco,
    Byol,
    Margin,
    Emp,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Vicreg,
        Method::Barlow,
        Method::Simclr,
        Method::Moco,
        Method::Byol,
        Method::Margin,
        Method::Emp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Vicreg => "vicreg",
            Method::Barlow => "barlow",
            Method::Simclr => "simclr",
            Method::Moco => "moco",
            Method::Byol => "byol",
            Method::Margin => "margin",
            Method::Emp => "emp",
        }
    }

    /// MoCo and BYOL learn against a momentum (EMA) copy of adapter + projector.
    pub fn uses_target(self) -> bool {
        matches!(self, Method::Moco | Method::Byol)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                TrainError::InvalidConfig(format!(
                    "unknown method {s:?} (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// Everything that determines an adaptation run. Two runs with equal configs on equal views
/// produce bit-identical adapters; the config is stored in every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Peak learning rate (after warmup).
    pub lr: f32,
    /// Fraction of all steps spent in linear warmup.
    pub warmup_frac: f32,
    pub optimizer: OptimizerKind,
    pub adapter_hidden: usize,
    pub projector_hidden: usize,
    pub projector_out: usize,
    pub projector_norm: NormKind,
    /// EMA coefficient of the MoCo/BYOL target (`target = m·target + (1 − m)·online`).
    pub target_momentum: f32,
    pub moco_queue: usize,
    pub moco_temperature: f32,
    /// Views per frame that EMP uses in each step (a fresh random subset of the K cached
    /// views each step): all 8 cost 4× a pairwise step, 4 keep EMP within ~2×.
    pub emp_views: usize,
    pub vicreg: VicReg,
    pub barlow: BarlowTwins,
    pub simclr: NtXent,
    pub margin: Margin,
    pub emp: Emp,
}

impl Default for TrainConfig {
    /// Sized so that 5,000 frames × 8 views × 128-d trains in seconds on two cores: one pass
    /// over the adapter is two 128×256 matmuls per row, the projector 128→256→256.
    fn default() -> Self {
        TrainConfig {
            method: Method::Vicreg,
            epochs: 10,
            batch: 256,
            seed: 0,
            lr: 1e-3,
            warmup_frac: 0.1,
            optimizer: OptimizerKind::default(),
            adapter_hidden: 256,
            projector_hidden: 256,
            projector_out: 256,
            projector_norm: NormKind::Batch,
            target_momentum: 0.99,
            moco_queue: 1024,
            moco_temperature: 0.2,
            emp_views: 4,
            vicreg: VicReg::default(),
            barlow: BarlowTwins::default(),
            simclr: NtXent::default(),
            margin: Margin::default(),
            emp: Emp::default(),
        }
    }
}

impl TrainConfig {
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    pub fn with_warmup_frac(mut self, frac: f32) -> Self {
        self.warmup_frac = frac;
        self
    }

    pub fn with_optimizer(mut self, optimizer: OptimizerKind) -> Self {
        self.optimizer = optimizer;
        self
    }

    pub fn with_adapter_hidden(mut self, hidden: usize) -> Self {
        self.adapter_hidden = hidden;
        self
    }

    pub fn with_projector(mut self, hidden: usize, out: usize, norm: NormKind) -> Self {
        (
            self.projector_hidden,
            self.projector_out,
            self.projector_norm,
        ) = (hidden, out, norm);
        self
    }

    pub fn with_target_momentum(mut self, m: f32) -> Self {
        self.target_momentum = m;
        self
    }

    pub fn with_moco(mut self, queue: usize, temperature: f32) -> Self {
        (self.moco_queue, self.moco_temperature) = (queue, temperature);
        self
    }

    pub fn with_emp_views(mut self, views: usize) -> Self {
        self.emp_views = views;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::InvalidConfig(m));
        if self.epochs == 0 || self.batch < 2 {
            return bad(format!(
                "epochs ({}) must be ≥ 1 and batch ({}) ≥ 2",
                self.epochs, self.batch
            ));
        }
        if !self.lr.is_finite() || self.lr <= 0.0 || !(0.0..1.0).contains(&self.warmup_frac) {
            return bad(format!(
                "lr ({}) must be > 0 and warmup fraction ({}) in [0, 1)",
                self.lr, self.warmup_frac
            ));
        }
        if self.adapter_hidden == 0 || self.projector_hidden == 0 || self.projector_out == 0 {
            return bad("adapter and projector widths must be > 0".into());
        }
        if !(0.0..=1.0).contains(&self.target_momentum) {
            return bad(format!(
                "target momentum {} must lie in [0, 1]",
                self.target_momentum
            ));
        }
        if self.method == Method::Moco && (self.moco_queue == 0 || self.moco_temperature <= 0.0) {
            return bad("MoCo needs a queue > 0 and a temperature > 0".into());
        }
        if self.method == Method::Emp && self.emp_views < 2 {
            return bad(format!(
                "EMP needs at least 2 views per step, got {}",
                self.emp_views
            ));
        }
        if self.method == Method::Simclr && self.simclr.temperature <= 0.0 {
            return bad("SimCLR temperature must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_print() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert_eq!("VICReg".parse::<Method>().unwrap(), Method::Vicreg);
        let err = "dino".parse::<Method>().unwrap_err().to_string();
        assert!(err.contains("vicreg") && err.contains("emp"), "{err}");
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TrainConfig::default()
            .with_method(Method::Byol)
            .with_seed(7);
        let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
