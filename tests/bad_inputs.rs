//! The bad-input corpus (tests/common/corpus.rs) fed to every command that takes each kind of
//! input. A damaged input that cannot be valid gives exit status 1 and one `error:` line naming
//! the damaged file; a damaged input a command does not read, or one whose documented handling
//! is skip-and-count, succeeds (with its warning); nothing ever panics, crashes or hangs.
//! Every (case, command) pair runs, and all mismatches of a test are reported together.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::corpus::{self, Case, Damage};
use common::{QUICK_ADAPT, assert_clean_failure, assert_no_panic, edge_ssl};

/// What a run must show.
#[derive(Clone, Debug)]
enum Expect {
    /// Exit status 1, one `error:` line containing this.
    Fail(String),
    /// Success, no `error:` line, and stderr containing this warning.
    Warn(String),
    /// Success: the command does not read the damaged part.
    Pass,
    /// Either a clean failure or a success (a bit flip may land where it does not matter).
    Either,
}

/// Shared inputs: the reference images, them as a labeled tree, a model directory made from
/// them, and a scratch area where each command writes its outputs.
struct Setup {
    tmp: tempfile::TempDir,
    frames: PathBuf,
    labeled: PathBuf,
    good: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let labeled = tmp.path().join("labeled");
        common::reference_labeled(&labeled);
        let good = tmp.path().join("good");
        common::small_model_dir(&good, &labeled);
        Setup {
            frames: common::reference_dir().join("images"),
            labeled,
            good,
            tmp,
        }
    }

    /// A fresh output path for one run.
    fn scratch(&self, label: &str) -> PathBuf {
        let dir = self
            .tmp
            .path()
            .join("scratch")
            .join(label.replace([' ', '/'], "_"));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("out")
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// `edge-ssl ARGS…` (any mix of strings and paths).
macro_rules! cmd {
    ($($arg:expr),* $(,)?) => {{
        let mut cmd = edge_ssl();
        $( cmd.arg($arg); )*
        cmd
    }};
}

/// Runs (case, command) pairs and collects mismatches instead of stopping at the first.
#[derive(Default)]
struct Tally {
    runs: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Runs `cmd` with a time limit (a hang fails instead of stalling) and checks `expect`.
    fn run(&mut self, label: &str, cmd: &mut assert_cmd::Command, expect: &Expect) {
        let out = cmd.timeout(Duration::from_secs(120)).output().unwrap();
        self.runs += 1;
        if let Err(e) = std::panic::catch_unwind(|| check(&out, expect)) {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            self.failures
                .push(format!("{label}: expected {expect:?}: {why}"));
        }
    }

    fn assert_all_passed(self) {
        eprintln!("{} runs, {} mismatch(es)", self.runs, self.failures.len());
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n\n"));
    }
}

fn check(out: &Output, expect: &Expect) {
    assert_no_panic(out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let succeeded_cleanly = || {
        assert!(out.status.success(), "expected success, stderr: {stderr}");
        assert!(
            !stderr.lines().any(|l| l.starts_with("error:")),
            "error line on success: {stderr}"
        );
    };
    match expect {
        Expect::Fail(what) => assert_clean_failure(out, what),
        Expect::Warn(what) => {
            succeeded_cleanly();
            assert!(stderr.contains(what.as_str()), "no `{what}` in: {stderr}");
        }
        Expect::Pass => succeeded_cleanly(),
        Expect::Either if out.status.success() => succeeded_cleanly(),
        Expect::Either => assert_clean_failure(out, ""),
    }
}

/// Every command that takes `--model`, given `m`, each writing into its own scratch path.
fn model_commands(s: &Setup, m: &Path, label: &str) -> Vec<(&'static str, assert_cmd::Command)> {
    let out = |cmd: &str| s.scratch(&format!("{label}-{cmd}"));
    let mut adapt = cmd!(
        "adapt",
        "--model",
        m,
        "--data",
        &s.frames,
        "--out",
        out("adapt")
    );
    adapt.args(QUICK_ADAPT);
    vec![
        ("info", cmd!("info", m)),
        (
            "embed",
            cmd!(
                "embed",
                "--model",
                m,
                "--input",
                &s.frames,
                "--out",
                out("embed")
            ),
        ),
        ("adapt", adapt),
        (
            "head",
            cmd!(
                "head",
                "--model",
                m,
                "--labeled",
                &s.labeled,
                "--out",
                out("head")
            ),
        ),
        (
            "cluster",
            cmd!(
                "cluster",
                "--model",
                m,
                "--data",
                &s.frames,
                "--k",
                "2",
                "--out",
                out("cluster")
            ),
        ),
        ("eval", cmd!("eval", "--model", m, "--labeled", &s.labeled)),
        (
            "run",
            cmd!(
                "run",
                "--model",
                m,
                "--source",
                &s.frames,
                "--max-frames",
                "3"
            ),
        ),
        (
            "bench",
            cmd!(
                "bench",
                "--model",
                m,
                "--backend",
                "tract",
                "--iters",
                "2",
                "--warmup",
                "0",
                "--batch",
                "1",
                "--threads",
                "1"
            ),
        ),
    ]
}

/// What a damaged model part means to each command.
fn expect_for_model(case: &Case, command: &str) -> Expect {
    // Adapters and heads carry a CRC-32 of their content (and the card records the adapter's
    // sha256), so even a flip inside their weights is refused.
    let must_fail = case.damage.always_invalid() || case.part.ends_with(".safetensors");
    let reads = match case.part.as_str() {
        "adapter.safetensors" => {
            ["info", "embed", "head", "cluster", "eval", "run", "bench"].contains(&command)
        }
        // A directory without a head is a valid model (adapted, not yet labeled) to `info`
        // and `bench` (which then measures encoder and adapter).
        "head.safetensors" => {
            ["eval", "run"].contains(&command)
                || (["info", "bench"].contains(&command) && case.damage != Damage::Missing)
        }
        _ => true, // the card and the encoder (or a bare ONNX file): every command
    };
    match (reads, must_fail) {
        (false, _) => Expect::Pass,
        (true, true) => Expect::Fail(case.part.clone()),
        (true, false) => Expect::Either,
    }
}

#[test]
fn damaged_models_and_model_directories() {
    let s = Setup::new();
    let mut tally = Tally::default();
    let mut models = corpus::onnx_cases(&s.dir("onnx"));
    models.extend(corpus::model_dir_cases(&s.good, &s.dir("model-dirs")));
    for case in &models {
        for (command, mut cmd) in model_commands(&s, &case.path, &case.name) {
            let label = format!("{command} --model {}", case.name);
            tally.run(&label, &mut cmd, &expect_for_model(case, command));
        }
    }
    tally.assert_all_passed();
}

#[test]
fn damaged_images() {
    let s = Setup::new();
    let mut tally = Tally::default();
    let images = corpus::image_cases(&s.dir("images"));
    for case in &images {
        let expect = if case.damage.always_invalid() {
            Expect::Fail(case.name.clone())
        } else {
            Expect::Either
        };
        let name = &case.name;
        let mut embed = cmd!("embed", "--input", &case.path, "--out", s.scratch(name));
        tally.run(&format!("embed --input {name}"), &mut embed, &expect);
        let mut run = cmd!("run", "--model", &s.good, "--source", &case.path);
        tally.run(&format!("run --source {name}"), &mut run, &expect);
        if !case.damage.always_invalid() {
            continue;
        }
        // Among labeled images a bad one is an error: a silently dropped example changes a head.
        let labeled = s.dir(&format!("labeled-{name}"));
        common::reference_labeled(&labeled);
        std::fs::copy(&case.path, labeled.join("boot").join(name)).unwrap();
        let mut head = cmd!("head", "--labeled", &labeled, "--out", s.scratch(name));
        tally.run(&format!("head --labeled +{name}"), &mut head, &expect);
        let mut eval = cmd!("eval", "--model", &s.good, "--labeled", &labeled);
        tally.run(&format!("eval --labeled +{name}"), &mut eval, &expect);
    }

    // Among unlabeled frames, undecodable files are skipped and counted.
    let mixed = s.dir("mixed");
    common::copy_dir(&s.frames, &mixed);
    let bad: Vec<&Case> = images
        .iter()
        .filter(|c| c.damage.always_invalid())
        .collect();
    for case in &bad {
        std::fs::copy(&case.path, mixed.join(&case.name)).unwrap();
    }
    let skipped = Expect::Warn(format!("skipped {} file(s)", bad.len()));
    let mut adapt = cmd!("adapt", "--data", &mixed, "--out", s.scratch("mixed-adapt"));
    adapt.args(QUICK_ADAPT);
    for (command, mut cmd) in [
        (
            "embed",
            cmd!(
                "embed",
                "--input",
                &mixed,
                "--out",
                s.scratch("mixed-embed")
            ),
        ),
        ("adapt", adapt),
        (
            "cluster",
            cmd!(
                "cluster",
                "--k",
                "2",
                "--data",
                &mixed,
                "--out",
                s.scratch("mixed-cl")
            ),
        ),
    ] {
        tally.run(&format!("{command} on good+bad images"), &mut cmd, &skipped);
    }
    tally.assert_all_passed();
}

#[test]
fn damaged_videos() {
    let s = Setup::new();
    let Some(videos) = corpus::video_cases(&s.dir("videos")) else {
        eprintln!("{} not installed; video cases skipped", corpus::VIDEO);
        return;
    };
    let mut tally = Tally::default();
    for case in &videos {
        let expect = match (case.name.as_str(), case.damage) {
            // Documented: the frames that decoded, plus a warning naming the file.
            ("cut.avi", _) => Expect::Warn("cut.avi: decoded".into()),
            (_, Damage::Flipped) => Expect::Either,
            _ => Expect::Fail(case.name.clone()),
        };
        let name = &case.name;
        let mut run = cmd!("run", "--model", &s.good, "--source", &case.path);
        tally.run(&format!("run --source {name}"), &mut run, &expect);
        let mut adapt = cmd!("adapt", "--data", &case.path, "--out", s.scratch(name));
        adapt.args(QUICK_ADAPT);
        tally.run(&format!("adapt --data {name}"), &mut adapt, &expect);
    }
    tally.assert_all_passed();
}
