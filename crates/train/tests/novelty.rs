//! The novelty model from the outside: it separates a shifted cluster from the one it was
//! fitted on, flags about `1 − quantile` of fresh in-distribution rows, is a pure function of
//! its seed, survives a save/load round trip bit for bit, refuses damaged files, and its
//! exported score graph computes the same numbers. AUROC is checked against a brute-force
//! pair count.

use std::ops::ControlFlow;

use edge_ssl_train::novelty::{NoveltyConfig, NoveltyKind, NoveltyModel, ScoreGraph, auroc};
use edge_ssl_train::{Rng, TrainError};
use ndarray::{Array1, Array2, ArrayView2, Axis};

const D: usize = 16;

/// Rows near a 4-d subspace of R^16 around `center`: `center + A·z + 0.1·ε`.
struct Cluster {
    center: Vec<f32>,
    basis: Array2<f32>,
}

impl Cluster {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        Cluster {
            center: (0..D).map(|_| 2.0 * rng.normal()).collect(),
            basis: Array2::from_shape_simple_fn((4, D), || rng.normal()),
        }
    }

    fn shifted(&self, by: f32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let dir: Vec<f32> = (0..D).map(|_| rng.normal()).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f32>().sqrt();
        Cluster {
            center: self
                .center
                .iter()
                .zip(&dir)
                .map(|(c, d)| c + by * d / norm)
                .collect(),
            basis: self.basis.clone(),
        }
    }

    fn sample(&self, n: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::new(seed);
        let z = Array2::from_shape_simple_fn((n, 4), || rng.normal());
        let mut x = z.dot(&self.basis);
        for mut row in x.rows_mut() {
            for (v, c) in row.iter_mut().zip(&self.center) {
                *v += c + 0.1 * rng.normal();
            }
        }
        x
    }
}

fn small(kind: NoveltyKind) -> NoveltyConfig {
    NoveltyConfig::default()
        .with_kind(kind)
        .with_shape(32, 4)
        .with_epochs(40)
        .with_batch(64)
        .with_lr(3e-3)
        .with_quantile(0.95)
        .with_seed(7)
}

fn fit(rows: ArrayView2<f32>, config: &NoveltyConfig) -> NoveltyModel {
    NoveltyModel::fit(rows, config, |_| ControlFlow::Continue(())).unwrap()
}

