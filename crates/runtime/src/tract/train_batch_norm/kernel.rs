//! The arithmetic of [`super::TrainBatchNorm`]: a batch's per-channel mean and population
//! variance, then every value normalized with them (and the activation fused behind, if any),
//! in place.
//!
//! The statistics are gathered block by block — one `(image, channel)` plane of NCHW data, or
//! 256 rows of channel-last data — each block read twice while it is in cache (its sum, then
//! the sums of its deviations from that mean), and the blocks' moments merged per channel in
//! `f64` in block order (Chan et al.'s pairwise update). Memory is read twice in all (once for
//! the statistics, once to normalize) where summing a channel over the whole batch, then its
//! squared deviations, then normalizing read it three times from beyond the cache. Blocks and
//! planes are shared out over tract's threads; every block's moments and every value's result are
//! the same whichever thread computes them, and the merge order is fixed, so the output does not
//! depend on the thread count.

use std::sync::Mutex;

use tract_onnx::tract_core::tract_linalg::multithread;

/// Rows of channel-last data per block of statistics.
const BLOCK_ROWS: usize = 256;

/// What runs on each normalized value before it is stored: the activation that followed the
/// batch-norm in the graph, fused into its last pass ([`super::fuse`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Activation {
    /// Nothing.
    Identity,
    /// `max(v, low)` then `min(·, high)` where given: ONNX's Relu and Clip as tract imports them.
    Clamp { low: Option<f32>, high: Option<f32> },
    /// `v · clamp(v / 6 + 1/2, 0, 1)`, ONNX's HardSwish.
    HardSwish,
}

impl Activation {
    /// `x[i] ← act((x[i] − mean[i % n]) · gain[i % n] + bias[i % n])` where `n` is the length of
    /// the per-channel slices (1 for a plane of one channel, `c` for channel-last rows).
    fn normalize_runs(self, x: &mut [f32], mean: &[f32], gain: &[f32], bias: &[f32]) {
        match self {
            Activation::Identity => runs(x, mean, gain, bias, IDENTITY),
            Activation::Clamp { low, high } => runs(
                x,
                mean,
                gain,
                bias,
                Clamp(
                    low.unwrap_or(f32::NEG_INFINITY),
                    high.unwrap_or(f32::INFINITY),
                ),
            ),
            Activation::HardSwish => runs(x, mean, gain, bias, SWISH),
        }
    }

    /// The bits of its parameters, for equality of ops.
    pub(crate) fn key(self) -> (u8, u32, u32) {
        let bits = |v: Option<f32>| v.map_or(u32::MAX, f32::to_bits);
        match self {
            Activation::Identity => (0, 0, 0),
            Activation::Clamp { low, high } => (1, bits(low), bits(high)),
            Activation::HardSwish => (2, 0, 0),
        }
    }
}

/// An activation applied value by value (monomorphized, so each loop vectorizes).
trait Apply: Copy {
    fn apply(self, v: f32) -> f32;
}

#[derive(Clone, Copy)]
struct Identity;
const IDENTITY: Identity = Identity;
impl Apply for Identity {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        v
    }
}

#[derive(Clone, Copy)]
struct Clamp(f32, f32);
impl Apply for Clamp {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        v.max(self.0).min(self.1)
    }
}

#[derive(Clone, Copy)]
struct HardSwish;
const SWISH: HardSwish = HardSwish;
impl Apply for HardSwish {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        v * (v * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)
    }
}

