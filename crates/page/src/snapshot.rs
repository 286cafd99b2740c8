//! The document `/status.json` serves and every server-sent event carries: the last decision,
//! the frames the page holds, fps and latency percentiles per second, class and label counts,
//! and the refit's state. One shape for both, so a script polling the JSON and the page see the
//! same numbers.

use std::collections::BTreeMap;

use crate::prediction::Prediction;
use crate::refit::RefitStatus;
use crate::series::Bucket;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Snapshot {
    /// Grows with every change; the page uses it to skip repeats.
    pub version: u64,
    pub uptime_s: f64,
    /// Frames published since the start.
    pub frames: u64,
    /// The newest decision.
    pub last: Option<Shown>,
    /// The newest frame held as JPEG (`/frame.jpg`), which may trail `last` by a frame or two.
    pub image: Option<Shown>,
    /// Frames held as JPEG, oldest first (`/recent/<frame>.jpg`).
    pub recent: Vec<Shown>,
    /// Frames in the last whole second.
    pub fps: u32,
    /// p50, p90, p99 latency (ms) in the last whole second.
    pub latency_ms: Option<[f32; 3]>,
    /// Per-second history, oldest first.
    pub series: Vec<Bucket>,
    /// Predictions per class since the start.
    pub classes: BTreeMap<String, u64>,
    /// Class names offered when labeling: the head's, then the ones labeled here.
    pub known_classes: Vec<String>,
    /// Labeled frames per class in the labels directory.
    pub labels: BTreeMap<String, u64>,
    /// Frames whose image the page did not keep (encoder busy or rate-limited).
    pub dropped_frames: u64,
    pub refit: RefitStatus,
    /// Whether labeling and refit need a token.
    pub token_required: bool,
}

/// One decision as the page shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Shown {
    pub frame: u64,
    pub class: String,
    pub confidence: f32,
    pub novelty: Option<f32>,
    pub novel: Option<bool>,
    pub latency_ms: f32,
}

impl From<&Prediction> for Shown {
    fn from(p: &Prediction) -> Self {
        Shown {
            frame: p.frame,
            class: p.class.clone(),
            confidence: p.confidence,
            novelty: p.novelty.filter(|v| v.is_finite()),
            novel: p.novel,
            latency_ms: p.latency.as_secs_f32() * 1e3,
        }
    }
}
