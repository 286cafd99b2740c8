//! SimCLR on an encoder's trainable part: both views' cached activations through the graph
//! and a projector, NT-Xent, one optimizer over graph and projector parameters.

use std::ops::ControlFlow;
use std::path::PathBuf;

use edge_ssl_train::Rng;
use edge_ssl_train::graph::Graph;
use edge_ssl_train::loss::{Loss, NtXent};
use edge_ssl_train::nn::{Module, NormKind, Param, Projector};
use edge_ssl_train::optim::{Optimizer, Schedule};
use ndarray::{Array2, ArrayD, Axis, IxDyn, concatenate, s};

use super::{PairedViews, Result, TuneConfig, TuneError};

/// Purposes of the random streams: `Rng::stream(seed, [purpose, …])`.
const PROJECTOR: u64 = 1;
const SHUFFLE: u64 = 2;

/// What a progress callback sees after each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TuneProgress {
    /// Steps done, this one included.
    pub step: u64,
    pub total_steps: u64,
    pub epoch: usize,
    pub loss: f32,
}

/// Trains a [`Graph`] (the part of an encoder that [`super::import`] selected) with SimCLR.
/// Every random draw is a function of the seed and the step, so a run resumed from a
/// checkpoint ([`EncoderTrainer::save_checkpoint`]) equals an uninterrupted one bit for bit.
pub struct EncoderTrainer {
    pub(super) config: TuneConfig,
    pub(super) graph: Graph,
    pub(super) projector: Projector,
    pub(super) optimizer: Box<dyn Optimizer + Send>,
    pub(super) step: u64,
    pub(super) losses: Vec<f32>,
    pub(super) frames: usize,
    checkpoint: Option<(PathBuf, u64)>,
}

/// `y` as rows: `N × (everything else)`.
fn rows(y: ArrayD<f32>) -> Array2<f32> {
    let n = y.shape()[0];
    let d = y.len() / n.max(1);
    y.as_standard_layout()
        .into_owned()
        .into_shape_with_order((n, d))
        .expect("a standard-layout array reshapes to its own size")
}

impl EncoderTrainer {
    /// A trainer for `graph` on `views` (which fix the frame count and activation shape). The
    /// graph must have one output; its width sizes the projector.
    pub fn new(graph: Graph, config: TuneConfig, views: &PairedViews) -> Result<EncoderTrainer> {
        if let Some(reason) = config.problem() {
            return Err(TuneError::Data {
                what: "training settings",
                reason,
            });
        }
        let outputs = graph.output_names().len();
        if outputs != 1 {
            return Err(TuneError::Outputs(outputs));
        }
        let mut graph = graph.with_input_grads(false);
        let width = rows(graph.forward(vec![views.probe()], false)?.remove(0)).ncols();
        let (hidden, dim) = config.projector();
        let mut rng = Rng::stream(config.seed(), &[PROJECTOR]);
        let projector = Projector::new("projector", width, hidden, dim, NormKind::Batch, &mut rng);
        Ok(EncoderTrainer {
            optimizer: config.optimizer().build(),
            config,
            graph,
            projector,
            step: 0,
            losses: Vec::new(),
            frames: views.len(),
            checkpoint: None,
        })
    }

    /// Saves a checkpoint to `path` every `every` steps (and at the end of [`Self::fit`]).
    #[must_use]
    pub fn with_checkpoint(mut self, path: impl Into<PathBuf>, every: u64) -> Self {
        self.checkpoint = Some((path.into(), every.max(1)));
        self
    }

    fn batch_size(&self) -> usize {
        self.config.batch_size().min(self.frames)
    }

    pub fn steps_per_epoch(&self) -> u64 {
        (self.frames / self.batch_size()) as u64
    }

    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.config.epochs() as u64
    }

    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    pub fn config(&self) -> &TuneConfig {
        &self.config
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn into_graph(self) -> Graph {
        self.graph
    }

    /// Runs the remaining steps, calling `progress` after each; `Break` stops after that step
    /// (checkpointed if checkpoints are on). Returns whether every step ran.
    pub fn fit(
        &mut self,
        views: &PairedViews,
        mut progress: impl FnMut(&TuneProgress) -> ControlFlow<()>,
    ) -> Result<bool> {
        if views.len() != self.frames {
            return Err(TuneError::Data {
                what: "paired views",
                reason: format!(
                    "{} frames, the trainer was made for {}",
                    views.len(),
                    self.frames
                ),
            });
        }
        let (per_epoch, total, batch) = (
            self.steps_per_epoch(),
            self.total_steps(),
            self.batch_size(),
        );
        let schedule = Schedule::new(self.config.lr(), total / 10, total);
        while self.step < total {
            let epoch = self.step / per_epoch;
            let b = (self.step % per_epoch) as usize;
            let order = Rng::stream(self.config.seed(), &[SHUFFLE, epoch]).permutation(self.frames);
            let loss = self.train_step(
                views.batch(&order[b * batch..(b + 1) * batch]),
                schedule.lr(self.step),
            )?;
            self.step += 1;
            self.losses.push(loss);
            let report = TuneProgress {
                step: self.step,
                total_steps: total,
                epoch: epoch as usize,
                loss,
            };
            let stop = progress(&report).is_break();
            if let Some((path, every)) = &self.checkpoint
                && (stop || self.step.is_multiple_of(*every) || self.step == total)
            {
                self.save_checkpoint(&path.clone())?;
            }
            if stop {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One SimCLR step on a batch holding both views (first half, second half); returns the
    /// loss before the update.
    pub(super) fn train_step(&mut self, x: ArrayD<f32>, lr: f32) -> Result<f32> {
        let n = x.shape()[0] / 2;
        self.graph.zero_grad();
        for p in self.projector.params_mut() {
            p.grad.fill(0.0);
        }
        let y = self.graph.forward(vec![x], true)?.remove(0);
        let shape = y.shape().to_vec();
        let z = self.projector.forward(rows(y).view());
        let loss = NtXent {
            temperature: self.config.temperature(),
        }
        .loss(&[z.slice(s![..n, ..]), z.slice(s![n.., ..])])?;
        if !loss.value.is_finite() {
            return Err(TuneError::Data {
                what: "training",
                reason: format!("the loss became {} at step {}", loss.value, self.step + 1),
            });
        }
        let gz = concatenate![Axis(0), loss.grads[0], loss.grads[1]];
        let gy = self.projector.backward(gz.view());
        let gy = gy
            .into_shape_with_order(IxDyn(&shape))
            .expect("the projector's input gradient has the graph output's size");
        self.graph.backward(vec![gy])?;
        let params: Vec<&mut Param> = self
            .graph
            .params_mut()
            .into_iter()
            .chain(self.projector.params_mut())
            .collect();
        self.optimizer.step(params, lr, self.step);
        Ok(loss.value)
    }
}
