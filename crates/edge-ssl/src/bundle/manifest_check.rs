//! The check made before a model directory is loaded: when the directory came out of a bundle
//! (a `MANIFEST.sha256` inside it, or beside it in the bundle's top folder listing files under
//! it), every file the manifest lists must hash to what it says, and the directory must hold
//! nothing the manifest does not list — a swapped head or an added adapter would otherwise be
//! loaded as silently as a good one. A directory no manifest covers is loaded as before.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::sha256_file;

use super::manifest::{MANIFEST, Manifest};

/// Checks `dir` against the manifest that covers it, if any.
pub fn verify_model_dir(dir: &Path) -> crate::Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let Some((root, prefix, manifest_path)) = covering_manifest(&dir) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&text, &manifest_path.display().to_string())?;
    let listed: Vec<(&str, &str)> = manifest
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect();
    // A manifest beside the directory that lists nothing in it is about something else.
    if listed.is_empty() && !prefix.is_empty() {
        return Ok(());
    }
    for (rel, want) in &listed {
        let path = root.join(rel);
        if !path.is_file() {
            bail!(
                Bundle,
                "{}: listed in {} but missing; refusing to load the model",
                path.display(),
                manifest_path.display()
            );
        }
        let got = sha256_file(&path)?;
        if got != *want {
            bail!(
                Bundle,
                "{}: does not match {} (sha256 {got}, listed {want}): the file changed after bundling; refusing to load the model",
                path.display(),
                manifest_path.display()
            );
        }
    }
    let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && name == MANIFEST {
            continue;
        }
        if manifest.get(&format!("{prefix}{name}")).is_none() {
            bail!(
                Bundle,
                "{}: not listed in {}; a bundled model directory may hold only the files its manifest lists",
                entry.path().display(),
                manifest_path.display()
            );
        }
    }
    Ok(())
}

/// The manifest covering `dir` (canonical): `dir/MANIFEST.sha256` (paths relative to `dir`), or
/// the parent's (paths relative to the parent, the directory's own files under `<name>/`).
/// Returns the folder manifest paths are relative to, the prefix of `dir`'s files, the manifest.
fn covering_manifest(dir: &Path) -> Option<(PathBuf, String, PathBuf)> {
    let own = dir.join(MANIFEST);
    if own.is_file() {
        return Some((dir.to_owned(), String::new(), own));
    }
    let parent = dir.parent()?;
    let name = dir.file_name()?.to_str()?;
    let beside = parent.join(MANIFEST);
    beside
        .is_file()
        .then(|| (parent.to_owned(), format!("{name}/"), beside))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_ssl_core::sha256_reader;

    fn bundle_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let mut m = Manifest::default();
        for (rel, bytes) in files {
            let path = tmp.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            m.insert(rel, &sha256_reader(*bytes).unwrap());
        }
        std::fs::write(tmp.path().join(MANIFEST), m.render()).unwrap();
        tmp
    }

    #[test]
    fn intact_bundle_passes_and_uncovered_directories_are_ignored() {
        let b = bundle_with(&[("edge-ssl", b"bin"), ("model/head.safetensors", b"head")]);
        verify_model_dir(&b.path().join("model")).unwrap();
        std::fs::create_dir(b.path().join("other")).unwrap();
        std::fs::write(b.path().join("other/x"), b"x").unwrap();
        verify_model_dir(&b.path().join("other")).unwrap();
    }

    #[test]
    fn changed_missing_and_extra_files_are_named() {
        let b = bundle_with(&[("model/a", b"a"), ("model/head.safetensors", b"head")]);
        let model = b.path().join("model");
        std::fs::write(model.join("head.safetensors"), b"hexd").unwrap();
        let err = verify_model_dir(&model).unwrap_err().to_string();
        assert!(err.contains("head.safetensors: does not match"), "{err}");
        std::fs::write(model.join("head.safetensors"), b"head").unwrap();
        std::fs::write(model.join("adapter.safetensors"), b"new").unwrap();
        let err = verify_model_dir(&model).unwrap_err().to_string();
        assert!(err.contains("adapter.safetensors: not listed"), "{err}");
        std::fs::remove_file(model.join("adapter.safetensors")).unwrap();
        std::fs::remove_file(model.join("a")).unwrap();
        let err = verify_model_dir(&model).unwrap_err().to_string();
        assert!(err.contains("model/a: listed in"), "{err}");
    }

    #[test]
    fn a_manifest_inside_the_directory_covers_it() {
        let b = bundle_with(&[("card.toml", b"c")]);
        verify_model_dir(b.path()).unwrap();
        std::fs::write(b.path().join("card.toml"), b"d").unwrap();
        assert!(verify_model_dir(b.path()).is_err());
    }
}
