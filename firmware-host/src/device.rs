//! What the emulated microcontroller does with the bytes it receives, without any I/O: decode,
//! acknowledge, remember, draw. Kept apart from the pty plumbing so it reads like the firmware
//! loop it stands in for.
//!
//! It speaks [`PROTOCOL_VERSION`] unless told to play older (or newer) firmware with
//! [`DeviceOptions::with_protocol`]: then its Hello announces that version, in a frame of that
//! version, and it takes nothing else the host sends, as firmware of another version drops
//! every frame but a Hello. Either way a host Hello of another version than the device's is
//! answered with `Error { code: UnsupportedVersion }` after the device's own Hello.

use std::time::Instant;

use edge_ssl_display::{Framebuffer, Panel, Rgb565, StatusView};
use edge_ssl_link::{
    Decoder, DecoderStats, EncodeError, ErrorCode, FrameChunk, Hello, MAX_PAYLOAD, Message,
    PROTOCOL_VERSION, Prediction, Role, Status, encode_payload, encode_raw,
};

/// Options for the emulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOptions {
    /// The name in the device's Hello.
    pub name: String,
    /// Answer Predictions, Status and FrameChunks with Acks (a real device would).
    pub ack: bool,
    /// Answer each dropped frame with `Error { code: BadFrame }`.
    pub report_bad_frames: bool,
    /// The protocol version the device's firmware speaks.
    pub protocol: u8,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            name: "emulated-mcu".into(),
            ack: true,
            report_bad_frames: false,
            protocol: PROTOCOL_VERSION,
        }
    }
}

impl DeviceOptions {
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_ack(mut self, ack: bool) -> Self {
        self.ack = ack;
        self
    }

    pub fn with_report_bad_frames(mut self, report: bool) -> Self {
        self.report_bad_frames = report;
        self
    }

    /// Plays firmware of protocol version `protocol` (see the module docs).
    pub fn with_protocol(mut self, protocol: u8) -> Self {
        self.protocol = protocol;
        self
    }
}

/// The device's memory: what it received, its decoder, and its 240×240 screen.
pub struct EmulatedDevice {
    options: DeviceOptions,
    decoder: Decoder,
    predictions: Vec<Prediction>,
    hellos: Vec<Hello>,
    acks_sent: u64,
    /// Frames other than Hello taken as another version's (when playing other firmware).
    version_drops: u64,
    screen: Framebuffer<Rgb565>,
    panel: Panel<Rgb565>,
    first_prediction: Option<Instant>,
}

impl EmulatedDevice {
    pub fn new(options: DeviceOptions) -> Self {
        let panel = Panel::st7789();
        EmulatedDevice {
            options,
            decoder: Decoder::new(),
            predictions: Vec::new(),
            hellos: Vec::new(),
            acks_sent: 0,
            version_drops: 0,
            screen: Framebuffer::new(panel.size()),
            panel,
            first_prediction: None,
        }
    }

    /// Feeds received bytes; returns the messages the device answers with, in order.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Message> {
        let results: Vec<_> = self.decoder.feed(bytes).collect();
        let mut replies = Vec::new();
        for result in results {
            match result {
                Ok(message) => replies.extend(self.handle(message)),
                Err(_) if self.options.report_bad_frames => replies.push(Message::Error {
                    seq: 0,
                    code: ErrorCode::BadFrame as u16,
                }),
                Err(_) => {}
            }
        }
        self.acks_sent += replies
            .iter()
            .filter(|m| matches!(m, Message::Ack { .. }))
            .count() as u64;
        replies
    }

    /// A device that was unplugged loses the half frame it was receiving, not its counters.
    pub fn reset_link(&mut self) {
        self.decoder.reset();
    }

    /// The device's answers to one message.
    fn handle(&mut self, message: Message) -> Vec<Message> {
        let foreign = self.options.protocol != PROTOCOL_VERSION;
        let seq = match message {
            Message::Hello(hello) => return self.greet(hello),
            _ if foreign => {
                self.version_drops += 1;
                return Vec::new();
            }
            Message::Prediction(prediction) => {
                let seq = prediction.seq;
                self.show(&prediction);
                self.predictions.push(prediction);
                seq
            }
            Message::Status(Status { seq, .. }) | Message::FrameChunk(FrameChunk { seq, .. }) => {
                seq
            }
            Message::Ack { .. } | Message::Error { .. } => return Vec::new(),
        };
        if self.options.ack {
            vec![Message::Ack { seq }]
        } else {
            Vec::new()
        }
    }

    /// Answers a Hello with the device's own, then, if the host speaks another version than
    /// the device, with `Error { code: UnsupportedVersion }`.
    fn greet(&mut self, hello: Hello) -> Vec<Message> {
        let mismatch = hello.protocol != self.options.protocol;
        self.hellos.push(hello);
        let mut mine = Hello::new(Role::Device, &self.options.name, MAX_PAYLOAD as u16);
        mine.protocol = self.options.protocol;
        let mut replies = vec![Message::Hello(mine)];
        if mismatch {
            replies.push(Message::Error {
                seq: 0,
                code: ErrorCode::UnsupportedVersion as u16,
            });
        }
        replies
    }

    /// Frames `reply` as this device sends it: its Hello in a frame of the device's version
    /// (how firmware of that version would send it), everything else as usual. Returns the
    /// frame's length in `out`; [`MAX_FRAME_LEN`](edge_ssl_link::MAX_FRAME_LEN) always suffices.
    pub fn encode(&self, reply: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut payload = [0u8; MAX_PAYLOAD];
        let len = encode_payload(reply, &mut payload)?;
        if matches!(reply, Message::Hello(_)) {
            payload[0] = self.options.protocol;
        }
        encode_raw(&payload[..len], out)
    }

    fn show(&mut self, prediction: &Prediction) {
        let now = Instant::now();
        let first = *self.first_prediction.get_or_insert(now);
        let elapsed = now.duration_since(first).as_secs_f32();
        let fps = if elapsed > 0.0 {
            self.predictions.len() as f32 / elapsed
        } else {
            0.0
        };
        let view = StatusView::from_prediction(prediction, fps);
        let Ok(()) = self.panel.draw(&view, &mut self.screen);
    }

    pub fn predictions(&self) -> &[Prediction] {
        &self.predictions
    }

    pub fn hellos(&self) -> &[Hello] {
        &self.hellos
    }

    pub fn acks_sent(&self) -> u64 {
        self.acks_sent
    }

    /// Frames dropped as another version's while playing firmware of another version.
    pub fn version_drops(&self) -> u64 {
        self.version_drops
    }

    pub fn decoder_stats(&self) -> DecoderStats {
        self.decoder.stats()
    }

    /// What the device's panel shows now.
    pub fn screen(&self) -> &Framebuffer<Rgb565> {
        &self.screen
    }
}
