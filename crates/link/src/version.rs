//! Protocol versions, and what two ends do when they speak different ones.
//!
//! Every payload opens with the sender's [`PROTOCOL_VERSION`], and a receiver drops a frame of
//! another version rather than misread its fields. Dropping alone would leave an old device and
//! a new host each counting drops without saying why, so one layout never changes: a [`Hello`]
//! is variant 0 with the fields it has now in every version. A decoder accepts a Hello whatever
//! the version byte of its frame, and [`Hello::check_version`] turns a peer's announced version
//! into a [`VersionMismatch`] that names both. The host then stops sending Predictions the
//! device would drop or misread, and says so (see `SerialLink` in `edge-ssl-firmware-host`).
//!
//! ## Versions
//!
//! * **1** — the first.
//! * **2** — [`Prediction`](crate::Prediction) gains `novelty`: the host's novelty score for the
//!   frame and whether it is above the calibrated threshold, or `None` when the model has no
//!   novelty model.

use core::fmt;

use crate::message::Hello;

/// The version byte that opens every payload. Bump it for any change to the wire layout, and
/// list the change above and in `docs/link-protocol.md`.
pub const PROTOCOL_VERSION: u8 = 2;

impl Hello {
    /// Whether the peer that sent this Hello speaks this end's [`PROTOCOL_VERSION`]. Every
    /// message but Hello differs between versions, so any other version is refused.
    pub fn check_version(&self) -> Result<(), VersionMismatch> {
        if self.protocol == PROTOCOL_VERSION {
            Ok(())
        } else {
            Err(VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: self.protocol,
            })
        }
    }
}

/// A peer announced (in its [`Hello`]) a protocol version other than this end's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionMismatch {
    /// This end's [`PROTOCOL_VERSION`].
    pub ours: u8,
    /// The version the peer's Hello announced.
    pub theirs: u8,
}

impl fmt::Display for VersionMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ours, theirs) = (self.ours, self.theirs);
        write!(
            f,
            "the peer speaks link protocol version {theirs}, this end version {ours}"
        )
    }
}

impl core::error::Error for VersionMismatch {}
