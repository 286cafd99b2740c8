//! Connection state and the counters a caller reports at the end of a run.

use edge_ssl_link::{DecoderStats, VersionMismatch};

/// Whether the port is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connected,
    /// The port is closed (never opened, unplugged, or failed); `reason` says why.
    Disconnected {
        reason: String,
    },
}

/// A change of [`LinkState`], queued for the caller to log (see `SerialLink::drain_events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Connected,
    Disconnected {
        reason: String,
    },
    /// The device's Hello announced another protocol version: predictions are refused (not
    /// written) until a device with matching firmware says Hello.
    VersionMismatch {
        /// The name in the device's Hello.
        device: String,
        mismatch: VersionMismatch,
    },
}

/// What happened to one `send_prediction` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// The device acknowledged it.
    Acked,
    /// Written, but no Ack came within `ack_timeout` (or none was waited for).
    Sent,
    /// Not written: the port is closed. The link keeps trying to reopen it.
    Disconnected,
    /// Not written: the device speaks another protocol version (see
    /// [`LinkEvent::VersionMismatch`]) and would drop it.
    Refused,
}

/// Counters since the link was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Predictions written to the port.
    pub sent: u64,
    /// Predictions skipped because the port was closed.
    pub skipped: u64,
    /// Predictions not written because the device speaks another protocol version.
    pub refused: u64,
    /// Acks that matched a prediction (in time or late).
    pub acked: u64,
    /// Predictions whose Ack did not arrive within `ack_timeout`.
    pub ack_timeouts: u64,
    /// Acks that arrived after their prediction's wait had ended.
    pub late_acks: u64,
    /// Error messages received from the device.
    pub device_errors: u64,
    /// Successful reopens after a disconnect.
    pub reconnects: u64,
    /// Times the port was lost.
    pub disconnects: u64,
    /// What the host's decoder received and dropped.
    pub rx: DecoderStats,
}
