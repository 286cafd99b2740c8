//! A device in a Flower federation: the [`FleetTask`](edge_ssl_fleet::FleetTask) that trains a
//! model directory's adapter (and softmax head) on the device's own frames, for
//! `edge-ssl fleet join`.
//!
//! What travels is only the small trainable part, by the names it has in the model directory's
//! files: `adapter.norm.weight` … `adapter.fc2.bias` as in `adapter.safetensors`, and, when the
//! federation has one, the softmax head as `head.softmax.weight`/`head.softmax.bias`. Frames and
//! embeddings never leave the device. The encoder stays frozen and local (no BN re-estimation):
//! every device then computes the same embeddings for the same image, so the averaged adapter
//! means the same thing on every device, and the K augmented views of the local frames are
//! embedded once, at start, and reused by every round.
//!
//! Every message's global arrays are also written as a normal model directory (the device's
//! encoder + the global adapter and head, and a novelty model fitted on the device's own frames
//! behind them, which stays local), replaced atomically, so the last round's model is what
//! `run`, `export` and `bundle` find there. [`arrays`] converts between the two forms,
//! [`global`] writes the directory, [`mod@novelty`] fits its novelty model, [`initial`] makes
//! the directory a ServerApp starts from, [`task`] is the task itself, [`report`] says what its
//! events mean.

pub mod arrays;
pub mod error;
pub mod global;
pub mod initial;
pub mod novelty;
pub mod report;
pub mod task;

pub use edge_ssl_fleet;
pub use error::{FleetTaskError, Result};
pub use task::{ModelTask, ModelTaskOptions};
