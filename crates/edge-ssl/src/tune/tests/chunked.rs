//! A graph that does not mix the samples of a batch (no BatchNormalization, like a ViT tail)
//! trains in parts of at most `chunk_rows` rows (gradient caching): the same losses and
//! weights, to rounding, as running each batch whole; a graph with BatchNormalization always
//! runs whole (its batch statistics would change).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use edge_ssl_train::graph::{Graph, GraphSpec, NodeSpec};

use ndarray::{ArrayD, IxDyn};

use super::fixtures::{assert_close_within, bundled, random};
use crate::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, import};

/// `x (N × 8) → MatMul → Relu → MatMul → Softmax → y (N × 12)`, both weights trained.
fn mlp() -> Graph {
    let initializers = BTreeMap::from([
        ("w1".to_string(), random(&[8, 16], 21) * 0.5),
        ("w2".to_string(), random(&[16, 12], 22) * 0.5),
    ]);
    Graph::from_spec(GraphSpec {
        inputs: vec!["x".into()],
        outputs: vec!["y".into()],
        nodes: vec![
            NodeSpec::new("MatMul", "fc1", &["x", "w1"], &["h"]),
            NodeSpec::new("Relu", "act", &["h"], &["r"]),
            NodeSpec::new("MatMul", "fc2", &["r", "w2"], &["z"]),
            NodeSpec::new("Softmax", "soft", &["z"], &["y"]),
        ],
        trainable: initializers.keys().cloned().collect::<BTreeSet<_>>(),
        initializers,
        ..GraphSpec::default()
    })
    .unwrap()
}

fn config() -> TuneConfig {
    TuneConfig::default()
        .with_epochs(4)
        .with_batch_size(40)
        .with_lr(3e-3)
        .with_projector(32, 16)
        .with_seed(5)
}

/// Losses and final weights of a run on `views` with at most `chunk` rows at once.
fn run(graph: Graph, views: &PairedViews, chunk: usize) -> (Vec<f32>, Vec<f32>) {
    let mut t = EncoderTrainer::new(graph, config(), views)
        .unwrap()
        .with_chunk_rows(chunk);
    t.fit(views, |_| ControlFlow::Continue(())).unwrap();
    let weights = t
        .graph()
        .initializers()
        .into_values()
        .flat_map(|w| w.into_iter())
        .collect();
    (t.losses().to_vec(), weights)
}

#[test]
fn a_graph_without_batch_norm_trains_the_same_in_parts() {
    assert!(!mlp().mixes_samples());
    let noisy = |seed| random(&[80, 8], 1) + random(&[80, 8], seed) * 0.3;
    let views = PairedViews::new(noisy(2), noisy(3)).unwrap();
    // Batches of 40 frames are 80 rows: parts of 7 rows (the last one shorter) against whole.
    let (whole_loss, whole_w) = run(mlp(), &views, usize::MAX);
    let (part_loss, part_w) = run(mlp(), &views, 7);
    assert_eq!(whole_loss.len(), 8);
    assert!(whole_loss[7] < whole_loss[0], "{whole_loss:?}");
    let array = |v: &Vec<f32>| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).unwrap();
    assert_close_within("losses", &array(&part_loss), &array(&whole_loss), 1e-5);
    assert_close_within("weights", &array(&part_w), &array(&whole_w), 1e-5);
    // Something trained: the weights moved from where they started.
    let start: Vec<f32> = mlp()
        .initializers()
        .into_values()
        .flat_map(|w| w.into_iter())
        .collect();
    assert!(start.iter().zip(&whole_w).any(|(a, b)| a != b));
}

#[test]
fn a_graph_with_batch_norm_always_runs_whole() {
    let graph = || import(&bundled(), Train::All).unwrap().into_graph();
    assert!(graph().mixes_samples());
    let frames = random(&[16, 1, 28, 28], 3);
    let views = PairedViews::new(&frames + &random(&[16, 1, 28, 28], 4), frames).unwrap();
    // Parts of 5 rows would give other BN statistics; the trainer ignores them and the run
    // equals the whole one bit for bit.
    assert_eq!(run(graph(), &views, 5), run(graph(), &views, usize::MAX));
}
