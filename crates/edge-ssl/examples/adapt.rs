//! Adapts an encoder to a folder of frames, a video file or a camera, without labels, and prints
//! the report as JSON. Progress goes to stderr; Ctrl-C is not handled here (see the CLI).
//!
//! ```text
//! cargo run --release -p edge-ssl --example adapt -- MODEL FRAMES OUT_DIR [EPOCHS]
//! ```
//!
//! `MODEL` is an ONNX file, a model directory or `default` (the bundled encoder).

use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

use edge_ssl::progress::{Event, Progress};
use edge_ssl::{AdaptOptions, BackendKind, BackendOptions, Encoder, select_backend};

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
    edge_ssl::allocator::tune_for_training();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, frames, out, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: adapt MODEL FRAMES OUT_DIR [EPOCHS]");
    };
    let encoder = if model == "default" {
        Encoder::bundled()?
    } else {
        Encoder::open(model)?
    };
    let epochs = match rest.first() {
        Some(e) => e.parse()?,
        None => 5,
    };
    let options = AdaptOptions {
        epochs,
        ..AdaptOptions::default()
    };
    let (backend, _) = select_backend(BackendKind::Tract, &BackendOptions::default())?;
    let progress = Progress::new(|event: &Event| {
        match event {
            Event::Start { phase, total } => eprintln!("{phase}: {} units", total.unwrap_or(0)),
            Event::Note(text) => eprintln!("{text}"),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    let report = encoder.adapt(
        backend.as_ref(),
        Path::new(frames),
        Path::new(out),
        &options,
        &progress,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
