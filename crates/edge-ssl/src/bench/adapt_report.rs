//! The rows of `bench --adapt`: per backend × threads, what adapting cost beside embedding the
//! same frames (1 + views) times, each measured by [`adapt_cost::measure`](super::adapt_cost::measure)
//! in its own process, as JSON and as the terminal table.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::adapt_cost::ChildResult;
use super::host::Host;

/// Adaptation should cost at most this many times the forward passes it needs.
pub const TARGET_RATIO: f64 = 1.5;

/// One backend × threads row.
#[derive(Clone, Debug, Serialize)]
pub struct AdaptCost {
    pub engine: String,
    pub threads: usize,
    pub frames: usize,
    pub views: usize,
    pub epochs: usize,
    /// The fastest of the `adapt` runs.
    pub adapt: ChildResult,
    /// The fastest of the embedding runs.
    pub embed: ChildResult,
    /// `adapt.wall_s / embed.wall_s`: fastest over fastest. On a shared machine other work
    /// only ever adds time to a run, so each side's fastest run is the best estimate of its
    /// own cost; a ratio of single runs moved by ±0.1 between runs on this project's 2-core host.
    pub ratio: f64,
    /// Each `adapt` run's wall time over the embedding run made right after it, in order.
    pub pair_ratios: Vec<f64>,
}

impl AdaptCost {
    /// The row of `runs` (`adapt`, embed) pairs, made one after the other; `None` when there
    /// are none.
    pub fn from_runs(
        engine: &str,
        threads: usize,
        (views, epochs): (usize, usize),
        runs: Vec<(ChildResult, ChildResult)>,
    ) -> Option<Self> {
        let wall = |r: &ChildResult| r.wall_s.max(1e-9);
        let pair_ratios = runs.iter().map(|(a, e)| wall(a) / wall(e)).collect();
        let fastest = |side: Vec<ChildResult>| {
            side.into_iter()
                .min_by(|a, b| a.wall_s.total_cmp(&b.wall_s))
        };
        let (adapts, embeds): (Vec<_>, Vec<_>) = runs.into_iter().unzip();
        let (adapt, embed) = (fastest(adapts)?, fastest(embeds)?);
        Some(AdaptCost {
            engine: engine.into(),
            threads,
            frames: adapt.frames,
            views,
            epochs,
            ratio: wall(&adapt) / wall(&embed),
            adapt,
            embed,
            pair_ratios,
        })
    }
}

impl ChildResult {
    /// `12.3 s, 480 images, peak RSS 210 MB`.
    pub fn summary(&self) -> String {
        format!(
            "{:.1} s, {} images, peak RSS {} MB",
            self.wall_s,
            self.images,
            self.peak_rss_mb.map_or("?".into(), |m| format!("{m:.0}"))
        )
    }
}

/// The whole run as one JSON object.
pub fn to_json(model: &Path, data: &Path, host: &Host, rows: &[AdaptCost]) -> serde_json::Value {
    serde_json::json!({"model": model, "data": data, "host": host, "target_ratio": TARGET_RATIO, "rows": rows})
}

/// The terminal table, and one line per row saying whether the target ratio was met.
pub fn table(model: &Path, host: &Host, rows: &[AdaptCost]) -> String {
    let mut s = format!("model {}  ({})\n", model.display(), host.describe_load());
    let _ = writeln!(
        s,
        "{:<8} {:>7} {:>7} {:>6} {:>10} {:>10} {:>7} {:>13} {:>13}",
        "backend",
        "threads",
        "frames",
        "views",
        "adapt s",
        "embed s",
        "ratio",
        "adapt RSS MB",
        "embed RSS MB"
    );
    let mb = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.0}"));
    for r in rows {
        let _ = writeln!(
            s,
            "{:<8} {:>7} {:>7} {:>6} {:>10.1} {:>10.1} {:>6.2}× {:>13} {:>13}",
            r.engine,
            r.threads,
            r.frames,
            r.views,
            r.adapt.wall_s,
            r.embed.wall_s,
            r.ratio,
            mb(r.adapt.peak_rss_mb),
            mb(r.embed.peak_rss_mb)
        );
    }
    for r in rows {
        let pairs = match r.pair_ratios.len() {
            0 | 1 => String::new(),
            n => {
                let (lo, hi) = r
                    .pair_ratios
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), &p| (lo.min(p), hi.max(p)));
                format!("; fastest of {n} runs each, single pairs {lo:.2}–{hi:.2}×")
            }
        };
        let _ = writeln!(
            s,
            "{} t{}: adapt / embed (1 + {} views) = {:.2}× (target ≤ {TARGET_RATIO:.1}×: {}){pairs}",
            r.engine,
            r.threads,
            r.views,
            r.ratio,
            if r.ratio <= TARGET_RATIO {
                "met"
            } else {
                "not met"
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(what: &str, wall_s: f64) -> ChildResult {
        ChildResult {
            what: what.into(),
            frames: 10,
            images: 90,
            wall_s,
            peak_rss_mb: Some(100.0),
            phases: serde_json::Value::Null,
        }
    }

    /// The ratio is fastest over fastest, whichever pairs they came from; every pair is kept.
    #[test]
    fn a_row_takes_each_sides_fastest_run() {
        let runs = vec![
            (run("adapt", 15.0), run("embed", 11.0)),
            (run("adapt", 14.0), run("embed", 10.5)),
            (run("adapt", 16.0), run("embed", 10.0)),
        ];
        let row = AdaptCost::from_runs("ort", 2, (8, 2), runs).unwrap();
        assert_eq!((row.adapt.wall_s, row.embed.wall_s), (14.0, 10.0));
        assert!((row.ratio - 1.4).abs() < 1e-12);
        let want = [15.0 / 11.0, 14.0 / 10.5, 1.6];
        assert!(
            row.pair_ratios
                .iter()
                .zip(want)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        let text = table(Path::new("m.onnx"), &Host::now(), &[row]);
        assert!(
            text.contains(
                "= 1.40× (target ≤ 1.5×: met); fastest of 3 runs each, single pairs 1.33–1.60×"
            ),
            "{text}"
        );
        assert!(AdaptCost::from_runs("ort", 2, (8, 2), Vec::new()).is_none());
    }
}
