//! Latency ratios between engines at equal threads and batch — the numbers issue 7's targets are
//! stated in (ort within 1.05× of ONNX Runtime Python; tract within 2× of ort).

use serde::{Deserialize, Serialize};

use super::measurement::Measurement;
use super::peers::{ORT_PYTHON, PILLOW_ORT_E2E, TORCH_EAGER};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// p50 latency of `engine` divided by that of `versus`: above 1 means `engine` is slower.
    pub engine: String,
    pub versus: String,
    pub threads: usize,
    pub batch: usize,
    pub p50_ratio: f64,
    /// The target for this pair, when the project set one (ratio must be at most this).
    pub target: Option<f64>,
    pub meets_target: Option<bool>,
}

/// The pairs worth a ratio, with their targets. The end-to-end target is ≥ 1.5× the Python
/// pipeline's throughput, i.e. a p50 ratio ≤ 1/1.5.
const PAIRS: [(&str, &str, Option<f64>); 7] = [
    ("ort", ORT_PYTHON, Some(1.05)),
    ("tract", "ort", Some(2.0)),
    ("tract", ORT_PYTHON, None),
    ("ort", TORCH_EAGER, None),
    ("tract", TORCH_EAGER, None),
    ("ort-e2e", PILLOW_ORT_E2E, Some(1.0 / 1.5)),
    ("tract-e2e", PILLOW_ORT_E2E, Some(1.0 / 1.5)),
];

pub fn ratios(measured: &[Measurement]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for (engine, versus, target) in PAIRS {
        for a in measured.iter().filter(|m| m.engine == engine) {
            let b = measured
                .iter()
                .find(|b| b.engine == versus && b.threads == a.threads && b.batch == a.batch);
            let Some(b) = b.filter(|b| b.latency_ms.p50 > 0.0) else {
                continue;
            };
            let p50_ratio = a.latency_ms.p50 / b.latency_ms.p50;
            out.push(Ratio {
                engine: engine.into(),
                versus: versus.into(),
                threads: a.threads,
                batch: a.batch,
                p50_ratio,
                target,
                meets_target: target.map(|t| p50_ratio <= t),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    fn m(engine: &str, batch: usize, p50: f64) -> Measurement {
        Measurement::with_p50(engine, 2, batch, p50)
    }

    #[test]
    fn pairs_only_matching_threads_and_batch() {
        let r = ratios(&[m("tract", 1, 6.0), m("ort", 1, 2.0), m("ort", 8, 1.0)]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].engine.as_str(), r[0].versus.as_str()),
            ("tract", "ort")
        );
        assert!((r[0].p50_ratio - 3.0).abs() < 1e-12);
        assert_eq!(r[0].meets_target, Some(false));
    }
}
