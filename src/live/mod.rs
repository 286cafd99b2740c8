//! The live path behind `edge-ssl run`: frames from a source, through the encoder, its adapter
//! and head, out to the terminal, a serial device and a display — and the frame loading that
//! lets `adapt --data` read a video or a camera as readily as a folder.
//!
//! Each piece is one file: [`interrupt`] (Ctrl-C as a flag), [`frame_reader`] (decoding on its
//! own thread), [`classifier`] (image → class, timed), [`serial_out`] and [`display_out`] (the
//! two optional sinks), [`run_stats`] (what the summary says), [`latency`] (its percentiles in
//! constant memory) and [`data_frames`] (`adapt`'s
//! loader). `cli/run.rs` only wires them.

pub mod display_out;
pub mod frame_reader;
pub mod head_refit;
pub mod interrupt;
pub mod page_out;
pub mod serial_out;
