use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{CoreError, Result};

/// Writes `path` so that readers see either the old file or the whole new one, never a part.
///
/// The content goes to a hidden temporary file in the same directory (same filesystem, so the
/// rename is atomic), is flushed and fsynced, then renamed over `path`, and the directory is
/// fsynced so the rename itself survives a power cut. If `write` fails — a full disk, a bad
/// value — the temporary file is removed and `path` is untouched. A writer killed outright
/// (SIGKILL, power cut) cannot remove its temporary file, so after a successful write the
/// temporaries left in the directory by processes that no longer exist are swept (once per
/// directory and process).
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| CoreError::io(path, std::io::Error::other("not a file path")))?;
    // Unique per process *and* per call, so two threads saving at once never share a temp file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Persist the rename; some filesystems refuse fsync on a directory, which is harmless.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        sweep_dead_temporaries_once(dir);
    }
    result.map_err(|e| CoreError::io(path, e))
}

/// Removes the `.{name}.tmp-{pid}-{n}` files in `dir` whose writer process is gone, the first
/// time this process writes into `dir`: a frame store writing thousands of files into one
/// directory must not list it on every write. Where processes cannot be checked (no `/proc`),
/// nothing is removed: a live writer's file must never go.
fn sweep_dead_temporaries_once(dir: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    {
        let Ok(mut swept) = SWEPT.lock() else {
            return;
        };
        if !swept
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_path_buf())
        {
            return;
        }
    }
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.rsplit_once(".tmp-"))
            .map(|(_, rest)| rest)
        else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, |w| w.write_all(b"good")).unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_of_dead_writers_are_swept_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("edge-ssl-sweep-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // No process has a pid above the kernel's maximum (4194304), so this writer is dead.
        let dead = dir.join(".head.safetensors.tmp-4194399-0");
        // pid 1 is always alive.
        let live = dir.join(".head.safetensors.tmp-1-0");
        let other = dir.join(".card.toml.tmp-4194399-0");
        for p in [&dead, &live, &other] {
            fs::write(p, b"partial").unwrap();
        }
        write_atomic(&dir.join("head.safetensors"), |w| w.write_all(b"whole")).unwrap();
        assert!(!dead.exists(), "a dead writer's temporary was left");
        assert!(live.exists(), "a live writer's temporary was removed");
        assert!(
            !other.exists(),
            "a dead writer's temporary of another file was left"
        );
        assert_eq!(fs::read(dir.join("head.safetensors")).unwrap(), b"whole");
        // Once per directory: later writes here do not list it again.
        fs::write(&dead, b"partial").unwrap();
        write_atomic(&dir.join("card.toml"), |w| w.write_all(b"x")).unwrap();
        assert!(
            dead.exists(),
            "the directory was swept twice in one process"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err =
            write_atomic(Path::new("/nonexistent-dir/x.npy"), |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.npy"), "{err}");
    }
}
