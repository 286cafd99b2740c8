mod adamw;
mod optimizer;
mod schedule;
mod sgd;

pub use adamw::AdamW;
pub use optimizer::{Optimizer, OptimizerKind};
pub use schedule::Schedule;
pub use sgd::Sgd;
