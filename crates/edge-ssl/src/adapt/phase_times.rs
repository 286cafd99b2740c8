//! Wall seconds per phase of `adapt`, written into metrics.json and summed up on stderr, so a
//! slow run says where its time went.

use std::time::Instant;

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct PhaseTimes {
    /// Reading and decoding the frames (the listing). When BN statistics are re-estimated beside
    /// it, its frames wait for the BN pass, so this includes most of that pass.
    pub decode: f64,
    /// BN re-estimation (its forward passes) after the listing, or copying the encoder without
    /// it.
    pub bn: f64,
    /// Training the encoder's own weights: its paired cache (prefix activations) and epochs.
    pub encoder: f64,
    /// Building the view cache: rendering views and running the encoder on them, overlapped.
    pub views: f64,
    /// Of which rendering augmented views (on the producer thread, beside the encoder).
    pub render: f64,
    /// Epochs over the cache.
    pub train: f64,
    /// Embedding the frames un-augmented and fitting the novelty model.
    pub novelty: f64,
    /// The model directory.
    pub write: f64,
    pub total: f64,
}

/// Starts timing phases; [`PhaseClock::lap`] returns the seconds since the previous lap.
pub struct PhaseClock {
    started: Instant,
    last: Instant,
}

impl PhaseClock {
    pub fn start() -> Self {
        let now = Instant::now();
        PhaseClock {
            started: now,
            last: now,
        }
    }

    pub fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        self.last = now;
        seconds
    }

    pub fn total(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl PhaseTimes {
    /// One stderr line, e.g. `decode 0.4 s, BN 1.2 s, views 6.1 s (rendering 0.5 s beside the encoder), ...`.
    pub fn summary(&self) -> String {
        format!(
            "decode {:.1} s, BN {:.1} s, encoder training {:.1} s, views {:.1} s (rendering {:.1} s beside the encoder), training {:.1} s, novelty {:.1} s, writing {:.1} s",
            self.decode,
            self.bn,
            self.encoder,
            self.views,
            self.render,
            self.train,
            self.novelty,
            self.write
        )
    }
}
