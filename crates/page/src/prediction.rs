//! What the inference loop hands the page for each frame.

use std::sync::Arc;
use std::time::Duration;

/// One frame's decision, as the loop saw it.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// The frame's number in the run (it names the frame in `/recent/<n>.jpg` and labels).
    pub frame: u64,
    pub class: String,
    pub confidence: f32,
    /// A novelty score when the model has one.
    pub novelty: Option<f32>,
    /// Whether that score is past the model's threshold.
    pub novel: Option<bool>,
    /// Preprocessing + model time for this frame.
    pub latency: Duration,
}

/// A frame the page holds as JPEG, with the decision it got.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    pub prediction: Prediction,
    pub jpeg: Arc<[u8]>,
}
