use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::regular_file::ensure_replaceable;
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
///
/// Only a regular file, or nothing, is ever replaced. A directory, device, FIFO or socket at
/// `path` is a [`CoreError::NotRegular`]: run as root, renaming over `/dev/full` would turn the
/// device node into a file. A symbolic link at `path` is a [`CoreError::Symlink`]: the rename
/// would replace the link itself, not the file it names, which is neither thing a user could
/// have meant — name the target instead. Links in the directories above `path` are followed as
/// usual. `path` is checked before the temporary is written and again just before the rename,
/// and the temporary is created exclusively (`O_EXCL`), so a link planted under its name is
/// never followed.
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
    ensure_replaceable(path)?;
    let result = (|| {
        let io = |e| CoreError::io(path, e);
        let file = create_new(&tmp).map_err(io)?;
        let mut out = BufWriter::new(file);
        write(&mut out).map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        // The write may have taken minutes; what is at `path` now is what gets replaced.
        ensure_replaceable(path)?;
        fs::rename(&tmp, path).map_err(io)?;
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
    result
}

/// Creates `tmp` exclusively. A file already under that name carries this process's id and
/// counter, so it was left by an earlier process that had the same id (before a reboot) and
/// died: it is removed (a link, not its target) and the create tried once more.
fn create_new(tmp: &Path) -> std::io::Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(tmp);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()
        }
        other => other,
    }
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
    #[cfg(unix)]
    use std::os::unix::fs::FileTypeExt;

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

    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_or_nothing_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let leftovers = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .count()
        };
        let fifo = dir.path().join("out.fifo");
        crate::regular_file::tests::mkfifo(&fifo);
        let err = write_atomic(&fifo, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, |w| w.write_all(b"x")).unwrap_err();
        assert!(matches!(err, CoreError::NotRegular { .. }), "{err}");
        assert!(sub.is_dir());

        // A symlinked destination is refused; the link and the file it names are untouched.
        let target = dir.path().join("previous.npy");
        fs::write(&target, b"previous").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_atomic(&link, |w| w.write_all(b"new")).unwrap_err();
        assert!(matches!(err, CoreError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"previous");
        // A dangling link too: the rename would have replaced it with a file.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(write_atomic(&dangling, |w| w.write_all(b"x")).is_err());

        // A device node (`mknod` needs root: the part is skipped elsewhere).
        let dev = dir.path().join("full");
        let made = std::process::Command::new("mknod")
            .arg(&dev)
            .args(["c", "1", "7"])
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let err = write_atomic(&dev, |w| w.write_all(b"x")).unwrap_err();
            assert!(err.to_string().contains("character device"), "{err}");
            assert!(
                fs::symlink_metadata(&dev)
                    .unwrap()
                    .file_type()
                    .is_char_device()
            );
        }
        assert_eq!(leftovers(), 0);

        // The regular file is still replaced, and the write was never started for the others.
        write_atomic(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_destination_that_turns_into_a_link_during_the_write_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.npy");
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, b"keep").unwrap();
        let err = write_atomic(&path, |w| {
            std::os::unix::fs::symlink(&elsewhere, &path)?;
            w.write_all(b"new")
        })
        .unwrap_err();
        assert!(matches!(err, CoreError::Symlink { .. }), "{err}");
        assert!(fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(fs::read(&elsewhere).unwrap(), b"keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err =
            write_atomic(Path::new("/nonexistent-dir/x.npy"), |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.npy"), "{err}");
    }
}
