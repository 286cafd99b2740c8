//! `BatchNormalization` over axis 1 of `N × C × …`.
//!
//! Training: normalize with the batch's mean and (biased) variance, and move the running
//! statistics as PyTorch does: ONNX's `momentum` m keeps `running = m·running + (1 − m)·batch`
//! (PyTorch's momentum is 1 − m; exports write m = 0.9), and the variance that enters the
//! running average is the unbiased one, `n/(n − 1)` times the batch variance. Evaluation uses
//! the running statistics. Sums run in f64: a channel of a 64×28×28 batch has 50,176 values,
//! enough for f32 accumulation to cost the 1e-4 agreement with PyTorch.

use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::{Array1, ArrayD, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult};
use super::plane_sums::{gated_grad_sums, plane_grad_sums, plane_moments};
use crate::graph::{NodeSpec, Tensor};
use crate::parallel;
use edge_ssl_core::avx2_dispatch;

#[derive(Debug)]
pub(crate) struct BatchNorm {
    epsilon: f32,
    momentum: f32,
    /// Per channel: batch mean and 1/√(var + ε) of the last training forward.
    cache: Option<(Array1<f32>, Array1<f32>)>,
    updates: Vec<(usize, ArrayD<f32>)>,
    /// A Relu follows, fused in (see `graph::fuse`): the output is `max(0, BN(x))`.
    relu: bool,
}

impl BatchNorm {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        let momentum = attrs::float(node, "momentum", 0.9)?;
        if !(0.0..=1.0).contains(&momentum) {
            return Err(format!("momentum {momentum} outside [0, 1]"));
        }
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(
                "only the Y output is supported (running statistics are kept inside the graph)"
                    .into(),
            );
        }
        Ok(BatchNorm {
            epsilon: attrs::float(node, "epsilon", 1e-5)?,
            momentum,
            cache: None,
            updates: Vec::new(),
            relu: false,
        })
    }

    /// Followed by a fused Relu.
    pub fn with_relu(mut self) -> Self {
        self.relu = true;
        self
    }
}

/// The mean of one plane, in f64 (0 for an empty one).
fn plane_mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    (v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64) as f32
}

avx2_dispatch! {
    /// `out = (x − mean)·a + b`, or `max(0, …)` with the fused Relu (`Relu`'s own f(x) = x.max(0)).
    /// Every value of `out` is written (`out` and `x` have the same length).
    fn normalize_plane(out: &mut [MaybeUninit<f32>], x: &[f32], mean: f32, a: f32, b: f32, relu: bool) {
        if relu {
            for (o, &v) in out.iter_mut().zip(x) {
                o.write(((v - mean) * a + b).max(0.0));
            }
        } else {
            for (o, &v) in out.iter_mut().zip(x) {
                o.write((v - mean) * a + b);
            }
        }
    }
}

avx2_dispatch! {
    /// The input gradient over the (gated) output gradient `g`, in place:
    /// dx = γ·inv/n · (n·g − Σg − x̂·Σ(g·x̂)), `a` = γ·inv, `mg` and `mgx` the two sums over n.
    fn input_gradient(g: &mut [f32], x: &[f32], mean: f32, inv: f32, a: f32, mg: f32, mgx: f32) {
        for (o, &xv) in g.iter_mut().zip(x) {
            *o = a * (*o - mg - (xv - mean) * inv * mgx);
        }
    }
}

/// The planes of `data` (`N × C × s`, `s` values per plane) in channel lanes: for each of
/// [`CHANNEL_PARTS`] parts of the channels ([`parallel::parts`]; a channel's results do not
/// depend on which part holds it), its channels and their planes, image-major (`b·width + j`
/// is image `b`'s plane of the lane's `j`-th channel).
fn channel_planes<T>(data: &mut [T], c: usize, s: usize) -> Vec<(Range<usize>, Vec<&mut [T]>)> {
    let mut lanes: Vec<_> = parallel::parts(c, CHANNEL_PARTS)
        .into_iter()
        .map(|l| (l, Vec::new()))
        .collect();
    if s == 0 || c == 0 {
        return lanes;
    }
    let lane_of: Vec<usize> = (0..c)
        .map(|ch| lanes.iter().position(|(l, _)| l.contains(&ch)).unwrap_or(0))
        .collect();
    for (i, plane) in data.chunks_mut(s).enumerate() {
        lanes[lane_of[i % c]].1.push(plane);
    }
    lanes
}

