//! # edge-ssl
//!
//! Run self-supervised ONNX encoders (SimCLR, MoCo, BYOL, VICReg, DINO… exported to ONNX) on
//! edge devices, adapt them to a camera's own frames without labels, fit a small head and
//! classify — from a Rust program, with no Python on the device.
//!
//! ```no_run
//! use edge_ssl::{Backend, BackendKind, BackendOptions, Encoder, ModelDir, select_backend};
//! use edge_ssl::adapt::AdaptOptions;
//! use edge_ssl::progress::Progress;
//! use std::path::Path;
//!
//! # fn main() -> edge_ssl::Result<()> {
//! // tract (pure Rust) or ONNX Runtime (`Ort`, CPU/CUDA/TensorRT); `Auto` picks ORT when it loads.
//! let (backend, _note) = select_backend(BackendKind::Tract, &BackendOptions::default())?;
//!
//! // Adapt the bundled encoder to a camera's frames (a folder, a video file or /dev/video0).
//! let encoder = Encoder::bundled()?;
//! let report = encoder.adapt(
//!     backend.as_ref(),
//!     Path::new("frames/"),
//!     Path::new("site-a"),
//!     &AdaptOptions::default(),
//!     &Progress::silent(),
//! )?;
//! println!("adapted on {} frames in {:.1} s", report.frames, report.seconds.total);
//!
//! // A model directory with a head (after `edge-ssl head` or `edge_ssl::head::fit`) classifies.
//! let model = ModelDir::open("site-a")?;
//! let mut classifier = model.load(backend.as_ref())?;
//! let image = image::open("frame.jpg").map_err(edge_ssl::Error::from)?;
//! let decision = classifier.classify(&image)?;
//! println!("{} {:.2}", classifier.class_name(&decision), decision.confidence);
//! # Ok(())
//! # }
//! ```
//!
//! ## How it is shaped
//!
//! The crates below do the work and know nothing of each other's concerns: `edge-ssl-runtime`
//! runs ONNX models (tract, ONNX Runtime) and edits them (BN statistics), `edge-ssl-train`
//! trains on arrays (adapter, losses, heads, an imported ONNX subgraph), `edge-ssl-source`
//! reads frames, `edge-ssl-core` holds tensors, preprocessing and cards. This crate wires them
//! into what a device application calls:
//!
//! - [`model`]: [`Encoder`] (embeds; no head) and [`ModelDir`] (classifies), opened with every
//!   check (card, sha256 ties, CRCs, a bundle's manifest). "No head" is a type, not a surprise.
//! - [`embed`]: images to embeddings ([`embed::embedder::Embedder`]) and to classes
//!   ([`embed::classifier::Classifier`]).
//! - [`adapt`]: adaptation without labels — BN statistics in one streaming pass, a view cache,
//!   the residual adapter — with a typed [`adapt::AdaptReport`]; [`tune`] trains encoder layers.
//! - [`head`]: fitting a head and evaluating one ([`head::eval::Evaluation`]).
//! - [`novelty`]: the novelty model a directory carries, so a decision says when a frame is
//!   unlike anything the model was fitted on (`Decision::novel`).
//! - [`export`]: encoder + adapter + head as one ONNX file.
//! - [`info`]: what a model is — graph, parameters, FLOPs, card, parts, usable backends.
//! - [`fleet`]: a Flower SuperNode task, so a fleet of devices adapts together (cargo feature
//!   `fleet`, on by default).
//! - [`bench`](mod@bench): latency, throughput, cold start and memory of a model on this device, and what
//!   adaptation costs; [`bundle`]: device bundles (packing, checking).
//! - [`frames`], [`datasets`], [`live`], [`plot`]: what those need.
//!
//! A program that adapts or trains calls [`allocator::tune_for_training`] once at start-up:
//! glibc's defaults cost encoder training a third of its speed.
//!
//! Long calls report through a [`progress::Progress`] (phases, steps, notes) and stop when it is
//! cancelled; the library never prints. Errors are one [`Error`] whose variants say what kind
//! of input was wrong and whose messages never name a command-line flag.

pub mod adapt;
pub mod allocator;
pub mod bench;
pub mod bundle;
pub mod datasets;
pub mod embed;
mod error;
pub mod export;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod frames;
pub mod head;
pub mod info;
pub mod live;
pub mod model;
pub mod novelty;
pub mod plot;
pub mod progress;
pub mod tune;

pub use adapt::{AdaptOptions, AdaptReport};
pub use edge_ssl_runtime::{Backend, BackendKind, BackendOptions, select_backend};
pub use embed::classifier::{Classifier, Decision};
pub use error::{Context, Error, Result};
pub use model::{Encoder, ModelDir};
