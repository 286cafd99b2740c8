use crate::{Backend, BackendOptions, OrtBackend, Result, RuntimeError, TractBackend};

/// Which engine to use, as the user names it on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Tract,
    Ort,
    /// ONNX Runtime when it loads, else tract.
    Auto,
}

impl BackendKind {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tract" => Ok(BackendKind::Tract),
            "ort" | "onnxruntime" => Ok(BackendKind::Ort),
            "auto" => Ok(BackendKind::Auto),
            other => Err(RuntimeError::Input(format!(
                "unknown backend `{other}` (expected tract, ort or auto)"
            ))),
        }
    }
}

/// The backend to use and, for `auto`, why it was picked (for the CLI to print).
pub fn select_backend(
    kind: BackendKind,
    options: &BackendOptions,
) -> Result<(Box<dyn Backend>, Option<String>)> {
    let ort = || OrtBackend::new(options.clone());
    let tract = || TractBackend::new(options.clone());
    match kind {
        BackendKind::Tract => Ok((Box::new(tract()), None)),
        BackendKind::Ort => {
            let b = ort();
            b.check()?;
            Ok((Box::new(b), None))
        }
        BackendKind::Auto => {
            let b = ort();
            match b.check() {
                Ok(()) => Ok((Box::new(b), Some("backend auto: picked ort".into()))),
                Err(e) => Ok((
                    Box::new(tract()),
                    Some(format!("backend auto: picked tract (ort unavailable: {e})")),
                )),
            }
        }
    }
}
