//! `edge-ssl fleet join` end to end: a real `flower-superlink` (PyPI `flwr==1.42.0`) on a free
//! loopback port, the FedAvg ServerApp in `fleet/` started with `flwr run`, and three
//! `edge-ssl fleet join` processes on the bundled encoder with different shards of the shifted
//! Fashion-MNIST frames (60, 90 and 120 frames, so an unweighted mean would be caught), two
//! with labels for the head. Three rounds; then, checked with numpy from what the ServerApp
//! recorded: every round's aggregate is the examples-weighted mean of what the devices sent,
//! each device moved the arrays it received, and every device's `WORK/model` holds the final
//! global arrays; the model directory then works with `info`, `run` and `eval`.
//!
//! `federated_beats_devices_alone` (ignored: a measurement, about 5 minutes) is the README's
//! table: devices that each see only some classes, alone and federated.
//!
//! Skipped with a printed reason without flwr 1.42.0 in `.venv` (or Fashion-MNIST), unless
//! `EDGE_SSL_FLEET_REQUIRED=1`. Built with the `fleet` feature (a default one) only.
#![cfg(feature = "fleet")]

mod common;
#[path = "../crates/fleet/tests/common/mod.rs"]
mod flower;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, edge_ssl};
use flower::{Process, SuperLink, python, repo_root, skip};

