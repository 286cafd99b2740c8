//! Classifies images with a model directory: one line per image, its class and confidence.
//!
//! ```text
//! cargo run --release -p edge-ssl --example classify -- MODEL_DIR IMAGE...
//! ```
//!
//! `MODEL_DIR` is a directory made by `edge-ssl adapt` + `edge-ssl head` (or `edge_ssl::head`).
//! The backend is tract (pure Rust); set `EDGE_SSL_BACKEND=ort` for ONNX Runtime.

use std::process::ExitCode;

use edge_ssl::{BackendKind, BackendOptions, ModelDir, select_backend};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(model), images) = (args.next(), args.collect::<Vec<_>>()) else {
        anyhow::bail!("usage: classify MODEL_DIR IMAGE...");
    };
    if images.is_empty() {
        anyhow::bail!("usage: classify MODEL_DIR IMAGE...");
    }
    let kind = BackendKind::parse(&std::env::var("EDGE_SSL_BACKEND").unwrap_or("tract".into()))?;
    let (backend, _) = select_backend(kind, &BackendOptions::default())?;
    let model = ModelDir::open(&model)?;
    let mut classifier = model.load(backend.as_ref())?;
    for path in &images {
        // A file that does not decode is reported on its line; the others still run.
        match image::open(path) {
            Ok(image) => {
                let decision = classifier.classify(&image)?;
                println!(
                    "{path}\t{}\t{:.3}",
                    classifier.class_name(&decision),
                    decision.confidence
                );
            }
            Err(e) => println!("{path}\terror: {e}"),
        }
    }
    Ok(())
}