/// Channel parts the threads take one at a time (more than threads, so that both stay busy).
const CHANNEL_PARTS: usize = 16;

/// `(N, C, spatial)` of an `N × C × …` tensor.
fn dims(shape: &[usize]) -> OpResult<(usize, usize, usize)> {
    match shape {
        [n, c, rest @ ..] => Ok((*n, *c, rest.iter().product())),
        _ => Err(format!("input {shape:?} needs at least 2 dimensions")),
    }
}

fn channel_vector(x: &Inputs<'_>, i: usize, c: usize) -> OpResult<Vec<f32>> {
    let v = x.f32(i)?;
    if v.shape() != [c] {
        return Err(format!(
            "input {i} has shape {:?}, expected [{c}]",
            v.shape()
        ));
    }
    Ok(v.iter().copied().collect())
}

impl Op for BatchNorm {
    fn forward(&mut self, x: &Inputs<'_>, train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.f32(0)?;
        let (n, c, s) = dims(input.shape())?;
        let (scale, bias) = (channel_vector(x, 1, c)?, channel_vector(x, 2, c)?);
        let (rmean, rvar) = (channel_vector(x, 3, c)?, channel_vector(x, 4, c)?);
        let input = input.as_standard_layout();
        let xs = input.as_slice().ok_or("input not contiguous")?;
        let count = n * s;
        if train && count < 2 {
            return Err(format!(
                "training needs more than one value per channel, got {count}"
            ));
        }
        // Not zeroed first: every value is written below (`channel_planes` hands out each
        // plane once, and each channel's loop normalizes all of its planes).
        let len = n * c * s;
        let mut y = Vec::<f32>::with_capacity(len);
        let ys = &mut y.spare_capacity_mut()[..len];
        // Channels are independent: each lane computes its channels' statistics and writes
        // their planes, so the results do not depend on the thread count.
        let (eps, relu) = (self.epsilon, self.relu);
        let per_channel = parallel::run(channel_planes(ys, c, s), |_, (chans, mut planes)| {
            let w = chans.len();
            let mut stats = Vec::with_capacity(w);
            for (j, ch) in chans.enumerate() {
                let plane = |b: usize| &xs[(b * c + ch) * s..(b * c + ch + 1) * s];
                let (m, iv, batch) = if train {
                    let shift = plane_mean(plane(0));
                    let (sd, sd2) = (0..n)
                        .map(|b| plane_moments(plane(b), shift))
                        .fold((0.0f64, 0.0f64), |(a, b), (x, y)| (a + x, b + y));
                    let mu = shift as f64 + sd / count as f64;
                    // Σ(x − μ)² = Σd² − (Σd)²/n, d = x − shift; never below 0.
                    let ss = (sd2 - sd * sd / count as f64).max(0.0);
                    let inv = (1.0 / (ss / count as f64 + eps as f64).sqrt()) as f32;
                    (mu as f32, inv, Some((mu, ss)))
                } else {
                    (rmean[ch], 1.0 / (rvar[ch] + eps).sqrt(), None)
                };
                let (a, bc) = (scale[ch] * iv, bias[ch]);
                // No planes when they are empty (`s = 0`).
                for (b, out) in planes.iter_mut().skip(j).step_by(w).enumerate() {
                    normalize_plane(out, plane(b), m, a, bc, relu);
                }
                stats.push((m, iv, batch));
            }
            stats
        });
        // SAFETY: the lanes held every plane of the `len` values and wrote each (above).
        unsafe { y.set_len(len) };
        let y = ArrayD::from_shape_vec(input.raw_dim(), y).map_err(|e| e.to_string())?;
        let stats: Vec<_> = per_channel.into_iter().flatten().collect();
        let mean: Array1<f32> = stats.iter().map(|s| s.0).collect();
        let inv: Array1<f32> = stats.iter().map(|s| s.1).collect();
        if train {
            let m = self.momentum as f64;
            let (mut new_mean, mut new_var) = (rmean.clone(), rvar.clone());
            for (ch, &(_, _, batch)) in stats.iter().enumerate() {
                if let Some((mu, ss)) = batch {
                    new_mean[ch] = (m * rmean[ch] as f64 + (1.0 - m) * mu) as f32;
                    let unbiased = ss / (count - 1) as f64;
                    new_var[ch] = (m * rvar[ch] as f64 + (1.0 - m) * unbiased) as f32;
                }
            }
            self.updates = vec![
                (
                    3,
                    ArrayD::from_shape_vec(IxDyn(&[c]), new_mean).map_err(|e| e.to_string())?,
                ),
                (
                    4,
                    ArrayD::from_shape_vec(IxDyn(&[c]), new_var).map_err(|e| e.to_string())?,
                ),
            ];
        }
        self.cache = train.then_some((mean, inv));
        Ok(vec![Tensor::F32(y)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        self.backward_owned(x, dy.to_vec(), need)
    }

    /// Works in the output gradient it is handed: the fused Relu's gate, the sums and then the
    /// input gradient overwrite it plane by plane, so backward allocates (and zeroes) nothing.
    fn backward_owned(
        &mut self,
        x: &Inputs<'_>,
        mut dy: Vec<Option<ArrayD<f32>>>,
        need: &[bool],
    ) -> OpResult<Grads> {
        let (mean, inv) = self
            .cache
            .take()
            .ok_or("backward needs a training forward")?;
        let input = x.f32(0)?;
        let input = input.as_standard_layout();
        let (n, c, s) = dims(input.shape())?;
        let (scale, bias) = (channel_vector(x, 1, c)?, channel_vector(x, 2, c)?);
        let relu = self.relu;
        let mut g = match dy.first_mut().and_then(Option::take) {
            // Already row-major (what the graph hands over): the same buffer, not a copy.
            Some(g) if g.shape() == input.shape() && g.is_standard_layout() => g,
            Some(g) if g.shape() == input.shape() => g.as_standard_layout().into_owned(),
            Some(g) => {
                return Err(format!(
                    "output gradient {:?} for input {:?}",
                    g.shape(),
                    input.shape()
                ));
            }
            None => return Err("no output gradient".into()),
        };
        let xs = input.as_slice().ok_or("input not contiguous")?;
        let count = (n * s) as f64;
        let with_dx = need[0];
        let lanes = channel_planes(g.as_slice_mut().ok_or("gradient not contiguous")?, c, s);
        let per_channel = parallel::run(lanes, |_, (chans, mut planes)| {
            let w = chans.len();
            let mut sums = Vec::with_capacity(w);
            for (j, ch) in chans.enumerate() {
                let (m, iv) = (mean[ch], inv[ch]);
                let (a, bc) = (scale[ch] * iv, bias[ch]);
                let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                for (b, plane) in planes.iter_mut().skip(j).step_by(w).enumerate() {
                    let xp = &xs[(b * c + ch) * s..(b * c + ch + 1) * s];
                    let (g, gx) = if relu {
                        gated_grad_sums(plane, xp, m, iv, a, bc)
                    } else {
                        plane_grad_sums(plane, xp, m, iv)
                    };
                    sg += g;
                    sgx += gx;
                }
                if with_dx {
                    // dx = γ·inv/n · (n·g − Σg − x̂·Σ(g·x̂)), over the (gated) gradient.
                    let (mg, mgx) = ((sg / count) as f32, (sgx / count) as f32);
                    for (b, plane) in planes.iter_mut().skip(j).step_by(w).enumerate() {
                        let xp = &xs[(b * c + ch) * s..(b * c + ch + 1) * s];
                        input_gradient(plane, xp, m, iv, a, mg, mgx);
                    }
                }
                sums.push((sgx as f32, sg as f32));
            }
            sums
        });
        let (dscale, dbias): (Vec<f32>, Vec<f32>) = per_channel.into_iter().flatten().unzip();
        let vec = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&[c]), v).ok();
        Ok(vec![
            with_dx.then_some(g),
            need.get(1)
                .copied()
                .unwrap_or(false)
                .then(|| vec(dscale))
                .flatten(),
            need.get(2)
                .copied()
                .unwrap_or(false)
                .then(|| vec(dbias))
                .flatten(),
            None,
            None,
        ])
    }

