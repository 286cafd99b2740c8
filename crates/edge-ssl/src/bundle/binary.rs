//! Which `edge-ssl` executable a bundle ships: the `dist` build for the target (stripped, LTO,
//! the one meant for devices), else its release build, else the running executable when it is
//! built for the target's architecture — and whichever it is, an ELF for that target.

use std::path::{Path, PathBuf};

use super::elf;
use super::target::Target;
use crate::error::bail;

/// A binary found for a target, and whether it is the build bundles are meant to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// `target/TRIPLE/dist/edge-ssl` ([`Target::dist_binary`]).
    Dist(PathBuf),
    /// The release build, or the running executable: larger, with symbols.
    NotDist(PathBuf),
}

/// The binary to ship for `target` when none is named; `None` when there is no build for it.
pub fn find(target: Target) -> Option<Found> {
    let (dist, release) = (target.dist_binary(), target.release_binary());
    if dist.is_file() {
        return Some(Found::Dist(dist));
    }
    if release.is_file() {
        return Some(Found::NotDist(release));
    }
    std::env::current_exe()
        .ok()
        .filter(|exe| elf::file_arch(exe).ok().flatten() == Some(target.arch()))
        .map(Found::NotDist)
}

/// Refuses an executable that is not an ELF for `target`.
pub fn check(path: &Path, target: Target) -> crate::Result<()> {
    match elf::file_arch(path)? {
        Some(arch) if arch == target.arch() => Ok(()),
        Some(arch) => bail!(
            Bundle,
            "{} is built for {arch}, not {} (target {target})",
            path.display(),
            target.arch()
        ),
        None => bail!(Bundle, "{} is not an ELF executable", path.display()),
    }
}
