//! `edge-ssl bench`: latency, throughput, cold start and memory of one model across backends,
//! thread counts and batch sizes, optionally beside the same model in Python peers (ONNX
//! Runtime's Python API, PyTorch eager), written as JSON or as a Markdown report with charts.
//!
//! `--adapt DATA` measures adaptation instead: its wall time over the plain forward passes it
//! needs, and its peak RSS ([`adapt_cost`]).
//!
//! Every combination runs in a fresh child process (`worker`), so cold start really is cold
//! (library load, graph optimization, first inference) and peak RSS belongs to that combination
//! alone instead of being the high-water mark of everything measured before it.

pub mod adapt_cost;
pub mod bar_chart;
pub mod child;
pub mod end_to_end;
pub mod host;
pub mod measurement;
pub mod peers;
pub mod ratios;
pub mod report;
pub mod worker;
