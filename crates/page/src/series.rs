//! Frames per second and latency percentiles over time: one bucket per wall-clock second since
//! the server started, the last [`KEEP`] of them. A bucket's percentiles are computed once, when
//! it closes, from at most [`SAMPLES`] latencies, so memory and the work under the state's lock
//! stay bounded however fast the model runs.

use std::collections::VecDeque;

/// Seconds of history the page can draw.
pub const KEEP: usize = 120;
/// Latencies kept per second for its percentiles; past that only the frame count grows.
const SAMPLES: usize = 1024;

/// One closed second.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Bucket {
    /// Seconds since the server started.
    pub t: u64,
    /// Frames in that second.
    pub fps: u32,
    pub p50: f32,
    pub p90: f32,
    pub p99: f32,
}

#[derive(Debug, Default)]
pub(crate) struct Series {
    closed: VecDeque<Bucket>,
    second: u64,
    frames: u32,
    samples: Vec<f32>,
}

impl Series {
    pub(crate) fn record(&mut self, second: u64, latency_ms: f32) {
        self.roll(second);
        self.frames = self.frames.saturating_add(1);
        if self.samples.len() < SAMPLES && latency_ms.is_finite() {
            self.samples.push(latency_ms);
        }
    }

    /// Closes the buckets before `second` (empty seconds count as 0 fps).
    pub(crate) fn roll(&mut self, second: u64) {
        if second <= self.second {
            return;
        }
        let gap = second - self.second;
        self.close();
        // Seconds with no frame at all: shown as 0 fps, at most a window's worth.
        for t in (self.second + 1..second).skip((gap as usize).saturating_sub(KEEP + 1)) {
            self.push(Bucket {
                t,
                fps: 0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
            });
        }
        self.second = second;
    }

    fn close(&mut self) {
        if self.frames == 0 {
            self.push(Bucket {
                t: self.second,
                fps: 0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
            });
            return;
        }
        self.samples.sort_unstable_by(f32::total_cmp);
        let at = |q: f32| {
            let n = self.samples.len();
            if n == 0 {
                return 0.0;
            }
            let rank = ((q * n as f32).ceil() as usize).clamp(1, n);
            self.samples[rank - 1]
        };
        let bucket = Bucket {
            t: self.second,
            fps: self.frames,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
        };
        self.push(bucket);
        self.frames = 0;
        self.samples.clear();
    }

    fn push(&mut self, b: Bucket) {
        if self.closed.len() == KEEP {
            self.closed.pop_front();
        }
        self.closed.push_back(b);
    }

    /// The closed seconds, oldest first.
    pub(crate) fn buckets(&self) -> Vec<Bucket> {
        self.closed.iter().copied().collect()
    }

    pub(crate) fn last(&self) -> Option<Bucket> {
        self.closed.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_gaps() {
        let mut s = Series::default();
        for i in 1..=100 {
            s.record(0, i as f32);
        }
        s.record(3, 5.0);
        let b = s.buckets();
        assert_eq!(b.len(), 3, "{b:?}");
        assert_eq!(
            (b[0].t, b[0].fps, b[0].p50, b[0].p90, b[0].p99),
            (0, 100, 50.0, 90.0, 99.0)
        );
        assert_eq!((b[1].fps, b[2].fps), (0, 0));
        s.roll(1_000_000);
        assert_eq!(s.buckets().len(), KEEP);
        assert_eq!(s.last().unwrap().t, 999_999);
    }
}
