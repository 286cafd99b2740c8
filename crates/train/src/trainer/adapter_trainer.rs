use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis, concatenate, s};

use super::batches::batch_inputs;
use super::target::Target;
use super::{Method, TrainConfig, Views};
use crate::loss::{Byol, Loss, LossValue, MocoQueue};
use crate::nn::{Adapter, Module, Param, Projector};
use crate::optim::{Optimizer, Schedule};
use crate::{Result, Rng, TrainError};

/// Stream id of weight initialization (batches use their own, see `batches.rs`).
const INIT_STREAM: u64 = 1;

/// What one optimizer step did; handed to the progress callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    /// Steps completed, including this one (1-based).
    pub step: u64,
    pub total_steps: u64,
    /// 0-based epoch the step belonged to.
    pub epoch: usize,
    pub loss: f32,
    pub lr: f32,
}

/// How a call to [`AdapterTrainer::fit`] ended.
#[derive(Clone, Debug, PartialEq)]
pub struct FitSummary {
    pub steps_done: u64,
    pub total_steps: u64,
    /// False when the callback asked to stop early.
    pub finished: bool,
}

/// Trains the residual adapter `A` (and projector `P`, plus BYOL's predictor and the MoCo/BYOL
/// momentum target) on cached view embeddings.
///
/// Every random choice is a function of `(seed, what it is for, epoch or step)` — the frame
/// order of epoch `e`, the view pair of step `t` — never of generator state carried from step
/// to step. A checkpoint therefore needs only weights, optimizer moments, the MoCo queue and
/// the step counter to continue bit-identically.
pub struct AdapterTrainer {
    pub(super) config: TrainConfig,
    pub(super) shape: (usize, usize, usize),
    pub(super) adapter: Adapter,
    pub(super) projector: Projector,
    pub(super) predictor: Option<Projector>,
    pub(super) target: Option<Target>,
    pub(super) queue: Option<MocoQueue>,
    pub(super) optimizer: Box<dyn Optimizer + Send>,
    pub(super) step: u64,
    pub(super) losses: Vec<f32>,
    checkpoint: Option<(PathBuf, u64)>,
}

impl AdapterTrainer {
    /// A fresh trainer for views shaped like `views` (K × N × D).
    pub fn new(config: TrainConfig, views: &Views) -> Result<Self> {
        Self::build(config, views.shape())
    }

    pub(super) fn build(config: TrainConfig, shape: (usize, usize, usize)) -> Result<Self> {
        config.validate()?;
        let (k, _, d) = shape;
        if config.method == Method::Emp && k < 2 {
            return Err(TrainError::TooFewViews(k));
        }
        crate::nn::check_adapter_width(d)?;
        let mut rng = Rng::stream(config.seed, &[INIT_STREAM]);
        let adapter = Adapter::new(d, config.adapter_hidden, &mut rng);
        let (ph, po) = (config.projector_hidden, config.projector_out);
        let projector = Projector::new("projector", d, ph, po, config.projector_norm, &mut rng);
        let predictor = (config.method == Method::Byol)
            .then(|| Projector::new("predictor", po, ph, po, config.projector_norm, &mut rng));
        let target = config
            .method
            .uses_target()
            .then(|| Target::new(&adapter, &projector));
        let queue = match config.method {
            Method::Moco => Some(MocoQueue::new(
                config.moco_queue,
                po,
                config.moco_temperature,
                &mut rng,
            )?),
            _ => None,
        };
        Ok(AdapterTrainer {
            optimizer: config.optimizer.build(),
            config,
            shape,
            adapter,
            projector,
            predictor,
            target,
            queue,
            step: 0,
            losses: Vec::new(),
            checkpoint: None,
        })
    }

    /// Write a checkpoint to `path` every `every` steps, when the callback stops the run, and
    /// at the end.
    pub fn with_checkpoint(mut self, path: impl Into<PathBuf>, every: u64) -> Self {
        self.checkpoint = Some((path.into(), every.max(1)));
        self
    }

