//! How long BN re-estimation takes on a model, for the figures in commit messages and issues.
//!
//! `cargo run --release -p edge-ssl-runtime --example bn_phase -- MODEL.onnx [FRAMES] [BATCH]
//! [THREADS] [BACKEND] [embed]` (defaults: 64 frames, batches of 16, 2 threads, ort) re-estimates
//! the BN statistics of MODEL.onnx (card beside it, or built from the ONNX) on FRAMES deterministic
//! pseudo-random frames of the card's input size and prints one JSON line: wall seconds, passes,
//! BN layers. The frames are made before the clock starts, so only the BN phase is timed. With
//! `embed` it times the plain forward passes over the same frames on the same session pool
//! instead, the cost the BN phase is to be compared with (measure peak memory with
//! `/usr/bin/time -f %M`).

use std::path::PathBuf;
use std::time::Instant;

use edge_ssl_core::Tensor;
use edge_ssl_runtime::{
    BackendKind, BackendOptions, SessionPool, card_for, reestimate_batch_norm, select_backend,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bn_phase MODEL.onnx [FRAMES] [BATCH] [THREADS] [BACKEND]";
    let onnx = PathBuf::from(args.first().ok_or(usage)?);
    let num = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse::<usize>());
    let (frames, batch, threads) = (num(1, 64)?, num(2, 16)?, num(3, 2)?);
    let kind = BackendKind::parse(args.get(4).map_or("ort", String::as_str))?;
    let card = card_for(&onnx, None)?;
    let options = BackendOptions::default().with_threads(Some(threads));
    let (backend, _) = select_backend(kind, &options)?;
    let shape = card.input.batch_shape(1).to_vec();
    let per_frame: usize = shape[1..].iter().product();
    // A fixed linear congruential sequence: the same frames on every run and machine.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    };
    let batches: Vec<Tensor> = (0..frames.div_ceil(batch.max(1)))
        .map(|b| {
            let n = batch.min(frames - b * batch);
            let mut dims = shape.clone();
            dims[0] = n;
            let data: Vec<f32> = (0..n * per_frame).map(|_| next()).collect();
            Tensor::from_shape_vec(dims, data).expect("sizes agree")
        })
        .collect();
    let out = std::env::temp_dir().join(format!("bn_phase_{}.onnx", std::process::id()));
    let t0 = Instant::now();
    if args.get(5).is_some_and(|m| m == "embed") {
        let mut pool = SessionPool::new(backend.load_parallel(&onnx, &card)?)?;
        let loaded = t0.elapsed().as_secs_f64();
        pool.run_batches(batches.into_iter().map(Ok), |_, _| {
            Ok::<(), edge_ssl_runtime::RuntimeError>(())
        })?;
        println!(
            "{{\"model\": {:?}, \"backend\": {:?}, \"threads\": {threads}, \"frames\": {frames}, \"batch\": {batch}, \"mode\": \"embed\", \"load_seconds\": {loaded:.2}, \"seconds\": {:.2}}}",
            onnx.display().to_string(),
            backend.name(),
            t0.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let report = reestimate_batch_norm(backend.as_ref(), &onnx, &card, &batches, usize::MAX, &out)?;
    let seconds = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&out);
    println!(
        "{{\"model\": {:?}, \"backend\": {:?}, \"threads\": {threads}, \"frames\": {}, \"batch\": {batch}, \"bn_layers\": {}, \"passes\": {}, \"seconds\": {seconds:.2}}}",
        onnx.display().to_string(),
        backend.name(),
        report.frames,
        report.layers.len(),
        report.passes
    );
    Ok(())
}