    fn mixes_samples(&self) -> bool {
        true
    }

    fn take_updates(&mut self) -> Vec<(usize, ArrayD<f32>)> {
        std::mem::take(&mut self.updates)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, Axis, IxDyn};

    use crate::graph::check::{Case, random};
    use crate::graph::{Attr, NodeSpec};

    fn case(momentum: f32) -> Case {
        let node = NodeSpec::new(
            "BatchNormalization",
            "bn",
            &["x", "s", "b", "m", "v"],
            &["y"],
        )
        .with_attr("momentum", Attr::Float(momentum))
        .with_attr("epsilon", Attr::Float(1e-3));
        Case::node(node)
            .input("x", &[3, 4, 2, 3], 1)
            .param("s", &[4], 2)
            .param("b", &[4], 3)
            .constant("m", random(&[4], 4))
            .constant("v", random(&[4], 5).mapv(|v| v.abs() + 0.5))
    }

    /// Same outputs, gradients and running statistics on 1 and 4 threads, with fewer channels
    /// than lanes and with more.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for channels in [3, 10] {
            let node = NodeSpec::new(
                "BatchNormalization",
                "bn",
                &["x", "s", "b", "m", "v"],
                &["y"],
            );
            Case::node(node)
                .input("x", &[5, channels, 3, 4], 1)
                .param("s", &[channels], 2)
                .param("b", &[channels], 3)
                .constant("m", random(&[channels], 4))
                .constant("v", random(&[channels], 5).mapv(|v| v.abs() + 0.5))
                .check_thread_independent(6);
        }
    }

    /// BatchNormalization → Relu is built as one fused operator (see `graph::fuse`): its
    /// outputs are `max(0, BN(x))` bit for bit, its gradients match finite differences and do
    /// not depend on the thread count.
    #[test]
    fn fused_relu_matches_bn_then_max_and_finite_differences() {
        let bn = case(0.9);
        let mut fused = case(0.9);
        fused
            .nodes
            .push(NodeSpec::new("Relu", "relu", &["y"], &["r"]));
        let x = bn.inputs[0].1.clone();
        let plain = bn.build().forward(vec![x.clone()], true).unwrap().remove(0);
        let out = fused.build().forward(vec![x], true).unwrap().remove(0);
        assert_eq!(out, plain.mapv(|v| v.max(0.0)));
        assert!(out.iter().any(|&v| v == 0.0) && out.iter().any(|&v| v > 0.0));
        fused.check();
        fused.check_thread_independent(4);
    }

    #[test]
    fn train_mode_backward_matches_finite_differences() {
        case(0.9).check();
    }

    #[test]
    fn running_statistics_follow_pytorch() {
        let c = case(0.9);
        let mut g = c.build();
        let x = c.inputs[0].1.clone();
        g.forward(vec![x.clone()], true).unwrap();
        let init = g.initializers();
        // Per channel over N, H, W; unbiased variance, as torch.nn.BatchNorm2d(momentum=0.1).
        let moved = x
            .clone()
            .permuted_axes(IxDyn(&[1, 0, 2, 3]))
            .as_standard_layout()
            .into_owned();
        let flat = moved.into_shape_with_order((4, 18)).unwrap();
        let mean = flat.mean_axis(Axis(1)).unwrap();
        let var = flat.var_axis(Axis(1), 1.0);
        for ch in 0..4 {
            let want_m = 0.9 * c.consts[0].1[ch] + 0.1 * mean[ch];
            let want_v = 0.9 * c.consts[1].1[ch] + 0.1 * var[ch];
            assert!((init["m"][ch] - want_m).abs() < 1e-5, "mean {ch}");
            assert!((init["v"][ch] - want_v).abs() < 1e-5, "var {ch}");
        }
        // Evaluation uses the (updated) running statistics and changes nothing.
        let y = g.forward(vec![x.clone()], false).unwrap().remove(0);
        assert_eq!(g.initializers(), init);
        let (s, b) = (&c.params[0].1, &c.params[1].1);
        let want = ArrayD::from_shape_fn(x.raw_dim(), |i| {
            let ch = i[1];
            (x[&i] - init["m"][ch]) / (init["v"][ch] + 1e-3).sqrt() * s[ch] + b[ch]
        });
        assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
