//! `POST /refit`: the caller's callback run on a thread of its own, one run at a time, its
//! progress in the shared state so `/status.json` and the page can show it. The server knows
//! nothing of heads or models: the callback gets the labels directory and returns a line to
//! show, or an error.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{PageError, Result};
use crate::state::LiveState;

/// What `POST /refit` calls, with the labels directory; `Ok` carries a line for the page.
pub type RefitFn =
    dyn Fn(&Path) -> std::result::Result<String, Box<dyn Error + Send + Sync>> + Send + Sync;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RefitState {
    #[default]
    Idle,
    Running,
    Done,
    Failed,
}

/// The latest refit, as `/status.json` shows it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RefitStatus {
    pub state: RefitState,
    /// Refits started so far.
    pub runs: u64,
    /// The callback's line, or its error with its causes.
    pub message: Option<String>,
    /// How long the last finished run took.
    pub seconds: Option<f64>,
}

/// Starts a refit unless one is running; `Ok(None)` when one is.
pub(crate) fn start(
    state: &Arc<LiveState>,
    callback: Arc<RefitFn>,
    labels_dir: PathBuf,
) -> Result<Option<u64>> {
    let Some(run) = state.begin_refit() else {
        return Ok(None);
    };
    let worker = state.clone();
    let spawned = std::thread::Builder::new()
        .name("page-refit".into())
        .spawn(move || {
            crate::priority::lower();
            let started = Instant::now();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&labels_dir)));
            let (state, message) = match outcome {
                Ok(Ok(line)) => (RefitState::Done, line),
                Ok(Err(e)) => (RefitState::Failed, chain(e.as_ref())),
                Err(_) => (RefitState::Failed, "the refit panicked".to_string()),
            };
            worker.set_refit(RefitStatus {
                state,
                runs: run,
                message: Some(message),
                seconds: Some(started.elapsed().as_secs_f64()),
            });
        });
    match spawned {
        Ok(_) => Ok(Some(run)),
        Err(source) => {
            state.set_refit(RefitStatus {
                state: RefitState::Failed,
                runs: run,
                message: Some("could not start the refit thread".into()),
                seconds: None,
            });
            Err(PageError::Spawn {
                what: "refit",
                source,
            })
        }
    }
}

/// `error: cause: cause`, the way a person wants to read it on the page.
pub(crate) fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !out.ends_with(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        next = s.source();
    }
    out
}
