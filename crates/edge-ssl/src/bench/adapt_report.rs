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
    pub adapt: ChildResult,
    pub embed: ChildResult,
    /// `adapt.wall_s / embed.wall_s`.
    pub ratio: f64,
}

impl AdaptCost {
    pub fn new(
        engine: &str,
        threads: usize,
        (views, epochs): (usize, usize),
        adapt: ChildResult,
        embed: ChildResult,
    ) -> Self {
        AdaptCost {
            engine: engine.into(),
            threads,
            frames: adapt.frames,
            views,
            epochs,
            ratio: adapt.wall_s / embed.wall_s.max(1e-9),
            adapt,
            embed,
        }
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
        let _ = writeln!(
            s,
            "{} t{}: adapt / embed (1 + {} views) = {:.2}× (target ≤ {TARGET_RATIO:.1}×: {})",
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
