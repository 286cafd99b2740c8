//! `run`'s one-line live status on a terminal: frames so far, frames per second, the last class
//! and its confidence (and the novel frames when the model scores novelty), redrawn in place a
//! few times a second. Drawn only when stderr is a terminal and `--json` is off, so pipes, logs
//! and the journal get the summary alone.

use std::io::IsTerminal;
use std::time::Duration;

use edge_ssl::embed::classifier::Decision;
use edge_ssl::live::run_stats::RunStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Redraws per second: enough to watch, little enough to cost nothing beside inference.
const HZ: u8 = 4;

pub struct StatusLine(Option<ProgressBar>);

impl StatusLine {
    /// A status line on stderr when `wanted` and stderr is a terminal; otherwise one that
    /// draws nothing.
    pub fn new(wanted: bool) -> Self {
        if !(wanted && std::io::stderr().is_terminal()) {
            return StatusLine(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(HZ));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg}") {
            bar.set_style(style);
        }
        bar.set_message("waiting for the first frame");
        bar.enable_steady_tick(Duration::from_millis(1000 / u64::from(HZ)));
        StatusLine(Some(bar))
    }

    /// The status after `decision` on a frame of class `name`.
    pub fn update(&self, stats: &RunStats, name: &str, decision: &Decision) {
        let Some(bar) = &self.0 else { return };
        let mut line = format!(
            "{} frames · {:.1} fps · {name} {:.2}",
            stats.frames(),
            stats.live_fps(),
            decision.confidence
        );
        if decision.novel == Some(true) {
            line.push_str(" (novel)");
        }
        if let Some((novel, of)) = stats.novel() {
            line.push_str(&format!(" · novel {novel}/{of}"));
        }
        bar.set_message(line);
    }

    /// Clears the line, so the summary starts on a clean one.
    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
