//! Weights trained a few steps, written back into the ONNX: ONNX Runtime then computes what
//! the Rust graph's evaluation forward does, and not what the original model did.

use std::ops::ControlFlow;

use super::fixtures::{assert_close, bundled, onnxruntime, random};
use crate::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, import, write_back};

fn trained(train: Train, views_of: &dyn Fn(u64) -> ndarray::ArrayD<f32>) -> EncoderTrainer {
    let split = import(&bundled(), train).unwrap();
    let views = PairedViews::new(views_of(1), views_of(2)).unwrap();
    let config = TuneConfig::default()
        .with_epochs(3)
        .with_batch_size(8)
        .with_lr(1e-2)
        .with_projector(32, 16);
    let mut t = EncoderTrainer::new(split.into_graph(), config, &views).unwrap();
    assert!(t.fit(&views, |_| ControlFlow::Continue(())).unwrap());
    t
}

#[test]
fn written_model_matches_the_trained_graph_on_onnxruntime() {
    let x = random(&[4, 1, 28, 28], 11);
    let Some(before) = onnxruntime(&bundled(), &x) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let images = |seed| random(&[8, 1, 28, 28], seed);
    let t = trained(Train::All, &images);
    let out = dir.path().join("trained.onnx");
    assert!(write_back(&bundled(), t.graph(), &out).unwrap() >= 35);
    let after = onnxruntime(&out, &x).unwrap();
    let mut graph = t.into_graph();
    let want = graph.forward(vec![x.clone()], false).unwrap().remove(0);
    assert_close("all: ONNX Runtime on the written model", &after, &want);
    let moved = after
        .iter()
        .zip(&before)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(moved > 1e-2, "training changed the outputs by only {moved}");

    // A tail: the prefix is untouched, so the written model is prefix then trained tail.
    let split = import(&bundled(), Train::Tail(2)).unwrap();
    let prefix = dir.path().join("prefix.onnx");
    split.write_prefix(&prefix).unwrap();
    let cut_views = |seed| onnxruntime(&prefix, &random(&[8, 1, 28, 28], seed)).unwrap();
    let t = trained(Train::Tail(2), &cut_views);
    write_back(&bundled(), t.graph(), &out).unwrap();
    let after = onnxruntime(&out, &x).unwrap();
    let mut graph = t.into_graph();
    let want = graph
        .forward(vec![onnxruntime(&prefix, &x).unwrap()], false)
        .unwrap()
        .remove(0);
    assert_close("tail:2: ONNX Runtime on the written model", &after, &want);
}

#[test]
fn write_back_of_a_missing_model_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let graph = import(&bundled(), Train::Bn).unwrap().into_graph();
    let out = dir.path().join("out.onnx");
    assert!(write_back(&dir.path().join("absent.onnx"), &graph, &out).is_err());
    assert!(!out.exists());
}
