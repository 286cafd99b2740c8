//! The library's progress events on a terminal: one bar per phase (drawn only when stderr is a
//! terminal, so pipes and logs stay clean), notes as plain stderr lines, losses in the bar's
//! prefix.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::{Mutex, Once};
use std::time::Duration;

use edge_ssl::progress::{Event, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::live::interrupt;

/// A [`Progress`] that draws bars and prints notes on stderr, and that Ctrl-C (SIGINT) or
/// SIGTERM cancels: the library stops at its next step with `Error::Cancelled`, leaving what it
/// had committed (an `adapt` work directory keeps its checkpoint; a previous model is not
/// replaced), and `main` exits 130 with one line. A second signal exits at once.
pub fn terminal() -> Progress {
    let progress = bars();
    cancel_on_interrupt(&progress);
    progress
}

/// A [`Progress`] for a long-running service (`fleet join`): no bars, each note one stderr line
/// (a `{"event":"note","text":…}` object with `json`); Ctrl-C or SIGTERM cancels it as
/// [`terminal`]'s.
#[cfg(feature = "fleet")]
pub fn notes(json: bool) -> Progress {
    let progress = Progress::new(move |event: &Event| {
        match event {
            Event::Note(text) if json => {
                eprintln!("{}", serde_json::json!({"event": "note", "text": text}))
            }
            Event::Note(text) => eprintln!("{text}"),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    cancel_on_interrupt(&progress);
    progress
}

/// Every [`Progress`] a signal cancels. A handler may only store to an atomic, so a watcher
/// thread turns the flag [`interrupt`] sets into `Progress::cancel` calls.
static WATCHED: Mutex<Vec<Progress>> = Mutex::new(Vec::new());

fn cancel_on_interrupt(progress: &Progress) {
    static WATCHER: Once = Once::new();
    WATCHER.call_once(|| {
        // Without a handler the default action still ends the process; nothing is lost but
        // the clean exit, so a failure to install one is not an error.
        if interrupt::install().is_err() {
            return;
        }
        std::thread::spawn(|| {
            while !interrupt::requested() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(watched) = WATCHED.lock() {
                watched.iter().for_each(Progress::cancel);
            }
        });
    });
    if let Ok(mut watched) = WATCHED.lock() {
        watched.push(progress.clone());
    }
    if interrupt::requested() {
        progress.cancel();
    }
}

fn bars() -> Progress {
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
