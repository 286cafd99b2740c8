//! Measuring a model on this device: latency, throughput, cold start and memory across backends,
//! thread counts and batch sizes, optionally beside the same model in Python peers (ONNX
//! Runtime's Python API, PyTorch eager), as a typed [`report::BenchRun`] and a Markdown report
//! with charts; and what adaptation costs beside the forward passes it needs ([`adapt_cost`]).
//!
//! Every combination runs in a fresh child process (the [`worker`] side, started and read by
//! [`child`]), so cold start really is cold (library load, graph optimization, first inference)
//! and peak RSS belongs to that combination alone instead of being the high-water mark of
//! everything measured before it. The parent collects rows and failures ([`collect`]); what
//! command line re-runs the worker is the caller's business (the CLI re-runs itself).

pub mod adapt_cost;
pub mod adapt_report;
pub mod bar_chart;
pub mod child;
pub mod collect;
pub mod end_to_end;
pub mod host;
pub mod measurement;
pub mod memory;
pub mod peers;
pub mod ratios;
pub mod report;
pub mod runner;
pub mod worker;
