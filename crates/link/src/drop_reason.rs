//! Why the decoder threw a frame away, and how many it threw away for each reason.

use core::fmt;

/// The reason one frame was dropped. Each is counted separately in [`DropCounts`] because each
/// points at a different fault: overflow at a sender/receiver size mismatch or a lost delimiter,
/// COBS and CRC at line noise, postcard and version at mismatched firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// More bytes arrived before a 0x00 than the receive buffer holds.
    Overflow,
    /// The bytes between two 0x00 are not valid COBS.
    Cobs,
    /// The CRC-32 does not match, or the frame is too short to hold one.
    Crc,
    /// The payload is not a valid message of this protocol version.
    Postcard,
    /// The payload's version byte is not [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION) (and it
    /// is not a [`Hello`](crate::Hello), which every version reads), or the payload is empty.
    Version,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Overflow => "frame longer than the receive buffer",
            DropReason::Cobs => "invalid COBS encoding",
            DropReason::Crc => "CRC-32 mismatch",
            DropReason::Postcard => "undecodable message",
            DropReason::Version => "unknown protocol version",
        })
    }
}

impl core::error::Error for DropReason {}

/// Frames dropped so far, by reason. Counters saturate instead of wrapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub overflow: u32,
    pub cobs: u32,
    pub crc: u32,
    pub postcard: u32,
    pub version: u32,
}

impl DropCounts {
    /// Counts one frame dropped for `reason`.
    pub fn record(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Overflow => &mut self.overflow,
            DropReason::Cobs => &mut self.cobs,
            DropReason::Crc => &mut self.crc,
            DropReason::Postcard => &mut self.postcard,
            DropReason::Version => &mut self.version,
        };
        *counter = counter.saturating_add(1);
    }

    /// All dropped frames, whatever the reason.
    pub fn total(&self) -> u32 {
        self.overflow
            .saturating_add(self.cobs)
            .saturating_add(self.crc)
            .saturating_add(self.postcard)
            .saturating_add(self.version)
    }
}
