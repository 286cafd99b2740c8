//! What a live run measured: frames, wall time from the first frame, per-frame latency
//! (preprocess + encoder + adapter + head) and how often each class was predicted, and how
//! many frames were novel when the model scores novelty.

use std::time::Instant;

use serde_json::json;

use super::latency::{Latency, LatencyHistogram};
use crate::embed::classifier::Decision;

/// Weight of the newest frame in the FPS shown on the display.
const FPS_SMOOTHING: f64 = 0.1;

pub struct RunStats {
    first: Option<Instant>,
    last: Option<Instant>,
    latency: LatencyHistogram,
    class_counts: Vec<u64>,
    /// Frames scored for novelty, and of them those above the threshold.
    novelty_scored: u64,
    novel: u64,
    fps: f64,
}

impl RunStats {
    pub fn new(classes: usize) -> Self {
        RunStats {
            first: None,
            last: None,
            latency: LatencyHistogram::default(),
            class_counts: vec![0; classes],
            novelty_scored: 0,
            novel: 0,
            fps: 0.0,
        }
    }

    /// Starts the clock at the first frame, so opening the source is not counted as frame time.
    pub fn frame_arrived(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        if let Some(last) = self.last.replace(now) {
            let dt = now.duration_since(last).as_secs_f64();
            if dt > 0.0 {
                let instant = 1.0 / dt;
                self.fps = if self.fps == 0.0 {
                    instant
                } else {
                    self.fps + FPS_SMOOTHING * (instant - self.fps)
                };
            }
        }
    }

    pub fn record(&mut self, decision: &Decision) {
        self.latency.record(decision.latency.as_secs_f64() * 1e3);
        if let Some(n) = self.class_counts.get_mut(decision.class_id) {
            *n += 1;
        }
        if let Some(novel) = decision.novel {
            self.novelty_scored += 1;
            self.novel += u64::from(novel);
        }
    }

    /// `(novel frames, frames scored)`; `None` when no frame was scored for novelty.
    pub fn novel(&self) -> Option<(u64, u64)> {
        (self.novelty_scored > 0).then_some((self.novel, self.novelty_scored))
    }

    pub fn frames(&self) -> u64 {
        self.latency.count()
    }

    /// A smoothed frames-per-second for the display (0 before the second frame).
    pub fn live_fps(&self) -> f32 {
        self.fps as f32
    }

    /// Frames per second of wall time since the first frame arrived.
    pub fn seconds_and_fps(&self) -> (f64, f64) {
        let seconds = self.first.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let fps = if seconds > 0.0 {
            self.frames() as f64 / seconds
        } else {
            0.0
        };
        (seconds, fps)
    }

    pub fn latency(&self) -> Latency {
        self.latency.summary()
    }

    /// `{class name: frames}` for the classes that were predicted at least once.
    pub fn classes_json(&self, names: &[String]) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .predicted(names)
            .map(|(name, n)| (name.clone(), json!(n)))
            .collect();
        serde_json::Value::Object(map)
    }

    /// `T-shirt 512, Trouser 283`.
    pub fn classes_line(&self, names: &[String]) -> String {
        let parts: Vec<String> = self
            .predicted(names)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        parts.join(", ")
    }

    fn predicted<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = (&'a String, u64)> {
        names
            .iter()
            .zip(&self.class_counts)
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| (name, *n))
    }
}
