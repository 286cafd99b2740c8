//! # edge-ssl-link
//!
//! The wire protocol between the edge-ssl host (which runs the model) and a microcontroller
//! (which shows or acts on what the model saw). This crate is `#![no_std]` and allocates nothing,
//! so the same Rust code runs on both ends, and it is small and plain enough that firmware written
//! in C can implement it from `docs/link-protocol.md` alone.
//!
//! ## Shape of a frame
//!
//! ```text
//! payload = version byte ‖ postcard(Message)
//! frame   = COBS(payload ‖ CRC-32/IEEE(payload) as 4 little-endian bytes) ‖ 0x00
//! ```
//!
//! Each layer answers one failure of a serial line:
//!
//! * **COBS + 0x00 delimiter** — a receiver that starts listening mid-stream, or loses bytes, finds
//!   the next frame boundary at the next 0x00. Length-prefixed framing would misframe everything
//!   after one lost length byte.
//! * **CRC-32** — UART noise and buffer overruns flip and drop bytes; the CRC turns them into a
//!   counted drop instead of a wrong prediction on the device.
//! * **Version byte** — old firmware meeting a new host drops the frame as "unknown version"
//!   instead of misreading fields. [`Hello`] alone reads the same in every version, so each end
//!   can name the other's version when they differ ([`version`]).
//! * **postcard** — a compact, documented, serde-based format (varints, raw little-endian floats)
//!   that needs no schema compiler and is easy to write by hand in C.
//!
//! ## Bounded everything
//!
//! Strings and byte vectors are `heapless` with fixed capacities ([`CLASS_NAME_LEN`],
//! [`PEER_NAME_LEN`], [`CHUNK_LEN`]), a payload is at most [`MAX_PAYLOAD`] bytes, and the
//! [`Decoder`] owns a fixed receive buffer. A decoded [`Message`] owns its data, so the receive
//! buffer is free again the moment a frame is returned. The decoder never panics: anything it
//! cannot use is dropped and counted by [`DropReason`] in [`DecoderStats`], so a host or device can
//! report *why* frames are lost, not only that they are.
//!
//! ## Usage
//!
//! ```
//! use edge_ssl_link::{encode, Decoder, Message, Novelty, Prediction, MAX_FRAME_LEN};
//!
//! let mut wire = [0u8; MAX_FRAME_LEN];
//! let novelty = Novelty { score: 0.8, novel: true };
//! let msg = Message::Prediction(
//!     Prediction::new(7, 42, 3, "dress", 0.91, 12_500).with_novelty(Some(novelty)),
//! );
//! let n = encode(&msg, &mut wire).unwrap();
//!
//! let mut decoder: Decoder = Decoder::new();
//! let got: Vec<Message> = decoder.messages(&wire[..n]).collect();
//! assert_eq!(got, [msg]);
//! ```

#![cfg_attr(not(test), no_std)]

pub mod cobs;
mod decoder;
mod drop_reason;
mod frame;
mod message;
pub mod version;

pub use decoder::{Decoder, DecoderStats, Feed};
pub use drop_reason::{DropCounts, DropReason};
pub use frame::{
    CRC_LEN, EncodeError, MAX_ENCODED_LEN, MAX_FRAME_LEN, MAX_PAYLOAD, crc32, decode_in_place,
    encode, encode_payload, encode_raw,
};
pub use message::{
    CHUNK_LEN, CLASS_NAME_LEN, ClassName, ErrorCode, FrameChunk, Hello, Message, Novelty,
    PEER_NAME_LEN, PeerName, Prediction, Role, Status, truncated,
};
pub use version::{PROTOCOL_VERSION, VersionMismatch};
