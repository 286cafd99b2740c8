//! SimCLR on an encoder's trainable part: both views' cached activations through the graph
//! and a projector, NT-Xent, one optimizer over graph and projector parameters.

use std::ops::ControlFlow;
use std::path::PathBuf;

use edge_ssl_train::Rng;
use edge_ssl_train::graph::Graph;
use edge_ssl_train::loss::{Loss, NtXent, WeightedCrossEntropy, softmax_rows};
use edge_ssl_train::nn::{Linear, Module, NormKind, Param, Projector};
use edge_ssl_train::optim::{Optimizer, Schedule};
use ndarray::{Array2, ArrayD, Axis, IxDyn, concatenate, s};

use super::labeled::{LABELED_WEIGHT, PSEUDO_LABEL_THRESHOLD, PSEUDO_LABEL_WEIGHT};
use super::{LabeledViews, PairedViews, Result, TuneConfig, TuneError};

/// Purposes of the random streams: `Rng::stream(seed, [purpose, …])`.
const PROJECTOR: u64 = 1;
const SHUFFLE: u64 = 2;
const HEAD: u64 = 3;

/// Rows (images or token sequences) the trained graph runs at once when it does not mix the
/// samples of a batch (no BatchNormalization: a ViT tail). SimCLR needs the whole batch for its
/// negatives, so the step runs the graph twice: a forward of every row in parts, keeping only
/// the outputs, for the loss and its gradient; then, part by part, a training forward and a
/// backward that adds that part's weight gradients (gradient caching). One part's activations
/// are in memory instead of the whole batch's, for one more forward of the trained part.
/// ViT-S/16 `tail:2` on 100 frames (200 rows a step): peak RSS 2,983 MB whole, 1,328 MB in parts
/// of 64, 806 MB in parts of 32, and faster in parts (121.5 s → 69.4 s for 15 epochs).
const CHUNK_ROWS: usize = 32;

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
    /// One frame's activation shape, and the width of the graph's output (the embedding).
    item_shape: Vec<usize>,
    width: usize,
    /// Joint training with labels: the softmax head and the labeled images.
    pub(super) labeled: Option<(Linear, LabeledViews)>,
    checkpoint: Option<(PathBuf, u64)>,
    /// At most this many rows through the graph at once, when it does not mix samples.
    chunk_rows: usize,
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
        let item_shape = views.item_shape().to_vec();
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
            item_shape,
            width,
            labeled: None,
            checkpoint: None,
            chunk_rows: CHUNK_ROWS,
        })
    }

    /// Trains with `labeled` too ([`super::labeled`]): a linear softmax head on the graph's
    /// output joins the graph and the projector under one optimizer. Call before any step.
    pub fn with_labeled(mut self, labeled: LabeledViews) -> Result<Self> {
        if labeled.views().item_shape() != self.item_shape.as_slice() {
            return Err(TuneError::Data {
                what: "labeled views",
                reason: format!(
                    "activations of shape {:?}, the frames' are {:?}",
                    labeled.views().item_shape(),
                    self.item_shape
                ),
            });
        }
        let mut rng = Rng::stream(self.config.seed(), &[HEAD]);
        let head = Linear::new("head", self.width, labeled.classes(), &mut rng);
        self.labeled = Some((head, labeled));
        Ok(self)
    }

    /// Runs the graph on at most `rows` rows at once (default 32) where it does not mix
    /// samples ([`Graph::mixes_samples`]): the same step to rounding, one part's activations in
    /// memory; `usize::MAX` runs every batch whole.
    #[must_use]
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// The softmax head trained with labels, if any.
    pub fn head(&self) -> Option<&Linear> {
        self.labeled.as_ref().map(|(head, _)| head)
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
        progress: impl FnMut(&TuneProgress) -> ControlFlow<()>,
    ) -> Result<bool> {
        self.fit_until(views, self.total_steps(), progress)
    }

    /// [`fit`](Self::fit) up to step `end` (at most the total): a caller that gives every
    /// epoch fresh views calls this once per epoch, with that epoch's views and its last step.
    /// Returns whether it reached `end`.
    pub fn fit_until(
        &mut self,
        views: &PairedViews,
        end: u64,
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
        while self.step < end.min(total) {
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

    /// One step on a batch holding both views (first half, second half): SimCLR, plus the
    /// labeled and pseudo-label cross-entropies when training with labels; returns the loss
    /// before the update.
    pub(super) fn train_step(&mut self, x: ArrayD<f32>, lr: f32) -> Result<f32> {
        let n = x.shape()[0] / 2;
        self.graph.zero_grad();
        self.projector.zero_grad();
        let (x, labels) = match &self.labeled {
            Some((_, data)) => {
                let (xl, labels) = data.batch(self.step);
                (concatenate![Axis(0), x, xl], labels.to_vec())
            }
            None => (x, Vec::new()),
        };
        let chunk = (!self.graph.mixes_samples() && x.shape()[0] > self.chunk_rows)
            .then_some(self.chunk_rows);
        let (y, x) = match chunk {
            None => (self.graph.forward(vec![x], true)?.remove(0), None),
            Some(rows) => {
                let mut parts = Vec::new();
                for part in x.axis_chunks_iter(Axis(0), rows) {
                    parts.push(self.graph.forward(vec![part.to_owned()], false)?.remove(0));
                }
                let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                let y = concatenate(Axis(0), &views).map_err(|e| TuneError::Data {
                    what: "graph outputs",
                    reason: e.to_string(),
                })?;
                (y, Some((x, rows)))
            }
        };
        let shape = y.shape().to_vec();
        let y = rows(y);
        let z = self.projector.forward(y.slice(s![..2 * n, ..]));
        let simclr = NtXent {
            temperature: self.config.temperature(),
        }
        .loss(&[z.slice(s![..n, ..]), z.slice(s![n.., ..])])?;
        let gz = concatenate![Axis(0), simclr.grads[0], simclr.grads[1]];
        let mut gy = Array2::zeros(y.dim());
        gy.slice_mut(s![..2 * n, ..])
            .assign(&self.projector.backward(gz.view()));
        let mut value = simclr.value;
        if let Some((head, _)) = &mut self.labeled {
            head.zero_grad();
            let logits = head.forward(y.view());
            let targets = joint_targets(&logits, n, &labels);
            let ce = targets.loss(&[logits.view()])?;
            value += ce.value;
            gy += &head.backward(ce.grads[0].view());
        }
        if !value.is_finite() {
            return Err(TuneError::Data {
                what: "training",
                reason: format!("the loss became {value} at step {}", self.step + 1),
            });
        }
        let gy = gy
            .into_shape_with_order(IxDyn(&shape))
            .expect("the gradient has the graph output's size");
        match x {
            None => {
                self.graph.backward(vec![gy])?;
            }
            Some((x, rows)) => {
                for (part, g) in x
                    .axis_chunks_iter(Axis(0), rows)
                    .zip(gy.axis_chunks_iter(Axis(0), rows))
                {
                    self.graph.forward(vec![part.to_owned()], true)?;
                    self.graph.backward(vec![g.to_owned()])?;
                }
            }
        }
        let mut params: Vec<&mut Param> = self
            .graph
            .params_mut()
            .into_iter()
            .chain(self.projector.params_mut())
            .collect();
        if let Some((head, _)) = &mut self.labeled {
            params.extend(head.params_mut());
        }
        self.optimizer.step(params, lr, self.step);
        Ok(value)
    }
}

/// Targets of the joint step's cross-entropy over its rows (`n` frames' first views, their
/// second views, then the labeled images): each labeled row its class with weight `λ_l/m`; each
/// frame view the class its other view predicts with probability ≥ the threshold, with weight
/// `λ/2n`; every other row weight 0.
fn joint_targets(logits: &Array2<f32>, n: usize, labels: &[usize]) -> WeightedCrossEntropy {
    let rows = logits.nrows();
    let (mut targets, mut weights) = (vec![0; rows], vec![0.0; rows]);
    let p = softmax_rows(logits.slice(s![..2 * n, ..]));
    let confident = |i: usize| {
        let row = p.row(i);
        let (best, &prob) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("a head has classes");
        (prob >= PSEUDO_LABEL_THRESHOLD).then_some(best)
    };
    for i in 0..n {
        for (teacher, student) in [(i, n + i), (n + i, i)] {
            if let Some(class) = confident(teacher) {
                targets[student] = class;
                weights[student] = PSEUDO_LABEL_WEIGHT / (2 * n) as f32;
            }
        }
    }
    let m = labels.len();
    for (j, &label) in labels.iter().enumerate() {
        targets[2 * n + j] = label;
        weights[2 * n + j] = LABELED_WEIGHT / m as f32;
    }
    WeightedCrossEntropy {
        labels: targets,
        weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn pseudo_labels_go_only_where_the_other_view_is_confident() {
        // Two frames (rows 0, 1 = first views; 2, 3 = second views), then one labeled row.
        let logits = array![
            [10.0f32, 0.0], // frame 0, view 1: confident class 0
            [1.0, 0.0],     // frame 1, view 1: not confident
            [0.0, 0.5],     // frame 0, view 2: not confident
            [0.0, 9.0],     // frame 1, view 2: confident class 1
            [0.0, 0.0],     // labeled, class 1
        ];
        let t = joint_targets(&logits, 2, &[1]);
        let w = PSEUDO_LABEL_WEIGHT / 4.0;
        assert_eq!(t.weights, vec![0.0, w, w, 0.0, LABELED_WEIGHT]);
        assert_eq!((t.labels[1], t.labels[2], t.labels[4]), (1, 0, 1));
    }
}
