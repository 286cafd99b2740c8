mod adapter_trainer;
mod batches;
mod checkpoint;
mod config;
mod target;
mod views;

pub use adapter_trainer::{Adaptation, AdapterTrainer, FitSummary, StepInfo, adapt};
pub use config::{Method, TrainConfig};
pub use views::Views;

#[cfg(test)]
mod tests;