    /// Starts from `adapter`'s weights instead of a fresh adapter: a federated round goes on
    /// from the global adapter it received. The momentum target (MoCo, BYOL) starts from the
    /// same weights. Only before the first step, and `adapter` must have this trainer's sizes.
    pub fn with_initial_adapter(mut self, adapter: &Adapter) -> Result<Self> {
        if self.step > 0 {
            return Err(TrainError::InvalidConfig(
                "the initial adapter can only be set before the first step".into(),
            ));
        }
        if adapter.dim() != self.adapter.dim() {
            return Err(TrainError::DimMismatch {
                what: "initial adapter width".into(),
                expected: self.adapter.dim(),
                got: adapter.dim(),
            });
        }
        self.adapter.load_weights_from(adapter)?;
        self.adapter.norm.eps = adapter.norm.eps;
        if self.target.is_some() {
            self.target = Some(Target::new(&self.adapter, &self.projector));
        }
        Ok(self)
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    pub fn into_adapter(self) -> Adapter {
        self.adapter
    }

    /// Loss of every step taken so far (across resumes).
    pub fn loss_curve(&self) -> &[f32] {
        &self.losses
    }

    pub fn steps_done(&self) -> u64 {
        self.step
    }

    fn batch(&self) -> usize {
        self.config.batch.min(self.shape.1)
    }

    /// Remainder frames of an epoch are dropped (each epoch reshuffles, so all are used over
    /// a run); a batch of 1 would break every batch-statistics loss.
    pub fn steps_per_epoch(&self) -> u64 {
        (self.shape.1 / self.batch()).max(1) as u64
    }

    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.config.epochs as u64
    }

    pub fn schedule(&self) -> Schedule {
        let total = self.total_steps();
        let warmup = (total as f64 * self.config.warmup_frac as f64).round() as u64;
        Schedule::new(self.config.lr, warmup, total)
    }

    /// Runs steps until the schedule is done or `on_step` returns `Break`.
    pub fn fit(
        &mut self,
        views: &Views,
        mut on_step: impl FnMut(&StepInfo) -> ControlFlow<()>,
    ) -> Result<FitSummary> {
        let total = self.total_steps();
        let mut finished = self.step >= total;
        while self.step < total {
            let info = self.step(views)?;
            let stop = on_step(&info).is_break();
            finished = self.step >= total;
            if let Some((path, every)) = &self.checkpoint
                && (stop || finished || self.step.is_multiple_of(*every))
            {
                self.save_checkpoint(&path.clone())?;
            }
            if stop {
                break;
            }
        }
        Ok(FitSummary {
            steps_done: self.step,
            total_steps: total,
            finished,
        })
    }

    /// One optimizer step on the batch the schedule assigns to the current step number.
    pub fn step(&mut self, views: &Views) -> Result<StepInfo> {
        if views.shape() != self.shape {
            let (k, n, d) = self.shape;
            let (vk, vn, vd) = views.shape();
            return Err(TrainError::InvalidConfig(format!(
                "views are {vk}×{vn}×{vd} but this trainer (or its checkpoint) was made for {k}×{n}×{d}"
            )));
        }
        let t = self.step;
        let lr = self.schedule().lr(t);
        let (inputs, swapped) =
            batch_inputs(&self.config, views, self.batch(), self.steps_per_epoch(), t);
        let (value, keys) =
            self.forward_backward(inputs.view(), swapped.as_ref().map(|s| s.view()))?;
        if !value.is_finite() {
            return Err(TrainError::NonFinite(format!(
                "the loss at step {t} (training diverged: lower the learning rate)"
            )));
        }
        let mut params: Vec<&mut Param> = self.adapter.params_mut();
        params.extend(self.projector.params_mut());
        if let Some(p) = self.predictor.as_mut() {
            params.extend(p.params_mut());
        }
        self.optimizer.step(params, lr, t);
        if let Some(target) = self.target.as_mut() {
            target.update(&self.adapter, &self.projector, self.config.target_momentum);
        }
        // MoCo enqueues the keys this step's loss used (computed before the EMA update).
        if let (Some(queue), Some(keys)) = (self.queue.as_mut(), keys) {
            queue.enqueue(keys.view())?;
        }
        self.step += 1;
        self.losses.push(value);
        Ok(StepInfo {
            step: self.step,
            total_steps: self.total_steps(),
            epoch: (t / self.steps_per_epoch()) as usize,
            loss: value,
            lr,
        })
    }

