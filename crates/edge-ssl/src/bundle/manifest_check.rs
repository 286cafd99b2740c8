//! The check made before a model directory is loaded: when the directory came out of a bundle
//! (a `MANIFEST.sha256` inside it, or beside it in the bundle's top folder listing files under
//! it), every file the manifest lists must hash to what it says, and the directory must hold
//! nothing the manifest does not list — a swapped head or an added adapter would otherwise be
//! loaded as silently as a good one. A directory no manifest covers is loaded as before.
//!
//! The check fails closed: anything named `MANIFEST.sha256` (a directory, a FIFO, an empty or
//! unreadable file) is a manifest that does not verify. The one manifest that is not about the
//! directory is a parent's that lists files but none under it and none of a bundle's own files
//! (the binary, the unit): a folder's own checksum list, not a bundle.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use std::io::Read;

use edge_ssl_core::{open_regular, sha256_file};

use super::manifest::{MANIFEST, Manifest};

/// Checks `dir` against the manifest that covers it, if any.
pub fn verify_model_dir(dir: &Path) -> crate::Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let Some((root, prefix, manifest_path)) = covering_manifest(&dir) else {
        return Ok(());
    };
    // A FIFO or a device here is an error, not a hang; a manifest past the bound is refused.
    let mut text = String::new();
    open_regular(&manifest_path)?
        .take(MAX_MANIFEST + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    if text.len() as u64 > MAX_MANIFEST {
        bail!(
            Bundle,
            "{}: larger than {MAX_MANIFEST} bytes; refusing to load the model",
            manifest_path.display()
        );
    }
    let manifest = Manifest::parse(&text, &manifest_path.display().to_string())?;
    if manifest.is_empty() {
        bail!(
            Bundle,
            "{}: lists no files, so it cannot vouch for the model; refusing to load it",
            manifest_path.display()
        );
    }
    let listed: Vec<(&str, &str)> = manifest
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect();
    if listed.is_empty() && !prefix.is_empty() {
        // A bundle's model is its `model/` folder; other folders beside it are not bundled.
        if prefix == "model/" && BUNDLE_FILES.iter().any(|f| manifest.get(f).is_some()) {
            bail!(
                Bundle,
                "{}: a bundle manifest that lists none of {}'s files; refusing to load the model",
                manifest_path.display(),
                dir.display()
            );
        }
        // A parent folder's own checksum list, not a bundle's: it says nothing about `dir`.
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

/// The largest manifest read (a bundle's lists a handful of files).
const MAX_MANIFEST: u64 = 1 << 20;

/// Files every bundle's manifest lists beside `model/`: the binary and the systemd unit.
const BUNDLE_FILES: [&str; 2] = ["edge-ssl", "edge-ssl.service"];

/// Whether anything at all is at `path` (a dangling link, a FIFO, a directory count).
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The manifest covering `dir` (canonical): `dir/MANIFEST.sha256` (paths relative to `dir`), or
/// the parent's (paths relative to the parent, the directory's own files under `<name>/`).
/// Returns the folder manifest paths are relative to, the prefix of `dir`'s files, the manifest.
fn covering_manifest(dir: &Path) -> Option<(PathBuf, String, PathBuf)> {
    let own = dir.join(MANIFEST);
    if present(&own) {
        return Some((dir.to_owned(), String::new(), own));
    }
    let parent = dir.parent()?;
    let name = dir.file_name()?.to_str()?;
    let beside = parent.join(MANIFEST);
    present(&beside).then(|| (parent.to_owned(), format!("{name}/"), beside))
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

    /// `verify_model_dir(dir)` on a thread, failing the test when it has not returned in 10 s
    /// (a FIFO manifest used to block its read forever).
    fn verify_within_10s(dir: &Path) -> crate::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = dir.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(verify_model_dir(&dir));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("verify_model_dir blocked for 10 s")
    }

    #[test]
    fn a_manifest_that_cannot_vouch_for_the_model_fails_closed() {
        let files: &[(&str, &[u8])] = &[
            ("edge-ssl", b"bin"),
            ("edge-ssl.service", b"unit"),
            ("model/edge-ssl.toml", b"card"),
        ];
        // Empty, a directory, a FIFO: each beside the model (the bundle layout) and inside it.
        for inside in [false, true] {
            for kind in ["empty", "directory", "fifo"] {
                let b = bundle_with(files);
                let model = b.path().join("model");
                let at = if inside {
                    model.join(MANIFEST)
                } else {
                    b.path().join(MANIFEST)
                };
                let _ = std::fs::remove_file(b.path().join(MANIFEST));
                match kind {
                    "empty" => std::fs::write(&at, b"").unwrap(),
                    "directory" => std::fs::create_dir(&at).unwrap(),
                    _ => assert!(
                        std::process::Command::new("mkfifo")
                            .arg(&at)
                            .status()
                            .unwrap()
                            .success()
                    ),
                }
                // A tampered card must not load behind it.
                std::fs::write(model.join("edge-ssl.toml"), b"tampered").unwrap();
                let err = verify_within_10s(&model).unwrap_err().to_string();
                assert!(err.contains(MANIFEST), "{kind} (inside: {inside}): {err}");
            }
        }
        // A bundle manifest that lists nothing under model/.
        let b = bundle_with(&[("edge-ssl", b"bin"), ("edge-ssl.service", b"unit")]);
        let model = b.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("edge-ssl.toml"), b"tampered").unwrap();
        let err = verify_within_10s(&model).unwrap_err().to_string();
        assert!(err.contains("lists none of"), "{err}");
        // A folder's own checksum list that is not a bundle's is not about the model.
        let b = bundle_with(&[("photos/a.png", b"png")]);
        let model = b.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("edge-ssl.toml"), b"card").unwrap();
        verify_within_10s(&model).unwrap();
    }
}
