//! `edge-ssl fleet join` end to end: a real `flower-superlink` (PyPI `flwr==1.42.0`) on a free
//! loopback port, the FedAvg ServerApp in `fleet/` started with `flwr run`, and two
//! `edge-ssl fleet join` processes on the bundled encoder with different shards of the shifted
//! Fashion-MNIST frames (60 and 120 frames, so an unweighted mean would be caught), one with
//! labels for the head. Two rounds; then, checked with numpy from what the ServerApp recorded:
//! every round's aggregate is the examples-weighted mean of what the two devices sent, each
//! device moved the arrays it received, and both devices' `WORK/model` hold the final global
//! arrays; the model directory then works with `info`, `run` and `eval`.
//!
//! Skipped with a printed reason without flwr 1.42.0 in `.venv` (or Fashion-MNIST), unless
//! `EDGE_SSL_FLEET_REQUIRED=1`.

mod common;
#[path = "../crates/fleet/tests/common/mod.rs"]
mod flower;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, edge_ssl};
use flower::{Process, SuperLink, python, repo_root, skip};

fn make_data(dir: &Path) -> Option<PathBuf> {
    if !Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file()
        && std::env::var_os("EDGE_SSL_FMNIST").is_none()
    {
        skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        return None;
    }
    let data = dir.join("demo");
    let out = edge_ssl()
        .args([
            "demo",
            "--data-only",
            "--unlabeled",
            "180",
            "--eval",
            "50",
            "--out",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);
    Some(data)
}

/// Copies frames `range` (in name order) of `from` into a new folder `to`.
fn shard(from: &Path, to: &Path, range: std::ops::Range<usize>) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    std::fs::create_dir_all(to).unwrap();
    for f in &files[range] {
        std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
    }
    to.to_owned()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

const CHECK: &str = r#"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from edge_ssl_fleet_app.model_dir import model_arrays
save, frames = sys.argv[2], sorted(int(n) for n in sys.argv[3].split(","))
models = sys.argv[4:]
index = json.load(open(f"{save}/index.json"))
assert sorted(index["rounds"]) == ["1", "2"], index
prev = dict(np.load(f"{save}/initial.npz"))
for r in ["1", "2"]:
    entry = index["rounds"][r]
    replies = entry["replies"]
    assert sorted(e["num-examples"] for e in replies) == frames, replies
    sent = [dict(np.load(f"{save}/{e['file']}")) for e in replies]
    agg = dict(np.load(f"{save}/{entry['aggregate']}"))
    assert sorted(agg) == sorted(prev), (sorted(agg), sorted(prev))
    total = sum(e["num-examples"] for e in replies)
    for k in agg:
        want = sum(e["num-examples"] * s[k].astype(np.float64) for e, s in zip(replies, sent)) / total
        np.testing.assert_allclose(agg[k], want, rtol=1e-5, atol=1e-6, err_msg=f"round {r} {k}")
    for s in sent:
        assert not np.allclose(s["adapter.fc2.weight"], prev["adapter.fc2.weight"]), "a device did not train"
    assert not np.allclose(sent[0]["adapter.fc2.weight"], sent[1]["adapter.fc2.weight"])
    plain = (sent[0]["adapter.fc2.weight"] + sent[1]["adapter.fc2.weight"]) / 2
    assert not np.allclose(agg["adapter.fc2.weight"], plain, rtol=1e-5, atol=1e-6), "not weighted"
    prev = agg
final = dict(np.load(f"{save}/final.npz"))
for k in final:
    np.testing.assert_array_equal(final[k], prev[k])
for m in models:
    arrays, classes = model_arrays(m)
    assert sorted(arrays) == sorted(final), (m, sorted(arrays))
    for k in final:
        np.testing.assert_array_equal(arrays[k], final[k], err_msg=f"{m} {k}")
    assert classes is not None and len(classes) == final["head.softmax.weight"].shape[0]
evaluations = index["evaluate"]["2"]
assert sorted(e["labeled"] for e in evaluations) == [0, 100], evaluations
print("fedavg checked:", {k: v.shape for k, v in final.items()})
"#;

#[test]
fn two_devices_adapt_together_on_a_real_superlink() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(data) = make_data(dir.path()) else {
        return;
    };
    let started = Instant::now();
    let unlabeled = data.join("shifted/unlabeled");
    let labeled = data.join("shifted/labeled");
    let shards = [
        shard(&unlabeled, &dir.path().join("frames-a"), 0..60),
        shard(&unlabeled, &dir.path().join("frames-b"), 60..180),
    ];

    // The model the federation starts from: the bundled encoder, a fresh adapter, a head.
    let init = dir.path().join("init");
    assert_success(
        &edge_ssl()
            .args(["fleet", "init", "--model", "default", "--out"])
            .arg(&init)
            .output()
            .unwrap(),
    );
    assert_success(
        &edge_ssl()
            .args(["head", "--model"])
            .arg(&init)
            .arg("--labeled")
            .arg(&labeled)
            .arg("--out")
            .arg(&init)
            .output()
            .unwrap(),
    );

    let link = SuperLink::start(&python, dir.path(), None, &[]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_edge-ssl"));
    let mut nodes = Vec::new();
    for (i, frames) in shards.iter().enumerate() {
        let work = dir.path().join(format!("work-{i}"));
        let log = dir.path().join(format!("node-{i}.log"));
        let mut cmd = Command::new(&bin);
        cmd.current_dir(repo_root())
            .args([
                "fleet",
                "join",
                "--superlink",
                &link.address,
                "--model",
                "default",
            ])
            .arg("--data")
            .arg(frames)
            .arg("--work")
            .arg(&work)
            .args(["--insecure", "--max-runs", "1", "--json"])
            .args(["--views", "2", "--batch", "32", "--seed", &i.to_string()]);
        if i == 1 {
            cmd.arg("--labeled").arg(&labeled);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        nodes.push((Process(child), work, log));
    }

    let save = dir.path().join("server");
    let out = dir.path().join("result.json");
    link.run_app(&format!(
        "num-server-rounds=2 local-epochs=2 fraction-evaluate=1.0 min-nodes=2 \
         initial-model=\"{}\" save-dir=\"{}\" out=\"{}\"",
        init.display(),
        save.display(),
        out.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(180);
    while !out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Devices leave by themselves once the run has finished (--max-runs 1).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut statuses = Vec::new();
    for (process, _, _) in nodes.iter_mut() {
        let status = loop {
            if let Some(s) = process.0.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        statuses.push(status);
    }
    let logs: Vec<String> = nodes
        .iter()
        .map(|(_, _, log)| std::fs::read_to_string(log).unwrap_or_default())
        .collect();
    assert!(
        out.exists(),
        "the ServerApp wrote no result\nSuperLink log:\n{}\nnodes:\n{}",
        link.log_text(),
        logs.join("\n---\n")
    );
    for (i, (status, log)) in statuses.iter().zip(&logs).enumerate() {
        assert!(
            status.is_some_and(|s| s.success()),
            "node {i} did not leave cleanly ({status:?}):\n{log}"
        );
        let events = json_lines(log);
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert!(
            !kinds.contains(&"task_failed") && !kinds.contains(&"message_failed"),
            "node {i}: {log}"
        );
        let left = events.iter().find(|e| e["event"] == "left").unwrap();
        assert_eq!(left["runs_finished"], 1, "node {i}: {log}");
        assert_eq!(left["messages"], 4, "2 train + 2 evaluate; node {i}: {log}");
        let ready = events.iter().find(|e| e["event"] == "ready").unwrap();
        assert_eq!(ready["frames"], [60, 120][i]);
        let replied = events
            .iter()
            .filter(|e| e["event"] == "replied" && e["message_type"] == "train")
            .count();
        assert_eq!(replied, 2, "node {i}: {log}");
        for e in events.iter().filter(|e| e["event"] == "replied") {
            eprintln!(
                "node {i} {} round {}: {:.2} s, {} bytes pushed",
                e["message_type"],
                e["group_id"],
                e["task_seconds"].as_f64().unwrap(),
                e["bytes"]
            );
        }
        eprintln!("node {i}: {left}");
    }

    let models: Vec<PathBuf> = nodes.iter().map(|(_, w, _)| w.join("model")).collect();
    let check = Command::new(&python)
        .arg("-c")
        .arg(CHECK)
        .arg(repo_root().join("fleet"))
        .arg(&save)
        .arg("60,120")
        .args(&models)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The global model is a normal model directory.
    let model = &models[0];
    assert_success(&edge_ssl().arg("info").arg(model).output().unwrap());
    let run = edge_ssl()
        .args(["run", "--model"])
        .arg(model)
        .arg("--source")
        .arg(&shards[0])
        .args(["--max-frames", "5", "--json"])
        .output()
        .unwrap();
    let stdout = assert_success(&run);
    assert_eq!(stdout.lines().count(), 6, "5 frames + summary: {stdout}");
    let eval = edge_ssl()
        .args(["eval", "--model"])
        .arg(&models[1])
        .arg("--labeled")
        .arg(data.join("shifted/eval"))
        .arg("--json")
        .output()
        .unwrap();
    let result: serde_json::Value = serde_json::from_str(&assert_success(&eval)).unwrap();
    let accuracy = result["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.2, "federated model accuracy {accuracy}");
    eprintln!(
        "fleet end to end: {:.1} s, federated accuracy on shifted/eval {accuracy:.3}",
        started.elapsed().as_secs_f64()
    );
}
