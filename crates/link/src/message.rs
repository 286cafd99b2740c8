//! The messages that travel inside a frame, and the bounds that make them fixed-size.
//!
//! Every field is a fixed-width integer, an `f32`, a bounded string or a bounded byte vector, so a
//! decoded [`Message`] never allocates and never borrows from the receive buffer. Integers are
//! postcard varints on the wire; the field order below *is* the wire order, so changing it is a
//! protocol change that needs a new [`PROTOCOL_VERSION`] (the [`version`](crate::version)
//! module lists them). [`Hello`]'s layout is the exception: it never changes.

use heapless::{String, Vec};
use serde_no_std::{Deserialize, Serialize};

use crate::version::PROTOCOL_VERSION;

/// Longest class name in bytes of UTF-8.
pub const CLASS_NAME_LEN: usize = 32;
/// Longest device or host name in bytes of UTF-8.
pub const PEER_NAME_LEN: usize = 24;
/// Most bytes of image data one [`FrameChunk`] carries.
pub const CHUNK_LEN: usize = 128;

/// A class name as it travels: at most [`CLASS_NAME_LEN`] bytes.
pub type ClassName = String<CLASS_NAME_LEN>;
/// A peer name as it travels: at most [`PEER_NAME_LEN`] bytes.
pub type PeerName = String<PEER_NAME_LEN>;

/// Which end of the link sent a [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub enum Role {
    /// The machine that runs the model (variant index 0).
    Host,
    /// The microcontroller (variant index 1).
    Device,
}

/// Sent by each side when it (re)connects, so the other knows who it talks to and which
/// protocol version it speaks. Its layout is the same in every version (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub struct Hello {
    pub role: Role,
    /// The protocol version the sender speaks; [`Hello::check_version`] compares it with this
    /// end's.
    pub protocol: u8,
    pub name: PeerName,
    /// The largest payload the sender can receive (bytes, before CRC and COBS).
    pub max_payload: u16,
}

/// One classified frame, host → device. The device answers with [`Message::Ack`] carrying `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub struct Prediction {
    pub seq: u32,
    /// Index of the frame in the source, counted from 0.
    pub frame: u32,
    pub class_id: u16,
    pub class_name: ClassName,
    /// Probability of `class_id` in [0, 1].
    pub confidence: f32,
    /// Time from frame capture to prediction, microseconds.
    pub latency_us: u32,
    /// How unlike the model's fitting data the frame is; `None` when the host's model has no
    /// novelty model (version 2).
    pub novelty: Option<Novelty>,
}

/// A frame's novelty as the host's novelty model scored it. On the wire, inside `Option`:
/// absent is one byte `00`; present is `01`, the score as `f32`, and `novel` as `00`/`01`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub struct Novelty {
    /// The score; higher is more unusual. Its scale is the novelty model's own, so a device
    /// should act on `novel` rather than compare the score with a fixed number.
    pub score: f32,
    /// Whether `score` is above the threshold calibrated on the fitting data: the frame is
    /// unlike anything the model was fitted on, and its class is a guess.
    pub novel: bool,
}

/// Periodic health report; either side may send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub struct Status {
    pub seq: u32,
    pub uptime_ms: u32,
    /// Frames processed (host) or predictions received (device).
    pub frames: u32,
    pub fps: f32,
    /// Frames the sender's decoder dropped.
    pub dropped: u32,
}

/// A slice of an encoded image (e.g. a thumbnail), host → device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub struct FrameChunk {
    pub seq: u32,
    pub frame: u32,
    /// Byte offset of `data` in the whole image.
    pub offset: u32,
    /// Size of the whole image in bytes.
    pub total: u32,
    pub data: Vec<u8, CHUNK_LEN>,
}

/// Error codes a device may report in [`Message::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// The device could not decode a frame (bad CRC, COBS or message).
    BadFrame = 1,
    /// The peer's protocol version is not supported.
    UnsupportedVersion = 2,
    /// The device is busy and dropped the message.
    Busy = 3,
    /// A [`FrameChunk`] did not fit the image being assembled.
    BadChunk = 4,
}

impl ErrorCode {
    /// The code for a raw value, `None` for codes this version does not know.
    pub fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            1 => Some(Self::BadFrame),
            2 => Some(Self::UnsupportedVersion),
            3 => Some(Self::Busy),
            4 => Some(Self::BadChunk),
            _ => None,
        }
    }
}

/// Everything that can travel in a frame. The variant index is the first varint of the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "serde_no_std")]
pub enum Message {
    /// Variant index 0.
    Hello(Hello),
    /// Variant index 1.
    Prediction(Prediction),
    /// Variant index 2.
    Status(Status),
    /// Variant index 3.
    FrameChunk(FrameChunk),
    /// Variant index 4: acknowledges the message whose `seq` it carries.
    Ack { seq: u32 },
    /// Variant index 5: `code` is an [`ErrorCode`] (kept raw so newer codes still decode).
    Error { seq: u32, code: u16 },
}

impl Message {
    /// The sequence number the message carries, if any (Hello has none).
    pub fn seq(&self) -> Option<u32> {
        match self {
            Message::Hello(_) => None,
            Message::Prediction(p) => Some(p.seq),
            Message::Status(s) => Some(s.seq),
            Message::FrameChunk(c) => Some(c.seq),
            Message::Ack { seq } | Message::Error { seq, .. } => Some(*seq),
        }
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Prediction(_) => "prediction",
            Message::Status(_) => "status",
            Message::FrameChunk(_) => "frame-chunk",
            Message::Ack { .. } => "ack",
            Message::Error { .. } => "error",
        }
    }
}

impl Prediction {
    /// A prediction whose class name is cut (at a character boundary) to fit [`CLASS_NAME_LEN`].
    pub fn new(
        seq: u32,
        frame: u32,
        class_id: u16,
        class_name: &str,
        confidence: f32,
        latency_us: u32,
    ) -> Self {
        Prediction {
            seq,
            frame,
            class_id,
            class_name: truncated(class_name),
            confidence,
            latency_us,
            novelty: None,
        }
    }

    /// The same prediction carrying `novelty` (`None`: the model has no novelty model).
    pub fn with_novelty(mut self, novelty: Option<Novelty>) -> Self {
        self.novelty = novelty;
        self
    }

    /// Whether the frame is novel; false when there is no novelty score.
    pub fn is_novel(&self) -> bool {
        self.novelty.is_some_and(|n| n.novel)
    }
}

impl Hello {
    /// A hello for this protocol version; the name is cut to fit [`PEER_NAME_LEN`].
    pub fn new(role: Role, name: &str, max_payload: u16) -> Self {
        Hello {
            role,
            protocol: PROTOCOL_VERSION,
            name: truncated(name),
            max_payload,
        }
    }
}

/// `text` cut at the last character boundary that fits `N` bytes.
pub fn truncated<const N: usize>(text: &str) -> String<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::new();
    // Cannot fail: `end <= N` and is a char boundary.
    let _ = out.push_str(&text[..end]);
    out
}
