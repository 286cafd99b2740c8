use std::ops::ControlFlow;

use ndarray::Array3;

use super::*;
use crate::nn::Module;
use crate::{Rng, TrainError};

/// Clustered "embeddings": 5 class centers in 16-d, each frame a center plus frame noise, each
/// view the frame plus view noise and a random gain — what an encoder does with augmented
/// views of a few object classes.
pub(crate) fn clustered_views(k: usize, n: usize, d: usize, seed: u64) -> Views {
    let mut rng = Rng::new(seed);
    let centers: Vec<Vec<f32>> = (0..5)
        .map(|_| (0..d).map(|_| 2.0 * rng.normal()).collect())
        .collect();
    let frames: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            centers[i % 5]
                .iter()
                .map(|c| c + 0.5 * rng.normal())
                .collect()
        })
        .collect();
    let mut data = Array3::zeros((k, n, d));
    for v in 0..k {
        for (i, f) in frames.iter().enumerate() {
            let gain = rng.uniform(0.8, 1.2);
            for j in 0..d {
                data[[v, i, j]] = gain * f[j] + 0.4 * rng.normal();
            }
        }
    }
    Views::new(data).unwrap()
}

fn small(method: Method) -> TrainConfig {
    TrainConfig::default()
        .with_method(method)
        .with_batch(32)
        .with_epochs(8)
        .with_lr(3e-3)
        .with_adapter_hidden(32)
        .with_projector(32, 32, crate::nn::NormKind::Batch)
        .with_moco(32, 0.2)
        .with_seed(5)
}

#[test]
fn every_method_decreases_its_loss() {
    let views = clustered_views(4, 160, 16, 1);
    for method in Method::ALL {
        let out = adapt(&views, small(method), |_| ControlFlow::Continue(())).unwrap();
        let c = &out.loss_curve;
        assert_eq!(c.len(), 40);
        let head: f32 = c[..5].iter().sum::<f32>() / 5.0;
        let tail: f32 = c[c.len() - 5..].iter().sum::<f32>() / 5.0;
        assert!(tail < head, "{method}: loss went from {head} to {tail}");
        // The adapter actually moved away from the identity.
        assert!(
            out.adapter.fc2.weight.value.iter().any(|&w| w != 0.0),
            "{method}"
        );
    }
}

#[test]
fn sgd_with_momentum_also_trains() {
    let views = clustered_views(4, 160, 16, 1);
    let cfg = small(Method::Vicreg)
        .with_optimizer(crate::optim::OptimizerKind::sgd())
        .with_lr(0.02);
    let c = adapt(&views, cfg, |_| ControlFlow::Continue(()))
        .unwrap()
        .loss_curve;
    let (head, tail) = (
        c[..5].iter().sum::<f32>(),
        c[c.len() - 5..].iter().sum::<f32>(),
    );
    assert!(tail < head, "{head} -> {tail}");
}

#[test]
fn same_seed_same_adapter_other_seed_other_adapter() {
    let views = clustered_views(3, 64, 8, 2);
    let run = |seed| {
        adapt(
            &views,
            small(Method::Vicreg).with_seed(seed).with_epochs(2),
            |_| ControlFlow::Continue(()),
        )
        .unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.loss_curve, b.loss_curve);
    assert_eq!(a.adapter.params(), b.adapter.params());
    assert_ne!(a.loss_curve, c.loss_curve);
}

