//! How the host drives the link: baud rate, how long to wait for acks, how often to retry.

use std::time::Duration;

/// Options for [`SerialLink`](crate::SerialLink). `Default` suits a USB CDC device at 30 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOptions {
    /// Ignored by USB CDC devices and ptys, used by real UARTs.
    pub baud: u32,
    /// How long `send_prediction` waits for the matching Ack before counting a timeout.
    /// Zero means fire and forget: Acks are still read and counted, later.
    pub ack_timeout: Duration,
    /// While disconnected, how often to try opening the port again.
    pub reconnect_interval: Duration,
    /// How long one write may block (a device that stops reading fills the OS buffer).
    pub write_timeout: Duration,
    /// The name this host announces in its Hello.
    pub name: String,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            baud: 115_200,
            ack_timeout: Duration::from_millis(100),
            reconnect_interval: Duration::from_millis(500),
            write_timeout: Duration::from_millis(200),
            name: "edge-ssl".to_string(),
        }
    }
}

impl LinkOptions {
    pub fn with_baud(mut self, baud: u32) -> Self {
        self.baud = baud;
        self
    }

    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    pub fn with_reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval;
        self
    }

    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}
