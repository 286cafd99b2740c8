//! The encoder trainer's settings.

use edge_ssl_train::optim::OptimizerKind;
use serde::{Deserialize, Serialize};

/// Bounds that keep settings read from a checkpoint from asking for absurd allocations.
const MAX_WIDTH: usize = 1 << 16;
const MAX_EPOCHS: usize = 1 << 20;

/// SimCLR over the trainable part of an encoder. Defaults follow the PyTorch reference of
/// issue 14 (batch 256, AdamW 1e-3, temperature 0.2, a 512→128 projector).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneConfig {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    optimizer: OptimizerKind,
    temperature: f32,
    projector_hidden: usize,
    projector_dim: usize,
    seed: u64,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            epochs: 15,
            batch_size: 256,
            lr: 1e-3,
            optimizer: OptimizerKind::default(),
            temperature: 0.2,
            projector_hidden: 512,
            projector_dim: 128,
            seed: 0,
        }
    }
}

impl TuneConfig {
    #[must_use]
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Frames per step; each step runs both views of them (twice as many rows).
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Peak learning rate (10 % linear warm-up, then cosine decay).
    #[must_use]
    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    #[must_use]
    pub fn with_optimizer(mut self, optimizer: OptimizerKind) -> Self {
        self.optimizer = optimizer;
        self
    }

    #[must_use]
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature;
        self
    }

    /// Projector widths: hidden layer and output.
    #[must_use]
    pub fn with_projector(mut self, hidden: usize, dim: usize) -> Self {
        self.projector_hidden = hidden;
        self.projector_dim = dim;
        self
    }

    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn epochs(&self) -> usize {
        self.epochs
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn lr(&self) -> f32 {
        self.lr
    }

    pub fn optimizer(&self) -> OptimizerKind {
        self.optimizer
    }

    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    pub fn projector(&self) -> (usize, usize) {
        (self.projector_hidden, self.projector_dim)
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Settings that cannot train are refused before any work: the reason, if any.
    pub(super) fn problem(&self) -> Option<String> {
        if self.epochs == 0 || self.batch_size < 2 {
            return Some("needs at least one epoch and batches of two or more frames".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Some(format!(
                "learning rate {} is not a positive number",
                self.lr
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Some(format!(
                "temperature {} is not a positive number",
                self.temperature
            ));
        }
        if !(1..=MAX_WIDTH).contains(&self.projector_hidden)
            || !(1..=MAX_WIDTH).contains(&self.projector_dim)
        {
            return Some(format!("projector widths must be 1 to {MAX_WIDTH}"));
        }
        if self.epochs > MAX_EPOCHS {
            return Some(format!("at most {MAX_EPOCHS} epochs"));
        }
        None
    }
}
