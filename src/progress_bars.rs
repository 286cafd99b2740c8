//! The library's progress events on a terminal: one bar per phase (drawn only when stderr is a
//! terminal, so pipes and logs stay clean), notes as plain stderr lines, losses in the bar's
//! prefix.

use std::io::IsTerminal;
use std::ops::ControlFlow;

use edge_ssl::progress::{Event, Progress};
use indicatif::{ProgressBar, ProgressStyle};

/// A [`Progress`] that draws bars and prints notes on stderr.
pub fn terminal() -> Progress {
    let draw = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    Progress::new(move |event: &Event| {
        match event {
            Event::Start { phase, total } if draw => {
                let b = ProgressBar::new(total.unwrap_or(0));
                b.set_style(style());
                b.set_message(phase.to_string());
                if let Some(old) = bar.replace(b) {
                    old.finish_and_clear();
                }
            }
            Event::Advance { done, .. } => {
                if let Some(b) = &bar {
                    b.set_position(*done);
                }
            }
            Event::Loss { step, loss, .. } => {
                if let Some(b) = &bar {
                    b.set_prefix(format!("step {step} loss {loss:.4}"));
                }
            }
            Event::Finish { .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
            }
            Event::Note(text) => match &bar {
                Some(b) => b.suspend(|| eprintln!("{text}")),
                None => eprintln!("{text}"),
            },
            _ => {}
        }
        ControlFlow::Continue(())
    })
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {prefix}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
