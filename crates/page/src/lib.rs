//! # edge-ssl-page
//!
//! The live page a device serves while `edge-ssl run` classifies frames: the current frame with
//! its class, confidence and novelty, a strip of recent frames, frames per second and latency
//! percentiles over the last two minutes, class counts — and, because the person looking at a
//! camera's page is the one who knows what it sees, a way to label frames where the camera is
//! and refit the head on them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use edge_ssl_page::{EncoderOptions, FrameEncoder, LiveState, Prediction, Server, ServerOptions};
//!
//! let state = Arc::new(LiveState::new(&["cat".into(), "dog".into()]));
//! let options = ServerOptions::default()
//!     .with_token(Some("s3cret".into()))
//!     .with_labels_dir(Some("site-a/labels".as_ref()));
//! let server = Server::start("127.0.0.1:8080", state.clone(), options)?;
//! let mut page = FrameEncoder::spawn(state, EncoderOptions::default())?;
//! # let image = image::DynamicImage::new_rgb8(64, 48);
//! // in the inference loop, once per frame:
//! page.offer(
//!     Prediction { frame: 0, class: "cat".into(), confidence: 0.9, novelty: None, novel: None,
//!                  latency: Duration::from_millis(4) },
//!     image,
//! );
//! # Ok::<(), edge_ssl_page::PageError>(())
//! ```
//!
//! ## Shape
//!
//! Two sides share one [`LiveState`]. The inference loop *publishes* — each decision through
//! [`FrameEncoder::offer`], which records the numbers at once and hands the pixels to a JPEG
//! thread only when that thread is free and the page's frame rate allows; otherwise the pixels
//! are dropped. The loop therefore never waits on the page: its cost is a mutex held for a few
//! field updates and a channel `try_send`. The [`Server`] *reads* — every handler copies what
//! it needs (small values, `Arc`s of JPEG bytes) under the same short lock and does its
//! socket I/O after letting go.
//!
//! The server is a blocking HTTP/1.1 server on `std::net`, one thread per connection and one
//! request per connection, because a device page has a handful of clients and an async runtime
//! would be the largest thing in the binary; it builds for every target std does (aarch64 and
//! armv7 boards included). Everything a client controls is bounded ([`ServerOptions`]): open
//! connections (one more gets `503`), the request head (`431`), the body (`413`, judged from
//! `Content-Length` before reading), the time to send a request (`408`, so a byte-a-second
//! client cannot hold a slot), and every read and write (a vanished browser fails a write
//! within the timeout). The event stream sends the *latest* state when it wakes, never a
//! backlog, so a slow browser sees fewer frames rather than holding memory.
//!
//! ## Endpoints
//!
//! | | |
//! |---|---|
//! | `GET /` | the page (HTML, CSS and JS inline; no build step) |
//! | `GET /events` | server-sent events, one [`Snapshot`] as JSON per change (at most 10/s) |
//! | `GET /status.json` | the same [`Snapshot`] |
//! | `GET /frame.jpg` | the newest frame held |
//! | `GET /recent/<frame>.jpg` | a frame of the strip, by frame number |
//! | `POST /label` | `{"frame": n, "class": "name"}` (or the same as a form): saves the frame |
//! | `POST /refit` | runs the caller's [`RefitFn`] on the labels directory, in the background |
//!
//! Labels land in an ImageFolder, `DIR/<class>/<run>-<frame>.jpg`, written atomically; class
//! names are held to letters, digits, `-` and `_` ([`ClassName`]), so no request can name a
//! path outside `DIR`. With a token set, the two `POST`s need `Authorization: Bearer <token>`
//! or `?token=<token>`; the page passes on the token it was opened with. A `POST` whose `Origin`
//! is not the page's own is refused (`403`), so another site open in the same browser cannot
//! label frames or start a refit on a device at `127.0.0.1`.
//!
//! The crate knows nothing of models: the refit is a callback, and what a frame is called is
//! the caller's string. It never prints; what goes wrong in a request is its HTTP status and a
//! JSON `{"error": …}`, and what goes wrong starting up is a [`PageError`].

mod auth;
mod encoder;
mod error;
mod events;
mod http;
mod label;
mod options;
mod page;
mod prediction;
mod priority;
mod recent;
mod refit;
mod routes;
mod series;
mod server;
mod snapshot;
mod state;

pub use encoder::{EncoderOptions, FrameEncoder};
pub use error::{PageError, Result};
pub use label::{ClassName, MAX_CLASSES, Saved, count_labels, save_label};
pub use options::ServerOptions;
pub use prediction::{FrameRecord, Prediction};
pub use refit::{RefitFn, RefitState, RefitStatus};
pub use series::{Bucket, KEEP as SERIES_SECONDS};
pub use server::Server;
pub use snapshot::{Shown, Snapshot};
pub use state::{LiveState, RECENT};
