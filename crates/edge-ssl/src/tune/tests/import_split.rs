//! The bundled encoder split for every selection: the right blocks and parameters train, and
//! prefix (ONNX Runtime) then tail (the Rust graph) computes what the whole model does.

use super::fixtures::{assert_close, bundled, onnxruntime, random};
use crate::tune::{Train, import};

/// The tensor the last two of the bundled encoder's seven conv blocks read.
const CUT_TAIL_2: &str = "/features/features.4/features.4.2/Relu_output_0";

fn param_names(train: Train) -> Vec<String> {
    let split = import(&bundled(), train).unwrap();
    split
        .graph()
        .params()
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

#[test]
fn every_selection_splits_where_it_says() {
    let cases: [(Train, Option<&str>, usize, usize); 5] = [
        (Train::None, Some("embedding"), 0, 0),
        (Train::Bn, None, 7, 14),
        (Train::Tail(2), Some(CUT_TAIL_2), 2, 6),
        (Train::Tail(99), None, 7, 21),
        (Train::All, None, 7, 21),
    ];
    for (train, cut, blocks, params) in cases {
        let split = import(&bundled(), train).unwrap();
        assert_eq!(split.blocks(), 7, "{train}");
        assert_eq!(split.cut(), cut, "{train}");
        assert_eq!(split.trained_blocks(), blocks, "{train}");
        assert_eq!(split.graph().params().len(), params, "{train}");
        let dir = tempfile::tempdir().unwrap();
        let wrote = split.write_prefix(&dir.path().join("prefix.onnx")).unwrap();
        assert_eq!(
            wrote,
            cut.is_some(),
            "{train}: a prefix exactly when something is frozen"
        );
    }
    let bn = param_names(Train::Bn);
    assert!(
        bn.iter()
            .all(|n| n.contains(".1.weight") || n.contains(".1.bias")),
        "{bn:?}"
    );
    let mut tail = param_names(Train::Tail(2));
    tail.sort();
    assert_eq!(
        tail,
        [
            "features.5.0.weight",
            "features.5.1.bias",
            "features.5.1.weight",
            "features.6.0.weight",
            "features.6.1.bias",
            "features.6.1.weight"
        ]
    );
}

#[test]
fn prefix_then_tail_equals_the_whole_model() {
    let x = random(&[3, 1, 28, 28], 7);
    let Some(whole) = onnxruntime(&bundled(), &x) else {
        return;
    };
    for train in [
        Train::None,
        Train::Tail(1),
        Train::Tail(2),
        Train::Tail(6),
        Train::All,
    ] {
        let split = import(&bundled(), train).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix.onnx");
        let input = if split.write_prefix(&prefix).unwrap() {
            onnxruntime(&prefix, &x).unwrap()
        } else {
            x.clone()
        };
        let mut graph = split.into_graph();
        let got = graph.forward(vec![input], false).unwrap().remove(0);
        assert_close(&format!("{train}"), &got, &whole);
    }
}

/// The prefix is an ordinary model for the backends: tract runs it (the card is the
/// encoder's: same input), and prefix then tail equals tract on the whole encoder.
#[test]
fn tract_runs_the_prefix() {
    use edge_ssl_runtime::{Backend, BackendOptions, TractBackend, card_for};
    let card = card_for(&bundled(), None).unwrap();
    let tract = TractBackend::new(BackendOptions::default());
    let x = random(&[2, 1, 28, 28], 8);
    let whole = tract
        .load(&bundled(), &card)
        .unwrap()
        .run_one(x.view())
        .unwrap();
    for train in [Train::Tail(1), Train::Tail(4)] {
        let split = import(&bundled(), train).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix.onnx");
        split.write_prefix(&prefix).unwrap();
        let mut session = tract.load(&prefix, &card).unwrap();
        let cut = session.run_one(x.view()).unwrap();
        assert_eq!(
            cut.ndim(),
            4,
            "{train}: the prefix outputs the cut activation"
        );
        let mut graph = split.into_graph();
        let got = graph.forward(vec![cut], false).unwrap().remove(0);
        assert_close(&format!("{train} on tract"), &got, &whole);
    }
}
