//! What the emulated microcontroller does with the bytes it receives, without any I/O: decode,
//! acknowledge, remember, draw. Kept apart from the pty plumbing so it reads like the firmware
//! loop it stands in for.

use std::time::Instant;

use edge_ssl_display::{Framebuffer, Panel, Rgb565, StatusView};
use edge_ssl_link::{
    Decoder, DecoderStats, ErrorCode, Hello, MAX_PAYLOAD, Message, Prediction, Role,
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
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            name: "emulated-mcu".into(),
            ack: true,
            report_bad_frames: false,
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
}

/// The device's memory: what it received, its decoder, and its 240×240 screen.
pub struct EmulatedDevice {
    options: DeviceOptions,
    decoder: Decoder,
    predictions: Vec<Prediction>,
    hellos: Vec<Hello>,
    acks_sent: u64,
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

    fn handle(&mut self, message: Message) -> Option<Message> {
        let ack = |seq| Message::Ack { seq };
        match message {
            Message::Hello(hello) => {
                self.hellos.push(hello);
                Some(Message::Hello(Hello::new(
                    Role::Device,
                    &self.options.name,
                    MAX_PAYLOAD as u16,
                )))
            }
            Message::Prediction(prediction) => {
                let seq = prediction.seq;
                self.show(&prediction);
                self.predictions.push(prediction);
                self.options.ack.then(|| ack(seq))
            }
            Message::Status(status) => self.options.ack.then(|| ack(status.seq)),
            Message::FrameChunk(chunk) => self.options.ack.then(|| ack(chunk.seq)),
            Message::Ack { .. } | Message::Error { .. } => None,
        }
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

    pub fn decoder_stats(&self) -> DecoderStats {
        self.decoder.stats()
    }

    /// What the device's panel shows now.
    pub fn screen(&self) -> &Framebuffer<Rgb565> {
        &self.screen
    }
}
