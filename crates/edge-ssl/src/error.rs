//! The library's one error type.
//!
//! Every fallible function of `edge_ssl` returns [`Result`]. A variant says which kind of input
//! was wrong (the model, the frames, the options, a bundle) so a program can react to the kind;
//! the message is one line about *this* failure and never repeats its source (walk
//! [`std::error::Error::source`] for the cause chain, as `anyhow`'s `{:#}` does) and never names
//! a command-line flag — the CLI adds that advice.

use std::path::PathBuf;

use edge_ssl_core::CoreError;
use edge_ssl_runtime::RuntimeError;
use edge_ssl_source::SourceError;
use edge_ssl_train::TrainError;

/// What went wrong in a library call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model file, card or model directory that cannot be used as it is.
    #[error("{0}")]
    Model(String),
    /// Frames, images or a labeled folder that cannot be used.
    #[error("{0}")]
    Data(String),
    /// Options that are out of range or contradict each other or the model.
    #[error("{0}")]
    Options(String),
    /// The adaptation's view cache (frames × views × embedding floats, held in memory) would
    /// pass its limit.
    #[error(
        "the view cache would need {:.1} GiB ({frames} frames × {views} views × {dim} floats), more than the {limit_gib} GiB allowed",
        *bytes as f64 / (1u64 << 30) as f64
    )]
    ViewCacheTooLarge {
        frames: usize,
        views: usize,
        dim: usize,
        bytes: u64,
        limit_gib: u64,
    },
    /// Encoder training's cache of what the frozen part outputs (frames × 2 views × floats
    /// per activation, held in memory) would pass its limit.
    #[error(
        "the cache of the frozen part's outputs would need {:.1} GiB ({frames} frames × 2 views × {floats} floats of `{cut}`), more than the {limit_gib} GiB allowed; train fewer blocks (a later cut) or use fewer frames",
        *bytes as f64 / (1u64 << 30) as f64
    )]
    ActivationCacheTooLarge {
        frames: usize,
        floats: usize,
        cut: String,
        bytes: u64,
        limit_gib: u64,
    },
    /// A source that never ends (a camera) was given without a bound on the frames to take.
    #[error("{0}: a camera never ends; set a maximum number of frames")]
    EndlessSource(String),
    /// A model that has no head where one is needed (to classify, export or bundle).
    #[error("{}: {what}", model.display())]
    NoHead { model: PathBuf, what: String },
    /// A model directory's head fitted on other embeddings than the directory now gives: its
    /// encoder or adapter changed since (re-adapted into the same directory). `differs` names
    /// the tie that no longer holds (`encoder_sha256`, `adapter_sha256`).
    #[error(
        "mismatched model directory: {} was fitted on other embeddings ({differs} differs); fit the head again",
        head.display()
    )]
    StaleHead { head: PathBuf, differs: String },
    /// Another process holds the lock of a directory this one would write
    /// ([`model::dir_lock`](crate::model::dir_lock)).
    #[error("{}: {holder} is writing this directory; wait for it to finish or stop it", dir.display())]
    Busy { dir: PathBuf, holder: String },
    /// A resume was asked for but the interrupted run differs.
    #[error("cannot resume: {0}")]
    ResumeMismatch(String),
    /// A bundle whose manifest or layout does not verify, or that cannot be packed.
    #[error("{0}")]
    Bundle(String),
    /// A benchmark measurement that failed: a measuring process that failed or printed no
    /// result (the message is that process's own error line).
    #[error("{0}")]
    Bench(String),
    /// Reading or writing a file failed.
    #[error("{}", if path.as_os_str().is_empty() { "I/O".into() } else { path.display().to_string() })]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file in a format edge-ssl reads (JSON, TOML, PNG…) did not parse or encode.
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Importing, training or writing back an encoder's own weights ([`crate::tune`]).
    #[error(transparent)]
    Tune(#[from] crate::tune::TuneError),
    /// The caller's progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// A step that should always produce something did not (a model with no output, a head
    /// with no prediction).
    #[error("{0}")]
    Internal(String),
    /// What the library was doing when `source` failed.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O failure about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The innermost error: the cause under every [`Error::Context`] layer.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// Whether the caller's callback cancelled the work (at any depth of context).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self.root(),
            Error::Cancelled | Error::Runtime(RuntimeError::Cancelled)
        )
    }
}

impl From<std::io::Error> for Error {
    /// An I/O error with no path; prefer [`Error::io`] where the path is known.
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            path: PathBuf::new(),
            source,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Format(format!("JSON: {e}"))
    }
}

impl From<ndarray::ShapeError> for Error {
    fn from(e: ndarray::ShapeError) -> Self {
        Error::Internal(format!("array shape: {e}"))
    }
}

impl From<image::ImageError> for Error {
    fn from(e: image::ImageError) -> Self {
        Error::Format(format!("image: {e}"))
    }
}

/// `.context()` / `.with_context()` on results and options, like `anyhow`'s, producing
/// [`Error::Context`].
pub trait Context<T> {
    /// Wraps the error with what was being done.
    fn context(self, context: impl std::fmt::Display) -> Result<T>;
    /// Like [`Context::context`], the text built only on failure.
    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.to_string(),
            source: Box::new(e.into()),
        })
    }

    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().to_string(),
            source: Box::new(e.into()),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::Internal(context.to_string()))
    }

    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::Internal(f().to_string()))
    }
}

/// Returns early with an [`Error`] of the given kind and a formatted message:
/// `bail!(Model, "{}: no card", path.display())`.
macro_rules! bail {
    ($kind:ident, $($fmt:tt)+) => {
        return Err($crate::Error::$kind(format!($($fmt)+)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_does_not_repeat_the_source_and_the_chain_has_both() {
        let e: Result<()> = Err(Error::Data("no frames".into())).context("adapting");
        let e = e.unwrap_err();
        assert_eq!(e.to_string(), "adapting");
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(source, "no frames");
        assert!(matches!(e.root(), Error::Data(_)));
    }

    #[test]
    fn cancellation_is_seen_through_context_and_crates() {
        let e: Result<()> = Err(RuntimeError::Cancelled).context("BN statistics");
        assert!(e.unwrap_err().is_cancelled());
        assert!(!Error::Options("x".into()).is_cancelled());
    }
}
