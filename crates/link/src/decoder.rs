//! The streaming receiver: bytes in, whole messages (or counted drops) out.
//!
//! Bytes accumulate in a fixed buffer until a 0x00 ends the frame. A frame that outgrows the
//! buffer is not an error the caller must handle: the decoder discards bytes until the next 0x00,
//! counts one overflow, and is synchronised again. Nothing here can panic or allocate, whatever
//! bytes arrive — the property tests and the fuzz target hold it to that.

use crate::drop_reason::{DropCounts, DropReason};
use crate::frame::{self, MAX_ENCODED_LEN};
use crate::message::Message;

/// What the decoder has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Frames decoded into a message.
    pub frames: u32,
    /// Frames dropped, by reason.
    pub dropped: DropCounts,
}

/// A streaming frame decoder with an `N`-byte receive buffer (default: the largest valid frame).
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize = MAX_ENCODED_LEN> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
    stats: DecoderStats,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    pub const fn new() -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            overflowed: false,
            stats: DecoderStats {
                frames: 0,
                dropped: zero_counts(),
            },
        }
    }

    /// Feeds one byte. Returns `Some` when the byte completed a frame: the message, or why the
    /// frame was dropped (already counted in [`stats`](Self::stats)). Consecutive delimiters
    /// (empty frames) are ignored, so a sender may send 0x00 first to flush a half-received frame.
    pub fn push(&mut self, byte: u8) -> Option<Result<Message, DropReason>> {
        if byte != 0 {
            if self.len < N {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflowed = true;
            }
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        let result = if core::mem::replace(&mut self.overflowed, false) {
            Err(DropReason::Overflow)
        } else if len == 0 {
            return None;
        } else {
            frame::decode_in_place(&mut self.buf[..len])
        };
        match &result {
            Ok(_) => self.stats.frames = self.stats.frames.saturating_add(1),
            Err(reason) => self.stats.dropped.record(*reason),
        }
        Some(result)
    }

    /// Feeds a slice; iterate the result to get each frame it completes. Bytes after the last
    /// delimiter stay buffered for the next call. Dropping the iterator early leaves the rest of the
    /// slice unread.
    pub fn feed<'d, 'b>(&'d mut self, bytes: &'b [u8]) -> Feed<'d, 'b, N> {
        Feed {
            decoder: self,
            bytes,
        }
    }

    /// Like [`feed`](Self::feed), but keeps only messages; drops are still counted.
    pub fn messages<'d, 'b>(
        &'d mut self,
        bytes: &'b [u8],
    ) -> impl Iterator<Item = Message> + use<'d, 'b, N> {
        self.feed(bytes).filter_map(Result::ok)
    }

    /// Discards a partly received frame, e.g. after reopening a port.
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Bytes of the current, unfinished frame.
    pub fn pending(&self) -> usize {
        self.len
    }

    pub fn stats(&self) -> DecoderStats {
        self.stats
    }
}

const fn zero_counts() -> DropCounts {
    DropCounts {
        overflow: 0,
        cobs: 0,
        crc: 0,
        postcard: 0,
        version: 0,
    }
}

/// Iterator over the frames a slice completes; see [`Decoder::feed`].
pub struct Feed<'d, 'b, const N: usize> {
    decoder: &'d mut Decoder<N>,
    bytes: &'b [u8],
}

impl<const N: usize> Iterator for Feed<'_, '_, N> {
    type Item = Result<Message, DropReason>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some((&byte, rest)) = self.bytes.split_first() {
            self.bytes = rest;
            if let Some(result) = self.decoder.push(byte) {
                return Some(result);
            }
        }
        None
    }
}
