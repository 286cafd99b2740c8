//! Taking part in a federation: connect, then answer messages until told to stop.
//!
//! The loop pulls a message, fetches the run's details the first time it sees a run,
//! pulls and verifies the message's objects, confirms receipt, runs the [`FleetTask`],
//! pushes the reply, and goes on heartbeating. It notices a run's end by asking for the
//! run's status while idle, so `max_runs` can end a device's participation cleanly. When
//! the SuperLink goes away or forgets the node, it reconnects with exponential backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{FleetError, Result};
use crate::identity::NodeKey;
use crate::objects::inflate;
use crate::records::metrics::Metrics;
use crate::reply::{self, Reply};
use crate::session::{PullLimits, PushStats, Session};
use crate::task::FleetTask;
use crate::transport::{Limits, Security, Transport};

/// flwr's `HEARTBEAT_DEFAULT_INTERVAL` (the SuperLink accepts 10–1800 s).
pub const DEFAULT_HEARTBEAT_INTERVAL_S: f64 = 30.0;

/// How to join: where, as whom, and when to stop.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    superlink: String,
    security: Security,
    work_dir: PathBuf,
    max_runs: Option<usize>,
    poll_interval: Duration,
    heartbeat_interval_s: f64,
    reconnect_max_wait: Duration,
    limits: Limits,
    pull_limits: PullLimits,
    stop: Option<Arc<AtomicBool>>,
}

impl JoinOptions {
    /// Join the SuperLink at `superlink` (`host:port`), keeping the node key in `work_dir`.
    /// Plain HTTP until [`JoinOptions::with_security`] says otherwise.
    #[must_use]
    pub fn new(superlink: impl Into<String>, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            superlink: superlink.into(),
            security: Security::Insecure,
            work_dir: work_dir.into(),
            max_runs: None,
            poll_interval: Duration::from_secs(1),
            heartbeat_interval_s: DEFAULT_HEARTBEAT_INTERVAL_S,
            reconnect_max_wait: Duration::from_secs(300),
            limits: Limits::default(),
            pull_limits: PullLimits::default(),
            stop: None,
        }
    }

    /// TLS or not.
    #[must_use]
    pub fn with_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Leave after this many runs have finished (counted from runs this node worked in).
    #[must_use]
    pub fn with_max_runs(mut self, runs: usize) -> Self {
        self.max_runs = Some(runs);
        self
    }

    /// Time between polls when there is nothing to do.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The heartbeat interval announced to the SuperLink, in seconds.
    #[must_use]
    pub fn with_heartbeat_interval(mut self, seconds: f64) -> Self {
        self.heartbeat_interval_s = seconds;
        self
    }

    /// Give up reconnecting after the SuperLink has been unreachable this long.
    #[must_use]
    pub fn with_reconnect_max_wait(mut self, wait: Duration) -> Self {
        self.reconnect_max_wait = wait;
        self
    }

    /// Bounds on responses and requests.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Bounds on one message's objects.
    #[must_use]
    pub fn with_pull_limits(mut self, limits: PullLimits) -> Self {
        self.pull_limits = limits;
        self
    }

    /// A flag that, once set (e.g. by a Ctrl-C handler), makes the loop leave cleanly.
    #[must_use]
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The work directory.
    #[must_use]
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }
}

/// What happened, as it happens (the CLI prints these; libraries do not print).
#[derive(Debug, Clone, PartialEq)]
pub enum FleetEvent {
    /// Activated with this node id.
    Connected { node_id: u64 },
    /// The first message of a run arrived.
    RunStarted {
        run_id: u64,
        fab_id: String,
        fab_version: String,
    },
    /// A message and all its objects arrived, verified.
    Received {
        run_id: u64,
        message_type: String,
        group_id: String,
        objects: usize,
        bytes: u64,
    },
    /// The reply was pushed.
    Replied {
        run_id: u64,
        message_type: String,
        group_id: String,
        push: PushStats,
        task_seconds: f64,
        metrics: Metrics,
    },
    /// The task failed; an error reply was pushed.
    TaskFailed {
        run_id: u64,
        message_type: String,
        reason: String,
    },
    /// A message could not be received or answered; it was skipped.
    MessageFailed { reason: String },
    /// A run this node worked in has finished.
    RunFinished { run_id: u64 },
    /// The connection broke; retrying after `wait`.
    Reconnecting { reason: String, wait: Duration },
}

