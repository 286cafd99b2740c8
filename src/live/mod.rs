//! The live path behind `edge-ssl run`: frames from a source, through the encoder, its adapter
//! and head, out to the terminal, a serial device and a display — and the frame loading that
//! lets `adapt --data` read a video or a camera as readily as a folder.
//!
//! Each piece is one file: [`interrupt`] (Ctrl-C as a flag), [`frame_reader`] (decoding on its
//! own thread), [`serial_out`], [`display_out`] and [`page_out`] (the optional sinks),
//! [`head_refit`] (the page's labels → a new head), [`status_line`] (the terminal's live line).
//! The classifier, the run's statistics and the frame loading are the library's
//! (`edge_ssl::embed::classifier`, `edge_ssl::live`, `edge_ssl::frames`); `cli/run.rs` only
//! wires them.

pub mod display_out;
pub mod frame_reader;
pub mod head_refit;
pub mod interrupt;
pub mod page_out;
pub mod serial_out;
pub mod status_line;