#[test]
fn resume_from_checkpoint_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let views = clustered_views(4, 96, 8, 3);
    let sgd = crate::optim::OptimizerKind::sgd();
    for (method, optimizer) in [
        (Method::Moco, Default::default()),
        (Method::Byol, Default::default()),
        (Method::Emp, Default::default()),
        (Method::Vicreg, sgd),
    ] {
        let cfg = small(method)
            .with_epochs(4)
            .with_batch(24)
            .with_optimizer(optimizer);
        let straight = adapt(&views, cfg.clone(), |_| ControlFlow::Continue(())).unwrap();

        let path = dir.path().join(format!("{method}.ckpt"));
        let mut first = AdapterTrainer::new(cfg, &views)
            .unwrap()
            .with_checkpoint(&path, 1000);
        let summary = first
            .fit(&views, |s| {
                if s.step == 7 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!((summary.steps_done, summary.finished), (7, false));
        drop(first);

        let mut resumed = AdapterTrainer::load_checkpoint(&path)
            .unwrap()
            .with_checkpoint(&path, 1000);
        assert_eq!(resumed.steps_done(), 7);
        let summary = resumed.fit(&views, |_| ControlFlow::Continue(())).unwrap();
        assert!(summary.finished);
        assert_eq!(
            resumed.loss_curve(),
            straight.loss_curve.as_slice(),
            "{method}"
        );
        assert_eq!(
            resumed.adapter().params(),
            straight.adapter.params(),
            "{method}"
        );
        // The checkpoint written at the end also reloads to the finished state.
        let reloaded = AdapterTrainer::load_checkpoint(&path).unwrap();
        assert_eq!(reloaded.steps_done(), 16);
    }
}

#[test]
fn periodic_checkpoints_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt");
    let views = clustered_views(2, 64, 8, 4);
    let mut t = AdapterTrainer::new(small(Method::Barlow).with_epochs(1), &views)
        .unwrap()
        .with_checkpoint(&path, 1);
    let mut seen = Vec::new();
    t.fit(&views, |s| {
        seen.push(s.step);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, vec![1, 2]);
    assert_eq!(
        AdapterTrainer::load_checkpoint(&path).unwrap().steps_done(),
        2
    );
    // Only the checkpoint itself is left in the directory: no temp files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn bad_input_is_a_typed_error() {
    let views = clustered_views(2, 16, 4, 5);
    assert!(matches!(
        AdapterTrainer::new(small(Method::Vicreg).with_batch(1), &views),
        Err(TrainError::InvalidConfig(_))
    ));
    assert!(matches!(
        AdapterTrainer::new(small(Method::Vicreg).with_epochs(0), &views),
        Err(TrainError::InvalidConfig(_))
    ));
    assert!(matches!(
        AdapterTrainer::new(small(Method::Vicreg).with_lr(f32::NAN), &views),
        Err(TrainError::InvalidConfig(_))
    ));

    // A feature map, not an embedding: refused before its adapter is allocated.
    let wide = Views::new(Array3::zeros((2, 4, crate::nn::MAX_ADAPTER_WIDTH + 1))).unwrap();
    let err = AdapterTrainer::new(small(Method::Vicreg), &wide)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        TrainError::EmbeddingTooWide {
            dim: 16_385,
            max: 16_384
        }
    ));
    assert!(err.to_string().contains("16385 values an image"), "{err}");
    assert!(crate::nn::check_adapter_width(crate::nn::MAX_ADAPTER_WIDTH).is_ok());

    let mut t = AdapterTrainer::new(small(Method::Vicreg), &views).unwrap();
    let other = clustered_views(2, 16, 5, 5);
    assert!(matches!(t.step(&other), Err(TrainError::InvalidConfig(_))));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt");
    t.save_checkpoint(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert!(matches!(
        AdapterTrainer::load_checkpoint(&path),
        Err(TrainError::Corrupt { .. })
    ));
    t.adapter().save(&path).unwrap();
    let err = AdapterTrainer::load_checkpoint(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("adapter"), "{err}");
}