/// Totals of one `join`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinSummary {
    pub messages: usize,
    pub runs_finished: usize,
    pub bytes_pulled: u64,
    pub bytes_pushed: u64,
}

/// Joins the federation and answers messages with `task` until `max_runs` runs have
/// finished or the stop flag is set; then deactivates and unregisters.
pub fn join<T: FleetTask + ?Sized>(
    options: &JoinOptions,
    task: &mut T,
    on_event: &mut dyn FnMut(&FleetEvent),
) -> Result<JoinSummary> {
    let key = NodeKey::load_or_create(&options.work_dir)?;
    let transport = Transport::new(&options.superlink, &options.security, key, options.limits)?;
    let mut state = Loop::default();
    let mut backoff = Backoff::new(options.reconnect_max_wait);
    while !state.done(options) {
        match Session::connect(transport.clone(), options.heartbeat_interval_s) {
            Ok(session) => {
                backoff.reset();
                on_event(&FleetEvent::Connected {
                    node_id: session.node_id(),
                });
                let served = serve(&session, options, task, &mut state, on_event);
                let closed = session.close();
                match served {
                    Ok(()) => {
                        let _ = closed;
                        break;
                    }
                    Err(e) if retryable(&e) => backoff.wait(e, on_event)?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) if retryable(&e) => backoff.wait(e, on_event)?,
            Err(e) => return Err(e),
        }
    }
    Ok(state.summary)
}

#[derive(Default)]
struct Loop {
    summary: JoinSummary,
    /// Runs this node worked in that have not finished yet.
    active_runs: Vec<u64>,
    /// Runs seen (so `RunStarted` is told once).
    seen_runs: Vec<u64>,
}

impl Loop {
    fn done(&self, options: &JoinOptions) -> bool {
        options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
            || options
                .max_runs
                .is_some_and(|m| self.summary.runs_finished >= m)
    }
}

fn serve<T: FleetTask + ?Sized>(
    session: &Session,
    options: &JoinOptions,
    task: &mut T,
    state: &mut Loop,
    on_event: &mut dyn FnMut(&FleetEvent),
) -> Result<()> {
    let mut last_status_check = Instant::now();
    while !state.done(options) {
        if session.forgotten() {
            return Err(FleetError::NodeForgotten {
                node_id: session.node_id(),
            });
        }
        if let Some((message, tree)) = session.pull_message()? {
            match handle(session, options, task, state, message, tree, on_event) {
                Ok(()) => {}
                Err(e) if retryable(&e) => return Err(e),
                Err(e) => on_event(&FleetEvent::MessageFailed {
                    reason: e.to_string(),
                }),
            }
            continue;
        }
        if last_status_check.elapsed() >= options.poll_interval * 2 {
            last_status_check = Instant::now();
            check_finished_runs(session, state, on_event)?;
            if state.done(options) {
                break;
            }
        }
        std::thread::sleep(options.poll_interval);
    }
    Ok(())
}

fn check_finished_runs(
    session: &Session,
    state: &mut Loop,
    on_event: &mut dyn FnMut(&FleetEvent),
) -> Result<()> {
    let mut still = Vec::new();
    for run_id in std::mem::take(&mut state.active_runs) {
        let finished = match session.get_run(run_id) {
            Ok(run) => run.status.is_some_and(|s| s.status == "finished"),
            // A SuperLink that no longer serves the run (e.g. refuses with "not running")
            // has finished with it as far as this node is concerned.
            Err(FleetError::Status { status, .. }) if status < 500 => true,
            Err(e) => return Err(e),
        };
        if finished {
            state.summary.runs_finished += 1;
            on_event(&FleetEvent::RunFinished { run_id });
        } else {
            still.push(run_id);
        }
    }
    state.active_runs = still;
    Ok(())
}

fn handle<T: FleetTask + ?Sized>(
    session: &Session,
    options: &JoinOptions,
    task: &mut T,
    state: &mut Loop,
    message: crate::proto::Message,
    tree: crate::proto::ObjectTree,
    on_event: &mut dyn FnMut(&FleetEvent),
) -> Result<()> {
    let pulled = message.metadata.unwrap_or_default();
    let run_id = pulled.run_id;
    if tree.object_id != pulled.message_id {
        return Err(FleetError::MalformedObject {
            id: pulled.message_id,
            reason: "the object tree's root is not the message".into(),
        });
    }
    if !state.seen_runs.contains(&run_id) {
        let run = session.get_run(run_id)?;
        state.seen_runs.push(run_id);
        on_event(&FleetEvent::RunStarted {
            run_id,
            fab_id: run.fab_id,
            fab_version: run.fab_version,
        });
    }
    if !state.active_runs.contains(&run_id) {
        state.active_runs.push(run_id);
    }
    let objects = session.pull_objects(run_id, &tree, &options.pull_limits)?;
    let bytes: u64 = objects.values().map(|(_, c)| c.len() as u64).sum();
    let inflated = inflate::message(&pulled.message_id, &objects)?;
    drop(objects);
    session.confirm_received(run_id, &pulled.message_id)?;
    state.summary.bytes_pulled += bytes;
    let metadata = inflated.metadata;
    let message_type = metadata.message_type.clone();
    on_event(&FleetEvent::Received {
        run_id,
        message_type: message_type.clone(),
        group_id: metadata.group_id.clone(),
        objects: tree_len(&tree),
        bytes,
    });
    let content = inflated.content.unwrap_or_default();
    let arrays = content.arrays().cloned().unwrap_or_default();
    let config = content.config();
    let started = Instant::now();
    // "train" and "train.<action>" are both training (flwr's MessageType rules).
    let kind = message_type.split('.').next().unwrap_or_default();
    let outcome: std::result::Result<(Reply, Metrics), String> = match kind {
        "train" => task
            .train(&arrays, &config)
            .map(|(a, m)| (reply::content(&metadata, Some(&a), &m), m))
            .map_err(|e| e.to_string()),
        "evaluate" => task
            .evaluate(&arrays, &config)
            .map(|m| (reply::content(&metadata, None, &m), m))
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "message type {other:?} is not handled by this node"
        )),
    };
    let task_seconds = started.elapsed().as_secs_f64();
    let (reply, metrics) = match outcome {
        Ok((r, m)) => (r, Some(m)),
        Err(reason) => {
            on_event(&FleetEvent::TaskFailed {
                run_id,
                message_type: message_type.clone(),
                reason: reason.clone(),
            });
            (
                reply::error(&metadata, reply::ERROR_TASK_FAILED, &reason),
                None,
            )
        }
    };
    let push = session.push_reply(reply.message, reply.tree, &reply.objects, task_seconds)?;
    state.summary.messages += 1;
    state.summary.bytes_pushed += push.bytes;
    if let Some(metrics) = metrics {
        on_event(&FleetEvent::Replied {
            run_id,
            message_type,
            group_id: metadata.group_id,
            push,
            task_seconds,
            metrics,
        });
    }
    Ok(())
}

fn tree_len(tree: &crate::proto::ObjectTree) -> usize {
    1 + tree.children.iter().map(tree_len).sum::<usize>()
}

/// Errors that a reconnect may cure: the network, the SuperLink's 5xx, a forgotten node.
fn retryable(e: &FleetError) -> bool {
    match e {
        FleetError::Transport { .. } | FleetError::NodeForgotten { .. } => true,
        FleetError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

struct Backoff {
    next: Duration,
    since: Option<Instant>,
    max_total: Duration,
}

impl Backoff {
    fn new(max_total: Duration) -> Self {
        Self {
            next: Duration::from_millis(500),
            since: None,
            max_total,
        }
    }

    fn reset(&mut self) {
        self.next = Duration::from_millis(500);
        self.since = None;
    }

    fn wait(&mut self, error: FleetError, on_event: &mut dyn FnMut(&FleetEvent)) -> Result<()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.max_total {
            return Err(error);
        }
        on_event(&FleetEvent::Reconnecting {
            reason: error.to_string(),
            wait: self.next,
        });
        std::thread::sleep(self.next);
        self.next = (self.next * 2).min(Duration::from_secs(30));
        Ok(())
    }
}
