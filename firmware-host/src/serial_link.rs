//! The host end of the link: sends Predictions, reads Acks, and survives the device going away.
//!
//! A camera pipeline must not stop because a cable was pulled. So after the first open nothing
//! here returns an error: a failed write or read closes the port, the state becomes
//! [`LinkState::Disconnected`], predictions are counted as skipped, and every
//! `reconnect_interval` the next call tries to open the path again. State changes are queued as
//! [`LinkEvent`]s for the caller to print.
//!
//! A device whose Hello announces another protocol version would drop every Prediction (or,
//! were it careless, misread them), so from that Hello on predictions are refused — counted,
//! not written — and a [`LinkEvent::VersionMismatch`] names both versions. Reopening the port
//! forgets the old Hello, so a device re-flashed and plugged back in is used again.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_ssl_link::{
    Decoder, Hello, MAX_FRAME_LEN, MAX_PAYLOAD, Message, Novelty, Prediction, Role,
    VersionMismatch, encode,
};
use serialport::SerialPort;

use crate::error::LinkError;
use crate::options::LinkOptions;
use crate::state::{LinkEvent, LinkState, LinkStats, SendOutcome};

/// How many unacknowledged sequence numbers are remembered to recognise late Acks.
const PENDING_CAP: usize = 256;
/// Longest single blocking read, so a wait for an Ack notices its deadline promptly.
const READ_SLICE: Duration = Duration::from_millis(10);

/// A serial link to a device at a fixed path (e.g. `/dev/ttyACM0` or a `/dev/serial/by-id/…` link).
pub struct SerialLink {
    path: PathBuf,
    options: LinkOptions,
    port: Option<Box<dyn SerialPort>>,
    state: LinkState,
    last_attempt: Option<Instant>,
    decoder: Decoder,
    next_seq: u32,
    /// (seq, its wait already timed out) for predictions not yet acknowledged.
    pending: VecDeque<(u32, bool)>,
    peer: Option<Hello>,
    stats: LinkStats,
    events: VecDeque<LinkEvent>,
}

impl SerialLink {
    /// Opens `path` now; fails (with the path in the error) if it cannot. Use this when a missing
    /// device at start-up is more likely a typo than an unplugged cable.
    pub fn open(path: impl AsRef<Path>, options: LinkOptions) -> Result<Self, LinkError> {
        let mut link = Self::disconnected(path, options);
        link.last_attempt = Some(Instant::now());
        let port = open_port(&link.path, &link.options)?;
        link.attach(port);
        Ok(link)
    }

    /// A link that starts closed and opens `path` on the first call that finds it there.
    pub fn disconnected(path: impl AsRef<Path>, options: LinkOptions) -> Self {
        SerialLink {
            path: path.as_ref().to_path_buf(),
            options,
            port: None,
            state: LinkState::Disconnected {
                reason: "not opened yet".into(),
            },
            last_attempt: None,
            decoder: Decoder::new(),
            next_seq: 0,
            pending: VecDeque::new(),
            peer: None,
            stats: LinkStats::default(),
            events: VecDeque::new(),
        }
    }

    /// Sends one prediction and, unless `ack_timeout` is zero, waits that long for its Ack.
    /// `novelty` is `None` when the model has no novelty model.
    pub fn send_prediction(
        &mut self,
        frame: u32,
        class_id: u16,
        class_name: &str,
        confidence: f32,
        novelty: Option<Novelty>,
        latency: Duration,
    ) -> SendOutcome {
        let latency_us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        let seq = self.next_seq;
        let message = Message::Prediction(
            Prediction::new(seq, frame, class_id, class_name, confidence, latency_us)
                .with_novelty(novelty),
        );
        self.poll();
        if self.port.is_none() {
            self.stats.skipped += 1;
            return SendOutcome::Disconnected;
        }
        if self.peer_mismatch().is_some() {
            self.stats.refused += 1;
            return SendOutcome::Refused;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        if !self.write_message(&message) {
            self.stats.skipped += 1;
            return SendOutcome::Disconnected;
        }
        self.stats.sent += 1;
        if self.pending.len() == PENDING_CAP {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, false));
        if self.options.ack_timeout.is_zero() {
            return SendOutcome::Sent;
        }
        let deadline = Instant::now() + self.options.ack_timeout;
        if self.pump_until(deadline, Some(seq)) {
            return SendOutcome::Acked;
        }
        if let Some(entry) = self.pending.iter_mut().find(|(s, _)| *s == seq) {
            entry.1 = true;
            self.stats.ack_timeouts += 1;
        }
        SendOutcome::Sent
    }

    /// Reconnects if it is time to, and reads whatever the device sent, without blocking.
    pub fn poll(&mut self) {
        if self.port.is_none() {
            self.try_reconnect();
        }
        if self.port.is_some() {
            self.pump_until(Instant::now(), None);
        }
    }

