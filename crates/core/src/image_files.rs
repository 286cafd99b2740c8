use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{CoreError, Result};

/// The files under `root` in a deterministic order: `root` itself when it is a file, otherwise
/// every regular file below it (recursively, hidden entries skipped), sorted by path.
///
/// Whether each one decodes as an image is left to the caller, who decides between skipping
/// with a count and failing (`--strict`). Sorting makes row *i* of an embedding file mean the
/// same image on every machine.
///
/// Symbolic links are followed (a folder of links to a camera's capture directory is common),
/// but each directory is entered once, recognized by device and inode: a link back up the tree
/// (`loop -> .`) would otherwise be walked until the kernel's 40-link limit, listing every image
/// 41 times. A directory reachable under two names is listed under the one met first in a walk
/// that visits entries in name order, so the choice is the same on every machine. FIFOs,
/// sockets and devices are not listed.
pub fn image_files(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = fs::metadata(root).map_err(|e| CoreError::io(root, e))?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut out = Vec::new();
    let mut entered = HashSet::new();
    let mut stack = vec![(root.to_owned(), DirId::of(root, &meta))];
    while let Some((dir, id)) = stack.pop() {
        if !entered.insert(id) {
            continue;
        }
        let mut children = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| CoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| CoreError::io(&dir, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            children.push(entry.path());
        }
        children.sort();
        // Pushed in reverse so that they are popped, and so entered, in name order.
        for path in children.into_iter().rev() {
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    let id = DirId::of(&path, &m);
                    if !entered.contains(&id) {
                        stack.push((path, id));
                    }
                }
                Ok(m) if m.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What makes two directory paths the same directory.
#[derive(Debug, PartialEq, Eq, Hash)]
enum DirId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

impl DirId {
    #[cfg(unix)]
    fn of(_path: &Path, meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        DirId::Inode(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(path: &Path, _meta: &fs::Metadata) -> Self {
        DirId::Path(path.canonicalize().unwrap_or_else(|_| path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_sorted_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        for p in ["b/c/2.png", "a.png", "b/1.jpg", ".hidden.png"] {
            fs::write(root.join(p), b"x").unwrap();
        }
        let got: Vec<_> = image_files(root)
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["a.png", "b/1.jpg", "b/c/2.png"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_walked_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("cam/day")).unwrap();
        fs::write(root.join("a.png"), b"x").unwrap();
        fs::write(root.join("cam/day/b.png"), b"x").unwrap();
        let listed = || -> Vec<String> {
            image_files(root)
                .unwrap()
                .into_iter()
                .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        // The case: followed 40 levels deep, one image became 41 rows.
        symlink(".", root.join("loop")).unwrap();
        assert_eq!(listed(), ["a.png", "cam/day/b.png"]);
        // More ways back up (walked naively these multiply), and a second name for a directory:
        // its files are listed once, under the first name met.
        symlink("..", root.join("cam/up")).unwrap();
        symlink("cam", root.join("zz-cam")).unwrap();
        assert_eq!(listed(), ["a.png", "cam/day/b.png"]);
        // A link to a directory outside the root is still followed.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("c.png"), b"x").unwrap();
        symlink(outside.path(), root.join("linked")).unwrap();
        assert_eq!(image_files(root).unwrap().len(), 3);
    }

    #[test]
    fn missing_path_is_an_error() {
        assert!(image_files(Path::new("/no/such/dir")).is_err());
    }
}
