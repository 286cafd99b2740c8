//! Novelty: "is this frame unlike anything the device adapted on?"
//!
//! A head always answers with one of its classes, even for a frame of something it never saw;
//! the novelty score is what lets a device say "I don't know this". It is fitted on the same
//! adapted embeddings as the head, without labels — the generative side of self-supervision:
//! a model that learned to *reproduce* the data reproduces unfamiliar data badly.
//!
//! * [`NoveltyModel::fit`] trains a small ReLU autoencoder `D → h → z → h → D` or a VAE of
//!   the same shape on standardized embeddings, with the crate's hand-written backward and
//!   AdamW, and scores a row by its mean squared reconstruction error (the VAE decodes its
//!   posterior mean, so its score is deterministic and the same math as the AE's). A cosine
//!   k-NN distance ([`NoveltyKind::Knn`]) is the training-free baseline to compare against.
//! * The threshold is calibrated on held-out rows (a seeded 20 % by default) at a quantile
//!   (0.99): frames like those the model saw but never trained on, so the fraction of
//!   in-distribution frames flagged is what the quantile says, whatever the score's scale.
//!   [`Calibration`] keeps the evidence.
//! * [`NoveltyModel::score_graph`] lays the score out as `Sub/Mul/Gemm/Relu/ReduceMean`
//!   constants for ONNX export; [`auroc`] measures how well a score separates two sets.
//! * Files are safetensors with a `format` tag and CRC-32, written atomically; loading checks
//!   the file size and every width before sizing anything by it, and refuses non-finite values.

mod auroc;
mod calibration;
mod config;
mod export;
mod file;
mod knn;
mod model;
mod network;
mod standardizer;
mod train;

pub use auroc::auroc;
pub use calibration::{Calibration, ScoreSummary};
pub use config::{MAX_WIDTH, NoveltyConfig, NoveltyInput, NoveltyKind};
pub use export::{DenseLayer, ScoreGraph};
pub use model::NoveltyModel;
