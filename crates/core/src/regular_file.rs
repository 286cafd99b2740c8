//! Only regular files are data.
//!
//! edge-ssl runs as root on devices and reads paths that arrive from elsewhere: a model card's
//! `onnx` entry, an image folder copied off a camera, a bundle. A path that names a FIFO blocks
//! the first `open` forever; `/dev/zero` never ends; a symbolic link inside a model directory
//! can name `/etc/shadow`. So every file edge-ssl reads as data goes through [`open_regular`]
//! (or [`open_regular_in`] when the path comes from inside a directory), and every file it
//! writes goes through [`ensure_replaceable`] first: anything that is not a regular file is a
//! typed error before a byte moves.

use std::fs::{self, File, FileType, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::{Component, Path};

use crate::{CoreError, Result};

/// Opens `path` for reading if, and only if, it is a regular file (symbolic links followed).
///
/// The kind is checked before opening, so a device is never opened at all (opening some has
/// side effects), and again on the open descriptor, so a path swapped for a FIFO between the
/// two is still refused. The open itself is non-blocking: opening a FIFO with no writer would
/// otherwise wait forever, before any check could run. Non-blocking mode means nothing for a
/// regular file, which is all this ever returns.
pub fn open_regular(path: &Path) -> Result<File> {
    let meta = fs::metadata(path).map_err(|e| CoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| CoreError::io(path, e))?;
    let meta = file.metadata().map_err(|e| CoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    Ok(file)
}

/// The whole of a regular file ([`open_regular`]'s rules), for the small files read at once:
/// cards, `.npy` embeddings.
pub(crate) fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| CoreError::io(path, e))?;
    Ok(bytes)
}

/// Opens `rel`, a path found inside `dir` (a model card's `onnx = "…"`), if it names a regular
/// file that is inside `dir`.
///
/// Refused: an absolute `rel`, any `..` component, and a path whose symbolic links resolve
/// outside `dir` (both are canonicalized and the result must lie under the directory). A link
/// that stays inside is fine: a model directory may link its encoder to a shared copy next to
/// it only if that copy is inside too. What is opened is the resolved path, through
/// [`open_regular`], so FIFOs and devices are refused without blocking.
///
/// A process that can rewrite `dir` between the check and the open can still race it; the
/// guard is against files that arrive crafted, not against a concurrent local attacker.
pub fn open_regular_in(dir: &Path, rel: &Path) -> Result<File> {
    let outside = |reason: String| CoreError::OutsideDirectory {
        dir: dir.to_owned(),
        path: rel.to_owned(),
        reason,
    };
    if rel.is_absolute() || rel.has_root() {
        return Err(outside("is an absolute path".into()));
    }
    for component in rel.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(outside("contains `..`".into())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(outside("is an absolute path".into()));
            }
        }
    }
    let base = dir.canonicalize().map_err(|e| CoreError::io(dir, e))?;
    let joined = base.join(rel);
    let target = joined
        .canonicalize()
        .map_err(|e| CoreError::io(&joined, e))?;
    if !target.starts_with(&base) {
        return Err(outside(format!("resolves to {}", target.display())));
    }
    open_regular(&target)
}

/// Whether a write may rename a new file over `path`: yes when nothing is there or a regular
/// file is; a symbolic link, directory, device, FIFO or socket is refused.
pub(crate) fn ensure_replaceable(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) if meta.file_type().is_symlink() => Err(CoreError::Symlink {
            path: path.to_owned(),
        }),
        Ok(meta) => Err(not_regular(path, meta.file_type())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CoreError::io(path, e)),
    }
}

fn not_regular(path: &Path, kind: FileType) -> CoreError {
    CoreError::NotRegular {
        path: path.to_owned(),
        kind: describe(kind),
    }
}

/// What a user would call this kind of file, with its article.
fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    pub(crate) fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    /// Runs `f` on a thread and fails the test if it has not returned within 10 s: a FIFO that
    /// blocks must show as a failure, not as a test run that never ends.
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("blocked for 10 s")
    }

    #[test]
    fn a_regular_file_opens_and_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.onnx");
        fs::write(&file, b"bytes").unwrap();
        let mut text = String::new();
        open_regular(&file)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "bytes");

        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = within_10s(move || open_regular(&fifo).unwrap_err().to_string());
        assert!(err.contains("FIFO") && err.contains("fifo"), "{err}");
        let err = open_regular(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");
        let err = open_regular(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("character device"), "{err}");
    }

    #[test]
    fn paths_in_a_directory_stay_in_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/encoder.onnx"), b"inside").unwrap();
        fs::write(root.path().join("secret"), b"outside").unwrap();
        let mut text = String::new();
        open_regular_in(&dir, Path::new("./sub/encoder.onnx"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "inside");
        // A link that stays inside is followed.
        #[cfg(unix)]
        std::os::unix::fs::symlink("sub/encoder.onnx", dir.join("link.onnx")).unwrap();
        #[cfg(unix)]
        assert!(open_regular_in(&dir, Path::new("link.onnx")).is_ok());

        let refused = |rel: &str| -> String {
            match open_regular_in(&dir, Path::new(rel)) {
                Err(e @ CoreError::OutsideDirectory { .. }) => e.to_string(),
                other => panic!("{rel}: {other:?}"),
            }
        };
        assert!(refused("../secret").contains("`..`"));
        assert!(refused("sub/../../secret").contains("`..`"));
        let secret = root.path().join("secret");
        assert!(refused(secret.to_str().unwrap()).contains("absolute"));
        assert!(refused("/etc/passwd").contains("absolute"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, dir.join("escape")).unwrap();
            assert!(refused("escape").contains("resolves to"));
            std::os::unix::fs::symlink("/dev/zero", dir.join("zero.onnx")).unwrap();
            assert!(refused("zero.onnx").contains("/dev/zero"));
            std::os::unix::fs::symlink("..", dir.join("up")).unwrap();
            assert!(refused("up/secret").contains("resolves to"));
        }
    }

    #[test]
    fn special_files_inside_the_directory_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("encoder.onnx"));
        let d = dir.path().to_owned();
        let err = within_10s(move || open_regular_in(&d, Path::new("encoder.onnx")).unwrap_err());
        assert!(matches!(err, CoreError::NotRegular { .. }), "{err}");
        fs::create_dir(dir.path().join("sub")).unwrap();
        let err = open_regular_in(dir.path(), Path::new("sub")).unwrap_err();
        assert!(matches!(err, CoreError::NotRegular { .. }), "{err}");
        // A character device inside the directory: `mknod` needs root, so this part runs where
        // the tests run as root (the device machines do) and is skipped elsewhere.
        let dev = dir.path().join("zero");
        let made = std::process::Command::new("mknod")
            .arg(&dev)
            .args(["c", "1", "5"])
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let err = open_regular_in(dir.path(), Path::new("zero")).unwrap_err();
            assert!(err.to_string().contains("character device"), "{err}");
        }
    }
}
