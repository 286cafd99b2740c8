//! # edge-ssl-firmware-host
//!
//! The host's half of the serial link to a microcontroller, and a stand-in microcontroller for
//! when there is none.
//!
//! [`SerialLink`] is what `edge-ssl run --serial TTY` uses: it opens the port with `serialport`
//! (built without libudev, so nothing beyond libc is needed on a Pi or a Jetson), sends one
//! [`Prediction`](edge_ssl_link::Prediction) per frame (with its novelty score when the model has
//! a novelty model), and reads Acks with a timeout. A device whose Hello announces another
//! protocol version is refused, by name and both versions, rather than fed frames it drops. A live
//! pipeline must outlast a pulled cable, so after the first open the link never returns an error:
//! a failing port is closed, predictions are counted as skipped, the path is retried every
//! `reconnect_interval`, and each change is queued as a [`LinkEvent`] for the caller to print.
//! [`LinkStats`] says at the end what was sent, acknowledged, late, skipped and dropped.
//!
//! [`DeviceEmulator`] is firmware on the far side of a real pseudo-terminal
//! (`serialport::TTYPort::pair`), reachable through a stable symlink the way `/dev/serial/by-id/…`
//! names a real device. It decodes with the same `edge-ssl-link` code the MCU runs, acknowledges
//! predictions, draws them on an emulated 240×240 panel with `edge-ssl-display` (a novel frame's
//! class as `? name`), and can be unplugged and plugged back in. It can also play firmware of an
//! older protocol version ([`DeviceOptions::with_protocol`]). The protocol logic lives in [`EmulatedDevice`], free of I/O,
//! so it reads like the firmware loop it stands for.
//!
//! ```no_run
//! use edge_ssl_firmware_host::{LinkOptions, SerialLink};
//! use std::time::Duration;
//!
//! let mut link = SerialLink::open("/dev/ttyACM0", LinkOptions::default())?;
//! let novelty = Some(edge_ssl_firmware_host::Novelty { score: 0.4, novel: false });
//! link.send_prediction(0, 3, "dress", 0.91, novelty, Duration::from_millis(12));
//! for event in link.drain_events() {
//!     eprintln!("serial: {event:?}");
//! }
//! println!("{:?}", link.stats());
//! # Ok::<(), edge_ssl_firmware_host::LinkError>(())
//! ```

mod device;
mod emulator;
mod error;
mod options;
mod serial_link;
mod state;

pub use device::{DeviceOptions, EmulatedDevice};
/// What [`SerialLink::send_prediction`] takes for a frame's novelty, re-exported so callers need
/// not depend on `edge-ssl-link` for it.
pub use edge_ssl_link::Novelty;
pub use emulator::DeviceEmulator;
pub use error::LinkError;
pub use options::LinkOptions;
pub use serial_link::SerialLink;
pub use state::{LinkEvent, LinkState, LinkStats, SendOutcome};
