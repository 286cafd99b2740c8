//! Turning the probe's per-batch statistics into running statistics, as PyTorch does with
//! `momentum=None`, in an order that does not depend on which session finished first.
//!
//! PyTorch in train mode with `momentum=None` keeps a cumulative average over batches: after
//! batch `b`, `running = running + (batch_stat − running) / b`. So `running_mean` is the average
//! of the batch means and `running_var` the average of the batch variances — the *unbiased*
//! ones, `var · m / (m − 1)` with `m` the number of values per channel in the batch (frames ×
//! height × width), which is what `torch.nn.BatchNorm2d` stores, while it normalizes with the
//! biased one.
//!
//! PyTorch weighs every batch the same, however many frames it holds. Here each batch weighs by
//! its `m`: with equal batches (the usual case, and the case the PyTorch test checks) the result
//! is PyTorch's exactly; with a short last batch it is the average PyTorch would get if the
//! frames had been spread evenly, instead of letting a batch of 3 frames count as much as one of
//! 64. A batch with a single value per channel (one frame into a BN after pooling) has no
//! variance: PyTorch refuses it in training, and so does this.
//!
//! Sums are kept in `f64` and added in batch order: the session pool hands batches back in
//! completion order, and those that arrive early wait (a few at most: as many as the pool runs
//! at once) until the batches before them are in. Two runs on the same frames therefore give
//! bit-identical statistics whatever the number of sessions.

use std::collections::BTreeMap;

use edge_ssl_core::Tensor;

use super::probe::OUTPUTS_PER_LAYER;
use crate::onnx::edit::BatchNorm;
use crate::{Result, RuntimeError};

/// One layer's statistics in one batch, as the probe measured them.
#[derive(Clone, Debug)]
struct LayerBatch {
    mean: Vec<f32>,
    /// Population (biased) variance.
    var: Vec<f32>,
    /// Values per channel.
    count: f64,
}

/// Every layer's statistics in one batch.
#[derive(Clone, Debug)]
pub(crate) struct BatchStats {
    /// Frames in the batch.
    pub(crate) frames: usize,
    layers: Vec<LayerBatch>,
}

fn probe_output_error(message: String) -> RuntimeError {
    RuntimeError::Run {
        backend: "BN probe".into(),
        message,
    }
}

impl BatchStats {
    /// Reads the probe's outputs for one batch (three per layer, see [`super::probe`]).
    pub(crate) fn from_outputs(outputs: &[Tensor], bns: &[BatchNorm]) -> Result<Self> {
        if outputs.len() != bns.len() * OUTPUTS_PER_LAYER {
            return Err(probe_output_error(format!(
                "{} outputs for {} BN layers",
                outputs.len(),
                bns.len()
            )));
        }
        let mut frames = None;
        let mut layers = Vec::with_capacity(bns.len());
        for (bn, out) in bns.iter().zip(outputs.chunks_exact(OUTPUTS_PER_LAYER)) {
            let values = |t: &Tensor, len: usize, what: &str| -> Result<Vec<f32>> {
                if t.len() != len {
                    return Err(probe_output_error(format!(
                        "BN node {}: {what} has {} values, expected {len}",
                        bn.node,
                        t.len()
                    )));
                }
                Ok(t.iter().copied().collect())
            };
            let (mean, var) = (
                values(&out[0], bn.channels, "the mean")?,
                values(&out[1], bn.channels, "the variance")?,
            );
            let dims = values(&out[2], 3, "the folded shape")?;
            let (n, c, s) = (f64::from(dims[0]), f64::from(dims[1]), f64::from(dims[2]));
            if c != bn.channels as f64 || !(n >= 1.0 && s >= 1.0) {
                return Err(probe_output_error(format!(
                    "BN node {} normalized a tensor folded to {dims:?}, expected N×{}×S",
                    bn.node, bn.channels
                )));
            }
            let count = n * s;
            if count < 2.0 {
                return Err(RuntimeError::Input(format!(
                    "BN node {} sees one value per channel in a batch of {n} frame(s), so its \
                     variance is undefined: use batches of at least 2 frames",
                    bn.node
                )));
            }
            // Every layer sees the same frames; the first layer says how many.
            frames.get_or_insert(n as usize);
            layers.push(LayerBatch { mean, var, count });
        }
        Ok(BatchStats {
            frames: frames.unwrap_or(0),
            layers,
        })
    }
}

/// Weighted sums of one layer's batch statistics.
#[derive(Clone, Debug)]
struct LayerSums {
    mean: Vec<f64>,
    unbiased_var: Vec<f64>,
    weight: f64,
}

/// Running sums over the batches seen so far, added in batch order.
pub(crate) struct Accumulator {
    layers: Vec<LayerSums>,
    /// Index of the next batch to add.
    next: usize,
    /// Batches that finished before an earlier one.
    waiting: BTreeMap<usize, BatchStats>,
    frames: usize,
}

