//! The one object the inference loop and the server share. The loop's side never waits on the
//! server: every critical section on either side is a few field updates or pointer copies (no
//! I/O, no encoding, no allocation that grows with the run), so `publish` costs microseconds
//! whatever the browsers do. Readers wait on a condition variable for the next change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::prediction::{FrameRecord, Prediction};
use crate::recent::Recent;
use crate::refit::RefitStatus;
use crate::series::Series;
use crate::snapshot::{Shown, Snapshot};

/// Distinct class names counted; a head has far fewer, but a name is caller data.
const MAX_CLASSES: usize = 256;
/// Frames the strip holds (and that can be labeled).
pub const RECENT: usize = 12;

/// Shared state of a live run; wrap it in an `Arc` and give one clone to the server.
#[derive(Debug)]
pub struct LiveState {
    inner: Mutex<Inner>,
    changed: Condvar,
    started: Instant,
    token_required: AtomicBool,
}

#[derive(Debug)]
struct Inner {
    seq: u64,
    frames: u64,
    last: Option<Prediction>,
    classes: BTreeMap<String, u64>,
    known: Vec<String>,
    series: Series,
    recent: Recent,
    dropped: u64,
    labels: BTreeMap<String, u64>,
    refit: RefitStatus,
}

impl LiveState {
    /// `classes`: the head's class names (offered first when labeling).
    pub fn new(classes: &[String]) -> Self {
        LiveState {
            inner: Mutex::new(Inner {
                seq: 0,
                frames: 0,
                last: None,
                classes: BTreeMap::new(),
                known: classes.iter().take(MAX_CLASSES).cloned().collect(),
                series: Series::default(),
                recent: Recent::new(RECENT),
                dropped: 0,
                labels: BTreeMap::new(),
                refit: RefitStatus::default(),
            }),
            changed: Condvar::new(),
            started: Instant::now(),
            token_required: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the page (or the loop) down with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Inner)) {
        {
            let mut inner = self.lock();
            f(&mut inner);
            inner.seq += 1;
        }
        self.changed.notify_all();
    }

    /// Records one frame's decision (counts, fps, latency, the current class).
    pub fn publish(&self, p: Prediction) {
        let second = self.started.elapsed().as_secs();
        self.update(|s| {
            s.frames += 1;
            s.series.record(second, p.latency.as_secs_f32() * 1e3);
            let n = s.classes.len();
            match s.classes.get_mut(&p.class) {
                Some(c) => *c += 1,
                None if n < MAX_CLASSES => {
                    s.classes.insert(p.class.clone(), 1);
                }
                None => {}
            }
            if s.last.as_ref().is_none_or(|l| l.frame <= p.frame) {
                s.last = Some(p);
            }
        });
    }

    /// Adds a frame's JPEG to the strip (and makes it the one `/frame.jpg` serves).
    pub fn put_frame(&self, record: FrameRecord) {
        self.update(|s| s.recent.push(record));
    }

    /// Counts a frame the page did not keep an image of (the encoder was busy or rate-limited).
    pub fn note_dropped(&self) {
        let mut inner = self.lock();
        inner.dropped += 1;
    }

    /// Replaces the class names offered for labeling (after a refit changed the head).
    pub fn set_class_names(&self, classes: &[String]) {
        self.update(|s| s.known = classes.iter().take(MAX_CLASSES).cloned().collect());
    }

    pub(crate) fn set_token_required(&self, yes: bool) {
        self.token_required.store(yes, Ordering::Relaxed);
    }

    pub(crate) fn set_labels(&self, labels: BTreeMap<String, u64>) {
        self.update(|s| s.labels = labels);
    }

    pub(crate) fn label_saved(&self, class: &str, replaced_in: Option<&str>) {
        self.update(|s| {
            if let Some(old) = replaced_in.and_then(|c| s.labels.get_mut(c)) {
                *old = old.saturating_sub(1);
            }
            *s.labels.entry(class.to_string()).or_insert(0) += 1;
            if !s.known.iter().any(|k| k == class) && s.known.len() < MAX_CLASSES {
                s.known.push(class.to_string());
            }
        });
    }

    pub(crate) fn set_refit(&self, status: RefitStatus) {
        self.update(|s| s.refit = status);
    }

    /// The frame `n` if the page still holds it.
    pub fn frame(&self, n: u64) -> Option<Arc<FrameRecord>> {
        self.lock().recent.get(n)
    }

    /// The newest frame the page holds.
    pub fn newest_frame(&self) -> Option<Arc<FrameRecord>> {
        self.lock().recent.newest()
    }

    /// Frames published so far.
    pub fn frames(&self) -> u64 {
        self.lock().frames
    }

    /// A change counter: it grows with every update.
    pub fn version(&self) -> u64 {
        self.lock().seq
    }

    /// Waits until the state changes past `seen` or `timeout` passes; returns the new version.
    pub fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| s.seq <= seen)
            .unwrap_or_else(PoisonError::into_inner);
        guard.seq
    }

    /// Everything `/status.json` and the event stream say, copied out under the lock.
    pub fn snapshot(&self) -> Snapshot {
        let uptime = self.started.elapsed();
        let mut s = self.lock();
        s.series.roll(uptime.as_secs());
        let last_bucket = s.series.last();
        Snapshot {
            version: s.seq,
            uptime_s: uptime.as_secs_f64(),
            frames: s.frames,
            last: s.last.as_ref().map(Shown::from),
            image: s.recent.newest().map(|r| Shown::from(&r.prediction)),
            recent: s
                .recent
                .iter()
                .map(|r| Shown::from(&r.prediction))
                .collect(),
            fps: last_bucket.map_or(0, |b| b.fps),
            latency_ms: last_bucket.map(|b| [b.p50, b.p90, b.p99]),
            series: s.series.buckets(),
            classes: s.classes.clone(),
            known_classes: s.known.clone(),
            labels: s.labels.clone(),
            dropped_frames: s.dropped,
            refit: s.refit.clone(),
            token_required: self.token_required.load(Ordering::Relaxed),
        }
    }
}

impl LiveState {
    /// Marks a refit as running and returns its number, unless one already is.
    pub(crate) fn begin_refit(&self) -> Option<u64> {
        let run = {
            let mut s = self.lock();
            if s.refit.state == crate::refit::RefitState::Running {
                return None;
            }
            s.refit = RefitStatus {
                state: crate::refit::RefitState::Running,
                runs: s.refit.runs + 1,
                message: None,
                seconds: None,
            };
            s.seq += 1;
            s.refit.runs
        };
        self.changed.notify_all();
        Some(run)
    }
}
