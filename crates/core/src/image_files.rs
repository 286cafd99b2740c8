use std::fs;
use std::path::{Path, PathBuf};

use crate::{CoreError, Result};

/// The files under `root` in a deterministic order: `root` itself when it is a file, otherwise
/// every regular file below it (recursively, hidden entries skipped), sorted by path.
///
/// Whether each one decodes as an image is left to the caller, who decides between skipping
/// with a count and failing (`--strict`). Sorting makes row *i* of an embedding file mean the
/// same image on every machine.
pub fn image_files(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = fs::metadata(root).map_err(|e| CoreError::io(root, e))?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| CoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| CoreError::io(&dir, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Follow symlinks: a folder of links to a camera's capture directory is common.
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
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

    #[test]
    fn missing_path_is_an_error() {
        assert!(image_files(Path::new("/no/such/dir")).is_err());
    }
}
