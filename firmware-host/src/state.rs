//! Connection state and the counters a caller reports at the end of a run.

use edge_ssl_link::DecoderStats;

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
    Disconnected { reason: String },
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
}

/// Counters since the link was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Predictions written to the port.
    pub sent: u64,
    /// Predictions skipped because the port was closed.
    pub skipped: u64,
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
