//! Real-size encoders from `models/export.py --random-init` (too big to commit; ignored):
//! `tail:1` imports, one SimCLR step runs, and the written-back model on ONNX Runtime equals
//! prefix (ONNX Runtime) then trained tail (Rust). Prints time per step and peak memory.
//!
//! ```text
//! for a in resnet18 mobilenet_v3_small vit_small_patch16_224; do
//!     .venv/bin/python models/export.py $a --random-init; done
//! cargo test -p edge-ssl --lib tune::tests::real_size -- --ignored --nocapture
//! ```
//!
//! `EDGE_SSL_TUNE_TRAIN=tail:2` (any selection that leaves a prefix), `EDGE_SSL_TUNE_ARCHS=resnet18`
//! (one process per model gives each its own peak memory) and `EDGE_SSL_TUNE_FRAMES=32` vary it.

use std::ops::ControlFlow;
use std::time::Instant;

use super::fixtures::{assert_close, onnxruntime, random, repo};
use crate::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, import, write_back};

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "needs models/export.py --random-init exports in .cache/models"]
fn tail_1_of_real_encoders_trains_and_writes_back() {
    let frames: usize = std::env::var("EDGE_SSL_TUNE_FRAMES").map_or(16, |v| v.parse().unwrap());
    let train: Train =
        std::env::var("EDGE_SSL_TUNE_TRAIN").map_or(Train::Tail(1), |v| v.parse().unwrap());
    let archs = std::env::var("EDGE_SSL_TUNE_ARCHS")
        .unwrap_or_else(|_| "resnet18,mobilenet_v3_small,vit_small_patch16_224".into());
    for arch in archs.split(',') {
        let model = repo().join(".cache/models").join(format!("{arch}.onnx"));
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let split = import(&model, train).unwrap();
        let (blocks, cut) = (split.blocks(), split.cut().unwrap().to_string());
        let prefix = dir.path().join("prefix.onnx");
        assert!(split.write_prefix(&prefix).unwrap());
        let imported = t0.elapsed();
        let view = |seed| onnxruntime(&prefix, &random(&[frames, 3, 224, 224], seed)).unwrap();
        let views = PairedViews::new(view(1), view(2)).unwrap();
        let config = TuneConfig::default().with_epochs(1).with_batch_size(frames);
        let mut t = EncoderTrainer::new(split.into_graph(), config, &views).unwrap();
        let params: usize = t.graph().params().iter().map(|p| p.value.len()).sum();
        let t1 = Instant::now();
        t.fit(&views, |_| ControlFlow::Continue(())).unwrap();
        let step = t1.elapsed();
        let out = dir.path().join("trained.onnx");
        let t2 = Instant::now();
        let written = write_back(&model, t.graph(), &out).unwrap();
        let wrote = t2.elapsed();
        let x = random(&[2, 3, 224, 224], 5);
        let after = onnxruntime(&out, &x).unwrap();
        let mut graph = t.into_graph();
        let want = graph
            .forward(vec![onnxruntime(&prefix, &x).unwrap()], false)
            .unwrap()
            .remove(0);
        assert_close(
            &format!("{arch}: written model vs prefix + trained tail"),
            &after,
            &want,
        );
        eprintln!(
            "{arch}: {blocks} blocks, {train} reads {cut} {:?}, {params} parameters; import {:.2} s, \
             one step on {frames} frames x 2 views {:.3} s, write-back of {written} tensors {:.2} s, \
             peak RSS so far {:.0} MiB",
            views.item_shape(),
            imported.as_secs_f64(),
            step.as_secs_f64(),
            wrote.as_secs_f64(),
            peak_rss_mib()
        );
    }
}
