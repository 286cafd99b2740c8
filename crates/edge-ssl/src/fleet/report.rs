//! What a SuperNode's events say, once as a JSON object and once as a line of text, so every
//! front end (the CLI's `--json` and text modes, a device log) reports a federation the same way.

use std::path::Path;

use edge_ssl_fleet::{FleetEvent, JoinSummary, MetricValue, Metrics};
use serde_json::json;

use crate::novelty::NoveltyOutcome;

/// A report: the JSON object and the line of text that say the same thing.
pub type Report = (serde_json::Value, String);

/// The node is ready: its frames embedded, its labeled images read.
pub fn ready(frames: usize, labeled: usize) -> Report {
    (
        json!({"event": "ready", "frames": frames, "labeled": labeled}),
        format!("ready: {frames} frames embedded, {labeled} labeled images"),
    )
}

/// One event of [`edge_ssl_fleet::join()`].
pub fn event(e: &FleetEvent) -> Report {
    match e {
        FleetEvent::Connected { node_id } => (
            json!({"event": "connected", "node_id": node_id}),
            format!("connected as node {node_id}"),
        ),
        FleetEvent::RunStarted {
            run_id,
            fab_id,
            fab_version,
        } => (
            json!({"event": "run_started", "run_id": run_id, "fab_id": fab_id, "fab_version": fab_version}),
            format!("run {run_id}: started ({fab_id} {fab_version})"),
        ),
        FleetEvent::Received {
            run_id,
            message_type,
            group_id,
            objects,
            bytes,
        } => (
            json!({"event": "received", "run_id": run_id, "message_type": message_type,
                   "group_id": group_id, "objects": objects, "bytes": bytes}),
            format!(
                "run {run_id}: {message_type} message{} ({objects} objects, {bytes} bytes)",
                group(group_id)
            ),
        ),
        FleetEvent::Replied {
            run_id,
            message_type,
            group_id,
            push,
            task_seconds,
            metrics,
        } => (
            json!({"event": "replied", "run_id": run_id, "message_type": message_type,
                   "group_id": group_id, "objects": push.objects, "bytes": push.bytes,
                   "task_seconds": task_seconds, "metrics": metrics_json(metrics)}),
            format!(
                "run {run_id}: {message_type} reply{} after {task_seconds:.1} s ({} bytes): {}",
                group(group_id),
                push.bytes,
                metrics_text(metrics)
            ),
        ),
        FleetEvent::TaskFailed {
            run_id,
            message_type,
            reason,
        } => (
            json!({"event": "task_failed", "run_id": run_id, "message_type": message_type, "reason": reason}),
            format!("run {run_id}: {message_type} failed: {reason}"),
        ),
        FleetEvent::MessageFailed { reason } => (
            json!({"event": "message_failed", "reason": reason}),
            format!("a message was skipped: {reason}"),
        ),
        FleetEvent::RunFinished { run_id } => (
            json!({"event": "run_finished", "run_id": run_id}),
            format!("run {run_id}: finished"),
        ),
        FleetEvent::Reconnecting { reason, wait } => (
            json!({"event": "reconnecting", "reason": reason, "wait_s": wait.as_secs_f64()}),
            format!("reconnecting in {:.1} s: {reason}", wait.as_secs_f64()),
        ),
    }
}

/// The node left the federation; `model` is the last global model it wrote, `novelty` what
/// became of the novelty model fitted behind it.
pub fn left(s: &JoinSummary, model: Option<&Path>, novelty: &NoveltyOutcome) -> Report {
    let model = model.map(|p| p.display().to_string());
    (
        json!({"event": "left", "messages": s.messages, "runs_finished": s.runs_finished,
               "bytes_pulled": s.bytes_pulled, "bytes_pushed": s.bytes_pushed,
               "global_model": model, "novelty": novelty}),
        format!(
            "left: {} messages, {} runs, {} bytes pulled, {} pushed; global model: {}; {}",
            s.messages,
            s.runs_finished,
            s.bytes_pulled,
            s.bytes_pushed,
            model.as_deref().unwrap_or("none received"),
            novelty.line()
        ),
    )
}

/// FedAvg leaves a message's group empty; other strategies name the round there.
fn group(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" (group {id})")
    }
}

fn metric_json(v: &MetricValue) -> serde_json::Value {
    match v {
        MetricValue::Double(x) => json!(x),
        MetricValue::Int(x) => json!(x),
        MetricValue::Uint(x) => json!(x),
        MetricValue::DoubleList(x) => json!(x),
        MetricValue::IntList(x) => json!(x),
        MetricValue::UintList(x) => json!(x),
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    m.iter()
        .map(|(k, v)| (k.to_owned(), metric_json(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn metrics_text(m: &Metrics) -> String {
    m.iter()
        .map(|(k, v)| match v {
            MetricValue::Double(x) => format!("{k}={x:.4}"),
            other => format!("{k}={}", metric_json(other)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
