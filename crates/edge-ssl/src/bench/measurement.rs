//! What one measured combination (engine × threads × batch) reports, shared by the Rust worker
//! and the Python peers (they print the same JSON keys), and the statistics behind it.

use serde::{Deserialize, Serialize};

/// Latency of one call (one batch), in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub min: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples_ms`; all zero when empty.
    pub fn of(samples_ms: &[f64]) -> Self {
        if samples_ms.is_empty() {
            return Percentiles::default();
        }
        let mut s = samples_ms.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| s[((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Percentiles {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            mean: s.iter().sum::<f64>() / s.len() as f64,
            min: s[0],
        }
    }
}

/// One engine at one thread count and batch size, measured in its own process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// `tract`, `ort`, `onnxruntime-python` or `pytorch-eager`.
    pub engine: String,
    /// What the engine says about itself (version, execution provider, threads).
    pub describe: String,
    pub threads: usize,
    pub batch: usize,
    /// Load + optimize + first inference at this batch size, in a process that had not loaded
    /// the model before (library loading included; process start and imports excluded).
    pub cold_start_ms: f64,
    /// Timed calls after the warm-up.
    pub iterations: usize,
    pub latency_ms: Percentiles,
    /// batch × iterations / wall time of the timed loop.
    pub samples_per_s: f64,
    /// FLOPs per sample × batch / p50 latency; filled in by the parent from tract's cost model.
    #[serde(default)]
    pub gflops_per_s: Option<f64>,
    /// VmHWM of the measuring process at the end: its peak resident set, which includes the
    /// executable, the runtime libraries and (Python) the interpreter and its imports.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// VmRSS of the same process just before the model was loaded, so the model's own share is
    /// `peak_rss_mb - baseline_rss_mb`.
    #[serde(default)]
    pub baseline_rss_mb: Option<f64>,
}

/// Column titles of [`Measurement::cells`].
pub const COLUMNS: [&str; 10] = [
    "engine",
    "threads",
    "batch",
    "cold start ms",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "samples/s",
    "GFLOP/s",
    "peak RSS MB",
];

impl Measurement {
    /// The row's values as the terminal table and the Markdown report print them, `missing` for
    /// a value the engine could not give.
    pub fn cells(&self, missing: &str) -> [String; 10] {
        let l = &self.latency_ms;
        let opt =
            |v: Option<f64>, digits: usize| v.map_or(missing.into(), |v| format!("{v:.digits$}"));
        [
            self.engine.clone(),
            self.threads.to_string(),
            self.batch.to_string(),
            format!("{:.1}", self.cold_start_ms),
            format!("{:.3}", l.p50),
            format!("{:.3}", l.p90),
            format!("{:.3}", l.p99),
            format!("{:.1}", self.samples_per_s),
            opt(self.gflops_per_s, 2),
            opt(self.peak_rss_mb, 1),
        ]
    }

    pub fn label(&self) -> String {
        format!("{} t{} b{}", self.engine, self.threads, self.batch)
    }

    pub fn fill_gflops(&mut self, flops_per_sample: Option<u64>) {
        self.gflops_per_s = flops_per_sample
            .filter(|_| self.latency_ms.p50 > 0.0)
            .map(|f| f as f64 * self.batch as f64 / (self.latency_ms.p50 / 1e3) / 1e9);
    }
}

/// A combination that could not be measured, and why (e.g. ONNX Runtime not installed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub engine: String,
    pub threads: Option<usize>,
    pub batch: Option<usize>,
    pub reason: String,
}

#[cfg(test)]
impl Measurement {
    /// A row with only what the statistics read: engine, threads, batch and p50.
    pub(crate) fn with_p50(engine: &str, threads: usize, batch: usize, p50: f64) -> Self {
        Measurement {
            engine: engine.into(),
            describe: String::new(),
            threads,
            batch,
            cold_start_ms: 0.0,
            iterations: 1,
            latency_ms: Percentiles {
                p50,
                ..Percentiles::default()
            },
            samples_per_s: 0.0,
            gflops_per_s: None,
            peak_rss_mb: None,
            baseline_rss_mb: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.p50, p.p90, p.p99, p.min), (50.0, 90.0, 99.0, 1.0));
        assert!((p.mean - 50.5).abs() < 1e-9);
        let one = Percentiles::of(&[7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
    }

    #[test]
    fn gflops_from_flops_and_p50() {
        let mut m = Measurement::with_p50("tract", 1, 4, 2.0);
        m.fill_gflops(Some(1_000_000));
        // 4 samples × 1 MFLOP in 2 ms = 2 GFLOP/s
        assert!((m.gflops_per_s.unwrap() - 2.0).abs() < 1e-9);
    }
}