    /// Waits up to `timeout` for outstanding Acks (e.g. before printing the final summary).
    pub fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.port.is_some()
            && self.pending.iter().any(|(_, late)| !late)
            && Instant::now() < deadline
        {
            let next = self.pending.iter().find(|(_, late)| !late).map(|(s, _)| *s);
            self.pump_until(deadline, next);
        }
    }

    pub fn state(&self) -> &LinkState {
        &self.state
    }

    pub fn is_connected(&self) -> bool {
        self.port.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device's Hello, once it has sent one since the port was (re)opened.
    pub fn peer(&self) -> Option<&Hello> {
        self.peer.as_ref()
    }

    /// The version mismatch with the device, if its Hello announced another version.
    pub fn peer_mismatch(&self) -> Option<VersionMismatch> {
        self.peer.as_ref()?.check_version().err()
    }

    pub fn stats(&self) -> LinkStats {
        LinkStats {
            rx: self.decoder.stats(),
            ..self.stats
        }
    }

    /// State changes since the last call, oldest first.
    pub fn drain_events(&mut self) -> Vec<LinkEvent> {
        self.events.drain(..).collect()
    }

    fn try_reconnect(&mut self) {
        let due = self
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.options.reconnect_interval);
        if !due {
            return;
        }
        self.last_attempt = Some(Instant::now());
        match open_port(&self.path, &self.options) {
            Ok(port) => {
                self.stats.reconnects += u64::from(self.stats.disconnects > 0);
                self.attach(port);
            }
            Err(e) => {
                self.state = LinkState::Disconnected {
                    reason: e.to_string(),
                }
            }
        }
    }

    fn attach(&mut self, port: Box<dyn SerialPort>) {
        self.port = Some(port);
        self.decoder.reset();
        self.peer = None;
        self.state = LinkState::Connected;
        self.events.push_back(LinkEvent::Connected);
        let hello = Message::Hello(Hello::new(
            Role::Host,
            &self.options.name,
            MAX_PAYLOAD as u16,
        ));
        self.write_message(&hello);
    }

    fn detach(&mut self, reason: String) {
        if self.port.take().is_some() {
            self.stats.disconnects += 1;
            self.events.push_back(LinkEvent::Disconnected {
                reason: reason.clone(),
            });
        }
        self.last_attempt = Some(Instant::now());
        self.state = LinkState::Disconnected { reason };
    }

    /// Writes one frame; on failure closes the port and returns false.
    fn write_message(&mut self, message: &Message) -> bool {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let Ok(n) = encode(message, &mut buf) else {
            return false; // Unreachable for messages built with this crate's constructors.
        };
        let Some(port) = self.port.as_mut() else {
            return false;
        };
        if let Err(e) = port
            .set_timeout(self.options.write_timeout)
            .and_then(|_| Ok(port.write_all(&buf[..n])?))
        {
            self.detach(format!("write failed: {e}"));
            return false;
        }
        true
    }

    /// Reads and handles incoming frames until `deadline`, or until the Ack for `want` arrives
    /// (then returns true). With a deadline in the past it reads only what is already there.
    fn pump_until(&mut self, deadline: Instant, want: Option<u32>) -> bool {
        let mut buf = [0u8; 256];
        loop {
            let Some(port) = self.port.as_mut() else {
                return false;
            };
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(READ_SLICE);
            let read = port
                .set_timeout(wait)
                .map_err(std::io::Error::from)
                .and_then(|_| port.read(&mut buf));
            match read {
                Ok(0) => {
                    self.detach("end of file".into());
                    return false;
                }
                Ok(n) => {
                    let mut got_wanted = false;
                    let messages: Vec<Message> = self.decoder.messages(&buf[..n]).collect();
                    for message in messages {
                        got_wanted |= self.handle(message, want);
                    }
                    if got_wanted {
                        return true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
                Err(e) => {
                    self.detach(format!("read failed: {e}"));
                    return false;
                }
            }
        }
    }

    /// Handles one message; true if it is the Ack for `want`.
    fn handle(&mut self, message: Message, want: Option<u32>) -> bool {
        match message {
            Message::Ack { seq } => {
                if let Some(at) = self.pending.iter().position(|(s, _)| *s == seq) {
                    let (_, late) = self.pending.remove(at).unwrap_or_default();
                    self.stats.acked += 1;
                    self.stats.late_acks += u64::from(late);
                    return !late && want == Some(seq);
                }
                false
            }
            Message::Hello(hello) => {
                if let Err(mismatch) = hello.check_version() {
                    self.events.push_back(LinkEvent::VersionMismatch {
                        device: hello.name.to_string(),
                        mismatch,
                    });
                }
                self.peer = Some(hello);
                false
            }
            Message::Error { .. } => {
                self.stats.device_errors += 1;
                false
            }
            Message::Prediction(_) | Message::Status(_) | Message::FrameChunk(_) => false,
        }
    }
}

fn open_port(path: &Path, options: &LinkOptions) -> Result<Box<dyn SerialPort>, LinkError> {
    let open_error = |source| LinkError::Open {
        path: path.to_path_buf(),
        source,
    };
    let path_str = path.to_str().ok_or_else(|| {
        open_error(serialport::Error::new(
            serialport::ErrorKind::InvalidInput,
            "path is not UTF-8",
        ))
    })?;
    serialport::new(path_str, options.baud)
        .timeout(options.write_timeout)
        .open()
        .map_err(open_error)
}
