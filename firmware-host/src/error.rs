//! What can go wrong on the host side of the link.

use std::path::PathBuf;

/// Errors from opening or using a serial link, or from running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot open serial port {path}")]
    Open {
        path: PathBuf,
        source: serialport::Error,
    },
    #[error("serial port {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a pseudo-terminal pair: {0}")]
    Pty(serialport::Error),
    #[error("cannot encode message: {0}")]
    Encode(edge_ssl_link::EncodeError),
    #[error("cannot write display image")]
    Display(#[from] edge_ssl_display::PngError),
}
