//! Bad graphs and bad calls are typed errors that name the node, never panics.

use std::collections::{BTreeMap, BTreeSet};

use edge_ssl_train::TrainError;
use edge_ssl_train::graph::{Graph, GraphSpec, NodeSpec, SUPPORTED_OPS};
use ndarray::{ArrayD, IxDyn};

fn linear_spec() -> GraphSpec {
    GraphSpec {
        inputs: vec!["x".into()],
        outputs: vec!["y".into()],
        nodes: vec![
            NodeSpec::new("MatMul", "fc", &["x", "w"], &["h"]),
            NodeSpec::new("Relu", "act", &["h"], &["y"]),
        ],
        initializers: BTreeMap::from([("w".to_string(), ArrayD::from_elem(IxDyn(&[3, 2]), 0.5))]),
        int_initializers: BTreeMap::new(),
        trainable: BTreeSet::from(["w".to_string()]),
    }
}

#[test]
fn unsupported_op_is_named_with_its_node() {
    let mut spec = linear_spec();
    spec.nodes
        .push(NodeSpec::new("LSTM", "/rnn/lstm", &["y"], &["z"]));
    let err = Graph::from_spec(spec).unwrap_err();
    assert!(
        matches!(&err, TrainError::UnsupportedOp { op, node } if op == "LSTM" && node == "/rnn/lstm"),
        "{err}"
    );
    assert!(!SUPPORTED_OPS.contains(&"LSTM") && SUPPORTED_OPS.contains(&"Conv"));
}

#[test]
fn dangling_names_are_errors() {
    let mut spec = linear_spec();
    spec.nodes[1].inputs[0] = "missing".into();
    assert!(
        Graph::from_spec(spec)
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
    let mut spec = linear_spec();
    spec.outputs = vec!["nowhere".into()];
    assert!(Graph::from_spec(spec).is_err());
    let mut spec = linear_spec();
    spec.trainable.insert("not_there".into());
    assert!(Graph::from_spec(spec).is_err());
}

#[test]
fn calls_out_of_order_or_misshapen_are_errors() {
    let mut g = Graph::from_spec(linear_spec()).unwrap();
    let x = ArrayD::from_elem(IxDyn(&[4, 3]), 1.0f32);
    assert!(
        g.backward(vec![ArrayD::zeros(IxDyn(&[4, 2]))]).is_err(),
        "backward before forward"
    );
    assert!(g.forward(vec![], true).is_err(), "missing input");
    let err = g
        .forward(vec![ArrayD::zeros(IxDyn(&[4, 5]))], true)
        .unwrap_err();
    assert!(err.to_string().contains("fc (MatMul)"), "{err}");
    g.forward(vec![x.clone()], true).unwrap();
    assert!(
        g.backward(vec![ArrayD::zeros(IxDyn(&[4, 7]))]).is_err(),
        "wrong gradient shape"
    );
    g.forward(vec![x.clone()], true).unwrap();
    let gx = g
        .backward(vec![ArrayD::from_elem(IxDyn(&[4, 2]), 1.0)])
        .unwrap();
    // y = relu(x·w) with x, w all positive: dL/dx = 1·wᵀ row sums = 1.0, dL/dw = Σ x = 4.
    assert!(
        gx[0]
            .as_ref()
            .unwrap()
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-6)
    );
    assert!(g.params()[0].grad.iter().all(|&v| (v - 4.0).abs() < 1e-6));
    assert!(
        g.backward(vec![ArrayD::zeros(IxDyn(&[4, 2]))]).is_err(),
        "second backward for one forward"
    );

    let mut g = Graph::from_spec(linear_spec())
        .unwrap()
        .with_input_grads(false);
    g.forward(vec![x], true).unwrap();
    assert!(g.backward(vec![ArrayD::ones(IxDyn(&[4, 2]))]).unwrap()[0].is_none());
    assert!(
        g.params()[0].grad.iter().all(|&v| v != 0.0),
        "parameter gradients still flow"
    );
}

#[test]
fn initializers_round_trip_in_onnx_shapes() {
    let mut g = Graph::from_spec(linear_spec()).unwrap();
    let mut init = g.initializers();
    assert_eq!(init["w"].shape(), &[3, 2]);
    init.get_mut("w").unwrap().fill(2.0);
    g.set_initializers(&init).unwrap();
    assert_eq!(g.initializers(), init);
    let bad = BTreeMap::from([("w".to_string(), ArrayD::zeros(IxDyn(&[2, 3])))]);
    assert!(g.set_initializers(&bad).is_err());
}
