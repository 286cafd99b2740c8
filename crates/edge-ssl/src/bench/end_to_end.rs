//! The image → class path, end to end: decode a file, preprocess it by the card, run the encoder,
//! apply a 10-class linear head and take the argmax — what a device classifying camera frames
//! does per picture. Compared against the same path in Python (Pillow + ONNX Runtime).

use std::path::{Path, PathBuf};
use std::time::Instant;

use edge_ssl_core::{decode_image, image_files};
use edge_ssl_runtime::{BackendKind, BackendOptions, select_backend};
use ndarray::Array2;

use super::host::proc_status_mb;
use super::measurement::{Measurement, Percentiles};
use super::worker::{Budget, Combination, timed_loop};
use crate::embed::embedder::Embedder;
use crate::error::{Context, bail};
use crate::model::reference::ResolvedModel;

/// The engine name an end-to-end row carries, e.g. `tract-e2e`.
pub fn engine_name(backend: &str) -> String {
    format!("{backend}-e2e")
}

pub const CLASSES: usize = 10;

/// JPEG and PNG files under `dir`, sorted (the Python side applies the same rule).
pub fn pictures(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = image_files(dir)?
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    if files.is_empty() {
        bail!(
            Data,
            "{}: no .jpg/.jpeg/.png files for the end-to-end run",
            dir.display()
        );
    }
    Ok(files)
}

/// Fixed head weights (the cost, not the accuracy, is what is measured); Python uses the same.
pub fn head_weights(dim: usize) -> Array2<f32> {
    Array2::from_shape_fn((dim, CLASSES), |(i, j)| {
        ((i * 31 + j * 17) % 13) as f32 / 13.0 - 0.5
    })
}

/// Classifies batches of `combo.batch` pictures, cycling through the folder, under `budget`.
pub fn measure(
    model: &ResolvedModel,
    combo: &Combination,
    options: BackendOptions,
    budget: Budget,
    dir: &Path,
) -> crate::Result<Measurement> {
    let files = pictures(dir)?;
    let backend_name = combo.engine.trim_end_matches("-e2e");
    let kind = BackendKind::parse(backend_name)?;
    let baseline_rss_mb = proc_status_mb("VmRSS:");
    let cold = Instant::now();
    let (backend, _) = select_backend(kind, &options.with_threads(Some(combo.threads)))?;
    let mut embedder = Embedder::load(backend.as_ref(), model)?;
    let head = head_weights(model.card.output.dim);
    let mut next = 0usize;
    let mut classify = |embedder: &mut Embedder| -> crate::Result<Vec<usize>> {
        let mut images = Vec::with_capacity(combo.batch);
        for _ in 0..combo.batch {
            let path = &files[next % files.len()];
            next += 1;
            images
                .push(decode_image(path).with_context(|| format!("decoding {}", path.display()))?);
        }
        let logits = embedder.embed_images(&images)?.dot(&head);
        Ok(logits
            .rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i)
            })
            .collect())
    };
    classify(&mut embedder)?;
    let cold_start_ms = cold.elapsed().as_secs_f64() * 1e3;
    let (samples, wall_s) = timed_loop(budget, || {
        std::hint::black_box(classify(&mut embedder)?);
        Ok(())
    })?;
    Ok(Measurement {
        engine: combo.engine.clone(),
        describe: format!(
            "{} over {} pictures in {}",
            embedder.describe(),
            files.len(),
            dir.display()
        ),
        threads: combo.threads,
        batch: combo.batch,
        cold_start_ms,
        iterations: samples.len(),
        latency_ms: Percentiles::of(&samples),
        samples_per_s: (combo.batch * samples.len()) as f64 / wall_s.max(1e-9),
        gflops_per_s: None,
        peak_rss_mb: proc_status_mb("VmHWM:"),
        baseline_rss_mb,
    })
}