    /// Forward through A and P (and Q), the method's loss, and backward into every gradient.
    /// Returns the loss and, for MoCo, the keys to enqueue.
    fn forward_backward(
        &mut self,
        x: ArrayView2<f32>,
        swapped: Option<ArrayView2<f32>>,
    ) -> Result<(f32, Option<Array2<f32>>)> {
        self.adapter.zero_grad();
        self.projector.zero_grad();
        let h = self.adapter.forward(x);
        let z = self.projector.forward(h.view());
        let cfg = &self.config;
        let (value, gz, keys) = match cfg.method {
            Method::Moco | Method::Byol => {
                let target = self
                    .target
                    .as_ref()
                    .expect("target-network method")
                    .infer(swapped.expect("swapped views"));
                if let Some(predictor) = self.predictor.as_mut() {
                    predictor.zero_grad();
                    let p = predictor.forward(z.view());
                    let out = Byol.loss(&[p.view(), target.view()])?;
                    (out.value, predictor.backward(out.grads[0].view()), None)
                } else {
                    let out = self
                        .queue
                        .as_ref()
                        .expect("MoCo queue")
                        .loss(&[z.view(), target.view()])?;
                    let [gq, _] = <[Array2<f32>; 2]>::try_from(out.grads).expect("two inputs");
                    (out.value, gq, Some(target))
                }
            }
            method => {
                let loss: &dyn Loss = match method {
                    Method::Vicreg => &cfg.vicreg,
                    Method::Barlow => &cfg.barlow,
                    Method::Simclr => &cfg.simclr,
                    Method::Margin => &cfg.margin,
                    _ => &cfg.emp,
                };
                let parts = x.nrows() / self.batch();
                let b = self.batch();
                let chunks: Vec<ArrayView2<f32>> = (0..parts)
                    .map(|i| z.slice(s![i * b..(i + 1) * b, ..]))
                    .collect();
                let LossValue { value, grads } = loss.loss(&chunks)?;
                let views: Vec<ArrayView2<f32>> = grads.iter().map(|g| g.view()).collect();
                let gz = concatenate(Axis(0), &views).expect("equal widths");
                (value, gz, None)
            }
        };
        let gh = self.projector.backward(gz.view());
        self.adapter.backward(gh.view());
        Ok((value, keys))
    }

    /// Writes the full trainer state (see [`AdapterTrainer::load_checkpoint`]) atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        super::checkpoint::save(self, path)
    }

    /// Restores a trainer saved by [`AdapterTrainer::save_checkpoint`]; continuing it gives the
    /// same result, bit for bit, as never having stopped.
    pub fn load_checkpoint(path: &Path) -> Result<Self> {
        super::checkpoint::load(path)
    }
}

/// The trained adapter and the per-step loss curve.
#[derive(Clone, Debug)]
pub struct Adaptation {
    pub adapter: Adapter,
    pub loss_curve: Vec<f32>,
}

/// One-call adaptation: a fresh trainer run to the end of its schedule.
pub fn adapt(
    views: &Views,
    config: TrainConfig,
    on_step: impl FnMut(&StepInfo) -> ControlFlow<()>,
) -> Result<Adaptation> {
    let mut trainer = AdapterTrainer::new(config, views)?;
    trainer.fit(views, on_step)?;
    Ok(Adaptation {
        loss_curve: trainer.losses.clone(),
        adapter: trainer.into_adapter(),
    })
}
