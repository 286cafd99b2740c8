//! Crash-safe file replacement for checkpoints, adapters and heads.
//!
//! A checkpoint is rewritten every few hundred steps while the process may be SIGKILLed or the
//! device may lose power at any instant; a reader (the `--resume` path) must see either the old
//! file or the whole new one. (`edge-ssl-core` has the same routine; `train` keeps its own copy
//! so it builds without the core crate — fold them together when core is the shared base.)

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Result, TrainError};

/// Writes via a hidden temp file in the same directory (same filesystem, so `rename` is
/// atomic), fsyncs it, renames it over `path`, then fsyncs the directory so the rename itself
/// is durable. On any failure the temp file is removed and `path` is untouched.
pub(crate) fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    // Unique per process *and* per call, so two threads saving at once never share a temp file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io = |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Some filesystems refuse fsync on a directory; the rename has still happened.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        write_atomic(&path, |w| w.write_all(b"good")).unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(matches!(err, Err(TrainError::Io { .. })));
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(Path::new("/nonexistent-dir/x"), |w| w.write_all(b"x")).is_err());
    }
}