/// The demo's data (`demo --data-only`) with `unlabeled` frames and `eval` evaluation images.
fn make_data(dir: &Path, unlabeled: usize, eval: usize) -> Option<PathBuf> {
    if !Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file()
        && std::env::var_os("EDGE_SSL_FMNIST").is_none()
    {
        skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        return None;
    }
    let data = dir.join("demo");
    let out = edge_ssl()
        .args(["demo", "--data-only", "--unlabeled", &unlabeled.to_string()])
        .args(["--eval", &eval.to_string(), "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert_success(&out);
    Some(data)
}

/// The files of `dir` in name order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Copies `files` into the folder `to` (made if missing).
fn copy_into(files: &[PathBuf], to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for f in files {
        std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
    }
    to.to_owned()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The starting model: the bundled encoder, a fresh adapter, a head fitted on `labeled`.
fn init_model(dir: &Path, labeled: &Path) -> PathBuf {
    let init = dir.join("init");
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
            .arg(labeled)
            .arg("--out")
            .arg(&init)
            .output()
            .unwrap(),
    );
    init
}

/// One device of a federation: its frames and, optionally, its labeled images.
struct Device {
    frames: PathBuf,
    labeled: Option<PathBuf>,
}

/// What a finished federation left: each device's `WORK/model`, its log, and the ServerApp's
/// records.
struct Federation {
    models: Vec<PathBuf>,
    logs: Vec<String>,
    save: PathBuf,
    seconds: f64,
}

/// Runs `rounds` rounds of the ServerApp over `devices` on a fresh SuperLink in `dir`, waits
/// until every device has left, and checks each left cleanly after `rounds` train and
/// `rounds` evaluate messages (one, carrying the final model, when `fraction_evaluate` is 0).
fn federate(
    python: &Path,
    dir: &Path,
    init: &Path,
    devices: &[Device],
    rounds: usize,
    epochs: usize,
    fraction_evaluate: f64,
) -> Federation {
    std::fs::create_dir_all(dir).unwrap();
    let started = Instant::now();
    let link = SuperLink::start(python, dir, None, &[]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_edge-ssl"));
    let mut nodes = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let work = dir.join(format!("work-{i}"));
        let log = dir.join(format!("node-{i}.log"));
        let mut cmd = Command::new(&bin);
        cmd.current_dir(repo_root())
            .args(["fleet", "join", "--superlink", &link.address])
            .args(["--model", "default", "--data"])
            .arg(&device.frames)
            .arg("--work")
            .arg(&work)
            .args(["--insecure", "--max-runs", "1", "--json"])
            .args(["--views", "2", "--batch", "32", "--seed", &i.to_string()]);
        if let Some(labeled) = &device.labeled {
            cmd.arg("--labeled").arg(labeled);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        nodes.push((Process(child), work, log));
    }

    let save = dir.join("server");
    let out = dir.join("result.json");
    link.run_app(&format!(
        "num-server-rounds={rounds} local-epochs={epochs} fraction-evaluate={fraction_evaluate:.1} min-nodes={} \
         initial-model=\"{}\" save-dir=\"{}\" out=\"{}\"",
        devices.len(),
        init.display(),
        save.display(),
        out.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(120 + 60 * rounds as u64);
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
        // Each device fits its own novelty model behind the global model it writes, on the
        // encoder's feature means by default (as `adapt`; the bundled encoder's 704 channels).
        assert_eq!(left["novelty"]["status"], "fitted", "node {i}: {log}");
        assert_eq!(left["novelty"]["input"], "features", "node {i}: {log}");
        assert_eq!(left["novelty"]["dim"], 704, "node {i}: {log}");
        // Without evaluation rounds the ServerApp sends the final model in one evaluate message.
        let evaluates = if fraction_evaluate > 0.0 { rounds } else { 1 };
        assert_eq!(
            left["messages"],
            rounds + evaluates,
            "{rounds} train + {evaluates} evaluate; node {i}: {log}"
        );
        let replied = events
            .iter()
            .filter(|e| e["event"] == "replied" && e["message_type"] == "train")
            .count();
        assert_eq!(replied, rounds, "node {i}: {log}");
    }
    Federation {
        models: nodes.iter().map(|(_, w, _)| w.join("model")).collect(),
        logs,
        save,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `eval --json` accuracy of `model` on the class folders of `labeled`.
fn accuracy(model: &Path, labeled: &Path) -> f64 {
    let eval = edge_ssl()
        .args(["eval", "--model"])
        .arg(model)
        .arg("--labeled")
        .arg(labeled)
        .arg("--json")
        .output()
        .unwrap();
    let result: serde_json::Value = serde_json::from_str(&assert_success(&eval)).unwrap();
    result["accuracy"].as_f64().unwrap()
}

/// Bytes each device pushed per train reply, and the seconds its local work took.
fn train_replies(log: &str) -> Vec<(u64, f64)> {
    json_lines(log)
        .iter()
        .filter(|e| e["event"] == "replied" && e["message_type"] == "train")
        .map(|e| {
            (
                e["bytes"].as_u64().unwrap(),
                e["task_seconds"].as_f64().unwrap(),
            )
        })
        .collect()
}

const CHECK: &str = r#"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from edge_ssl_fleet_app.model_dir import model_arrays
save = sys.argv[2]
frames = sorted(int(n) for n in sys.argv[3].split(","))
rounds = [str(r) for r in range(1, int(sys.argv[4]) + 1)]
labeled = sorted(int(n) for n in sys.argv[5].split(","))
models = sys.argv[6:]
index = json.load(open(f"{save}/index.json"))
assert sorted(index["rounds"]) == rounds, index
prev = dict(np.load(f"{save}/initial.npz"))
for r in rounds:
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
    for i in range(len(sent)):
        for j in range(i + 1, len(sent)):
            assert not np.allclose(sent[i]["adapter.fc2.weight"], sent[j]["adapter.fc2.weight"])
    plain = sum(s["adapter.fc2.weight"] for s in sent) / len(sent)
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
evaluations = index["evaluate"][rounds[-1]]
assert sorted(e["labeled"] for e in evaluations) == labeled, evaluations
print("fedavg checked:", {k: v.shape for k, v in final.items()})
"#;

#[test]
fn three_devices_adapt_together_on_a_real_superlink() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(data) = make_data(dir.path(), 270, 50) else {
        return;
    };
    let started = Instant::now();
    let unlabeled = files(&data.join("shifted/unlabeled"));
    let labeled = data.join("shifted/labeled");
    let sizes = [60, 90, 120];
    let mut first = 0;
    let devices: Vec<Device> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let frames = &unlabeled[first..first + n];
            first += n;
            Device {
                frames: copy_into(frames, &dir.path().join(format!("frames-{i}"))),
                labeled: (i > 0).then(|| labeled.clone()),
            }
        })
        .collect();
    let init = init_model(dir.path(), &labeled);
    let rounds = 3;
    let fed = federate(
        &python,
        &dir.path().join("fed"),
        &init,
        &devices,
        rounds,
        2,
        1.0,
    );
    for (i, log) in fed.logs.iter().enumerate() {
        let events = json_lines(log);
        let ready = events.iter().find(|e| e["event"] == "ready").unwrap();
        assert_eq!(ready["frames"], sizes[i]);
        for (bytes, seconds) in train_replies(log) {
            eprintln!("node {i} train: {seconds:.2} s, {bytes} bytes pushed");
        }
    }

    let check = Command::new(&python)
        .arg("-c")
        .arg(CHECK)
        .arg(repo_root().join("fleet"))
        .arg(&fed.save)
        .arg("60,90,120")
        .arg(rounds.to_string())
        .arg("0,100,100")
        .args(&fed.models)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The global model is a normal model directory.
    let model = &fed.models[0];
    assert_success(&edge_ssl().arg("info").arg(model).output().unwrap());
    let run = edge_ssl()
        .args(["run", "--model"])
        .arg(model)
        .arg("--source")
        .arg(&devices[0].frames)
        .args(["--max-frames", "5", "--json"])
        .output()
        .unwrap();
    let stdout = assert_success(&run);
    assert_eq!(stdout.lines().count(), 6, "5 frames + summary: {stdout}");
    for frame in json_lines(&stdout).iter().filter(|l| l["type"] == "frame") {
        assert!(
            frame["novelty"].is_f64() && frame["novel"].is_boolean(),
            "{frame}"
        );
    }
    let accuracy = accuracy(&fed.models[1], &data.join("shifted/eval"));
    assert!(accuracy > 0.2, "federated model accuracy {accuracy}");
    eprintln!(
        "fleet end to end: {:.1} s, federated accuracy on shifted/eval {accuracy:.3}",
        started.elapsed().as_secs_f64()
    );
}

/// With `fraction-evaluate=0` there are no evaluation rounds, which used to carry the final
/// model to the devices: each kept the model it started the last round from. The ServerApp now
/// sends the final arrays in one last message, and every device's `WORK/model` is the final
/// global model (checked with numpy against the ServerApp's `final.npz`).
#[test]
fn without_evaluation_rounds_devices_still_end_with_the_final_model() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(data) = make_data(dir.path(), 100, 20) else {
        return;
    };
    let unlabeled = files(&data.join("shifted/unlabeled"));
    let devices: Vec<Device> = [0..40, 40..100]
        .into_iter()
        .enumerate()
        .map(|(i, range)| Device {
            frames: copy_into(&unlabeled[range], &dir.path().join(format!("frames-{i}"))),
            labeled: None,
        })
        .collect();
    let init = init_model(dir.path(), &data.join("shifted/labeled"));
    let fed = federate(&python, &dir.path().join("fed"), &init, &devices, 2, 1, 0.0);
    let check = Command::new(&python)
        .arg("-c")
        .arg(
            r#"
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from edge_ssl_fleet_app.model_dir import model_arrays
final = dict(np.load(f"{sys.argv[2]}/final.npz"))
before = dict(np.load(f"{sys.argv[2]}/round-1.npz"))
assert any(not np.array_equal(final[k], before[k]) for k in final), "the last round changed nothing"
for m in sys.argv[3:]:
    arrays, _ = model_arrays(m)
    for k in final:
        np.testing.assert_array_equal(arrays[k], final[k], err_msg=f"{m} {k}")
print("final model on every device")
"#,
        )
        .arg(repo_root().join("fleet"))
        .arg(&fed.save)
        .args(&fed.models)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Each device's final model directory (written from the extra evaluate message) has a
    // novelty model that loads with it: `run` scores every frame.
    for (model, device) in fed.models.iter().zip(&devices) {
        assert!(model.join("novelty.safetensors").is_file());
        let run = edge_ssl()
            .args(["run", "--json", "--max-frames", "3", "--model"])
            .arg(model)
            .arg("--source")
            .arg(&device.frames)
            .output()
            .unwrap();
        let stdout = assert_success(&run);
        let first = &json_lines(&stdout)[0];
        assert!(first["novelty"].is_f64(), "{first}");
    }
}

/// The README's fleet table. Three devices each see frames of only some classes of the shifted
/// domain ({0,1,2}, {3,4,5}, {6,7,8,9}; 200 frames per class) and share the site's 10 labels
/// per class; every model starts from the same 10-shot model and runs the same rounds.
/// Accuracy on held-out images of all ten classes: each device federated alone, the three
/// federated together, and one device that had every frame (the centralized reference).
/// Run: `cargo test --release -p edge-ssl-cli --test cli_fleet -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement (about 5 minutes): the README's fleet table"]
fn federated_beats_devices_alone() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(data) = make_data(dir.path(), 2, 4000) else {
        return;
    };
    let per_class = 200;
    let classes: Vec<PathBuf> = files(&data.join("shifted/eval"));
    assert_eq!(classes.len(), 10);
    let held_out = dir.path().join("held-out");
    let groups: [&[usize]; 3] = [&[0, 1, 2], &[3, 4, 5], &[6, 7, 8, 9]];
    let mut devices = Vec::new();
    let all = Device {
        frames: dir.path().join("all-frames"),
        labeled: Some(data.join("shifted/labeled")),
    };
    for (i, group) in groups.iter().enumerate() {
        let frames = dir.path().join(format!("frames-{i}"));
        for &c in *group {
            let images = files(&classes[c]);
            assert!(images.len() > per_class + 100, "{}", classes[c].display());
            copy_into(&images[..per_class], &frames);
            copy_into(&images[..per_class], &all.frames);
            let name = classes[c].file_name().unwrap();
            copy_into(&images[per_class..], &held_out.join(name));
        }
        devices.push(Device {
            frames,
            labeled: Some(data.join("shifted/labeled")),
        });
    }
    let init = init_model(dir.path(), &data.join("shifted/labeled"));
    let (rounds, epochs) = (3, 2);
    let start = accuracy(&init, &held_out);
    let mut rows = vec![("starting model (10-shot head)".to_owned(), start, None)];
    for (i, device) in devices.iter().enumerate() {
        let alone = federate(
            &python,
            &dir.path().join(format!("alone-{i}")),
            &init,
            std::slice::from_ref(device),
            rounds,
            epochs,
            1.0,
        );
        let acc = accuracy(&alone.models[0], &held_out);
        rows.push((
            format!("device {i} alone (frames of classes {:?})", groups[i]),
            acc,
            None,
        ));
    }
    let fed = federate(
        &python,
        &dir.path().join("fed"),
        &init,
        &devices,
        rounds,
        epochs,
        1.0,
    );
    let federated = accuracy(&fed.models[0], &held_out);
    let replies: Vec<(u64, f64)> = fed.logs.iter().flat_map(|l| train_replies(l)).collect();
    rows.push((
        "3 devices federated (FedAvg)".to_owned(),
        federated,
        Some((replies, fed.seconds)),
    ));
    let central = federate(
        &python,
        &dir.path().join("central"),
        &init,
        std::slice::from_ref(&all),
        rounds,
        epochs,
        1.0,
    );
    rows.push((
        "one device with every frame".to_owned(),
        accuracy(&central.models[0], &held_out),
        None,
    ));

    eprintln!("| model | accuracy on held-out images of all 10 classes |");
    eprintln!("|---|---|");
    for (name, acc, _) in &rows {
        eprintln!("| {name} | {:.1} % |", acc * 100.0);
    }
    if let Some((_, _, Some((replies, seconds)))) = rows.iter().find(|r| r.2.is_some()) {
        let bytes: u64 = replies.iter().map(|r| r.0).sum();
        let work: f64 = replies.iter().map(|r| r.1).sum();
        eprintln!(
            "federated: {rounds} rounds in {seconds:.1} s (whole run, SuperLink start included); \
             {} bytes pushed per round by 3 devices ({} per reply); mean local train {:.2} s",
            bytes / rounds as u64,
            bytes / replies.len() as u64,
            work / replies.len() as f64
        );
    }
    for (name, acc, _) in &rows {
        assert!(*acc > 0.2, "{name}: {acc}");
    }
}
