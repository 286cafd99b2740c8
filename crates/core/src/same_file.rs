//! An output must not be one of its own command's inputs.
//!
//! `export --out MODEL/head.safetensors` would replace the head it is exporting, and
//! `embed photos/ --out photos/a.png` an image it is reading; both finish "successfully" and
//! leave a model or a data set silently damaged. Comparing paths as text misses `./a.png`
//! versus `a.png`, symbolic links and hard links, so files are compared by identity: device
//! and inode on Unix, the canonical path elsewhere.

use std::path::Path;

use crate::{CoreError, Result};

/// Refuses `out` when it is the same file as any of `inputs` (a `&[&Path]`, a `&[PathBuf]`…).
///
/// An `out` that does not exist yet cannot be an input, and then the inputs are not even
/// looked at, so a command over 100 000 images pays nothing in the usual case. Inputs that
/// cannot be examined are skipped: reading them will fail with its own error. Directories are
/// compared as themselves only; pass the files a command reads, not the folder they are in.
pub fn ensure_not_input<I>(out: &Path, inputs: I) -> Result<()>
where
    I: IntoIterator,
    I::Item: AsRef<Path>,
{
    let Some(target) = identity(out).map_err(|e| CoreError::io(out, e))? else {
        return Ok(());
    };
    for input in inputs {
        let input = input.as_ref();
        if identity(input).ok().flatten().as_ref() == Some(&target) {
            return Err(CoreError::OutputIsInput {
                path: out.to_owned(),
                input: input.to_owned(),
            });
        }
    }
    Ok(())
}

/// What makes two paths the same file; `None` when nothing is there.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Canonical(std::path::PathBuf),
}

fn identity(path: &Path) -> std::io::Result<Option<Identity>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(Some(Identity::Inode(meta.dev(), meta.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(Some(Identity::Canonical(path.canonicalize()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_same_file_by_any_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        let other = dir.path().join("b.png");
        fs::write(&image, b"png").unwrap();
        fs::write(&other, b"png").unwrap();
        let inputs = [other.as_path(), image.as_path()];

        let err = ensure_not_input(&image, inputs).unwrap_err();
        assert!(matches!(err, CoreError::OutputIsInput { .. }), "{err}");
        // Another spelling of the same path.
        let dotted = dir.path().join(".").join("a.png");
        assert!(ensure_not_input(&dotted, inputs).is_err());
        // A hard link is the same file under another name.
        let hard = dir.path().join("hard.png");
        fs::hard_link(&image, &hard).unwrap();
        assert!(ensure_not_input(&hard, inputs).is_err());
        #[cfg(unix)]
        {
            let soft = dir.path().join("soft.png");
            std::os::unix::fs::symlink(&image, &soft).unwrap();
            assert!(ensure_not_input(&soft, inputs).is_err());
        }
        // A different file with equal content, and an output that does not exist, are fine.
        let copy = dir.path().join("copy.png");
        fs::write(&copy, b"png").unwrap();
        ensure_not_input(&copy, inputs).unwrap();
        ensure_not_input(&dir.path().join("new.npy"), inputs).unwrap();
        // Owned paths work too, and missing inputs are skipped.
        let owned = vec![dir.path().join("missing.png"), image.clone()];
        assert!(ensure_not_input(&image, &owned).is_err());
    }
}
