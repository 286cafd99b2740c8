/// Keeps frames at most `fps` times per second of *source* time.
///
/// Due times sit on a fixed grid (`first + k / fps`) rather than `last kept + 1 / fps`, so the
/// kept rate is right on average even when it does not divide the source rate: 7 fps out of a
/// 30 fps video keeps 7 frames a second, not the 6 that "at least 1/7 s since the last" gives.
/// After a gap (a camera that stalled) the grid restarts instead of releasing a burst.
#[derive(Clone, Debug)]
pub struct FpsSampler {
    period: f64,
    next_due: Option<f64>,
}

impl FpsSampler {
    /// `fps` must be positive and finite ([`SourceOptions::validate`](crate::SourceOptions::validate)
    /// checks it).
    pub fn new(fps: f64) -> Self {
        FpsSampler {
            period: 1.0 / fps,
            next_due: None,
        }
    }

    /// Whether the frame at `timestamp` seconds is kept; call once per frame, in order.
    pub fn keep(&mut self, timestamp: f64) -> bool {
        // Timestamps such as index / 29.97 carry rounding error; a frame a hair early is on time.
        let slack = self.period * 1e-6;
        let keep = match self.next_due {
            None => true,
            Some(due) if timestamp + slack >= due => true,
            // The clock went backwards by more than a period (a camera restarted): start over.
            Some(due) if timestamp + 2.0 * self.period < due => true,
            Some(_) => false,
        };
        if keep {
            let on_grid = self.next_due.map(|due| due + self.period);
            self.next_due = Some(match on_grid {
                Some(next) if timestamp + slack >= next - self.period && timestamp < next => next,
                _ => timestamp + self.period,
            });
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(fps: f64, source_fps: f64, frames: u32) -> Vec<u32> {
        let mut s = FpsSampler::new(fps);
        (0..frames)
            .filter(|&i| s.keep(f64::from(i) / source_fps))
            .collect()
    }

    #[test]
    fn integer_ratio_keeps_every_nth_frame() {
        assert_eq!(kept(2.5, 10.0, 12), [0, 4, 8]);
        assert_eq!(kept(10.0, 10.0, 5), [0, 1, 2, 3, 4]);
        assert_eq!(kept(100.0, 10.0, 3), [0, 1, 2]);
    }

    #[test]
    fn average_rate_holds_for_non_integer_ratios() {
        // 7 of 30 fps over 10 s must keep 70 frames, not 60.
        assert_eq!(kept(7.0, 30.0, 300).len(), 70);
        assert_eq!(kept(10.0, 29.97, 2997).len(), 1000);
    }

    #[test]
    fn gaps_and_clock_resets_restart_the_grid() {
        let mut s = FpsSampler::new(1.0);
        let times = [0.0, 0.5, 1.0, 10.2, 10.7, 11.2, 0.1, 0.2, 1.1];
        let got: Vec<bool> = times.iter().map(|&t| s.keep(t)).collect();
        assert_eq!(
            got,
            [true, false, true, true, false, true, true, false, true]
        );
    }
}
