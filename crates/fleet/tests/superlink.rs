//! Against a real Flower SuperLink (PyPI `flwr==1.42.0`) on loopback: two Rust nodes join,
//! `flwr run` starts the FedAvg ServerApp in `fleet/` for two rounds, and the global arrays
//! the ServerApp ends with must be the examples-weighted mean of what the nodes pushed.
//!
//! Needs the project's `.venv` with flwr 1.42.0 (`EDGE_SSL_PYTHON` may name another
//! interpreter); without it each test prints why and passes without checking anything.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{AddDelta, Round, SuperLink, assert_close, json_arrays, python};
use edge_ssl_fleet::{
    FleetError, FleetEvent, JoinOptions, Limits, NodeKey, Security, Transport, join, proto,
};

#[test]
fn two_rust_nodes_run_fedavg_rounds_on_a_real_superlink() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(&python, dir.path(), None, &[]);
    let stop = Arc::new(AtomicBool::new(false));

    // Two nodes that disagree, weighted 1:3, so an unweighted mean would be caught.
    let nodes = [(1.0f32, 10u64), (3.0, 30)];
    let mut handles = Vec::new();
    let mut records = Vec::new();
    for (i, (delta, examples)) in nodes.into_iter().enumerate() {
        let task = AddDelta::new(delta, examples);
        records.push((Arc::clone(&task.rounds), Arc::clone(&task.evaluations)));
        let options = JoinOptions::new(link.address.clone(), dir.path().join(format!("node{i}")))
            .with_max_runs(1)
            .with_poll_interval(Duration::from_millis(200))
            .with_stop_flag(Arc::clone(&stop));
        handles.push(std::thread::spawn(move || {
            let mut task = task;
            let mut events = Vec::new();
            let summary = join(&options, &mut task, &mut |e: &FleetEvent| {
                events.push(e.clone())
            });
            (summary, events)
        }));
    }

    let out = dir.path().join("out.json");
    let rounds = 2;
    link.run_app(&format!(
        "num-server-rounds={rounds} fraction-evaluate=1.0 out=\"{}\"",
        out.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(240);
    while !out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Nodes leave on their own once the run is finished; the flag only bounds a failure.
    let wait_nodes = Instant::now() + Duration::from_secs(60);
    while handles.iter().any(|h| !h.is_finished()) && Instant::now() < wait_nodes {
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::SeqCst);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let log = link.log_text();
    assert!(
        out.exists(),
        "the ServerApp wrote no result; SuperLink log:\n{log}"
    );

    for (i, (summary, events)) in results.iter().enumerate() {
        let summary = summary
            .as_ref()
            .unwrap_or_else(|e| panic!("node {i} failed: {e}; events {events:?}"));
        assert_eq!(summary.runs_finished, 1, "node {i}: {events:?}");
        // Two train and two evaluate messages, all answered.
        assert_eq!(summary.messages, 2 * rounds, "node {i}: {events:?}");
        assert!(events.iter().all(|e| !matches!(
            e,
            FleetEvent::TaskFailed { .. } | FleetEvent::MessageFailed { .. }
        )));
    }

    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let initial = json_arrays(&result["initial"]);
    let final_ = json_arrays(&result["final"]);

    // Every node received the ServerApp's initial arrays intact in round 1.
    for (rounds_seen, _) in &records {
        let rounds_seen = rounds_seen.lock().unwrap();
        assert_eq!(rounds_seen.len(), rounds);
        for (name, shape, data) in &initial {
            let got = rounds_seen[0]
                .received
                .get(name)
                .expect("array named as the ServerApp sent it");
            assert_eq!(got.shape(), shape.as_slice());
            let got: Vec<f64> = got.data().iter().map(|v| f64::from(*v)).collect();
            assert_close("round-1 arrays", &got, data);
        }
    }

    // FedAvg, computed here from what the nodes pushed in the last round.
    let last: Vec<Round> = records
        .iter()
        .map(|(r, _)| r.lock().unwrap()[rounds - 1].clone())
        .collect();
    let total: u64 = last.iter().map(|r| r.examples).sum();
    for (name, shape, data) in &final_ {
        let mut expected = vec![0.0f64; data.len()];
        for r in &last {
            let a = r.sent.get(name).unwrap();
            assert_eq!(a.shape(), shape.as_slice());
            for (e, v) in expected.iter_mut().zip(a.data()) {
                *e += f64::from(*v) * r.examples as f64 / total as f64;
            }
        }
        assert_close(
            "final arrays vs weighted mean of pushed arrays",
            data,
            &expected,
        );
        // And in closed form: each round moves by (10·1 + 30·3) / 40 = 2.5.
        let (_, _, start) = initial.iter().find(|(n, _, _)| n == name).unwrap();
        let closed: Vec<f64> = start.iter().map(|v| v + 2.5 * rounds as f64).collect();
        assert_close("final arrays vs closed form", data, &closed);
    }

    // Round 2 started from round 1's aggregate.
    for (rounds_seen, evaluations) in &records {
        let r = rounds_seen.lock().unwrap();
        let (name, _, start) = &initial[0];
        let got: Vec<f64> = r[1]
            .received
            .get(name)
            .unwrap()
            .data()
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let expected: Vec<f64> = start.iter().map(|v| v + 2.5).collect();
        assert_close("round-2 arrays", &got, &expected);
        assert_eq!(*evaluations.lock().unwrap(), rounds);
    }

    // Federated evaluation: the weighted mean of the nodes' losses (both see the same global).
    let loss = result["evaluate_metrics"][rounds.to_string()]["loss"]
        .as_f64()
        .unwrap();
    let mean_final = final_[0].2.iter().sum::<f64>() / final_[0].2.len() as f64;
    assert_close("evaluate loss", &[loss], &[mean_final]);

    // The node key persisted with mode 0600, and its public PEM is byte for byte what
    // Python's `cryptography` writes for the same key (the SuperLink compares bytes).
    let key_dir = dir.path().join("node0");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(key_dir.join("node-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let check = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys\nfrom cryptography.hazmat.primitives import serialization as s\n\
             k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
             sys.stdout.buffer.write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))",
        ])
        .arg(key_dir.join("node-key.pem"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let key = NodeKey::load_or_create(&key_dir).unwrap();
    assert_eq!(check.stdout, key.public_key_pem());
}

#[test]
fn clock_skew_beyond_flowers_window_is_refused_as_unauthorized() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(&python, dir.path(), None, &[]);
    let key = NodeKey::generate().unwrap();
    let transport = Transport::new(
        &link.address,
        &Security::Insecure,
        key.clone(),
        Limits::default(),
    )
    .unwrap();
    let request = proto::RegisterNodeFleetRequest {
        public_key: key.public_key_pem().to_vec(),
    };
    // Flower accepts a timestamp at most 5 s ahead of its clock: sign one 60 s ahead.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ahead = edge_ssl_fleet::timestamp::iso8601(now.as_secs() as i64 + 60, 0);
    let skewed = transport.call_signed::<_, proto::RegisterNodeFleetResponse>(
        "register-node",
        &request,
        Some(&ahead),
    );
    assert!(
        matches!(skewed, Err(FleetError::Unauthorized { .. })),
        "{skewed:?}"
    );
    // The same request signed now is accepted, so it was the clock that was refused.
    let ok = transport.call::<_, proto::RegisterNodeFleetResponse>("register-node", &request);
    assert!(ok.is_ok_and(|r| r.node_id != 0));
}
