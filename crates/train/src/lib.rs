//! # edge-ssl-train
//!
//! Label-free adaptation of a frozen self-supervised encoder, as pure array math.
//!
//! A device sees its own camera's frames and no labels. This crate turns *embeddings* of those
//! frames (from whatever backend ran the frozen encoder) into a better embedding, and a few
//! labels — or none — into a classifier. It never sees a model runtime: inputs are
//! `ndarray::Array2<f32>` embeddings (rows = samples) and `Array3<f32>` CHW images in [0, 1];
//! the CLI does the wiring. That rule keeps everything here testable in milliseconds and the
//! same on a Raspberry Pi as in CI.
//!
//! ## The pipeline, and the API for each step
//!
//! 1. **Views.** [`augment::Augmenter`] makes K random views of each frame (random resized crop,
//!    flip, brightness/contrast/gamma, blur, sensor noise; [`augment::AugmentConfig::camera`] is
//!    the camera-like preset). View `v` of frame `f` depends only on `(seed, f, v)`, so caches
//!    are reproducible whatever the batching or threading. The caller runs the frozen encoder
//!    on every view once and stacks the embeddings into [`trainer::Views`] (`K × N × D`).
//! 2. **Adapter.** [`trainer::AdapterTrainer`] trains the residual adapter
//!    `A(e) = e + W2·relu(W1·LayerNorm(e))` ([`nn::Adapter`], `W2 = 0` at start so `A` begins as
//!    the identity) through a projector `P` with one of seven objectives
//!    ([`trainer::Method`]: VICReg, Barlow Twins, SimCLR, MoCo, BYOL, pairwise margin, EMP).
//!    Epochs over the cache are MLP math only. `fit` reports every step to a callback (the
//!    CLI's progress bar; returning `ControlFlow::Break` stops cleanly) and writes atomic
//!    checkpoints; [`trainer::AdapterTrainer::load_checkpoint`] resumes bit-identically.
//!    Deploy `A∘E` with [`nn::Adapter::save`] → `adapter.safetensors`; `P` is dropped.
//! 3. **Head.** [`head::Head`] fits softmax regression, weight imprinting or cosine k-NN on
//!    labeled adapted embeddings; [`head::KMeansHead::fit`] clusters when there are no labels;
//!    [`head::SemiSupervised`] adds label propagation over unlabeled frames. Heads save to
//!    `head.safetensors` with their class names.
//! 4. **Novelty.** [`novelty::NoveltyModel::fit`] trains a small autoencoder (or VAE) on the
//!    adapted embeddings, or keeps them for a cosine k-NN distance, and calibrates a threshold
//!    at a quantile of the scores of held-out rows; `score`/`is_novel` then say how unlike the
//!    adaptation data a frame is, and `score_graph` lays the score out for ONNX export.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use edge_ssl_train::trainer::{AdapterTrainer, Method, TrainConfig, Views};
//! # fn embed_views() -> ndarray::Array3<f32> { unimplemented!() }
//! let views = Views::new(embed_views())?;                 // K × N × D from the encoder
//! let config = TrainConfig::default().with_method(Method::Vicreg).with_epochs(10).with_seed(0);
//! let mut trainer = AdapterTrainer::new(config, &views)?.with_checkpoint("out/adapt.ckpt", 50);
//! trainer.fit(&views, |s| { eprintln!("{}/{} loss {:.4}", s.step, s.total_steps, s.loss); ControlFlow::Continue(()) })?;
//! trainer.adapter().save("out/adapter.safetensors".as_ref())?;
//! # Ok::<(), edge_ssl_train::TrainError>(())
//! ```
//!
//! ## Why it is shaped this way
//!
//! * **Hand-written backward, no autograd.** The networks are three small MLPs; a [`nn::Module`]
//!   has `forward` (caching what it needs), `backward(grad_out) -> grad_in` (accumulating
//!   parameter gradients) and `params()`. A [`loss::Loss`] returns its value and the gradient
//!   for each input. Every backward and every loss gradient is checked against central finite
//!   differences in the tests. This keeps the dependency list to `ndarray`, and the step cost
//!   to a handful of GEMMs (`sgemm.rs`: split over the cores in blocks that give the same bits
//!   as one call; see `benches/adapter_step.rs` and `benches/novelty_fit.rs`).
//! * **The encoder itself trains through [`graph::Graph`], not a framework.** The part of an
//!   ONNX encoder to train arrives as a plain [`graph::GraphSpec`] (nodes, attributes and
//!   initializers copied from the ONNX by the library crate; this crate never parses protobuf)
//!   and runs with a hand-written forward and backward per operator (`graph/ops/`, one file
//!   each): Conv through im2col and an f32 GEMM (`gemm-f32`), BatchNormalization with batch
//!   statistics and PyTorch's running-statistics update in training, the MobileNetV3 and ViT
//!   activations, attention's MatMul/Softmax, and the integer shape plumbing of dynamic-batch
//!   exports. Parameters are ordinary [`nn::Param`]s, so the optimizers and checkpoints above
//!   apply unchanged, and [`graph::Graph::initializers`] hands back the weights and BN
//!   statistics to write into the ONNX. Each op's backward is checked against finite
//!   differences, and one SGD step on ResNet, MobileNetV3 and ViT blocks against PyTorch's
//!   (`tests/graph_parity.rs`, fixtures from `models/graph_fixtures.py`). An operator outside
//!   [`graph::SUPPORTED_OPS`] is a [`TrainError::UnsupportedOp`] naming it and its node.
//! * **Determinism is structural.** Randomness comes from [`Rng::stream`]`(seed, [purpose,
//!   epoch|step|frame, …])`, never from state carried across steps. A checkpoint is therefore
//!   just weights + optimizer moments + MoCo queue + step counter, and resume equals an
//!   uninterrupted run bit for bit (tested). Optimizers take the step number as an argument for
//!   the same reason ([`optim::Optimizer`]).
//! * **Files are safetensors, written atomically.** Adapters, heads and checkpoints share one
//!   writer: temp file in the same directory, fsync, rename, fsync the directory. Each file
//!   carries a `format` tag, so handing one kind to another's loader is a clear error.
//! * **Bad input is a [`TrainError`], never a panic**: empty data, fewer than two views,
//!   one class or an empty class, `k` larger than the data, NaN, width mismatch, a corrupt or
//!   foreign file. (Internal `Module` calls assume shapes already validated, like `ndarray`'s
//!   own `dot`.)
//!
//! Heads work in cosine geometry: they L2-normalize embeddings first, so an exporter puts
//! `x/‖x‖` in front of the head's math. Linear weights are stored `out × in`, as ONNX
//! `Gemm(transB=1)` expects.

pub mod augment;
mod error;
#[cfg(test)]
mod gradcheck;
pub mod graph;
pub mod head;
pub mod loss;
pub mod nn;
pub mod novelty;
pub mod optim;
pub mod parallel;
mod rng;
mod sgemm;
mod tensor_file;
mod tensor_store;
pub mod trainer;

pub use error::{Result, TrainError};
pub use rng::Rng;
pub use tensor_store::TensorStore;
