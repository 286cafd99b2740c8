//! The parent side of a run: which combinations to measure, and the rows and failures they
//! gave, gathered into the [`BenchRun`] a report is made of. A combination that could not be
//! measured (ONNX Runtime not installed, a peer without PyTorch) is a row of `skipped`, not an
//! error: the run fails only when nothing at all was measured.

use std::path::PathBuf;

use super::host::Host;
use super::measurement::{Measurement, Skipped};
use super::ratios::ratios;
use super::report::BenchRun;
use super::worker::{Budget, Combination};
use crate::error::bail;

/// Every `engine × threads × batch`, in that nesting order.
pub fn combinations(engines: &[String], threads: &[usize], batches: &[usize]) -> Vec<Combination> {
    let mut out = Vec::new();
    for engine in engines {
        for &t in threads {
            for &b in batches {
                out.push(Combination {
                    engine: engine.clone(),
                    threads: t,
                    batch: b,
                });
            }
        }
    }
    out
}

/// Measurements so far, and the combinations that could not be measured.
#[derive(Debug, Default)]
pub struct Collected {
    /// FLOPs per sample of the encoder, for the GFLOP/s column.
    pub flops: Option<u64>,
    pub measured: Vec<Measurement>,
    pub skipped: Vec<Skipped>,
}

impl Collected {
    pub fn new(flops: Option<u64>) -> Self {
        Collected {
            flops,
            ..Collected::default()
        }
    }

    /// Records what measuring `combo` gave; returns one line saying so, for the caller to show.
    pub fn record(&mut self, combo: &Combination, result: crate::Result<Measurement>) -> String {
        match result {
            Ok(mut m) => {
                // A FLOP rate is about the encoder alone; end-to-end rows also decode.
                if !m.engine.ends_with("-e2e") {
                    m.fill_gflops(self.flops);
                }
                let line = format!(
                    "{:<28} p50 {:>9.3} ms  {:>9.1} samples/s",
                    m.label(),
                    m.latency_ms.p50,
                    m.samples_per_s
                );
                self.measured.push(m);
                line
            }
            Err(e) => {
                let reason = edge_ssl_core::error_line(&e);
                let line = format!("{} not measured: {reason}", combo.to_arg());
                self.skipped.push(Skipped {
                    engine: combo.engine.clone(),
                    threads: Some(combo.threads),
                    batch: Some(combo.batch),
                    reason,
                });
                line
            }
        }
    }

    /// An engine that cannot run at all, and why.
    pub fn skip_engine(&mut self, engine: &str, reason: String) {
        self.skipped.push(Skipped {
            engine: engine.into(),
            threads: None,
            batch: None,
            reason,
        });
    }

    /// The whole run, with the ratios between engines; an error when nothing was measured.
    pub fn finish(
        self,
        model: PathBuf,
        input_shape: Vec<usize>,
        host: Host,
        budget: Budget,
    ) -> crate::Result<BenchRun> {
        let Collected {
            flops,
            measured,
            skipped,
        } = self;
        if measured.is_empty() {
            let first = skipped
                .first()
                .map_or("nothing to measure".into(), |s| s.reason.clone());
            bail!(Bench, "no combination could be measured: {first}");
        }
        Ok(BenchRun {
            model,
            input_shape,
            flops_per_sample: flops,
            host,
            budget: budget.to_json(),
            ratios: ratios(&measured),
            measurements: measured,
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn measured(engine: &str, p50: f64) -> Measurement {
        Measurement::with_p50(engine, 1, 2, p50)
    }

    fn budget() -> Budget {
        Budget {
            warmup: 1,
            iters: Some(3),
            seconds: 0.0,
        }
    }

    #[test]
    fn combinations_nest_engine_threads_batch() {
        let c = combinations(&["a".into(), "b".into()], &[1, 2], &[8]);
        let args: Vec<String> = c.iter().map(Combination::to_arg).collect();
        assert_eq!(args, ["a:1:8", "a:2:8", "b:1:8", "b:2:8"]);
    }

    #[test]
    fn rows_get_a_flop_rate_failures_become_skipped_and_nothing_measured_is_an_error() {
        let combo = |e: &str| Combination {
            engine: e.into(),
            threads: 1,
            batch: 2,
        };
        let mut got = Collected::new(Some(1_000_000));
        let line = got.record(&combo("tract"), Ok(measured("tract", 2.0)));
        assert!(line.starts_with("tract t1 b2"), "{line}");
        got.record(&combo("tract-e2e"), Ok(measured("tract-e2e", 2.0)));
        let err = Err(crate::Error::Bench("no library".into()));
        assert_eq!(
            got.record(&combo("ort"), err),
            "ort:1:2 not measured: no library"
        );
        // 2 samples × 1 MFLOP in 2 ms; end-to-end rows also decode, so they get none.
        assert!((got.measured[0].gflops_per_s.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(got.measured[1].gflops_per_s, None);
        assert_eq!(got.skipped[0].reason, "no library");
        let run = got
            .finish("m.onnx".into(), vec![1, 1, 28, 28], Host::now(), budget())
            .unwrap();
        assert_eq!(run.budget, serde_json::json!({"warmup": 1, "iters": 3}));

        let mut none = Collected::new(None);
        none.skip_engine("pytorch-eager", "no torch".into());
        let e = none
            .finish("m.onnx".into(), vec![], Host::now(), budget())
            .unwrap_err();
        assert_eq!(e.to_string(), "no combination could be measured: no torch");
    }
}
