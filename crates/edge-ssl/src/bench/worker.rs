//! One combination, measured inside this process: the child side of `edge-ssl bench`.
//!
//! The parent re-runs its own executable with `--measure-one ENGINE:THREADS:BATCH`; this code
//! then loads the model once, so the cold start it times is a real first load.
//!
//! What one call runs is the whole model a device would run ([`ModelRunner`]).

use std::time::Instant;

use edge_ssl_core::Tensor;
use edge_ssl_runtime::{BackendKind, BackendOptions, select_backend};

use super::host::proc_status_mb;
use super::measurement::{Measurement, Percentiles};
use super::runner::ModelRunner;
use crate::error::{Context, bail};
use crate::model::reference::ResolvedModel;

/// How long the warmed run lasts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Untimed calls after the first inference.
    pub warmup: usize,
    /// Exactly this many timed calls, when given.
    pub iters: Option<usize>,
    /// Otherwise: timed calls until this much time has passed (at least `MIN_ITERS`).
    pub seconds: f64,
}

/// Fewest timed calls behind a time budget, so p50 is never one lucky sample.
pub const MIN_ITERS: usize = 5;

impl Budget {
    /// `warmup` untimed calls, then exactly `iters` timed calls or, without them, calls for
    /// `seconds`; zero iterations or a negative or non-finite time are refused.
    pub fn new(warmup: usize, iters: Option<usize>, seconds: f64) -> crate::Result<Self> {
        if iters == Some(0) {
            crate::error::bail!(Options, "the timed calls must be at least 1");
        }
        if !(seconds.is_finite() && seconds >= 0.0) {
            crate::error::bail!(
                Options,
                "the time budget must be a non-negative number of seconds"
            );
        }
        Ok(Budget {
            warmup,
            iters,
            seconds,
        })
    }

    /// How the warmed run was bounded, as the report records it: `{"warmup": W, "iters": N}`
    /// or `{"warmup": W, "seconds": S}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self.iters {
            Some(n) => serde_json::json!({"warmup": self.warmup, "iters": n}),
            None => serde_json::json!({"warmup": self.warmup, "seconds": self.seconds}),
        }
    }

    fn more(&self, done: usize, elapsed_s: f64) -> bool {
        match self.iters {
            Some(n) => done < n,
            None => done < MIN_ITERS || elapsed_s < self.seconds,
        }
    }
}

/// `ENGINE:THREADS:BATCH`, the child's one argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Combination {
    pub engine: String,
    pub threads: usize,
    pub batch: usize,
}

impl Combination {
    pub fn to_arg(&self) -> String {
        format!("{}:{}:{}", self.engine, self.threads, self.batch)
    }

    pub fn parse(s: &str) -> crate::Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let [engine, threads, batch] = parts[..] else {
            bail!(Options, "a measurement is ENGINE:THREADS:BATCH, got `{s}`");
        };
        Ok(Combination {
            engine: engine.into(),
            threads: number(threads, "threads", s)?,
            batch: number(batch, "batch", s)?,
        })
    }
}

fn number(text: &str, what: &str, spec: &str) -> crate::Result<usize> {
    text.parse()
        .map_err(|e| crate::Error::Options(format!("{what} in `{spec}`: {e}")))
}

/// A deterministic, non-constant input in [-1, 1) (constant inputs can take shortcuts in some
/// kernels): a multiplicative hash of the flat index, which the Python peers reproduce exactly.
pub fn synthetic_input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n as u64)
        .map(|i| {
            let h = i.wrapping_mul(2_654_435_761) & 0xFFFF_FFFF;
            (h >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    Tensor::from_shape_vec(shape, data).expect("length is the product of the shape")
}

pub fn measure(
    model: &ResolvedModel,
    combo: &Combination,
    options: BackendOptions,
    budget: Budget,
) -> crate::Result<Measurement> {
    let kind = BackendKind::parse(&combo.engine)?;
    let input = synthetic_input(&model.card.input.batch_shape(combo.batch));
    let baseline_rss_mb = proc_status_mb("VmRSS:");

    let cold = Instant::now();
    let (backend, _) = select_backend(kind, &options.with_threads(Some(combo.threads)))?;
    let mut runner = ModelRunner::load(backend.as_ref(), model)?;
    runner.run(input.view()).context("first inference")?;
    let cold_start_ms = cold.elapsed().as_secs_f64() * 1e3;

    let (samples, wall_s) = timed_loop(budget, || runner.run(input.view()).context("inference"))?;
    Ok(Measurement {
        engine: combo.engine.clone(),
        describe: runner.describe(),
        threads: combo.threads,
        batch: combo.batch,
        cold_start_ms,
        iterations: samples.len(),
        latency_ms: Percentiles::of(&samples),
        samples_per_s: if wall_s > 0.0 {
            (combo.batch * samples.len()) as f64 / wall_s
        } else {
            0.0
        },
        gflops_per_s: None,
        peak_rss_mb: proc_status_mb("VmHWM:"),
        baseline_rss_mb,
    })
}

/// The warm-up calls, then timed calls under `budget`: per-call milliseconds and the loop's
/// wall time in seconds. Shared by every Rust-side measurement so all time the same way.
pub fn timed_loop(
    budget: Budget,
    mut call: impl FnMut() -> crate::Result<()>,
) -> crate::Result<(Vec<f64>, f64)> {
    for _ in 0..budget.warmup {
        call()?;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while budget.more(samples.len(), start.elapsed().as_secs_f64()) {
        let t = Instant::now();
        call()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((samples, start.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combination_round_trips() {
        let c = Combination {
            engine: "ort".into(),
            threads: 2,
            batch: 32,
        };
        assert_eq!(Combination::parse(&c.to_arg()).unwrap(), c);
        assert!(Combination::parse("ort:2").is_err());
        assert!(Combination::parse("ort:x:1").is_err());
    }

    #[test]
    fn budget_has_a_floor_and_an_exact_mode() {
        let timed = Budget {
            warmup: 0,
            iters: None,
            seconds: 0.0,
        };
        assert!(timed.more(MIN_ITERS - 1, 10.0) && !timed.more(MIN_ITERS, 10.0));
        let exact = Budget {
            warmup: 0,
            iters: Some(2),
            seconds: 100.0,
        };
        assert!(exact.more(1, 0.0) && !exact.more(2, 0.0));
    }

    #[test]
    fn synthetic_input_varies_within_unit_range() {
        let x = synthetic_input(&[2, 1, 4, 4]);
        assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(x.iter().any(|v| (v - x[[0, 0, 0, 0]]).abs() > 1e-3));
        // The Python peers compute the same stream (benches/peers/peer_bench.py).
        let head: Vec<f32> = x.iter().take(3).copied().collect();
        assert_eq!(head[0], -1.0);
        assert!((head[1] - 0.236_067_9).abs() < 1e-6 && (head[2] + 0.527_864_1).abs() < 1e-6);
    }
}