impl Accumulator {
    pub(crate) fn new(bns: &[BatchNorm]) -> Self {
        Accumulator {
            layers: bns
                .iter()
                .map(|bn| LayerSums {
                    mean: vec![0.0; bn.channels],
                    unbiased_var: vec![0.0; bn.channels],
                    weight: 0.0,
                })
                .collect(),
            next: 0,
            waiting: BTreeMap::new(),
            frames: 0,
        }
    }

    /// Takes batch number `index` (counted from 0, each index once); it is added once every
    /// batch before it has been.
    pub(crate) fn add(&mut self, index: usize, batch: BatchStats) {
        self.waiting.insert(index, batch);
        while let Some(batch) = self.waiting.remove(&self.next) {
            self.fold(batch);
            self.next += 1;
        }
    }

    fn fold(&mut self, batch: BatchStats) {
        self.frames += batch.frames;
        for (sums, layer) in self.layers.iter_mut().zip(batch.layers) {
            let w = layer.count;
            let bessel = layer.count / (layer.count - 1.0);
            for (acc, &m) in sums.mean.iter_mut().zip(&layer.mean) {
                *acc += w * f64::from(m);
            }
            for (acc, &v) in sums.unbiased_var.iter_mut().zip(&layer.var) {
                *acc += w * f64::from(v) * bessel;
            }
            sums.weight += w;
        }
    }

    /// The frames added so far.
    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    /// Each layer's running mean and (unbiased) running variance.
    pub(crate) fn finish(self) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        if !self.waiting.is_empty() {
            return Err(probe_output_error(format!(
                "batch {} never came back from the probe",
                self.next
            )));
        }
        if self.frames == 0 {
            return Err(RuntimeError::Input(
                "BN re-estimation needs at least one frame".into(),
            ));
        }
        Ok(self
            .layers
            .into_iter()
            .map(|l| {
                let average = |s: Vec<f64>| s.iter().map(|v| (v / l.weight) as f32).collect();
                (average(l.mean), average(l.unbiased_var))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bn(channels: usize) -> BatchNorm {
        BatchNorm {
            node: "bn".into(),
            input: "x".into(),
            mean: "m".into(),
            var: "v".into(),
            channels,
        }
    }

    fn outputs(mean: &[f32], var: &[f32], n: f32, s: f32) -> Vec<Tensor> {
        let c = mean.len();
        vec![
            Tensor::from_shape_vec(vec![c], mean.to_vec()).unwrap(),
            Tensor::from_shape_vec(vec![c], var.to_vec()).unwrap(),
            Tensor::from_shape_vec(vec![3], vec![n, c as f32, s]).unwrap(),
        ]
    }

    /// Batches given out of order give the in-order result, and the arithmetic is the weighted
    /// average of unbiased variances written out by hand.
    #[test]
    fn weighted_unbiased_average_in_batch_order() {
        let bns = [bn(2)];
        let a = BatchStats::from_outputs(&outputs(&[1.0, 2.0], &[4.0, 8.0], 2.0, 2.0), &bns);
        let b = BatchStats::from_outputs(&outputs(&[3.0, -2.0], &[1.0, 0.5], 1.0, 2.0), &bns);
        let mut acc = Accumulator::new(&bns);
        acc.add(1, b.unwrap());
        assert_eq!(acc.frames(), 0, "batch 1 must wait for batch 0");
        acc.add(0, a.unwrap());
        assert_eq!(acc.frames(), 3);
        let stats = acc.finish().unwrap();
        // Batch a: m = 4 values per channel, weight 4; batch b: m = 2, weight 2.
        let mean = [
            (4.0 * 1.0 + 2.0 * 3.0) / 6.0,
            (4.0 * 2.0 + 2.0 * -2.0) / 6.0,
        ];
        let var = [
            (4.0 * 4.0 * 4.0 / 3.0 + 2.0 * 1.0 * 2.0) / 6.0,
            (4.0 * 8.0 * 4.0 / 3.0 + 2.0 * 0.5 * 2.0) / 6.0,
        ];
        for c in 0..2 {
            assert!((f64::from(stats[0].0[c]) - mean[c]).abs() < 1e-6);
            assert!((f64::from(stats[0].1[c]) - var[c]).abs() < 1e-5);
        }
    }

    #[test]
    fn one_value_per_channel_and_wrong_shapes_are_errors() {
        let bns = [bn(2)];
        let one = BatchStats::from_outputs(&outputs(&[0.0, 0.0], &[0.0, 0.0], 1.0, 1.0), &bns);
        assert!(matches!(one, Err(RuntimeError::Input(_))));
        let wrong = BatchStats::from_outputs(&outputs(&[0.0; 3], &[0.0; 3], 2.0, 2.0), &bns);
        assert!(wrong.is_err());
        assert!(Accumulator::new(&bns).finish().is_err(), "no frames");
    }
}
