//! BatchNorm statistics (AdaBN) in one streaming pass: the probe graph, the accumulation of its
//! per-batch statistics, the re-estimation that ties them together, and its report.

mod accumulate;
mod probe;
mod reestimate;
mod report;

pub use probe::write_probe;
pub use reestimate::{BnProgress, reestimate_batch_norm, reestimate_batch_norm_stream};
pub use report::{BnLayerReport, BnReport};
