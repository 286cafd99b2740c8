//! Shared by the loopback tests: find the Python environment with flwr 1.42.0, start a real
//! SuperLink (optionally with TLS or SuperNode authentication) on a free port with its own
//! FLWR_HOME, start Python SuperNodes, run the Flower app in `fleet/`, and stop every process
//! by its pid when the test ends.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_ssl_fleet::{Arrays, Config, FleetTask, Metrics, TaskError};

pub const FLWR_VERSION: &str = "1.42.0";

/// The workspace root: the nearest folder above this crate that holds the Flower app
/// (`fleet/pyproject.toml`), so the CLI's tests can share this file.
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("fleet/pyproject.toml").is_file())
        .unwrap_or(here)
        .to_owned()
}

/// Prints why a test is skipped, or fails it when `EDGE_SSL_FLEET_REQUIRED=1` (CI), where a
/// missing flwr must not pass silently.
pub fn skip(reason: &str) {
    if std::env::var_os("EDGE_SSL_FLEET_REQUIRED").is_some_and(|v| v == "1") {
        panic!("EDGE_SSL_FLEET_REQUIRED=1 but {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// The interpreter whose environment has flwr 1.42.0 (`EDGE_SSL_PYTHON`, else the project's
/// `.venv`), or `None` after printing why the test is skipped.
pub fn python() -> Option<PathBuf> {
    let python = std::env::var_os("EDGE_SSL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('flwr'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match version {
        Ok(v) if v == FLWR_VERSION => Some(python),
        Ok(v) => {
            skip(&format!(
                "{} has flwr {v:?}, not {FLWR_VERSION} (scripts/setup.sh, or pip install flwr=={FLWR_VERSION})",
                python.display()
            ));
            None
        }
        Err(e) => {
            skip(&format!("{} cannot run: {e}", python.display()));
            None
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process stopped by its pid (SIGTERM, then SIGKILL) when dropped.
pub struct Process(pub Child);

impl Process {
    pub fn stop(&mut self) {
        // One that was already waited for must not be signalled: its pid may be reused.
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
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

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_owned()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// TLS material made for one test: a CA and a server certificate for 127.0.0.1.
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    /// Makes the certificates with Python's `cryptography` (a flwr dependency).
    pub fn make(python: &Path, dir: &Path) -> Self {
        let script = r#"
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
d = Path(sys.argv[1]); now = datetime.datetime.now(datetime.timezone.utc)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("edge-ssl test CA")).issuer_name(name("edge-ssl test CA"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                     x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256()))
(d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
(d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
(d / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "making test certificates failed");
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// A SuperLink on a free loopback port, with its own FLWR_HOME and a `flwr` config naming it
/// `test`.
pub struct SuperLink {
    pub process: Process,
    pub address: String,
    pub home: PathBuf,
    pub bin: PathBuf,
    pub log: PathBuf,
    pub dir: PathBuf,
}

impl SuperLink {
    pub fn start(python: &Path, dir: &Path, tls: Option<&Tls>, extra: &[&str]) -> Self {
        let bin = python.parent().unwrap().to_owned();
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let home = dir.join("flwr-home");
        std::fs::create_dir_all(&home).unwrap();
        let connection = match tls {
            Some(t) => format!("root-certificates = \"{}\"\n", t.ca.display()),
            None => "insecure = true\n".to_owned(),
        };
        std::fs::write(
            home.join("config.toml"),
            format!("[superlink]\ndefault = \"test\"\n\n[superlink.test]\naddress = \"{address}\"\n{connection}"),
        )
        .unwrap();
        let mut link = Self {
            process: Process(Command::new("true").spawn().unwrap()),
            address,
            home,
            bin,
            log: dir.join("superlink.log"),
            dir: dir.to_owned(),
        };
        link.spawn(port, tls, extra);
        link
    }

    /// Stops a plain-HTTP SuperLink and starts a fresh one (empty state) on the same port.
    pub fn restart_insecure(&mut self) {
        self.process.stop();
        let port: u16 = self.address.rsplit(':').next().unwrap().parse().unwrap();
        self.spawn(port, None, &[]);
    }

    fn spawn(&mut self, port: u16, tls: Option<&Tls>, extra: &[&str]) {
        let mut command = Command::new(self.bin.join("flower-superlink"));
        command.args([
            "--port",
            &port.to_string(),
            "--disable-runtime-dependency-installation",
        ]);
        match tls {
            Some(t) => {
                command.arg("--ssl-certfile").arg(&t.cert);
                command.arg("--ssl-keyfile").arg(&t.key);
                command.arg("--ssl-ca-certfile").arg(&t.ca);
            }
            None => {
                command.arg("--insecure");
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = command
            .args(extra)
            .env("PATH", path_with(&self.bin))
            .env("FLWR_HOME", &self.home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("flower-superlink starts");
        self.process = Process(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&self.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "SuperLink did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn flwr(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("flwr"))
            .args(args)
            .current_dir(repo_root().join("fleet"))
            .env("PATH", path_with(&self.bin))
            .env("FLWR_HOME", &self.home)
            .output()
            .expect("flwr starts")
    }

    /// `flwr run <repo>/fleet test --run-config ...`.
    pub fn run_app(&self, run_config: &str) {
        let out = self.flwr(&["run", ".", "test", "--run-config", run_config]);
        assert!(
            out.status.success(),
            "flwr run failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `flwr supernode register <public key> test` (for `--enable-supernode-auth`).
    pub fn register_node(&self, public_key: &Path) {
        let path = public_key.to_str().unwrap();
        let out = self.flwr(&["supernode", "register", path, "test"]);
        assert!(
            out.status.success(),
            "flwr supernode register failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A Python `flower-supernode` (the NumPy ClientApp in `fleet/`) joined to this link.
    pub fn python_supernode(&self, node_config: &str) -> Process {
        let log =
            std::fs::File::create(self.dir.join(format!("supernode-{}.log", free_port()))).unwrap();
        let child = Command::new(self.bin.join("flower-supernode"))
            .args([
                "--insecure",
                "--superlink",
                &self.address,
                "--port",
                &free_port().to_string(),
            ])
            .args(["--node-config", node_config])
            .env("PATH", path_with(&self.bin))
            .env("FLWR_HOME", self.home.join("supernode"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("flower-supernode starts");
        Process(child)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits up to `secs` for `path` to exist.
pub fn wait_for(path: &Path, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    path.exists()
}

/// What one node saw and sent in one train round.
#[derive(Debug, Clone)]
pub struct Round {
    pub received: Arrays,
    pub sent: Arrays,
    pub examples: u64,
}

/// Adds `delta` to every value and reports `examples`; remembers every round.
pub struct AddDelta {
    pub delta: f32,
    pub examples: u64,
    pub rounds: Arc<Mutex<Vec<Round>>>,
    pub evaluations: Arc<Mutex<usize>>,
}

impl AddDelta {
    pub fn new(delta: f32, examples: u64) -> Self {
        Self {
            delta,
            examples,
            rounds: Arc::default(),
            evaluations: Arc::default(),
        }
    }
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

/// `{name: {shape, data}}` as the ServerApp writes it.
pub fn json_arrays(value: &serde_json::Value) -> Vec<(String, Vec<usize>, Vec<f64>)> {
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

pub fn read_result(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}[{i}]: {x} != {y}"
        );
    }
}

/// The final arrays must be the initial ones moved `per_round` per round.
pub fn assert_moved(result: &serde_json::Value, rounds: usize, per_round: f64) {
    let initial = json_arrays(&result["initial"]);
    let final_ = json_arrays(&result["final"]);
    assert_eq!(initial.len(), final_.len());
    for ((name, shape, start), (fname, fshape, end)) in initial.iter().zip(&final_) {
        assert_eq!((name, shape), (fname, fshape));
        let expected: Vec<f64> = start
            .iter()
            .map(|v| v + per_round * rounds as f64)
            .collect();
        assert_close("final arrays", end, &expected);
    }
}

/// What a node thread returns: its summary (or error) and every event it saw.
pub type NodeOutcome = (
    edge_ssl_fleet::Result<edge_ssl_fleet::JoinSummary>,
    Vec<edge_ssl_fleet::FleetEvent>,
);

/// Runs `join` with `task` on a thread.
pub fn spawn_node(
    options: edge_ssl_fleet::JoinOptions,
    mut task: AddDelta,
) -> std::thread::JoinHandle<NodeOutcome> {
    std::thread::spawn(move || {
        let mut events = Vec::new();
        let summary = edge_ssl_fleet::join(
            &options,
            &mut task,
            &mut |e: &edge_ssl_fleet::FleetEvent| events.push(e.clone()),
        );
        (summary, events)
    })
}

/// Waits for node threads (bounded), then sets `stop` and collects them.
pub fn finish_nodes(
    handles: Vec<std::thread::JoinHandle<NodeOutcome>>,
    stop: &std::sync::atomic::AtomicBool,
    secs: u64,
) -> Vec<NodeOutcome> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
