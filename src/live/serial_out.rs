//! `run --serial TTY`: one Prediction per frame to a microcontroller, through
//! [`SerialLink`], which never fails after the first open — an unplugged device costs the
//! frames sent while it is away (counted as dropped), not the run.
//!
//! Each Prediction carries the decision's novelty score and flag, or none for a model without a
//! novelty model. A device whose firmware speaks another link protocol version is refused by
//! the link (said once on stderr, naming both versions); its frames read `"serial": "refused"`.
//!
//! Sends do not wait for Acks by default: a device that stops answering must not slow the
//! camera loop to its ack timeout. Acks are read as they arrive and drained at the end, so the
//! summary's `acked` is exact for a device that keeps up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use edge_ssl_firmware_host::{LinkEvent, LinkOptions, Novelty, SendOutcome, SerialLink};
use serde_json::json;

use edge_ssl::embed::classifier::Decision;

/// How long the end of a run waits for the last Acks (only while some are outstanding; a
/// device on a loaded host can take a while to answer).
const FINAL_DRAIN: Duration = Duration::from_millis(1500);

pub struct SerialOut {
    link: SerialLink,
}

impl SerialOut {
    /// Opens `path` now: a device missing at start-up is more likely a typo than a pulled cable.
    pub fn open(path: &Path, ack_timeout: Duration) -> anyhow::Result<Self> {
        let options = LinkOptions::default().with_ack_timeout(ack_timeout);
        let link = SerialLink::open(path, options)
            .with_context(|| format!("--serial {}", path.display()))?;
        Ok(SerialOut { link })
    }

    pub fn send(&mut self, frame: u64, decision: &Decision, class_name: &str) -> SendOutcome {
        let novelty = decision
            .novelty
            .zip(decision.novel)
            .map(|(score, novel)| Novelty { score, novel });
        let outcome = self.link.send_prediction(
            u32::try_from(frame).unwrap_or(u32::MAX),
            u16::try_from(decision.class_id).unwrap_or(u16::MAX),
            class_name,
            decision.confidence,
            novelty,
            decision.latency,
        );
        self.report_events();
        outcome
    }

    /// Prints connection changes on stderr as they happen.
    fn report_events(&mut self) {
        for event in self.link.drain_events() {
            let path = self.link.path().display();
            match event {
                LinkEvent::Connected => eprintln!("serial {path}: connected"),
                LinkEvent::Disconnected { reason } => {
                    eprintln!("serial {path}: disconnected ({reason}); retrying in the background")
                }
                LinkEvent::VersionMismatch { device, mismatch } => eprintln!(
                    "serial {path}: device {device:?} speaks link protocol version {}, this \
                     host version {}; not sending it predictions (update its firmware)",
                    mismatch.theirs, mismatch.ours
                ),
            }
        }
    }

    /// Waits briefly for outstanding Acks and returns the link's counters as JSON.
    pub fn finish(mut self) -> SerialSummary {
        self.link.drain(FINAL_DRAIN);
        self.report_events();
        let s = self.link.stats();
        SerialSummary {
            path: self.link.path().to_path_buf(),
            json: json!({
                "path": self.link.path(), "sent": s.sent, "acked": s.acked,
                "dropped": s.skipped, "refused": s.refused, "ack_timeouts": s.ack_timeouts, "late_acks": s.late_acks,
                "device_errors": s.device_errors, "disconnects": s.disconnects,
                "reconnects": s.reconnects, "rx_frames": s.rx.frames,
                "rx_dropped": s.rx.dropped.total(),
            }),
        }
    }
}

pub struct SerialSummary {
    pub path: PathBuf,
    pub json: serde_json::Value,
}

impl SerialSummary {
    /// `serial /dev/ttyACM0: 795 sent, 795 acked, 0 dropped, 0 reconnects`, and `, N refused
    /// (device firmware of another protocol version)` when some were.
    pub fn line(&self) -> String {
        let n = |k: &str| self.json[k].as_u64().unwrap_or(0);
        let refused = match n("refused") {
            0 => String::new(),
            r => format!(", {r} refused (device firmware of another protocol version)"),
        };
        format!(
            "serial {}: {} sent, {} acked, {} dropped, {} reconnects{refused}",
            self.path.display(),
            n("sent"),
            n("acked"),
            n("dropped"),
            n("reconnects")
        )
    }
}

/// The word a frame's JSON line uses for what happened to its Prediction.
pub fn outcome_name(outcome: SendOutcome) -> &'static str {
    match outcome {
        SendOutcome::Acked => "acked",
        SendOutcome::Sent => "sent",
        SendOutcome::Disconnected => "dropped",
        SendOutcome::Refused => "refused",
    }
}