/// [`Activation::normalize_runs`] for one activation, built for AVX2 where the CPU has it.
fn runs<A: Apply>(x: &mut [f32], mean: &[f32], gain: &[f32], bias: &[f32], act: A) {
    #[inline(always)]
    fn any<A: Apply>(x: &mut [f32], mean: &[f32], gain: &[f32], bias: &[f32], act: A) {
        let n = mean.len().min(gain.len()).min(bias.len());
        if n == 1 {
            let (m, g, b) = (mean[0], gain[0], bias[0]);
            for v in x.iter_mut() {
                *v = act.apply((*v - m) * g + b);
            }
            return;
        }
        for row in x.chunks_exact_mut(n.max(1)) {
            for (v, ((m, g), b)) in row.iter_mut().zip(mean.iter().zip(gain).zip(bias)) {
                *v = act.apply((*v - m) * g + b);
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<A: Apply>(x: &mut [f32], mean: &[f32], gain: &[f32], bias: &[f32], act: A) {
            any(x, mean, gain, bias, act)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { avx2(x, mean, gain, bias, act) };
        }
    }
    any(x, mean, gain, bias, act)
}

/// Count, mean and sum of squared deviations from the mean of a set of values, in `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// The moments of the union of two disjoint sets.
    fn merge(self, other: Moments) -> Moments {
        if other.n == 0.0 {
            return self;
        }
        if self.n == 0.0 {
            return other;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + delta * other.n / n,
            m2: self.m2 + other.m2 + delta * delta * self.n * other.n / n,
        }
    }

    /// From the block's count, the centre `c` its deviations were taken from, and the sums of
    /// those deviations and of their squares: exact whatever `c` is.
    fn from_deviations(n: usize, centre: f32, sum_d: f64, sum_d2: f64) -> Moments {
        if n == 0 {
            return Moments::default();
        }
        let n = n as f64;
        Moments {
            n,
            mean: f64::from(centre) + sum_d / n,
            m2: (sum_d2 - sum_d * sum_d / n).max(0.0),
        }
    }
}

/// The batch statistics of `x` (`outer × c × inner`, row-major), means and population
/// variances into `stats`, then `x` replaced by `act((x − mean) · scale / √(var + ε) + bias)`.
pub(crate) fn normalize(
    x: &mut [f32],
    (outer, c, inner): (usize, usize, usize),
    (scale, bias): (&[f32], &[f32]),
    epsilon: f32,
    act: Activation,
    (means, vars): (&mut [f32], &mut [f32]),
) {
    if x.is_empty() || c == 0 {
        means.iter_mut().for_each(|m| *m = 0.0);
        vars.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let channel = if inner == 1 {
        channels_last_moments(x, c)
    } else {
        plane_moments(x, outer, c, inner)
    };
    let mut gain = vec![0.0f32; c];
    for ch in 0..c {
        let m = channel[ch];
        let (mean, var) = (m.mean as f32, (m.m2 / m.n.max(1.0)) as f32);
        (means[ch], vars[ch]) = (mean, var);
        gain[ch] = scale[ch] / (var + epsilon).sqrt();
    }
    let (means, bias) = (&means[..c], &bias[..c]);
    let total = x.len();
    let done = if inner == 1 {
        multithread::par_chunks_mut(x, c, total, |_, rows| {
            act.normalize_runs(rows, means, &gain, bias);
            Ok(())
        })
    } else {
        multithread::par_chunks_mut(x, inner, total, |first, planes| {
            for (i, plane) in planes.chunks_exact_mut(inner).enumerate() {
                let ch = (first + i) % c;
                let at = ch..ch + 1;
                act.normalize_runs(plane, &means[at.clone()], &gain[at.clone()], &bias[at]);
            }
            Ok(())
        })
    };
    done.expect("normalizing cannot fail");
}

/// Per channel, the moments of NCHW data: each `(image, channel)` plane's, merged in image order.
fn plane_moments(x: &mut [f32], outer: usize, c: usize, inner: usize) -> Vec<Moments> {
    let planes = Mutex::new(vec![Moments::default(); outer * c]);
    let total = x.len();
    multithread::par_chunks_mut(x, inner, total, |first, chunk| {
        let found: Vec<Moments> = chunk.chunks_exact(inner).map(block_moments).collect();
        let mut planes = planes.lock().unwrap_or_else(|e| e.into_inner());
        planes[first..first + found.len()].copy_from_slice(&found);
        Ok(())
    })
    .expect("statistics cannot fail");
    let planes = planes.into_inner().unwrap_or_else(|e| e.into_inner());
    (0..c)
        .map(|ch| {
            (0..outer)
                .map(|b| planes[b * c + ch])
                .fold(Moments::default(), Moments::merge)
        })
        .collect()
}

edge_ssl_core::avx2_dispatch! {
/// The moments of one block of values: its `f32` mean as the centre, then the deviations from it.
fn block_moments(values: &[f32]) -> Moments {
    let centre = (lane_sum(values, |v| v) / values.len().max(1) as f64) as f32;
    let (sum_d, sum_d2) = lane_sums2(values, |v| v - centre);
    Moments::from_deviations(values.len(), centre, sum_d, sum_d2)
}
}

/// Per column, the moments of channel-last data (rows of `c`): each block of [`BLOCK_ROWS`]
/// rows', merged in row order.
fn channels_last_moments(x: &mut [f32], c: usize) -> Vec<Moments> {
    let rows = x.len() / c;
    let whole = rows / BLOCK_ROWS * BLOCK_ROWS;
    let blocks = whole / BLOCK_ROWS;
    let found = Mutex::new(vec![Moments::default(); blocks * c]);
    let (head, tail) = x.split_at_mut(whole * c);
    multithread::par_chunks_mut(head, BLOCK_ROWS * c, whole * c, |first, chunk| {
        let mut local = Vec::with_capacity(chunk.len() / BLOCK_ROWS);
        for block in chunk.chunks_exact(BLOCK_ROWS * c) {
            local.extend(column_moments(block, c));
        }
        let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
        found[first * c..first * c + local.len()].copy_from_slice(&local);
        Ok(())
    })
    .expect("statistics cannot fail");
    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let last = (!tail.is_empty()).then(|| column_moments(tail, c));
    (0..c)
        .map(|ch| {
            let merged = (0..blocks)
                .map(|b| found[b * c + ch])
                .fold(Moments::default(), Moments::merge);
            match &last {
                Some(last) => merged.merge(last[ch]),
                None => merged,
            }
        })
        .collect()
}

edge_ssl_core::avx2_dispatch! {
/// Per column of the `c`-wide rows of `block`, its moments (two passes; they vectorize across
/// the row).
fn column_moments(block: &[f32], c: usize) -> Vec<Moments> {
    let rows = block.len() / c;
    let mut sums = vec![0.0f32; c];
    for row in block.chunks_exact(c) {
        sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    }
    let centre: Vec<f32> = sums.iter().map(|&s| s / rows.max(1) as f32).collect();
    let (mut d, mut d2) = (vec![0.0f32; c], vec![0.0f32; c]);
    for row in block.chunks_exact(c) {
        let sums = d.iter_mut().zip(d2.iter_mut());
        for ((dv, d2v), (&v, &ce)) in sums.zip(row.iter().zip(&centre)) {
            let dev = v - ce;
            *dv += dev;
            *d2v += dev * dev;
        }
    }
    (0..c)
        .map(|ch| Moments::from_deviations(rows, centre[ch], f64::from(d[ch]), f64::from(d2[ch])))
        .collect()
}
}

/// `Σ f(v)` over `values`, in eight `f32` lanes (it vectorizes), returned as `f64`.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let mut eights = values.chunks_exact(8);
    for eight in &mut eights {
        for (l, &v) in lanes.iter_mut().zip(eight) {
            *l += f(v);
        }
    }
    let rest: f64 = eights.remainder().iter().map(|&v| f64::from(f(v))).sum();
    lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + rest
}

/// `(Σ f(v), Σ f(v)²)` over `values`, in eight `f32` lanes each, returned as `f64`.
#[inline(always)]
fn lane_sums2(values: &[f32], f: impl Fn(f32) -> f32) -> (f64, f64) {
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    let mut eights = values.chunks_exact(8);
    for eight in &mut eights {
        for i in 0..8 {
            let d = f(eight[i]);
            s1[i] += d;
            s2[i] += d * d;
        }
    }
    let (mut r1, mut r2) = (0.0f64, 0.0f64);
    for &v in eights.remainder() {
        let d = f64::from(f(v));
        r1 += d;
        r2 += d * d;
    }
    let sum = |l: [f32; 8]| l.iter().map(|&v| f64::from(v)).sum::<f64>();
    (sum(s1) + r1, sum(s2) + r2)
}

#[cfg(test)]
mod tests;
