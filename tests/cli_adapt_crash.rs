//! Crash consistency of `adapt`: SIGKILL at ten seeded moments spread over a run — on a timer,
//! and the instant the view cache, a checkpoint or the staged card is being written — each
//! followed by the same command with `--resume`, ends with the same loss curve and adapter
//! weights as a run that was never interrupted. After every kill the output directory holds
//! either the model that was there before or none (no card), never a mix or a torn file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::corpus::Rng;
use edge_ssl_train::nn::{Adapter, Module};

/// 16 frames × 16 views, 200 steps with a checkpoint every 10: a few seconds in all, with
/// BN re-estimation, view caching and training each long enough to be hit.
const FLAGS: [&str; 8] = [
    "--epochs",
    "100",
    "--views",
    "16",
    "--batch",
    "8",
    "--checkpoint-every",
    "10",
];

/// Encoder training (issue 14): the whole bundled encoder, 60 one-step epochs on the 16
/// frames, each on a fresh pair of views, a checkpoint every 5 steps.
const TRAIN_FLAGS: [&str; 7] = [
    "--train",
    "all",
    "--train-epochs",
    "60",
    "--no-adapter",
    "--checkpoint-every",
    "5",
];

/// When to kill the run.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// After this fraction of an uninterrupted run's wall time.
    After(f64),
    /// As soon as a temporary file whose name starts with this appears in the output or the
    /// work directory.
    Writing(&'static str),
}

impl Moment {
    /// The same moment, earlier in the run where it is timed.
    fn earlier(self) -> Moment {
        match self {
            Moment::After(f) => Moment::After(f / 2.0),
            writing => writing,
        }
    }
}

fn spawn_adapt(out: &Path, flags: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edge-ssl"))
        .args(["adapt", "--model", "default", "--resume", "--data"])
        .arg(common::reference_dir().join("images"))
        .arg("--out")
        .arg(out)
        .args(flags)
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// True when `dir` holds an entry whose name starts with `prefix`.
fn has_entry(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
    })
}

/// Runs `adapt --resume` into `out` and SIGKILLs it at `moment`; false if it finished first
/// (a resumed run skips the work already done, so a late moment may come after its end).
fn kill_at(out: &Path, flags: &[&str], moment: Moment, whole: Duration) -> bool {
    let mut child = spawn_adapt(out, flags);
    let started = Instant::now();
    let work = out.join(".adapt-work");
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let now = match moment {
            Moment::After(f) => started.elapsed().as_secs_f64() >= f * whole.as_secs_f64(),
            Moment::Writing(prefix) => has_entry(&work, prefix) || has_entry(out, prefix),
        };
        if now {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "adapt hangs");
        std::thread::sleep(Duration::from_micros(300));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    true
}

/// The model in `out` is whole and loads (card, encoder hash, adapter hash and weights), or
/// there is no card; in both cases no temporary or torn file sits beside the parts.
fn assert_readable_or_absent(out: &Path, label: &str) {
    common::assert_no_temporaries(out);
    if !out.join("edge-ssl.toml").exists() {
        return;
    }
    common::assert_model_loads(out, label);
    let metrics = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&metrics).expect("metrics.json parses");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Ten moments in a seeded order: four tied to writes, six on a timer spread over the run.
fn moments(seed: u64) -> Vec<Moment> {
    let mut rng = Rng::new(seed);
    let mut all = vec![
        Moment::Writing(".views.npy.tmp-"),
        Moment::Writing(".checkpoint.safetensors.tmp-"),
        Moment::Writing(".checkpoint.safetensors.tmp-"),
        Moment::Writing(".edge-ssl.toml.tmp-"),
    ];
    for i in 0..6 {
        // One moment in each sixth of the run, at a seeded place inside it.
        let f = (i as f64 + (rng.next_u64() % 1000) as f64 / 1000.0) / 6.0;
        all.push(Moment::After(f));
    }
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(0..i + 1));
    }
    all
}

/// An uninterrupted run with `flags` into `work/whole`: that directory, `work/broken` (for
/// the interrupted runs) and how long the run took.
fn uninterrupted(work: &Path, flags: &[&str]) -> (PathBuf, PathBuf, Duration) {
    let (whole, broken) = (work.join("whole"), work.join("broken"));
    let started = Instant::now();
    let status = spawn_adapt(&whole, flags).wait().unwrap();
    assert!(status.success(), "the uninterrupted run failed");
    (whole, broken, started.elapsed())
}

