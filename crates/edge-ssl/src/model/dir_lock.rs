//! One writer per output directory.
//!
//! Two `adapt` runs with the same `--out` used to fail with confusing internal errors (a
//! missing `.adapt-work/plan.json`, `views.npy`…) as each removed the other's work files. A
//! command that writes a model directory first takes an advisory lock (`flock`) on the
//! directory itself: no lock file is added to the model, the kernel drops the lock when the
//! process ends however it ends, and a second writer fails at once with one line naming the
//! holder's pid (read from `/proc/locks`).

use std::fs::File;
use std::path::Path;

use crate::error::Context;

/// Held while the directory is being written; dropping it (or exiting) releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
    /// The directory, when locking created it: a command that fails before writing anything
    /// must leave no empty directory behind, so dropping the lock removes it if still empty.
    created: Option<std::path::PathBuf>,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(dir) = &self.created {
            // Fails, harmlessly, once the directory holds anything.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` if needed and locks it for this process, or says who holds it.
pub fn lock(dir: &Path) -> crate::Result<DirLock> {
    let created = (!dir.exists()).then(|| dir.to_owned());
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let file = File::open(dir).map_err(|e| crate::Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `flock` on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(crate::Error::io(dir, err)).context("locking a directory");
            }
            let holder = holder_pid(&file)
                .map(|pid| format!("edge-ssl process {pid}"))
                .unwrap_or_else(|| "another edge-ssl process".into());
            return Err(crate::Error::Busy {
                dir: dir.to_owned(),
                holder,
            });
        }
    }
    Ok(DirLock {
        _dir: file,
        created,
    })
}

/// The pid holding an `flock` on `file`, from `/proc/locks` (Linux).
#[cfg(unix)]
fn holder_pid(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF`
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "FLOCK")?;
        let pid = fields.get(at + 3)?.parse().ok()?;
        let inode: u64 = fields.get(at + 4)?.rsplit(':').next()?.parse().ok()?;
        (inode == ino).then_some(pid)
    })
}

#[cfg(not(unix))]
fn holder_pid(_: &File) -> Option<u32> {
    None
}
