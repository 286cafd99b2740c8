//! Training an ONNX encoder's own weights on the device (issue 14).
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use edge_ssl::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, import, write_back};
//! # fn cache_views(prefix: &std::path::Path) -> (ndarray::ArrayD<f32>, ndarray::ArrayD<f32>) { unimplemented!() }
//! let model = std::path::Path::new("site-a/encoder.onnx");
//! let split = import(model, "tail:2".parse()?)?;
//! split.write_prefix("work/prefix.onnx".as_ref())?;        // a backend runs it once per view
//! let (a, b) = cache_views("work/prefix.onnx".as_ref());
//! let views = PairedViews::new(a, b)?;
//! let config = TuneConfig::default().with_epochs(15).with_seed(0);
//! let mut trainer = EncoderTrainer::new(split.into_graph(), config, &views)?
//!     .with_checkpoint("work/tune.ckpt", 50);
//! trainer.fit(&views, |p| { let _ = p.loss; ControlFlow::Continue(()) })?;
//! write_back(model, trainer.graph(), model)?;               // same graph, new weights
//! # Ok::<(), edge_ssl::tune::TuneError>(())
//! ```
//!
//! The steps, and why they are shaped so:
//!
//! * [`import`] splits the encoder at a block boundary ([`blocks`]: a point where one
//!   activation alone crosses). The frozen **prefix** becomes an ONNX of its own whose output
//!   is that activation, so the ordinary backends (tract, ONNX Runtime) compute it once per
//!   view and the cache is reused every epoch; the **tail** becomes an
//!   [`edge_ssl_train::graph::Graph`] with a hand-written backward. `bn` imports the whole
//!   graph with only BatchNormalization's scale and bias trainable; `all` imports it whole.
//!   An operator the graph lacks, in the part that would train, is an error naming the node
//!   and the largest tail that would work.
//! * [`EncoderTrainer`] runs SimCLR: both views of a batch through the tail as one batch
//!   (BatchNormalization in training mode sees both), a projector, NT-Xent, AdamW or SGD over
//!   tail and projector together. Progress goes to a callback that can stop the run;
//!   checkpoints hold weights, running statistics, projector, optimizer moments and the loss
//!   curve, and resume bit-identically. With a few labeled images ([`labeled`]) a softmax head
//!   trains beside them: cross-entropy on the labels and FixMatch pseudo-labels on the frames.
//! * [`write_back`] writes the same ONNX with the trained initializers and running
//!   statistics, checked by reading the bytes back before the atomic rename. The projector is
//!   dropped, as in deployment.

pub mod blocks;
mod checkpoint;
mod config;
mod error;
mod import;
pub mod labeled;
mod selection;
mod spec;
#[cfg(test)]
mod tests;
mod trainer;
mod views;
mod write_back;

pub use config::TuneConfig;
pub use error::{Result, TuneError};
pub use import::{Split, import, import_output};
pub use labeled::LabeledViews;
pub use selection::Train;
pub use trainer::{EncoderTrainer, TuneProgress};
pub use views::PairedViews;
pub use write_back::write_back;
