//! ONNX files as data: read, checked, edited and extended without running them.
//!
//! Both engines load what this folder has read and checked, and every command that changes a
//! model changes the protobuf here rather than re-exporting it:
//!
//! * [`inspect`] — what a file declares (inputs, outputs, parameters, FLOPs per sample), and the
//!   checks every backend runs before handing the file to its engine;
//! * [`edit`] — initializers read and rewritten in place (BatchNorm statistics, weights);
//! * [`graph`] — the graph as plain data for `edge_ssl_train`, and the trained weights written
//!   back;
//! * [`GraphBuilder`] (`graph_builder`) — plain ONNX math appended after a model's output, how
//!   `edge-ssl export` makes an encoder, its adapter and its head one graph;
//! * `bn` — BatchNorm statistics re-estimated on new frames in one streaming pass
//!   ([`reestimate_batch_norm_stream`]);
//! * [`feature_means`] — per-image channel means of a convolutional encoder's activation maps
//!   as one more output, what a novelty model scores to see what the embedding is invariant to;
//! * [`card_for()`] (`card_for`) — the model card that goes with an ONNX, or one built from what it
//!   declares.

mod bn;
pub(crate) mod byte_input;
mod card_for;
pub mod edit;
pub mod feature_means;
pub mod graph;
mod graph_builder;
pub mod inspect;

pub use bn::{
    BnLayerReport, BnProgress, BnReport, reestimate_batch_norm, reestimate_batch_norm_stream,
    write_probe as write_bn_probe,
};
pub use card_for::{EMBEDDED_CARD_KEY, card_for};
pub use graph_builder::GraphBuilder;
