//! `edge-ssl adapt` as phases, one concept per file: the options (`options`), the work
//! directory that makes a run resumable (`work_dir`), BN re-estimation (`bn_phase`), training
//! the encoder's own weights (`encoder_phase`, on the prefix activations of `paired_cache`, with
//! a few labeled images when given: `labeled_phase`), the
//! view cache ([`view_cache`]), training the adapter (`train_phase`), the novelty model
//! (`novelty_phase`), the model directory it writes
//! (`model_output`) and the timings of all of them (`phase_times`); `pipeline` runs them
//! in order. `cli/adapt.rs` only turns flags into [`AdaptOptions`].

mod bn_phase;
mod bn_stream;
mod encoder_phase;
mod labeled_phase;
mod model_output;
mod novelty_phase;
mod options;
mod paired_cache;
mod phase_times;
mod pipeline;
mod train_phase;
pub mod view_cache;
mod work_dir;

pub use encoder_phase::EncoderTraining;
pub use labeled_phase::LabelsReport;
pub use options::AdaptOptions;
pub use paired_cache::MAX_ACTIVATION_CACHE_BYTES;
pub use pipeline::{AdaptReport, adapt};
