//! SimCLR steps on the bundled encoder: the loss falls, runs are deterministic, a resumed
//! run equals an uninterrupted one bit for bit, and bad settings or data are errors.

use std::ops::ControlFlow;

use ndarray::ArrayD;

use super::fixtures::{bundled, random};
use crate::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, TuneError, import};

/// Two views of 16 random "frames": the frame plus independent noise.
fn views() -> PairedViews {
    let frames = random(&[16, 1, 28, 28], 3);
    let noisy = |seed| &frames + &(random(&[16, 1, 28, 28], seed) * 0.3);
    PairedViews::new(noisy(4), noisy(5)).unwrap()
}

fn config() -> TuneConfig {
    TuneConfig::default()
        .with_epochs(12)
        .with_batch_size(16)
        .with_lr(3e-3)
        .with_projector(64, 32)
        .with_seed(9)
}

fn trainer(train: Train, views: &PairedViews) -> EncoderTrainer {
    EncoderTrainer::new(
        import(&bundled(), train).unwrap().into_graph(),
        config(),
        views,
    )
    .unwrap()
}

fn weights(t: &EncoderTrainer) -> Vec<(String, ArrayD<f32>)> {
    t.graph().initializers().into_iter().collect()
}

#[test]
fn a_few_steps_reduce_the_loss() {
    let views = views();
    for train in [Train::All, Train::Bn] {
        let mut t = trainer(train, &views);
        let mut seen = Vec::new();
        assert!(
            t.fit(&views, |p| {
                seen.push(*p);
                ControlFlow::Continue(())
            })
            .unwrap()
        );
        assert_eq!(seen.len(), 12);
        assert_eq!((seen[11].step, seen[11].total_steps), (12, 12));
        let l = t.losses();
        let (first, last) = ((l[0] + l[1]) / 2.0, (l[10] + l[11]) / 2.0);
        assert!(
            last < first - 0.05,
            "{train}: loss {first:.4} -> {last:.4} ({l:?})"
        );
    }
}

#[test]
fn resume_is_bit_identical_and_runs_are_deterministic() {
    let views = views();
    let mut whole = trainer(Train::All, &views);
    whole.fit(&views, |_| ControlFlow::Continue(())).unwrap();
    let mut again = trainer(Train::All, &views);
    again.fit(&views, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(weights(&whole), weights(&again), "same seed, same weights");

    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("tune.ckpt");
    let mut first = trainer(Train::All, &views).with_checkpoint(&ckpt, 100);
    let done = first
        .fit(&views, |p| {
            if p.step == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(!done);
    let graph = import(&bundled(), Train::All).unwrap().into_graph();
    let mut resumed = EncoderTrainer::load_checkpoint(&ckpt, graph, &views, None).unwrap();
    assert_eq!(resumed.step(), 5);
    resumed.fit(&views, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(resumed.losses(), whole.losses());
    assert_eq!(
        weights(&resumed),
        weights(&whole),
        "resumed = uninterrupted, bit for bit"
    );
}

#[test]
fn bad_settings_and_data_are_errors() {
    let views = views();
    let graph = || import(&bundled(), Train::Tail(1)).unwrap().into_graph();
    for bad in [
        config().with_epochs(0),
        config().with_lr(f32::NAN),
        config().with_batch_size(1),
    ] {
        let e = EncoderTrainer::new(graph(), bad, &views).err().unwrap();
        assert!(matches!(e, TuneError::Data { .. }), "{e}");
    }
    let a = random(&[4, 1, 28, 28], 1);
    assert!(PairedViews::new(a.clone(), random(&[4, 1, 28, 27], 2)).is_err());
    assert!(PairedViews::new(random(&[1, 1, 28, 28], 1), random(&[1, 1, 28, 28], 2)).is_err());
    let mut nan = a.clone();
    nan[[0, 0, 0, 0]] = f32::NAN;
    assert!(PairedViews::new(a, nan).is_err());
    // Activations of the wrong shape for the graph fail in its first forward, as an error.
    let wrong = PairedViews::new(random(&[4, 3, 5, 5], 1), random(&[4, 3, 5, 5], 2)).unwrap();
    assert!(EncoderTrainer::new(graph(), config(), &wrong).is_err());
    // A checkpoint of another kind of file is refused.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    assert!(EncoderTrainer::load_checkpoint(&junk, graph(), &views, None).is_err());
}
