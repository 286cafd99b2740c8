//! # edge-ssl
//!
//! Run self-supervised ONNX encoders on edge devices, adapt them to a camera's own frames
//! without labels, fit a small head and classify.

pub mod adapt;
mod error;
pub mod bundle;
pub mod datasets;
pub mod embed;
pub mod export;
pub mod fleet;
pub mod frames;
pub mod head;
pub mod live;
pub mod model;
pub mod plot;
pub mod progress;
pub mod tune;
pub use error::{Context, Error, Result};
