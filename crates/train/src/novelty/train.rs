use std::ops::ControlFlow;

use ndarray::{Array2, ArrayView2, Axis};

use super::network::Network;
use crate::nn::Param;
use crate::optim::{AdamW, Optimizer, Schedule};
use crate::trainer::{FitSummary, StepInfo};
use crate::{Result, Rng, TrainError};

use super::NoveltyConfig;

/// Stream ids: weight init, epoch order, VAE noise (split uses its own, see `calibration.rs`).
const INIT_STREAM: u64 = 2;
const ORDER_STREAM: u64 = 3;
const NOISE_STREAM: u64 = 4;
/// Fraction of the steps spent in linear warmup.
const WARMUP: f64 = 0.05;

/// Trains the reconstruction network on standardized rows with AdamW and a warmup + cosine
/// schedule. Every epoch visits every row once, in an order drawn from `(seed, epoch)`; the
/// last batch of an epoch may be short. The VAE's noise for step `t` comes from `(seed, t)`.
pub(super) fn train_network(
    x: ArrayView2<f32>,
    config: &NoveltyConfig,
    variational: bool,
    mut progress: impl FnMut(&StepInfo) -> ControlFlow<()>,
) -> Result<(Network, FitSummary)> {
    let seed = config.seed();
    let mut net = Network::new(
        x.ncols(),
        config.hidden(),
        config.latent(),
        variational,
        &mut Rng::stream(seed, &[INIT_STREAM]),
    );
    net.beta = config.beta();
    let n = x.nrows();
    let batch = config.batch().min(n);
    let per_epoch = n.div_ceil(batch) as u64;
    let total = per_epoch * config.epochs() as u64;
    let warmup = (total as f64 * WARMUP).round() as u64;
    let schedule = Schedule::new(config.lr(), warmup, total);
    let mut optimizer = AdamW::new(0.9, 0.999, 1e-8, config.weight_decay());
    let mut step = 0u64;
    let mut buf = Array2::zeros((batch, x.ncols()));
    for epoch in 0..config.epochs() {
        let order = Rng::stream(seed, &[ORDER_STREAM, epoch as u64]).permutation(n);
        for rows in order.chunks(batch) {
            let mut xb = buf.slice_mut(ndarray::s![..rows.len(), ..]);
            for (mut dst, &r) in xb.axis_iter_mut(Axis(0)).zip(rows) {
                dst.assign(&x.row(r));
            }
            let noise = net.noise(rows.len(), &mut Rng::stream(seed, &[NOISE_STREAM, step]));
            net.zero_grad();
            let loss = net.forward_loss(xb.view(), noise);
            if !loss.is_finite() {
                return Err(TrainError::NonFinite(format!(
                    "the novelty loss at step {step} (training diverged: lower the learning rate)"
                )));
            }
            net.backward_params();
            let lr = schedule.lr(step);
            let params: Vec<&mut Param> = net.params_mut();
            optimizer.step(params, lr, step);
            step += 1;
            let info = StepInfo {
                step,
                total_steps: total,
                epoch,
                loss,
                lr,
            };
            if progress(&info).is_break() {
                return Ok((net, summary(step, total)));
            }
        }
    }
    Ok((net, summary(step, total)))
}

fn summary(steps_done: u64, total_steps: u64) -> FitSummary {
    FitSummary {
        steps_done,
        total_steps,
        finished: steps_done >= total_steps,
    }
}