/// The product's claim in miniature: views differ by a large per-view nuisance (lighting,
/// blur) in half the dimensions; the class lives in the other half. Invariance learning
/// should suppress the nuisance, so a 5-shot head on adapted embeddings beats the same head
/// on raw ones.
#[test]
fn adaptation_suppresses_view_nuisance_and_helps_a_few_shot_head() {
    use crate::head::{Head, HeadKind};
    let (classes, d, n, k) = (4, 32, 400, 4);
    let mut rng = Rng::new(11);
    let centers: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..d / 2).map(|_| rng.normal()).collect())
        .collect();
    let frame = |c: usize, rng: &mut Rng| -> Vec<f32> {
        centers[c].iter().map(|v| v + 0.7 * rng.normal()).collect()
    };
    let view = |f: &[f32], rng: &mut Rng| -> Vec<f32> {
        let mut e = f.to_vec();
        e.extend((0..d / 2).map(|_| 4.0 * rng.normal()));
        e
    };
    let mut data = Array3::zeros((k, n, d));
    for i in 0..n {
        let f = frame(i % classes, &mut rng);
        for v in 0..k {
            let e = view(&f, &mut rng);
            data.slice_mut(ndarray::s![v, i, ..])
                .assign(&ndarray::ArrayView1::from(&e[..]));
        }
    }
    let views = Views::new(data).unwrap();
    let mut test = ndarray::Array2::zeros((200, d));
    let labels: Vec<usize> = (0..200).map(|i| i % classes).collect();
    for (i, &c) in labels.iter().enumerate() {
        let f = frame(c, &mut rng);
        test.row_mut(i)
            .assign(&ndarray::ArrayView1::from(&view(&f, &mut rng)[..]));
    }
    let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
    let accuracy = |x: &ndarray::Array2<f32>| {
        let head = Head::fit(
            HeadKind::Imprint,
            x.slice(ndarray::s![..20, ..]),
            &labels[..20],
            names.clone(),
        )
        .unwrap();
        let p = head.predict(x.slice(ndarray::s![20.., ..])).unwrap();
        p.iter()
            .zip(&labels[20..])
            .filter(|(p, y)| p.class == **y)
            .count() as f32
            / 180.0
    };
    let before = accuracy(&test);
    for method in Method::ALL {
        let cfg = TrainConfig::default()
            .with_method(method)
            .with_batch(64)
            .with_epochs(30)
            .with_lr(3e-3)
            .with_adapter_hidden(64)
            .with_projector(64, 64, crate::nn::NormKind::Batch);
        let out = adapt(&views, cfg, |_| ControlFlow::Continue(())).unwrap();
        let after = accuracy(&out.adapter.apply(test.view()).unwrap());
        // Measured: +12 (SimCLR) to +38 (EMP) points; 8 leaves room for platform rounding.
        assert!(
            after >= before + 0.08,
            "{method}: before {before:.3} after {after:.3}"
        );
    }
}

#[test]
fn a_trainer_can_start_from_a_given_adapter() {
    let views = clustered_views(3, 64, 8, 2);
    let first = adapt(&views, small(Method::Byol).with_epochs(2), |_| {
        ControlFlow::Continue(())
    })
    .unwrap()
    .adapter;
    let cfg = small(Method::Byol).with_epochs(1).with_seed(9);
    let warm = AdapterTrainer::new(cfg.clone(), &views)
        .unwrap()
        .with_initial_adapter(&first)
        .unwrap();
    let values = |a: &crate::nn::Adapter| -> Vec<ndarray::Array2<f32>> {
        a.params().iter().map(|p| p.value.clone()).collect()
    };
    assert_eq!(values(warm.adapter()), values(&first));
    let cold = AdapterTrainer::new(cfg.clone(), &views).unwrap();
    assert_ne!(values(cold.adapter()), values(&first));

    let mut trained = warm;
    trained.step(&views).unwrap();
    assert!(matches!(
        trained.with_initial_adapter(&first),
        Err(TrainError::InvalidConfig(_))
    ));
    let narrow = crate::nn::Adapter::new(4, 32, &mut Rng::new(1));
    assert!(
        AdapterTrainer::new(cfg.clone(), &views)
            .unwrap()
            .with_initial_adapter(&narrow)
            .is_err()
    );
    let other_hidden = crate::nn::Adapter::new(8, 16, &mut Rng::new(1));
    assert!(
        AdapterTrainer::new(cfg, &views)
            .unwrap()
            .with_initial_adapter(&other_hidden)
            .is_err()
    );
}
