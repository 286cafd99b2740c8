//! A real SuperLink with TLS (certificates made for the test) and one with TLS and
//! `--enable-supernode-auth` (the node's key registered with `flwr supernode register`):
//! a Rust node takes part in a FedAvg run in both, and a node whose key was not registered
//! is refused. Skips, saying why, without flwr 1.42.0 in the project's `.venv`.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{
    AddDelta, SuperLink, Tls, assert_moved, finish_nodes, python, read_result, spawn_node, wait_for,
};
use edge_ssl_fleet::{FleetError, JoinOptions, Limits, NodeKey, Security, Transport, join, proto};

#[test]
fn a_rust_node_runs_fedavg_over_tls() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::make(&python, dir.path());
    let link = SuperLink::start(&python, dir.path(), Some(&tls), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let ca = std::fs::read(&tls.ca).unwrap();
    let options = JoinOptions::new(link.address.clone(), dir.path().join("node"))
        .with_security(Security::RootCertificates(ca))
        .with_max_runs(1)
        .with_poll_interval(Duration::from_millis(200))
        .with_stop_flag(Arc::clone(&stop));
    let node = spawn_node(options, AddDelta::new(2.0, 5));
    let out = dir.path().join("out.json");
    link.run_app(&format!(
        "num-server-rounds=1 min-nodes=1 out=\"{}\"",
        out.display()
    ));
    assert!(
        wait_for(&out, 180),
        "no result; SuperLink log:\n{}",
        link.log_text()
    );
    let outcomes = finish_nodes(vec![node], &stop, 60);
    let (summary, events) = &outcomes[0];
    // Each train message, then the final model in one evaluate message (no evaluation rounds).
    assert_eq!(summary.as_ref().unwrap().messages, 2, "{events:?}");
    assert_moved(&read_result(&out), 1, 2.0);

    // A node that does not trust the SuperLink's CA does not connect.
    let wrong = Tls::make(&python, &dir.path().join("other")).ca;
    let options = JoinOptions::new(link.address.clone(), dir.path().join("stranger"))
        .with_security(Security::RootCertificates(std::fs::read(wrong).unwrap()))
        .with_reconnect_max_wait(Duration::ZERO);
    let refused = join(&options, &mut AddDelta::new(0.0, 1), &mut |_| {});
    assert!(
        matches!(refused, Err(FleetError::Transport { .. })),
        "{refused:?}"
    );

    // The system trust store, pointed at a file by SSL_CERT_FILE (as OpenSSL does): the TLS
    // handshake succeeds with the test CA there (the SuperLink then answers the request) and
    // fails with another CA. Nothing else in this test binary reads SSL_CERT_FILE.
    let system = |bundle: &std::path::Path| {
        // SAFETY: the other tests of this binary do not read or write the environment.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
        let transport = Transport::new(
            &link.address,
            &Security::SystemRoots,
            NodeKey::generate().unwrap(),
            Limits::default(),
        )
        .unwrap();
        transport.call::<_, proto::RegisterNodeFleetResponse>(
            "register-node",
            &proto::RegisterNodeFleetRequest {
                public_key: transport.key().public_key_pem().to_vec(),
            },
        )
    };
    let trusted = system(&tls.ca);
    assert!(trusted.is_ok(), "{trusted:?}");
    let untrusted = system(&dir.path().join("other").join("ca.pem"));
    assert!(
        matches!(untrusted, Err(FleetError::Transport { .. })),
        "{untrusted:?}"
    );
    unsafe { std::env::remove_var("SSL_CERT_FILE") };
}

#[test]
fn supernode_auth_admits_only_registered_keys() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Flower requires TLS for SuperNode authentication.
    let tls = Tls::make(&python, dir.path());
    let ca = std::fs::read(&tls.ca).unwrap();
    let link = SuperLink::start(
        &python,
        dir.path(),
        Some(&tls),
        &["--enable-supernode-auth"],
    );

    let work = dir.path().join("node");
    NodeKey::load_or_create(&work).unwrap();
    link.register_node(&work.join(edge_ssl_fleet::identity::PUBLIC_KEY_FILE));

    let stop = Arc::new(AtomicBool::new(false));
    let options = JoinOptions::new(link.address.clone(), &work)
        .with_security(Security::RootCertificates(ca.clone()))
        .with_max_runs(1)
        .with_poll_interval(Duration::from_millis(200))
        .with_stop_flag(Arc::clone(&stop));
    let node = spawn_node(options, AddDelta::new(-1.0, 3));

    // A node whose key nobody registered cannot activate.
    let options = JoinOptions::new(link.address.clone(), dir.path().join("stranger"))
        .with_security(Security::RootCertificates(ca));
    let refused = join(&options, &mut AddDelta::new(0.0, 1), &mut |_| {});
    assert!(
        matches!(
            refused,
            Err(FleetError::Status { .. } | FleetError::Unauthorized { .. })
        ),
        "{refused:?}"
    );

    let out = dir.path().join("out.json");
    link.run_app(&format!(
        "num-server-rounds=2 min-nodes=1 out=\"{}\"",
        out.display()
    ));
    assert!(
        wait_for(&out, 180),
        "no result; SuperLink log:\n{}",
        link.log_text()
    );
    let outcomes = finish_nodes(vec![node], &stop, 60);
    let (summary, events) = &outcomes[0];
    // Each train message, then the final model in one evaluate message (no evaluation rounds).
    assert_eq!(summary.as_ref().unwrap().messages, 3, "{events:?}");
    assert_moved(&read_result(&out), 2, -1.0);
}
