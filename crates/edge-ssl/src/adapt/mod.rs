//! `edge-ssl adapt` as phases, one concept per file: the options (`options`), the work
//! directory that makes a run resumable (`work_dir`), BN re-estimation (`bn_phase`), the
//! view cache ([`view_cache`]), training (`train_phase`), the novelty model
//! (`novelty_phase`), the model directory it writes
//! (`model_output`) and the timings of all of them (`phase_times`); `pipeline` runs them
//! in order. `cli/adapt.rs` only turns flags into [`AdaptOptions`].

mod bn_phase;
mod model_output;
mod novelty_phase;
mod options;
mod phase_times;
mod pipeline;
mod train_phase;
pub mod view_cache;
mod work_dir;

pub use options::AdaptOptions;
pub use pipeline::{AdaptReport, adapt};
