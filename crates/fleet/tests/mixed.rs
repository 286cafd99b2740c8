//! A mixed federation: a Python `flower-supernode` running the NumPy ClientApp of `fleet/`
//! beside a Rust node, on one real SuperLink. FedAvg only works out if both speak Flower's
//! own wire format. Skips, saying why, without flwr 1.42.0 in the project's `.venv`.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{
    AddDelta, SuperLink, assert_moved, finish_nodes, python, read_result, spawn_node, wait_for,
};
use edge_ssl_fleet::JoinOptions;

#[test]
fn a_python_supernode_and_a_rust_node_average_together() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(&python, dir.path(), None, &[]);
    let _python_node = link.python_supernode("node-delta=3.0 node-examples=30");
    let stop = Arc::new(AtomicBool::new(false));
    let options = JoinOptions::new(link.address.clone(), dir.path().join("rust-node"))
        .with_max_runs(1)
        .with_poll_interval(Duration::from_millis(200))
        .with_stop_flag(Arc::clone(&stop));
    let rust_node = spawn_node(options, AddDelta::new(1.0, 10));

    let out = dir.path().join("out.json");
    let rounds = 2;
    link.run_app(&format!(
        "num-server-rounds={rounds} fraction-evaluate=1.0 out=\"{}\"",
        out.display()
    ));
    assert!(
        wait_for(&out, 300),
        "no result; SuperLink log:\n{}",
        link.log_text()
    );
    let outcomes = finish_nodes(vec![rust_node], &stop, 60);
    let (summary, events) = &outcomes[0];
    assert_eq!(summary.as_ref().unwrap().messages, 2 * rounds, "{events:?}");
    // (10 · 1.0 + 30 · 3.0) / 40 = 2.5 per round: the Python node's reply was averaged in
    // with its weight, and the Rust node's with its own.
    let result = read_result(&out);
    assert_moved(&result, rounds, 2.5);
}
