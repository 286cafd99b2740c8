//! Joint training with a few labels: the head learns the labeled classes through the trained
//! encoder, the labels change what the encoder learns, a resumed joint run equals an
//! uninterrupted one bit for bit, and FixMatch's targets go only where the teacher is confident.

use std::ops::ControlFlow;

use edge_ssl_train::nn::Module;
use ndarray::{Array2, ArrayD, Axis, concatenate};

use super::fixtures::{bundled, random};
use crate::tune::{EncoderTrainer, LabeledViews, PairedViews, Train, TuneConfig, import};

fn config() -> TuneConfig {
    TuneConfig::default()
        .with_epochs(20)
        .with_batch_size(16)
        .with_lr(3e-3)
        .with_projector(64, 32)
        .with_seed(9)
}

fn frames() -> PairedViews {
    let frames = random(&[16, 1, 28, 28], 3);
    let noisy = |seed| &frames + &(random(&[16, 1, 28, 28], seed) * 0.3);
    PairedViews::new(noisy(4), noisy(5)).unwrap()
}

/// Eight images of each of two classes: a class pattern plus noise, two noisy views each.
fn labeled() -> LabeledViews {
    let patterns = random(&[2, 1, 28, 28], 11);
    let make = |seed: u64| {
        let per_class: Vec<ArrayD<f32>> = (0..2)
            .map(|c| {
                let p = patterns.index_axis(Axis(0), c).insert_axis(Axis(0));
                let noise = random(&[8, 1, 28, 28], seed + c as u64) * 0.5;
                &noise + &p
            })
            .collect();
        concatenate(Axis(0), &[per_class[0].view(), per_class[1].view()]).unwrap()
    };
    let views = PairedViews::new(make(20), make(30)).unwrap();
    let labels = [vec![0; 8], vec![1; 8]].concat();
    LabeledViews::new(views, labels, 2).unwrap()
}

fn trainer(with_labels: bool) -> EncoderTrainer {
    let graph = import(&bundled(), Train::All).unwrap().into_graph();
    let t = EncoderTrainer::new(graph, config(), &frames()).unwrap();
    if with_labels {
        t.with_labeled(labeled()).unwrap()
    } else {
        t
    }
}

fn weights(t: &EncoderTrainer) -> Vec<(String, ArrayD<f32>)> {
    t.graph().initializers().into_iter().collect()
}

/// The head's accuracy on the labeled images' first views, through the trained graph.
fn head_accuracy(t: EncoderTrainer, data: &LabeledViews) -> f64 {
    let head = t.head().unwrap().clone();
    let mut graph = t.into_graph();
    let all: Vec<usize> = (0..data.len()).collect();
    let y = graph
        .forward(vec![data.views().one_view(false, &all)], false)
        .unwrap()
        .remove(0);
    let (n, len) = (data.len(), y.len());
    let y: Array2<f32> = y
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((n, len / n))
        .unwrap();
    let logits = head.infer(y.view());
    let right = logits
        .outer_iter()
        .zip(data.labels())
        .filter(|(row, label)| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
                == **label
        })
        .count();
    right as f64 / data.len() as f64
}

#[test]
fn the_head_learns_the_labels_and_the_labels_change_the_encoder() {
    let frames = frames();
    let mut joint = trainer(true);
    assert!(joint.fit(&frames, |_| ControlFlow::Continue(())).unwrap());
    let mut plain = trainer(false);
    plain.fit(&frames, |_| ControlFlow::Continue(())).unwrap();
    assert!(plain.head().is_none());
    assert_ne!(weights(&joint), weights(&plain));
    // The joint loss includes the cross-entropy: above the SimCLR loss alone at the start.
    assert!(joint.losses()[0] > plain.losses()[0]);
    assert_eq!(head_accuracy(joint, &labeled()), 1.0);
}

#[test]
fn a_resumed_joint_run_is_bit_identical() {
    let frames = frames();
    let mut whole = trainer(true);
    whole.fit(&frames, |_| ControlFlow::Continue(())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("joint.ckpt");
    let mut first = trainer(true).with_checkpoint(&ckpt, 100);
    let stopped = !first
        .fit(&frames, |p| {
            if p.step == 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(stopped);
    let graph = || import(&bundled(), Train::All).unwrap().into_graph();
    let mut resumed =
        EncoderTrainer::load_checkpoint(&ckpt, graph(), &frames, Some(labeled())).unwrap();
    resumed.fit(&frames, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(resumed.losses(), whole.losses());
    assert_eq!(weights(&resumed), weights(&whole));
    let (a, b) = (resumed.head().unwrap(), whole.head().unwrap());
    assert_eq!(a.weight.value, b.weight.value);
    // Without the labeled views the checkpoint's head has nowhere to go: refused, not dropped.
    assert!(EncoderTrainer::load_checkpoint(&ckpt, graph(), &frames, None).is_err());
}

#[test]
fn labeled_views_are_checked() {
    let views = labeled().views().clone();
    assert!(LabeledViews::new(views.clone(), vec![0; 15], 2).is_err());
    assert!(LabeledViews::new(views.clone(), vec![0; 16], 1).is_err());
    assert!(LabeledViews::new(views.clone(), vec![2; 16], 2).is_err());
    let other = PairedViews::new(random(&[4, 3, 5, 5], 1), random(&[4, 3, 5, 5], 2)).unwrap();
    let wrong = LabeledViews::new(other, vec![0, 1, 0, 1], 2).unwrap();
    let graph = import(&bundled(), Train::All).unwrap().into_graph();
    let t = EncoderTrainer::new(graph, config(), &frames()).unwrap();
    assert!(t.with_labeled(wrong).is_err());
}

#[test]
fn copies_take_turns_and_each_shows_both_views() {
    // Two images in two copies: row r of view v is filled with 10·v + r.
    let fill =
        |v: usize| ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 1, 2, 2]), |i| (10 * v + i[0]) as f32);
    let views = PairedViews::new(fill(0), fill(1)).unwrap();
    let l = LabeledViews::new(views.clone(), vec![0, 1, 0, 1], 2)
        .unwrap()
        .in_copies(2)
        .unwrap();
    let firsts = |step| -> Vec<f32> {
        let (b, labels) = l.batch(step);
        assert_eq!(labels, [0, 1]);
        b.outer_iter()
            .map(|row| row.iter().next().copied().unwrap())
            .collect()
    };
    assert_eq!(firsts(0), [0.0, 1.0]);
    assert_eq!(firsts(1), [2.0, 3.0]);
    assert_eq!(firsts(2), [10.0, 11.0]);
    assert_eq!(firsts(3), [12.0, 13.0]);
    assert_eq!(firsts(4), [0.0, 1.0]);
    assert!(
        LabeledViews::new(views, vec![0, 1, 0, 1], 2)
            .unwrap()
            .in_copies(3)
            .is_err()
    );
}
