//! Against a real Flower SuperLink (PyPI `flwr==1.42.0`) on loopback: two Rust nodes join,
//! `flwr run` starts the FedAvg ServerApp in `fleet/` for two rounds, and the global arrays
//! the ServerApp ends with must be the examples-weighted mean of what the nodes pushed.
//!
//! Needs the project's `.venv` with flwr 1.42.0 (`EDGE_SSL_PYTHON` may name another
//! interpreter); without it each test prints why and passes without checking anything.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_ssl_fleet::{
    Arrays, Config, FleetError, FleetEvent, FleetTask, JoinOptions, Limits, Metrics, NodeKey,
    Security, TaskError, Transport, join, proto,
};

const FLWR_VERSION: &str = "1.42.0";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter whose environment has flwr 1.42.0, or why there is none.
fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("EDGE_SSL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('flwr'))",
        ])
        .output()
        .map_err(|e| format!("{} cannot run: {e}", python.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if version != FLWR_VERSION {
        return Err(format!(
            "{} has flwr {version:?}, not {FLWR_VERSION} (pip install flwr=={FLWR_VERSION})",
            python.display()
        ));
    }
    Ok(python)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process stopped by its pid (SIGTERM, then SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A SuperLink on a free loopback port, with its own FLWR_HOME and a `flwr` config naming it.
struct SuperLink {
    _process: Process,
    address: String,
    home: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

impl SuperLink {
    fn start(python: &Path, dir: &Path) -> Self {
        let bin = python.parent().unwrap().to_owned();
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let home = dir.join("flwr-home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!("[superlink]\ndefault = \"test\"\n\n[superlink.test]\naddress = \"{address}\"\ninsecure = true\n"),
        )
        .unwrap();
        let log = dir.join("superlink.log");
        let child = Command::new(bin.join("flower-superlink"))
            .args([
                "--insecure",
                "--port",
                &port.to_string(),
                "--disable-runtime-dependency-installation",
            ])
            .env("PATH", path_with(&bin))
            .env("FLWR_HOME", &home)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("superlink.err")).unwrap())
            .spawn()
            .expect("flower-superlink starts");
        let link = Self {
            _process: Process(child),
            address,
            home,
            bin,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&link.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "SuperLink did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        link
    }

    /// `flwr run <repo>/fleet test --run-config ...`.
    fn run_app(&self, run_config: &str) {
        let out = Command::new(self.bin.join("flwr"))
            .args(["run", ".", "test", "--run-config", run_config])
            .current_dir(repo_root().join("fleet"))
            .env("PATH", path_with(&self.bin))
            .env("FLWR_HOME", &self.home)
            .output()
            .expect("flwr run starts");
        assert!(
            out.status.success(),
            "flwr run failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_owned()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// What one node saw and sent in one train round.
#[derive(Debug, Clone)]
struct Round {
    received: Arrays,
    sent: Arrays,
    examples: u64,
}

/// Adds `delta` to every value and reports `examples`; remembers every round.
struct AddDelta {
    delta: f32,
    examples: u64,
    rounds: Arc<Mutex<Vec<Round>>>,
    evaluations: Arc<Mutex<usize>>,
}

impl FleetTask for AddDelta {
    fn train(&mut self, arrays: &Arrays, config: &Config) -> Result<(Arrays, Metrics), TaskError> {
        if config.get_i64("local-epochs") != Some(1) {
            return Err(format!("config lacks local-epochs = 1: {config:?}").into());
        }
        let mut sent = arrays.clone();
        for (_, a) in sent.iter_mut() {
            a.data_mut().iter_mut().for_each(|v| *v += self.delta);
        }
        self.rounds.lock().unwrap().push(Round {
            received: arrays.clone(),
            sent: sent.clone(),
            examples: self.examples,
        });
        Ok((sent, Metrics::with_num_examples(self.examples)))
    }

    fn evaluate(&mut self, arrays: &Arrays, _config: &Config) -> Result<Metrics, TaskError> {
        *self.evaluations.lock().unwrap() += 1;
        let values: Vec<f64> = arrays
            .iter()
            .flat_map(|(_, a)| a.data())
            .map(|v| f64::from(*v))
            .collect();
        let loss = values.iter().sum::<f64>() / values.len().max(1) as f64;
        Ok(Metrics::with_num_examples(self.examples).with("loss", loss))
    }
}

fn json_arrays(value: &serde_json::Value) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, a)| {
            let shape = a["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let data = a["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            (name.clone(), shape, data)
        })
        .collect()
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}[{i}]: {x} != {y}"
        );
    }
}

#[test]
fn two_rust_nodes_run_fedavg_rounds_on_a_real_superlink() {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(&python, dir.path());
    let stop = Arc::new(AtomicBool::new(false));

    // Two nodes that disagree, weighted 1:3, so an unweighted mean would be caught.
    let nodes = [(1.0f32, 10u64), (3.0, 30)];
    let mut handles = Vec::new();
    let mut records = Vec::new();
    for (i, (delta, examples)) in nodes.into_iter().enumerate() {
        let rounds = Arc::new(Mutex::new(Vec::new()));
        let evaluations = Arc::new(Mutex::new(0));
        records.push((Arc::clone(&rounds), Arc::clone(&evaluations)));
        let options = JoinOptions::new(link.address.clone(), dir.path().join(format!("node{i}")))
            .with_max_runs(1)
            .with_poll_interval(Duration::from_millis(200))
            .with_stop_flag(Arc::clone(&stop));
        handles.push(std::thread::spawn(move || {
            let mut task = AddDelta {
                delta,
                examples,
                rounds,
                evaluations,
            };
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
    let log = std::fs::read_to_string(&link.log).unwrap_or_default();
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
    let check = Command::new(&python)
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
    let python = match python() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(&python, dir.path());
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
