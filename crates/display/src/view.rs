//! What the screen shows: the latest prediction and how fast they arrive.
//!
//! The view owns no strings; it borrows the class name, so the device can draw straight from the
//! [`Prediction`] it just decoded without copying. A novel frame (one unlike anything the model
//! was fitted on, so its class is a guess) shows its class as `? name`.

use core::fmt::Write;

use edge_ssl_link::{Prediction, truncated};
use heapless::String;

/// One screenful of state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusView<'a> {
    pub class_name: &'a str,
    /// Probability of the shown class, clamped to [0, 1] when drawn.
    pub confidence: f32,
    /// Predictions per second, as measured by whoever draws.
    pub fps: f32,
    /// Frames seen so far.
    pub frames: u32,
    /// The frame is novel: the class is drawn as `? name`.
    pub novel: bool,
}

impl<'a> StatusView<'a> {
    pub fn new(class_name: &'a str, confidence: f32, fps: f32, frames: u32) -> Self {
        StatusView {
            class_name,
            confidence,
            fps,
            frames,
            novel: false,
        }
    }

    /// The same view, marked novel (or not).
    pub fn with_novel(mut self, novel: bool) -> Self {
        self.novel = novel;
        self
    }

    /// The view of a received prediction; `frames` is its frame index + 1 (frames seen).
    pub fn from_prediction(prediction: &'a Prediction, fps: f32) -> Self {
        StatusView::new(
            &prediction.class_name,
            prediction.confidence,
            fps,
            prediction.frame.saturating_add(1),
        )
        .with_novel(prediction.is_novel())
    }

    /// The class as drawn: `? name` for a novel frame, else the name (cut to 64 bytes; the
    /// panel cuts it further to what fits).
    pub fn class_label(&self) -> String<66> {
        let mut s = String::new();
        if self.novel {
            let _ = s.push_str("? ");
        }
        let _ = s.push_str(&truncated::<64>(self.class_name));
        s
    }

    /// Confidence in [0, 1]; NaN counts as 0 so a bad value draws an empty bar, not garbage.
    pub fn clamped_confidence(&self) -> f32 {
        if self.confidence.is_nan() {
            0.0
        } else {
            self.confidence.clamp(0.0, 1.0)
        }
    }

    /// "91%": whole percent, because a 128-pixel bar cannot show more.
    pub fn percent_label(&self) -> String<8> {
        let mut s = String::new();
        let _ = write!(s, "{}%", (self.clamped_confidence() * 100.0 + 0.5) as u32);
        s
    }

    /// "29.9 fps", or "-- fps" before the first measurement.
    pub fn fps_label(&self) -> String<16> {
        let mut s = String::new();
        if self.fps.is_finite() && self.fps > 0.0 {
            let tenths = (self.fps.min(9999.0) * 10.0 + 0.5) as u32;
            let _ = write!(s, "{}.{} fps", tenths / 10, tenths % 10);
        } else {
            let _ = s.push_str("-- fps");
        }
        s
    }

    /// "#1234".
    pub fn frames_label(&self) -> String<16> {
        let mut s = String::new();
        let _ = write!(s, "#{}", self.frames);
        s
    }
}

/// `text` cut to at most `max_chars` characters; a cut name ends in '~' so it is visibly cut.
pub fn fit_chars(text: &str, max_chars: usize) -> String<64> {
    let mut out = String::new();
    let count = text.chars().count();
    let keep = if count <= max_chars {
        count
    } else {
        max_chars.saturating_sub(1)
    };
    for c in text.chars().take(keep.min(out.capacity())) {
        // The fonts are ASCII; anything else would draw as '?' anyway.
        let _ = out.push(if c.is_ascii() && !c.is_ascii_control() {
            c
        } else {
            '?'
        });
    }
    if count > max_chars && max_chars > 0 {
        let _ = out.push('~');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let v = StatusView::new("bag", 0.914, 29.94, 12);
        assert_eq!(v.percent_label(), "91%");
        assert_eq!(v.fps_label(), "29.9 fps");
        assert_eq!(v.frames_label(), "#12");
        assert_eq!(StatusView::new("", f32::NAN, 0.0, 0).percent_label(), "0%");
        assert_eq!(
            StatusView::new("", 7.0, f32::INFINITY, 0).fps_label(),
            "-- fps"
        );
        assert_eq!(StatusView::new("", 7.0, 1.0, 0).percent_label(), "100%");
    }

    #[test]
    fn a_novel_frame_reads_question_mark_name() {
        let v = StatusView::new("bag", 0.5, 1.0, 1);
        assert_eq!(v.class_label(), "bag");
        assert_eq!(v.with_novel(true).class_label(), "? bag");
        let p =
            Prediction::new(0, 0, 1, "coat", 0.5, 1).with_novelty(Some(edge_ssl_link::Novelty {
                score: 2.0,
                novel: true,
            }));
        assert_eq!(StatusView::from_prediction(&p, 1.0).class_label(), "? coat");
        let p = p.with_novelty(None);
        assert_eq!(StatusView::from_prediction(&p, 1.0).class_label(), "coat");
    }

    #[test]
    fn fitting() {
        assert_eq!(fit_chars("sneaker", 10), "sneaker");
        assert_eq!(fit_chars("ankle boot!", 6), "ankle~");
        assert_eq!(fit_chars("crème", 10), "cr?me");
        assert_eq!(fit_chars("abc", 0), "");
    }
}
