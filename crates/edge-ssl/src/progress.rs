//! How long library calls report what they are doing, and how a caller stops them.
//!
//! The library never prints. Work that takes more than a moment (decoding frames, BN statistics,
//! embedding views, training) announces phases and advances them through a [`Progress`]; a
//! caller turns the [`Event`]s into progress bars, log lines or nothing. The callback may return
//! [`ControlFlow::Break`] to cancel, and any thread (a signal handler's) may call
//! [`Progress::cancel`]: the work then stops at its next step with [`Error::Cancelled`], leaving
//! what it had already committed (an `adapt` work directory resumes from its last checkpoint).
//!
//! ```
//! use std::ops::ControlFlow;
//! use edge_ssl::progress::{Event, Progress};
//!
//! let progress = Progress::new(|event: &Event| {
//!     if let Event::Advance { phase, done, total } = event {
//!         eprintln!("{phase}: {done}/{}", total.unwrap_or(0));
//!     }
//!     ControlFlow::Continue(())
//! });
//! let mut phase = progress.phase("decoding", Some(3));
//! for _ in 0..3 {
//!     phase.advance(1).unwrap();
//! }
//! phase.finish();
//! ```

use std::fmt::Display;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::Error;

/// Something a long call reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A phase began (`"decoding"`, `"BN statistics"`, `"views"`, `"adapting"`…), with the
    /// number of units it will take when known.
    Start { phase: &'a str, total: Option<u64> },
    /// `done` units of `phase` are done.
    Advance {
        phase: &'a str,
        done: u64,
        total: Option<u64>,
    },
    /// A training step finished with this loss.
    Loss {
        phase: &'a str,
        step: u64,
        loss: f32,
    },
    /// The phase ended.
    Finish { phase: &'a str },
    /// A line a user should see (a provider fallback, skipped files, resuming, a summary).
    Note(&'a str),
}

type Sink = dyn FnMut(&Event) -> ControlFlow<()> + Send;

/// Where a call's [`Event`]s go; cheap to clone and to share with worker threads.
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<Arc<Mutex<Sink>>>,
    cancelled: Arc<AtomicBool>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("observed", &self.sink.is_some())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Progress {
    /// Reports nothing; still cancellable through [`Progress::cancel`].
    pub fn silent() -> Self {
        Self::default()
    }

    /// Sends every event to `sink`; a `Break` from it cancels the work.
    pub fn new(sink: impl FnMut(&Event) -> ControlFlow<()> + Send + 'static) -> Self {
        Progress {
            sink: Some(Arc::new(Mutex::new(sink))),
            cancelled: Arc::default(),
        }
    }

    /// Asks the work to stop at its next step (from any thread).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// The flag [`Progress::cancel`] sets, for an API that takes a stop flag of its own (the
    /// Flower client's `JoinOptions::with_stop_flag`).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    /// Whether the work was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// `Err(Error::Cancelled)` once cancelled.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports `event`; a `Break` from the sink cancels.
    pub fn emit(&self, event: &Event) {
        if let Some(sink) = &self.sink {
            // A sink that panicked once is not called again; the work goes on unobserved.
            if let Ok(mut sink) = sink.lock()
                && sink(event).is_break()
            {
                self.cancel();
            }
        }
    }

    /// Reports a line for the user.
    pub fn note(&self, text: impl Display) {
        if self.sink.is_some() {
            self.emit(&Event::Note(&text.to_string()));
        }
    }

    /// Starts a phase of `total` units (when known).
    pub fn phase(&self, name: &'static str, total: Option<u64>) -> Phase {
        self.emit(&Event::Start { phase: name, total });
        Phase {
            progress: self.clone(),
            name,
            done: 0,
            total,
            finished: false,
        }
    }
}

/// One running phase; reports `Finish` when finished or dropped.
#[derive(Debug)]
pub struct Phase {
    progress: Progress,
    name: &'static str,
    done: u64,
    total: Option<u64>,
    finished: bool,
}

impl Phase {
    /// `n` more units are done; `Err(Error::Cancelled)` when the caller asked to stop.
    pub fn advance(&mut self, n: u64) -> crate::Result<()> {
        self.done += n;
        self.progress.emit(&Event::Advance {
            phase: self.name,
            done: self.done,
            total: self.total,
        });
        self.progress.check()
    }

    /// Reports a training step's loss.
    pub fn loss(&self, step: u64, loss: f32) {
        self.progress.emit(&Event::Loss {
            phase: self.name,
            step,
            loss,
        });
    }

    /// A trainer's step callback: reports the loss of the step that made `steps_done` steps,
    /// advances the phase to it (a resumed trainer starts past zero), and says whether to go on
    /// (`Break` once the caller cancelled).
    pub fn training_step(&mut self, steps_done: u64, loss: f32) -> std::ops::ControlFlow<()> {
        self.loss(steps_done, loss);
        match self.advance(steps_done.saturating_sub(self.done)) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(_) => std::ops::ControlFlow::Break(()),
        }
    }

    /// The units done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the phase.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if !self.finished {
            self.finished = true;
            self.progress.emit(&Event::Finish { phase: self.name });
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_from_the_sink_cancels_at_the_next_advance() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let progress = Progress::new(move |e: &Event| {
            let mut log = log.lock().unwrap();
            log.push(format!("{e:?}"));
            if matches!(e, Event::Advance { done: 2, .. }) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let mut phase = progress.phase("decoding", Some(5));
        assert!(phase.advance(1).is_ok());
        let err = phase.advance(1).unwrap_err();
        assert!(err.is_cancelled());
        drop(phase);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen[3].starts_with("Finish"), "{seen:?}");
    }

    #[test]
    fn cancel_from_another_thread_is_seen() {
        let progress = Progress::silent();
        let other = progress.clone();
        std::thread::spawn(move || other.cancel()).join().unwrap();
        assert!(progress.check().unwrap_err().is_cancelled());
    }
}
