use serde::{Deserialize, Serialize};

/// Linear warmup from ~0 to `base_lr`, then cosine decay to `base_lr · final_ratio`.
///
/// Warmup matters here more than usual: the adapter's `W2` starts at 0, and a full-size first
/// Adam step on a freshly initialized projector can push the adapter far from the identity
/// before the loss has had a chance to say where to go.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub base_lr: f32,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub final_ratio: f32,
}

impl Schedule {
    pub fn new(base_lr: f32, warmup_steps: u64, total_steps: u64) -> Self {
        Schedule {
            base_lr,
            warmup_steps,
            total_steps,
            final_ratio: 0.01,
        }
    }

    pub fn with_final_ratio(mut self, ratio: f32) -> Self {
        self.final_ratio = ratio;
        self
    }

    /// Learning rate for the 0-based `step`.
    pub fn lr(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let floor = self.final_ratio as f64;
        (self.base_lr as f64 * (floor + (1.0 - floor) * cosine)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_peaks_and_decays() {
        let s = Schedule::new(1.0, 10, 110);
        assert!((s.lr(0) - 0.1).abs() < 1e-6);
        assert_eq!(s.lr(9), 1.0);
        assert_eq!(s.lr(10), 1.0);
        assert!((s.lr(60) - 0.505).abs() < 1e-3);
        assert!((s.lr(110) - 0.01).abs() < 1e-6);
        assert!((s.lr(10_000) - 0.01).abs() < 1e-6);
        let lrs: Vec<f32> = (10..110).map(|t| s.lr(t)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]));
    }
}
