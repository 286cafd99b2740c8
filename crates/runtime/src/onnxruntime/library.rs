//! Finding `libonnxruntime.so` at run time.
//!
//! The order is fixed and documented because a device may hold several copies (JetPack's with
//! CUDA, a pip wheel's CPU-only one) and the user must be able to predict which one runs:
//!
//! 1. `--ort-lib PATH`, then the `ORT_DYLIB_PATH` environment variable. An explicit path that
//!    fails to load is an error, not a reason to keep looking.
//! 2. The `onnxruntime` Python package inside a `.venv` of the project: the current directory
//!    or one of its parents, or the executable's directory or one of its parents.
//! 3. The system library: `/usr/lib`, `/usr/local/lib`, the multiarch directories, then the
//!    dynamic loader's own search (`LD_LIBRARY_PATH`).
//!
//! The library can be loaded once per process; later requests get the one already loaded.

use std::path::{Path, PathBuf};

/// Where a candidate came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: &'static str,
    /// Explicit candidates must load; discovered ones may be skipped.
    pub explicit: bool,
}

/// Every candidate in discovery order (only existing files for the discovered ones).
pub fn candidates(explicit: Option<&Path>) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push(Candidate {
            path: p.to_owned(),
            origin: "--ort-lib",
            explicit: true,
        });
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(Candidate {
            path: PathBuf::from(p),
            origin: "ORT_DYLIB_PATH",
            explicit: true,
        });
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_owned));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        roots.extend(dir.ancestors().map(Path::to_owned));
    }
    let mut seen = std::collections::HashSet::new();
    for root in roots.into_iter().filter(|r| seen.insert(r.clone())) {
        for lib in venv_libraries(&root.join(".venv")) {
            out.push(Candidate {
                path: lib,
                origin: "project .venv",
                explicit: false,
            });
        }
    }
    for dir in [
        "/usr/lib",
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib/arm-linux-gnueabihf",
    ] {
        let p = Path::new(dir).join("libonnxruntime.so");
        if p.exists() {
            out.push(Candidate {
                path: p,
                origin: "system",
                explicit: false,
            });
        }
    }
    out
}

/// `libonnxruntime.so*` files of an `onnxruntime` wheel inside a virtual environment.
fn venv_libraries(venv: &Path) -> Vec<PathBuf> {
    let Ok(lib) = std::fs::read_dir(venv.join("lib")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for python in lib.flatten() {
        let capi = python.path().join("site-packages/onnxruntime/capi");
        if let Ok(entries) = std::fs::read_dir(&capi) {
            let mut libs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                })
                .collect();
            // The fully versioned name sorts last and is the real file.
            libs.sort();
            found.extend(libs.pop());
        }
    }
    found
}

#[cfg(feature = "ort")]
pub(crate) use loaded::{environment, load};

#[cfg(feature = "ort")]
mod loaded {
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, OnceLock};

    use super::candidates;
    use crate::{Result, RuntimeError};

    static LOADED: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();
    static LOADING: Mutex<()> = Mutex::new(());

    /// Loads ONNX Runtime (once) and returns the path it came from.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<PathBuf> {
        Ok(environment(explicit)?.0.clone())
    }

    /// The process-wide ONNX Runtime environment, loading the library first if needed.
    pub(crate) fn environment(
        explicit: Option<&Path>,
    ) -> Result<&'static (PathBuf, ort::environment::Environment)> {
        let _guard = LOADING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(loaded) = LOADED.get() {
            return Ok(loaded);
        }
        let all = candidates(explicit);
        let mut tried = Vec::new();
        for c in &all {
            let attempt = std::panic::catch_unwind(|| {
                ort::init_from(&c.path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| b.with_name("edge-ssl").build().map_err(|e| e.to_string()))
            });
            match attempt {
                Ok(Ok(env)) => return Ok(LOADED.get_or_init(|| (c.path.clone(), env))),
                Ok(Err(message)) if c.explicit => {
                    return Err(RuntimeError::OrtLoad {
                        path: c.path.clone(),
                        message: format!("{message} (from {})", c.origin),
                    });
                }
                Err(_) if c.explicit => {
                    return Err(RuntimeError::OrtLoad {
                        path: c.path.clone(),
                        message: format!("loading crashed (from {})", c.origin),
                    });
                }
                _ => tried.push(c.path.display().to_string()),
            }
        }
        // Last resort: the dynamic loader's own search path.
        let bare = Path::new("libonnxruntime.so");
        if let Ok(Ok(env)) = std::panic::catch_unwind(|| {
            ort::init_from(bare)
                .map_err(|e| e.to_string())
                .and_then(|b| b.with_name("edge-ssl").build().map_err(|e| e.to_string()))
        }) {
            return Ok(LOADED.get_or_init(|| (bare.to_owned(), env)));
        }
        tried.push("the loader's search path".into());
        Err(RuntimeError::OrtNotFound {
            tried: format!(
                "--ort-lib, ORT_DYLIB_PATH, .venv of the project, /usr/lib, /usr/local/lib{}",
                if tried.len() > 1 {
                    format!("; failed: {}", tried.join(", "))
                } else {
                    String::new()
                }
            ),
        })
    }
}