/// Kills one `adapt --resume` into `out` at `moment`, checks what it left, and returns how many
/// runs finished before one could be killed. A run that finished first leaves no work behind,
/// so the next one starts over and reaches the moment; a timed moment is halved each time,
/// since the machine may now be faster than when the uninterrupted run was timed.
fn kill_once(out: &Path, flags: &[&str], moment: Moment, whole: Duration, label: &str) -> usize {
    let mut at = moment;
    let tries = (0..4)
        .take_while(|_| {
            let killed = kill_at(out, flags, at, whole);
            at = at.earlier();
            !killed
        })
        .count();
    assert!(tries < 4, "{label}: the run always finished first");
    assert_readable_or_absent(out, label);
    tries
}

#[test]
fn ten_sigkills_then_resume_match_an_uninterrupted_run() {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (whole, broken, t_whole) = uninterrupted(work.path(), &FLAGS);

    // A previous good model (another adapter, hence another card) sits in the output
    // directory, as when a site is re-adapted: a mix of old and new parts would not load.
    common::edge_ssl()
        .args(["adapt", "--model", "default", "--data"])
        .arg(common::reference_dir().join("images"))
        .arg("--out")
        .arg(&broken)
        .args(common::QUICK_ADAPT)
        .assert()
        .success();
    for (i, moment) in moments(7).into_iter().enumerate() {
        let label = format!("kill {i} at {moment:?}");
        let tries = kill_once(&broken, &FLAGS, moment, t_whole, &label);
        eprintln!("{label}: killed after {tries} run(s) that finished first");
    }

    let status = spawn_adapt(&broken, &FLAGS).wait().unwrap();
    assert!(status.success(), "the final --resume failed");
    assert_readable_or_absent(&broken, "after the final resume");
    assert!(
        !broken.join(".adapt-work").exists(),
        "work files left behind"
    );
    let (a, b) = (
        read_json(&whole.join("metrics.json")),
        read_json(&broken.join("metrics.json")),
    );
    assert_eq!(a["loss_curve"], b["loss_curve"]);
    // Compare weights, not file bytes: safetensors writes its metadata map in hash order.
    let load = |d: &Path| Adapter::load(&d.join("adapter.safetensors")).unwrap();
    let (wa, wb) = (load(&whole), load(&broken));
    let (pa, pb) = (wa.params(), wb.params());
    assert_eq!(pa.len(), pb.len());
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.value, y.value, "{}: resumed adapter differs", x.name);
    }
    eprintln!(
        "uninterrupted run {:.1} s; whole test {:.1} s",
        t_whole.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// SIGKILLs during encoder training, each followed by `--resume`, end with the very
/// `encoder.onnx` bytes and loss curve of an uninterrupted run: the checkpoint restores the
/// trained weights, the optimizer and the step, and the epoch's fresh pair of views is rendered
/// again from the frame list and seed.
#[test]
fn sigkills_during_encoder_training_then_resume_match_an_uninterrupted_run() {
    let work = tempfile::tempdir().unwrap();
    let (whole, broken, t_whole) = uninterrupted(work.path(), &TRAIN_FLAGS);
    let metrics = read_json(&whole.join("metrics.json"));
    assert_eq!(metrics["encoder"]["fresh_views"], true, "{metrics}");
    assert_eq!(metrics["encoder"]["steps"], 60, "{metrics}");

    let ckpt = broken.join(".adapt-work/encoder-training.ckpt");
    let mut mid_training = 0;
    for f in [0.35, 0.55, 0.7, 0.85] {
        kill_once(
            &broken,
            &TRAIN_FLAGS,
            Moment::After(f),
            t_whole,
            &format!("kill at {f}"),
        );
        mid_training += usize::from(ckpt.is_file());
    }
    assert!(
        mid_training > 0,
        "no kill landed after a training checkpoint"
    );
    let status = spawn_adapt(&broken, &TRAIN_FLAGS).wait().unwrap();
    assert!(status.success(), "the final --resume failed");
    assert_readable_or_absent(&broken, "after the final resume");
    let resumed = read_json(&broken.join("metrics.json"));
    assert_eq!(
        metrics["encoder"]["loss_curve"],
        resumed["encoder"]["loss_curve"]
    );
    let bytes = |d: &Path| std::fs::read(d.join("encoder.onnx")).unwrap();
    assert!(
        bytes(&whole) == bytes(&broken),
        "the resumed encoder.onnx differs from the uninterrupted one"
    );
    eprintln!(
        "{mid_training} of 4 kills after a training checkpoint; uninterrupted run {:.1} s",
        t_whole.as_secs_f64()
    );
}
