//! What a Flower message carries, as the device sees it: named `f32` arrays, a config, and
//! metrics. Flower's `ArrayRecord`, `ConfigRecord` and `MetricRecord`, without Python.

pub mod arrays;
pub mod config;
pub mod metrics;
pub mod record_dict;
