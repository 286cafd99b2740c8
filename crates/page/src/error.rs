//! What can go wrong in the page's own work (binding, starting threads, saving a label). Bad
//! requests are not errors of this kind: they become 4xx responses and never leave the server.

use std::path::PathBuf;

/// The page crate's error.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("binding {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the {what} thread")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid class name {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_', starting with a letter or digit"
    )]
    ClassName(String),
    #[error("frame {0} is no longer held: only the most recent frames can be labeled")]
    FrameGone(u64),
    #[error("{0}: more than {1} classes; remove some class folders first")]
    TooManyClasses(PathBuf, usize),
    #[error("{0}: exists and is not a plain directory")]
    NotADirectory(PathBuf),
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("saving a label")]
    Save(#[from] edge_ssl_core::CoreError),
    #[error("no labels directory was configured")]
    NoLabelsDir,
}

pub type Result<T, E = PageError> = std::result::Result<T, E>;
