//! What a live run measures: latency percentiles in constant memory ([`latency`]) and the
//! counters its summary reports ([`run_stats`]).

pub mod latency;
pub mod run_stats;
