//! One frame, whole: message → payload → `COBS(payload ‖ CRC-32 LE)` → bytes, and back.
//!
//! The encoder writes into the caller's buffer and the decoder works in place, so neither needs
//! more memory than one frame.

use core::fmt;

use crate::cobs;
use crate::drop_reason::DropReason;
use crate::message::Message;
use crate::version::PROTOCOL_VERSION;

/// Largest payload (version byte + postcard message) either side sends or accepts.
pub const MAX_PAYLOAD: usize = 192;
/// Size of the CRC-32 trailer.
pub const CRC_LEN: usize = 4;
/// Largest COBS-encoded frame, the 0x00 delimiter excluded: the receive buffer a decoder needs.
pub const MAX_ENCODED_LEN: usize = cobs::max_encoded_len(MAX_PAYLOAD + CRC_LEN);
/// Largest frame on the wire, delimiter included: the transmit buffer an encoder needs.
pub const MAX_FRAME_LEN: usize = MAX_ENCODED_LEN + 1;

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The message's payload is longer than [`MAX_PAYLOAD`].
    PayloadTooLong,
    /// The output buffer cannot hold the frame; [`MAX_FRAME_LEN`] always can.
    BufferTooSmall { needed: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::PayloadTooLong => write!(f, "message longer than {MAX_PAYLOAD} bytes"),
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "output buffer needs {needed} bytes")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// CRC-32/IEEE (the zlib/Ethernet CRC: reflected polynomial 0xEDB88320, init and xor-out 0xFFFFFFFF).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// Writes the payload of `message` (version byte, then the postcard message) into `out` and
/// returns its length.
pub fn encode_payload(message: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let limit = out.len().min(MAX_PAYLOAD);
    if limit == 0 {
        return Err(EncodeError::BufferTooSmall {
            needed: MAX_PAYLOAD,
        });
    }
    out[0] = PROTOCOL_VERSION;
    match postcard::to_slice(message, &mut out[1..limit]) {
        Ok(body) => Ok(1 + body.len()),
        Err(_) if limit == MAX_PAYLOAD => Err(EncodeError::PayloadTooLong),
        Err(_) => Err(EncodeError::BufferTooSmall {
            needed: MAX_PAYLOAD,
        }),
    }
}

/// Frames an already encoded payload: `COBS(payload ‖ CRC-32 LE) 0x00` into `out`.
///
/// Exposed so tests (and firmware authors checking their C code) can frame arbitrary payloads,
/// including ones with a wrong version byte.
pub fn encode_raw(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::PayloadTooLong);
    }
    let mut body = [0u8; MAX_PAYLOAD + CRC_LEN];
    body[..payload.len()].copy_from_slice(payload);
    body[payload.len()..payload.len() + CRC_LEN].copy_from_slice(&crc32(payload).to_le_bytes());
    let body = &body[..payload.len() + CRC_LEN];
    let needed = cobs::max_encoded_len(body.len()) + 1;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let n = cobs::encode(body, out).ok_or(EncodeError::BufferTooSmall { needed })?;
    out[n] = 0;
    Ok(n + 1)
}

/// Encodes `message` as one complete frame, delimiter included, into `out`.
/// A buffer of [`MAX_FRAME_LEN`] bytes always suffices.
pub fn encode(message: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut payload = [0u8; MAX_PAYLOAD];
    let len = encode_payload(message, &mut payload)?;
    encode_raw(&payload[..len], out)
}

/// Decodes one COBS block (the bytes between two 0x00, which it overwrites) into a message:
/// any message of [`PROTOCOL_VERSION`], or a [`Hello`](crate::Hello) of any version.
pub fn decode_in_place(block: &mut [u8]) -> Result<Message, DropReason> {
    let len = cobs::decode_in_place(block).ok_or(DropReason::Cobs)?;
    if len < CRC_LEN {
        return Err(DropReason::Crc);
    }
    let (payload, trailer) = block[..len].split_at(len - CRC_LEN);
    let expected = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32(payload) != expected {
        return Err(DropReason::Crc);
    }
    let Some((&version, body)) = payload.split_first() else {
        return Err(DropReason::Version);
    };
    match (version, postcard::take_from_bytes::<Message>(body)) {
        (PROTOCOL_VERSION, Ok((message, []))) => Ok(message),
        (PROTOCOL_VERSION, _) => Err(DropReason::Postcard),
        // A Hello reads the same in every version: pass it on, so the receiver can tell the
        // peer which versions are in play (`Hello::check_version`) instead of only dropping.
        (_, Ok((hello @ Message::Hello(_), []))) => Ok(hello),
        _ => Err(DropReason::Version),
    }
}
