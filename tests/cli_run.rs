//! `edge-ssl run` end to end with real parts: the opencv-doc clip vtest.avi decoded by ffmpeg,
//! the bundled encoder with a head fitted here on Fashion-MNIST reference images, display PNGs,
//! and a device emulator on a real pty for `--serial` (including one that is unplugged and
//! plugged back in mid-run). Also `adapt --data` on a video.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{assert_clean_failure, edge_ssl, model_dir};
use edge_ssl_firmware_host::{DeviceEmulator, DeviceOptions, Novelty};
use serde_json::Value;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

fn run_cmd(extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = edge_ssl();
    cmd.args(["run", "--model"])
        .arg(model_dir())
        .args(["--source", VTEST])
        .args(extra);
    cmd
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn class_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(model_dir().parent().unwrap().join("labeled"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn json_prints_one_line_per_frame_and_a_summary() {
    let out = run_cmd(&["--max-frames", "20", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 21, "20 frames + summary");
    let names = class_names();
    for (i, line) in lines[..20].iter().enumerate() {
        assert_eq!(line["type"], "frame");
        assert_eq!(line["frame"], i as u64, "{line}");
        assert_eq!(line["origin"].as_str().unwrap(), format!("{VTEST}#{i}"));
        assert!(names.contains(&line["class"].as_str().unwrap().to_string()));
        let confidence = line["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence), "{line}");
        assert!(line["latency_ms"].as_f64().unwrap() > 0.0);
        assert!(line.get("serial").is_none());
    }
    let summary = &lines[20];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["frames"], 20);
    assert_eq!(summary["interrupted"], false);
    assert!(summary["fps"].as_f64().unwrap() > 0.0);
    let lat = &summary["latency_ms"];
    let (p50, p90, p99) = (
        lat["p50"].as_f64().unwrap(),
        lat["p90"].as_f64().unwrap(),
        lat["p99"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99, "{lat}");
    assert_eq!(summary["source"]["kept"], 20);
    let counted: u64 = summary["classes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 20);
}

#[test]
fn human_summary_names_fps_latency_and_frames() {
    let out = run_cmd(&["--max-frames", "5", "--fps", "5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    common::assert_success(&out);
    assert!(stdout.starts_with("ran 5 frames in "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(" fps · "),
        "status line drawn into a pipe: {stderr}"
    );
    assert!(stdout.contains(" fps; latency p50 "), "{stdout}");
    // 10 fps clip sampled at 5 fps: every other frame read is skipped.
    assert!(
        stdout.contains("source: 9 read, 5 kept, 4 skipped (fps 4)"),
        "{stdout}"
    );
}

/// What `run` writes to a terminal on stderr: the child's stderr is the slave side of a real
/// pseudo-terminal, stdout a pipe. Returns (what the terminal received, stdout).
fn run_on_a_terminal(extra: &[&str]) -> (String, String) {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (-1, -1);
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edge-ssl"))
        .args(["run", "--model"])
        .arg(model_dir())
        .args(["--source", VTEST])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // The terminal is read while the child writes: a full pty buffer would block it.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let (mut seen, mut buf) = (Vec::new(), [0u8; 4096]);
        // EIO once the child, the slave's last holder, has exited.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let terminal = reader.join().unwrap();
    assert!(status.success(), "{terminal}");
    (terminal, stdout)
}

#[test]
fn a_terminal_shows_a_live_status_line_and_json_mode_does_not() {
    let (terminal, stdout) = run_on_a_terminal(&["--max-frames", "300"]);
    // The status line: "N frames · F fps · CLASS C.CC", redrawn in place.
    let names = class_names();
    let statuses: Vec<&str> = terminal
        .split(['\r', '\n'])
        .filter(|l| l.contains(" frames · ") && l.contains(" fps · "))
        .collect();
    assert!(
        !statuses.is_empty(),
        "no status line on the terminal: {terminal:?}"
    );
    for line in &statuses {
        let rest = line.split(" fps · ").nth(1).unwrap();
        // Then " (novel)" and " · novel N/M" when the model scores novelty.
        let rest = rest.split(['\u{1b}', '·', '(']).next().unwrap().trim();
        let (class, confidence) = rest.rsplit_once(' ').expect("CLASS CONFIDENCE");
        assert!(
            names.iter().any(|n| n == class),
            "{line:?}: `{class}` is no class of {names:?}"
        );
        let confidence: f32 = confidence.parse().unwrap();
        assert!((0.0..=1.0).contains(&confidence), "{line:?}");
    }
    assert!(stdout.starts_with("ran 300 frames in "), "{stdout}");
    assert!(
        !stdout.contains(" fps · "),
        "status line on stdout: {stdout}"
    );
    // With --json, stdout is JSON only and the terminal gets no status line.
    let (terminal, stdout) = run_on_a_terminal(&["--max-frames", "30", "--json"]);
    assert!(!terminal.contains(" fps · "), "{terminal:?}");
    assert_eq!(json_lines(stdout.as_bytes()).len(), 31);
}

#[test]
fn display_writes_every_nth_screen_as_png() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("screens");
    let display = format!("png:{}", dir.display());
    let out = run_cmd(&[
        "--max-frames",
        "20",
        "--display",
        &display,
        "--display-every",
        "5",
        "--panel",
        "ssd1306",
        "--json",
    ])
    .output()
    .unwrap();
    common::assert_success(&out);
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    let names: Vec<_> = pngs.iter().map(|p| p.file_name().unwrap()).collect();
    assert_eq!(
        names,
        [
            "frame-000000.png",
            "frame-000005.png",
            "frame-000010.png",
            "frame-000015.png"
        ]
    );
    let img = image::open(&pngs[3]).unwrap();
    assert_eq!((img.width(), img.height()), (128, 64));
    let summary = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(summary["display"]["written"], 4);
    assert_eq!(summary["display"]["shown"], 20);
}

#[test]
fn serial_sends_a_valid_prediction_per_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let emulator =
        DeviceEmulator::spawn(tmp.path().join("ttyEDGE"), DeviceOptions::default()).unwrap();
    let serial = emulator.path().to_str().unwrap().to_string();
    let out = run_cmd(&["--max-frames", "30", "--json", "--serial", &serial])
        .output()
        .unwrap();
    common::assert_success(&out);
    let lines = json_lines(&out.stdout);
    assert!(emulator.wait_until(Duration::from_secs(2), |d| d.predictions().len() == 30));
    let device = emulator.lock();
    assert_eq!(device.decoder_stats().dropped.total(), 0);
    for (line, p) in lines[..30].iter().zip(device.predictions()) {
        assert_eq!(u64::from(p.frame), line["frame"].as_u64().unwrap());
        assert_eq!(p.class_name.as_str(), line["class"].as_str().unwrap());
        assert_eq!(u64::from(p.class_id), line["class_id"].as_u64().unwrap());
        assert!((f64::from(p.confidence) - line["confidence"].as_f64().unwrap()).abs() < 1e-6);
        assert!(p.latency_us > 0);
    }
    assert_eq!(device.hellos().len(), 1, "the host introduces itself once");
    let summary = &lines[30]["serial"];
    assert_eq!(summary["sent"], 30);
    assert_eq!(summary["dropped"], 0);
    assert_eq!(summary["acked"], 30, "{summary}");
}

/// `run --json --serial` of `model` on `source` (at most `frames` frames) against a fresh
/// emulated device: the frame lines, each frame's novelty as the device received it (by frame
/// index), the summary line and stderr.
/// `run --serial`'s JSON lines, the predictions the device received (frame, novelty), its
/// summary and stderr.
type SerialRun = (Vec<Value>, Vec<(u32, Option<Novelty>)>, Value, String);

fn serial_run(model: &Path, source: &Path, frames: usize, device: DeviceOptions) -> SerialRun {
    let tmp = tempfile::tempdir().unwrap();
    let emulator = DeviceEmulator::spawn(tmp.path().join("ttyEDGE"), device).unwrap();
    let out = edge_ssl()
        .args([
            "run",
            "--json",
            "--max-frames",
            &frames.to_string(),
            "--model",
        ])
        .arg(model)
        .arg("--source")
        .arg(source)
        .args(["--serial", emulator.path().to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_success(&out);
    let mut lines = json_lines(&out.stdout);
    let summary = lines.pop().unwrap();
    assert_eq!(summary["type"], "summary");
    let sent = summary["serial"]["sent"].as_u64().unwrap() as usize;
    // Everything sent arrives (an older device drops it as another version's).
    assert!(emulator.wait_until(Duration::from_secs(2), |d| {
        d.predictions().len() as u64 + d.version_drops() == sent as u64
    }));
    let received = emulator
        .lock()
        .predictions()
        .iter()
        .map(|p| (p.frame, p.novelty))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (lines, received, summary, stderr)
}

/// Checks that every frame line's `novelty`/`novel` is what the device received for that frame:
/// the same f32 score (JSON prints it in full) and flag, or none for null.
fn assert_device_got_the_novelty(lines: &[Value], received: &[(u32, Option<Novelty>)]) {
    assert_eq!(lines.len(), received.len());
    for (line, (frame, novelty)) in lines.iter().zip(received) {
        assert_eq!(u64::from(*frame), line["frame"].as_u64().unwrap());
        match novelty {
            None => assert!(
                line["novelty"].is_null() && line["novel"].is_null(),
                "{line}"
            ),
            Some(n) => {
                let score = line["novelty"].as_f64().expect("a novelty score") as f32;
                assert_eq!(n.score.to_bits(), score.to_bits(), "{line}");
                assert_eq!(Some(n.novel), line["novel"].as_bool(), "{line}");
            }
        }
    }
}

/// A model with a novelty model: `head` on the 16 reference garments, with the same images
/// twice more as unlabeled frames so the novelty model has the 20+ rows it needs. Also a
/// folder of frames to run it on: those garments, and three stripe and checkerboard patterns
/// unlike any garment (its default AE scores them about 5× its threshold, the garments below).
fn novelty_model_dir(tmp: &Path) -> (PathBuf, PathBuf) {
    let labeled = tmp.join("labeled");
    common::reference_labeled(&labeled);
    let garments = tmp.join("garments");
    let unlabeled = tmp.join("unlabeled");
    std::fs::create_dir_all(&garments).unwrap();
    std::fs::create_dir_all(&unlabeled).unwrap();
    for entry in std::fs::read_dir(common::reference_dir().join("images")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(&path, garments.join(&name)).unwrap();
        for copy in ["a", "b"] {
            std::fs::copy(&path, unlabeled.join(format!("{copy}-{name}"))).unwrap();
        }
    }
    let patterns: [fn(u32, u32) -> bool; 3] = [
        |x, _| x % 2 == 0,
        |_, y| y % 2 == 0,
        |x, y| (x + y) % 2 == 1,
    ];
    for (i, on) in patterns.iter().enumerate() {
        let image =
            image::GrayImage::from_fn(28, 28, |x, y| image::Luma([255 * u8::from(on(x, y))]));
        image
            .save(garments.join(format!("pattern-{i}.png")))
            .unwrap();
    }
    let model = tmp.join("model");
    edge_ssl()
        .args(["head", "--model", "default", "--labeled"])
        .arg(&labeled)
        .arg("--unlabeled")
        .arg(&unlabeled)
        .arg("--out")
        .arg(&model)
        .assert()
        .success();
    assert!(model.join("novelty.safetensors").is_file());
    (model, garments)
}

#[test]
fn serial_predictions_carry_the_novelty_run_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, frames) = novelty_model_dir(tmp.path());
    let (lines, received, _, _) = serial_run(&model, &frames, 100, DeviceOptions::default());
    assert_eq!(lines.len(), 16 + 3);
    assert_device_got_the_novelty(&lines, &received);
    let flags: Vec<bool> = received
        .iter()
        .map(|(_, n)| n.expect("a novelty model scores every frame").novel)
        .collect();
    assert!(
        flags.contains(&true) && flags.contains(&false),
        "both flags travel: {flags:?}"
    );
}

#[test]
fn serial_predictions_of_a_model_without_novelty_carry_none() {
    // The reference images alone are too few for a novelty model: model_dir() has none.
    assert!(!model_dir().join("novelty.safetensors").exists());
    let (lines, received, _, _) =
        serial_run(model_dir(), Path::new(VTEST), 10, DeviceOptions::default());
    assert_eq!(lines.len(), 10);
    assert!(received.iter().all(|(_, n)| n.is_none()));
    assert_device_got_the_novelty(&lines, &received);
}

#[test]
fn serial_device_of_an_older_protocol_version_is_refused_by_name() {
    let old = DeviceOptions::default()
        .with_name("old-mcu")
        .with_protocol(1);
    let (lines, received, summary, stderr) = serial_run(model_dir(), Path::new(VTEST), 30, old);
    assert!(
        stderr.contains("\"old-mcu\" speaks link protocol version 1, this host version 2"),
        "{stderr}"
    );
    // The device's Hello arrives within the first frames; from then on nothing is sent.
    let refused = lines.iter().filter(|l| l["serial"] == "refused").count();
    assert!(refused >= 20, "{refused} of 30 refused");
    assert_eq!(lines.last().unwrap()["serial"], "refused");
    let s = &summary["serial"];
    assert_eq!(s["refused"], refused as u64, "{s}");
    assert_eq!(
        s["sent"].as_u64().unwrap() + s["refused"].as_u64().unwrap(),
        30
    );
    assert_eq!(s["acked"], 0, "{s}");
    assert!(received.is_empty(), "an old device takes no prediction");

    // The human summary counts them too.
    let tmp = tempfile::tempdir().unwrap();
    let old = DeviceOptions::default().with_protocol(1);
    let emulator = DeviceEmulator::spawn(tmp.path().join("ttyEDGE"), old).unwrap();
    let out = run_cmd(&["--max-frames", "10"])
        .args(["--serial", emulator.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = common::assert_success(&out);
    assert!(
        stdout.contains("refused (device firmware of another protocol version)"),
        "{stdout}"
    );
}

/// A `run` child whose stdout is read line by line.
struct LiveRun {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl LiveRun {
    fn spawn(extra: &[&str]) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edge-ssl"))
            .current_dir(common::root())
            .args(["run", "--model"])
            .arg(model_dir())
            .args(["--source", VTEST, "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        LiveRun { child, lines }
    }

    /// Reads lines until one satisfies `want` (returned), or the output ends (None).
    fn until(&mut self, seen: &mut Vec<Value>, want: impl Fn(&Value) -> bool) -> Option<Value> {
        for line in self.lines.by_ref() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            seen.push(v.clone());
            if want(&v) {
                return Some(v);
            }
        }
        None
    }

    /// Ctrl-C, as a user at the terminal would press it.
    fn interrupt(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) },
            0
        );
    }

    fn finish(mut self, seen: &mut Vec<Value>) -> (std::process::ExitStatus, String) {
        self.until(seen, |_| false);
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    }
}

/// The clip loops (`--loop`), so the run is still going whenever the device comes back, however
/// slow this machine is; Ctrl-C ends it once the reconnection has been seen.
#[test]
fn serial_device_unplugged_mid_run_is_survived_and_reconnected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut emulator =
        DeviceEmulator::spawn(tmp.path().join("ttyEDGE"), DeviceOptions::default()).unwrap();
    let serial = emulator.path().to_str().unwrap().to_string();
    let mut run = LiveRun::spawn(&["--serial", &serial, "--loop"]);
    let mut seen = Vec::new();
    let is_frame = |v: &Value, n: u64| v["type"] == "frame" && v["frame"].as_u64() >= Some(n);
    run.until(&mut seen, |v| is_frame(v, 10))
        .expect("10 frames");
    emulator.unplug();
    let before = emulator.lock().predictions().len();
    run.until(&mut seen, |v| v["serial"] == "dropped")
        .expect("a prediction dropped while unplugged");
    emulator.plug().unwrap();
    let started = Instant::now();
    run.until(&mut seen, |v| v["serial"] == "sent")
        .expect("sending again after the device came back");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(emulator.wait_until(Duration::from_secs(5), |d| d.predictions().len() > before));
    run.interrupt();
    let (status, stderr) = run.finish(&mut seen);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
    let summary = seen.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    let frames = summary["frames"].as_u64().unwrap();
    assert_eq!(
        frames + 1,
        seen.len() as u64,
        "one line per frame and the summary"
    );
    let s = &summary["serial"];
    assert!(s["dropped"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["disconnects"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["reconnects"], 1, "{s}");
    let sent = s["sent"].as_u64().unwrap();
    assert_eq!(sent + s["dropped"].as_u64().unwrap(), frames, "{s}");
}

/// `--loop` starts the clip again: frame numbers run past the clip's 795 frames while the
/// origins name frames of the file, and --max-frames counts over the passes.
#[test]
fn loop_plays_the_clip_again_and_max_frames_counts_across_passes() {
    let out = run_cmd(&["--loop", "--fps", "1", "--max-frames", "90", "--json"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 91);
    let frames: Vec<u64> = lines[..90]
        .iter()
        .map(|l| l["frame"].as_u64().unwrap())
        .collect();
    assert!(frames.windows(2).all(|w| w[0] < w[1]), "{frames:?}");
    assert!(frames[89] >= 795, "a second pass was played: {frames:?}");
    let second = lines[..90]
        .iter()
        .find(|l| l["frame"].as_u64() >= Some(795))
        .unwrap();
    let n = second["frame"].as_u64().unwrap();
    assert_eq!(
        second["origin"].as_str().unwrap(),
        format!("{VTEST}#{}", n - 795)
    );
    let source = &lines[90]["source"];
    assert_eq!(source["kept"], 90);
    assert!(source["read"].as_u64().unwrap() > 795, "{source}");
}

#[test]
fn ctrl_c_stops_between_frames_and_prints_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("screens");
    let display = format!("png:{}", dir.display());
    let mut run = LiveRun::spawn(&["--display", &display]);
    let mut seen = Vec::new();
    run.until(&mut seen, |v| v["frame"].as_u64() >= Some(5))
        .expect("5 frames");
    run.interrupt();
    let (status, stderr) = run.finish(&mut seen);
    assert!(status.success(), "{stderr}");
    let summary = seen.last().unwrap();
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(summary["interrupted"], true);
    let frames = summary["frames"].as_u64().unwrap();
    assert!((6..795).contains(&frames), "{summary}");
    assert_eq!(seen.len() as u64, frames + 1);
    let pngs = std::fs::read_dir(&dir).unwrap().count() as u64;
    assert_eq!(pngs, frames, "one screen per frame, all flushed");
}

#[test]
fn bad_sources_fail_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.avi");
    std::fs::write(
        &garbage,
        (0..100_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let missing = tmp.path().join("missing.avi");
    for (source, must_contain) in [
        (missing.to_str().unwrap(), "missing.avi"),
        ("/dev/video99", "/dev/video99"),
        (garbage.to_str().unwrap(), "garbage.avi"),
    ] {
        let out = edge_ssl()
            .args(["run", "--model"])
            .arg(model_dir())
            .args(["--source", source, "--max-frames", "3"])
            .output()
            .unwrap();
        assert_clean_failure(&out, must_contain);
    }
}

#[test]
fn a_model_without_a_head_names_edge_ssl_head() {
    let out = edge_ssl()
        .args(["run", "--model", "default", "--source", VTEST])
        .output()
        .unwrap();
    assert_clean_failure(&out, "edge-ssl head");
}

#[test]
fn bad_display_and_serial_fail_with_one_error_line() {
    let out = run_cmd(&["--display", "svg:out"]).output().unwrap();
    assert_clean_failure(&out, "png:DIR");
    let out = run_cmd(&["--serial", "/nonexistent/ttyACM9"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "/nonexistent/ttyACM9");
}

#[test]
fn adapt_reads_frames_from_a_video() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("site");
    let out = edge_ssl()
        .args(["adapt", "--model", "default", "--data", VTEST])
        .args(["--fps", "2", "--max-frames", "12", "--dedup", "1"])
        .args([
            "--epochs", "1", "--views", "2", "--batch", "4", "--json", "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("vtest.avi: video"), "{stderr}");
    let metrics: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["frames"], 12, "{metrics}");
    assert!(out_dir.join("adapter.safetensors").is_file());
    // A camera that is not there is one clear error, before any work.
    let out = edge_ssl()
        .args([
            "adapt",
            "--model",
            "default",
            "--data",
            "/dev/video99",
            "--out",
        ])
        .arg(tmp.path().join("cam"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "/dev/video99");
}
