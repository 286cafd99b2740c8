use std::path::PathBuf;

/// Everything that can go wrong in the core: each variant names the file it is about. The
/// message never repeats its source: print the chain (`anyhow`'s `{:#}`) to see the cause.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid model card: {message}")]
    Card { path: PathBuf, message: String },
    #[error("{path}: cannot decode image: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Npy { path: PathBuf, message: String },
    #[error("{0}")]
    Shape(String),
    /// A device, FIFO, socket or directory where only a regular file may be: such a thing is
    /// never read as data (a FIFO or `/dev/zero` would hang or never end) nor replaced by a write
    /// (renaming over `/dev/full` would turn a device node into a file).
    #[error("{path}: is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    /// A write's destination is a symbolic link. Renaming over it would replace the link, not
    /// the file it names, which is neither reading a user might have meant.
    #[error("{path}: is a symbolic link; refusing to replace it (name the file it points to)")]
    Symlink { path: PathBuf },
    /// An output that is the same file as one of the command's inputs.
    #[error("{path}: is also an input ({input}); refusing to overwrite it")]
    OutputIsInput { path: PathBuf, input: PathBuf },
    /// A path inside a directory (a model directory's card entry) that leads out of it.
    #[error("{path}: {reason}; it must stay inside {dir}")]
    OutsideDirectory {
        dir: PathBuf,
        path: PathBuf,
        reason: String,
    },
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// `e` and every cause under it on one line, joined by `: ` (what `anyhow`'s `{:#}` prints):
/// for the places that keep an error as text, such as a list of skipped files. Always one
/// printable line ([`one_line`](crate::one_line)), whatever the messages hold.
pub fn error_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    crate::one_line(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_names_its_path_once_and_its_cause_once() {
        let e = CoreError::io("x.onnx", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), "x.onnx");
        assert_eq!(error_line(&e), "x.onnx: entity not found");
    }
}