/// Pairs (in, out) with out > in, ties counting ½, over all pairs: the definition of AUROC.
fn brute_force_auroc(ins: &[f32], outs: &[f32]) -> f64 {
    let mut wins = 0.0;
    for &o in outs {
        for &i in ins {
            wins += if o > i {
                1.0
            } else if o == i {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (ins.len() * outs.len()) as f64
}

#[test]
fn auroc_matches_pair_counting_and_known_cases() {
    assert_eq!(auroc(&[1.0, 2.0, 3.0], &[4.0, 5.0]).unwrap(), 1.0);
    assert_eq!(auroc(&[4.0, 5.0], &[1.0, 2.0, 3.0]).unwrap(), 0.0);
    assert_eq!(auroc(&[1.0, 1.0], &[1.0]).unwrap(), 0.5);
    // out 2 beats 1, ties 2, loses to 3 (1.5); out 4 beats all three (3): 4.5 / 6.
    assert_eq!(auroc(&[1.0, 2.0, 3.0], &[2.0, 4.0]).unwrap(), 0.75);
    let mut rng = Rng::new(11);
    for trial in 0..20 {
        // Values on a coarse grid so ties are common, sizes unequal.
        let n_in = 1 + rng.below(60);
        let n_out = 1 + rng.below(40);
        let grid = 1 + trial % 7;
        let mut draw = |shift: usize| -> f32 { (rng.below(grid + shift) as f32) / 2.0 };
        let ins: Vec<f32> = (0..n_in).map(|_| draw(0)).collect();
        let outs: Vec<f32> = (0..n_out).map(|_| draw(2)).collect();
        let got = auroc(&ins, &outs).unwrap() as f64;
        let want = brute_force_auroc(&ins, &outs);
        assert!((got - want).abs() < 1e-6, "trial {trial}: {got} vs {want}");
    }
    assert!(matches!(auroc(&[], &[1.0]), Err(TrainError::Empty(_))));
    assert!(matches!(
        auroc(&[f32::NAN], &[1.0]),
        Err(TrainError::NonFinite(_))
    ));
}

#[test]
fn every_kind_scores_a_shifted_cluster_higher_and_flags_about_the_quantile() {
    let home = Cluster::new(1);
    let train = home.sample(1000, 3);
    let fresh = home.sample(2000, 4);
    // Cosine k-NN ignores the norm, and a shift of 1 barely turns rows 8 units from the
    // origin, so it gets a larger one; the reconstruction scores see the small shift (an AE
    // after one epoch does not: AUROC 0.57).
    for (kind, shift) in [
        (NoveltyKind::Autoencoder, 1.0),
        (NoveltyKind::Vae, 1.0),
        (NoveltyKind::Knn, 4.0),
    ] {
        let novel = home.shifted(shift, 2).sample(500, 5);
        let model = fit(train.view(), &small(kind));
        let s_in = model.score(fresh.view()).unwrap();
        let s_out = model.score(novel.view()).unwrap();
        let a = auroc(s_in.as_slice().unwrap(), s_out.as_slice().unwrap()).unwrap();
        assert!(a > 0.95, "{kind}: AUROC {a}");
        let c = model.calibration();
        assert_eq!((c.held_out, c.trained_on), (200, 800));
        let flagged = model.is_novel(fresh.view()).unwrap();
        let rate = flagged.iter().filter(|&&f| f).count() as f32 / flagged.len() as f32;
        // 1 − 0.95 = 5 %; the threshold is an estimate from 200 held-out rows.
        assert!(
            (0.015..0.12).contains(&rate),
            "{kind}: {rate} of fresh rows flagged"
        );
        let flagged_out = model.is_novel(novel.view()).unwrap();
        let rate_out = flagged_out.iter().filter(|&&f| f).count() as f32 / 500.0;
        assert!(
            rate_out > 0.5,
            "{kind}: only {rate_out} of shifted rows flagged"
        );
        eprintln!(
            "{kind}: AUROC {a:.4}, flagged in {rate:.3}, out {rate_out:.3}, threshold {}",
            model.threshold()
        );
    }
}

#[test]
fn same_seed_same_scores_other_seed_other_scores() {
    let home = Cluster::new(1);
    let train = home.sample(300, 3);
    let probe = home.sample(50, 9);
    for kind in [NoveltyKind::Autoencoder, NoveltyKind::Vae] {
        let cfg = small(kind).with_epochs(5);
        let a = fit(train.view(), &cfg).score(probe.view()).unwrap();
        let b = fit(train.view(), &cfg).score(probe.view()).unwrap();
        assert_eq!(a, b, "{kind}");
        let c = fit(train.view(), &cfg.clone().with_seed(8))
            .score(probe.view())
            .unwrap();
        assert_ne!(a, c, "{kind}");
    }
}

#[test]
fn stopping_early_returns_a_calibrated_partial_model() {
    let train = Cluster::new(1).sample(300, 3);
    let mut seen = Vec::new();
    let model = NoveltyModel::fit(train.view(), &small(NoveltyKind::Vae), |s| {
        seen.push((s.step, s.total_steps, s.loss));
        if s.step == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    // 240 training rows in batches of 64: 4 steps per epoch, 40 epochs.
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(seen.iter().all(|s| s.1 == 160 && s.2.is_finite()));
    let t = model.training();
    assert_eq!((t.steps_done, t.total_steps, t.finished), (3, 160, false));
    assert!(model.threshold().is_finite());
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let home = Cluster::new(1);
    let train = home.sample(300, 3);
    let probe = home.shifted(2.0, 4).sample(100, 5);
    for kind in NoveltyKind::ALL {
        let model = fit(train.view(), &small(kind).with_epochs(3));
        let path = dir.path().join(format!("{kind}.safetensors"));
        let extra = [("encoder_sha256".to_string(), "abc".to_string())].into();
        model.save_with_metadata(&path, &extra).unwrap();
        let (back, meta) = NoveltyModel::load_with_metadata(&path).unwrap();
        assert_eq!(meta["encoder_sha256"], "abc");
        assert_eq!(back.kind(), kind);
        assert_eq!(back.calibration(), model.calibration());
        assert_eq!(back.training(), model.training());
        assert_eq!(back.score_graph(), model.score_graph());
        let (a, b) = (
            model.score(probe.view()).unwrap(),
            back.score(probe.view()).unwrap(),
        );
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{kind}"
        );
        let again = dir.path().join("again.safetensors");
        back.save_with_metadata(&again, &extra).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&again).unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn damaged_or_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("novelty.safetensors");
    let train = Cluster::new(1).sample(100, 3);
    fit(
        train.view(),
        &small(NoveltyKind::Autoencoder).with_epochs(1),
    )
    .save(&path)
    .unwrap();
    let good = std::fs::read(&path).unwrap();
    // Flip one bit in each of a spread of positions in the tensor data.
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for pos in (header..good.len()).step_by((good.len() - header) / 7) {
        let mut bad = good.clone();
        bad[pos] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let err = NoveltyModel::load(&path).unwrap_err();
        assert!(
            matches!(err, TrainError::Corrupt { .. }),
            "byte {pos}: {err}"
        );
    }
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(matches!(
        NoveltyModel::load(&path),
        Err(TrainError::Corrupt { .. })
    ));
    // An adapter file is not a novelty model.
    let adapter = dir.path().join("adapter.safetensors");
    edge_ssl_train::nn::Adapter::new(D, 8, &mut Rng::new(0))
        .save(&adapter)
        .unwrap();
    let err = NoveltyModel::load(&adapter).unwrap_err();
    assert!(err.to_string().contains("edge-ssl adapter"), "{err}");
    assert!(matches!(
        NoveltyModel::load(&dir.path().join("missing")),
        Err(TrainError::Io { .. })
    ));
}

#[test]
fn bad_input_is_an_error() {
    let train = Cluster::new(1).sample(100, 3);
    let cfg = small(NoveltyKind::Autoencoder).with_epochs(1);
    let no_op = |_: &_| ControlFlow::Continue(());
    assert!(matches!(
        NoveltyModel::fit(train.slice(ndarray::s![..2, ..]), &cfg, no_op),
        Err(TrainError::TooFewSamples { .. })
    ));
    let mut nan = train.clone();
    nan[[5, 3]] = f32::NAN;
    assert!(matches!(
        NoveltyModel::fit(nan.view(), &cfg, no_op),
        Err(TrainError::NonFinite(_))
    ));
    for bad in [
        cfg.clone().with_quantile(1.0),
        cfg.clone().with_held_out(0.0),
        cfg.clone().with_lr(-1.0),
    ] {
        assert!(matches!(
            NoveltyModel::fit(train.view(), &bad, no_op),
            Err(TrainError::InvalidConfig(_))
        ));
    }
    let knn = small(NoveltyKind::Knn).with_k(81);
    assert!(matches!(
        NoveltyModel::fit(train.view(), &knn, no_op),
        Err(TrainError::KTooLarge { k: 81, n: 80 })
    ));
    let model = fit(train.view(), &cfg);
    assert!(matches!(
        model.score(Array2::zeros((3, D + 1)).view()),
        Err(TrainError::DimMismatch { .. })
    ));
    assert!(matches!(
        model.score(nan.view()),
        Err(TrainError::NonFinite(_))
    ));
    assert_eq!(model.score(Array2::zeros((0, D)).view()).unwrap().len(), 0);
}

/// The export graph evaluated with plain ndarray math, following its documentation.
fn evaluate(graph: &ScoreGraph, x: ArrayView2<f32>) -> Array1<f32> {
    match graph {
        ScoreGraph::Reconstruction {
            mean,
            inv_std,
            layers,
        } => {
            let u = (&x - &mean.view().insert_axis(Axis(0))) * inv_std.view().insert_axis(Axis(0));
            let mut h = u.clone();
            for l in layers {
                h = h.dot(&l.weight.t()) + l.bias.view().insert_axis(Axis(0));
                if l.relu {
                    h.mapv_inplace(|v| v.max(0.0));
                }
            }
            ((h - &u).mapv(|v| v * v)).mean_axis(Axis(1)).unwrap()
        }
        ScoreGraph::Knn { points, k } => {
            let norms = x.map_axis(Axis(1), |r| {
                r.dot(&r).sqrt().max(edge_ssl_train::nn::L2_FLOOR)
            });
            let u = &x / &norms.insert_axis(Axis(1));
            let sims = u.dot(&points.t());
            sims.rows()
                .into_iter()
                .map(|r| {
                    let mut v = r.to_vec();
                    v.sort_by(|a, b| b.total_cmp(a));
                    (1.0 - v[k - 1]).max(0.0)
                })
                .collect()
        }
    }
}

#[test]
fn the_score_graph_computes_the_score() {
    let home = Cluster::new(1);
    let train = home.sample(300, 3);
    let probe = ndarray::concatenate![
        Axis(0),
        home.sample(40, 5),
        home.shifted(3.0, 6).sample(40, 7)
    ];
    for kind in NoveltyKind::ALL {
        let model = fit(train.view(), &small(kind).with_epochs(3));
        let graph = model.score_graph();
        if let ScoreGraph::Reconstruction { layers, .. } = &graph {
            let shapes: Vec<_> = layers
                .iter()
                .map(|l| (l.weight.dim(), l.bias.len(), l.relu))
                .collect();
            assert_eq!(
                shapes,
                [
                    ((32, D), 32, true),
                    ((4, 32), 4, false),
                    ((32, 4), 32, true),
                    ((D, 32), D, false)
                ]
            );
        }
        let want = evaluate(&graph, probe.view());
        let got = model.score(probe.view()).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{kind}: {g} vs {w}"
            );
        }
    }
}
