//! One frame loader for every command that reads unlabeled frames: `cluster --data` and
//! `head --unlabeled` take a video file with the same sampling flags as `adapt` and `run`, and
//! every command that reads frames names them `--data`.

mod common;

use common::{assert_success, edge_ssl, model_dir};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

#[test]
fn cluster_reads_a_video_with_the_sampling_flags() {
    let out = tempfile::tempdir().unwrap();
    let run = edge_ssl()
        .args([
            "cluster",
            "--data",
            VTEST,
            "--fps",
            "2",
            "--max-frames",
            "12",
            "--k",
            "2",
        ])
        .args(["--backend", "tract", "--threads", "1", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_success(&run);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("clusters.json")).unwrap()).unwrap();
    assert_eq!(summary["frames"], 12, "{summary}");
    let sizes: u64 = summary["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .sum();
    assert_eq!(sizes, 12, "{summary}");
    // Frames are named by their origin: at 2 fps of a 10 fps clip, every fifth frame.
    let example = summary["clusters"][0]["examples"][0].as_str().unwrap();
    let index: u64 = example.rsplit_once('#').unwrap().1.parse().unwrap();
    assert!(
        example.starts_with(VTEST) && index.is_multiple_of(5),
        "{example}"
    );
}

/// `embed` and `run` take `--data` like `adapt`, `cluster` and `fleet join`; their old names
/// (`--input`, `--source`) stay as aliases and read the same frames.
#[test]
fn embed_and_run_name_their_frames_data_and_keep_the_old_names() {
    let out = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for flag in ["--data", "--input"] {
        let npy = out.path().join(format!("{}.npy", &flag[2..]));
        let run = edge_ssl()
            .args([
                "embed",
                "--model",
                "default",
                flag,
                VTEST,
                "--max-frames",
                "3",
            ])
            .args(["--backend", "tract", "--threads", "1", "--out"])
            .arg(&npy)
            .output()
            .unwrap();
        assert_success(&run);
        rows.push(std::fs::read(&npy).unwrap());
    }
    assert_eq!(rows[0], rows[1], "--data and --input read other frames");
    let mut lines = Vec::new();
    for flag in ["--data", "--source"] {
        let run = edge_ssl()
            .args(["run", "--model"])
            .arg(model_dir())
            .args([flag, VTEST, "--max-frames", "3", "--json"])
            .args(["--backend", "tract", "--threads", "1"])
            .output()
            .unwrap();
        assert_success(&run);
        let predictions = String::from_utf8(run.stdout).unwrap();
        assert_eq!(predictions.lines().count(), 4, "{predictions}");
        lines.push(
            predictions
                .lines()
                .take(3)
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    (v["origin"].clone(), v["class"].clone())
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(lines[0], lines[1]);
    for (command, alias) in [("embed", "--input"), ("run", "--source")] {
        let help = edge_ssl().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        assert!(
            help.contains("--data <") && help.contains(&format!("[alias: {alias}]")),
            "{command} --help: {help}"
        );
    }
}

#[test]
fn head_unlabeled_reads_a_video_and_a_camera_needs_a_bound() {
    let labeled = tempfile::tempdir().unwrap();
    for (class, shade) in [("dark", 40u8), ("light", 220u8)] {
        let dir = labeled.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3u8 {
            image::GrayImage::from_pixel(28, 28, image::Luma([shade + i * 5]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let out = tempfile::tempdir().unwrap();
    let run = edge_ssl()
        .args(["head", "--labeled"])
        .arg(labeled.path())
        .args([
            "--unlabeled",
            VTEST,
            "--max-frames",
            "8",
            "--backend",
            "tract",
            "--out",
        ])
        .arg(out.path().join("m"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("8 kept"), "{stderr}");

    // /dev/null is a character device, so it is taken for a camera: it never ends.
    let run = edge_ssl()
        .args([
            "cluster",
            "--data",
            "/dev/null",
            "--k",
            "2",
            "--backend",
            "tract",
            "--out",
        ])
        .arg(out.path().join("c"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--max-frames"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// BN statistics re-estimated beside the listing (a video's frames, held as `run` reads them,
/// handed to the BN pass as they are read) are the pass after the listing's, bit for bit: the
/// same `encoder.onnx` as a run that lists first (`--resume` with nothing to resume takes that
/// path), on both engines.
#[test]
fn bn_statistics_beside_the_listing_equal_a_pass_after_it() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["tract", "ort"] {
        let adapt = |out: &str, extra: &[&str]| {
            let out = dir.path().join(format!("{backend}-{out}"));
            let run = edge_ssl()
                .args(["adapt", "--model", "default", "--data", VTEST])
                // Three BN batches (64 frames a call): the batching must match too.
                .args(["--max-frames", "150", "--views", "2", "--epochs", "1"])
                .args([
                    "--no-novelty",
                    "--backend",
                    backend,
                    "--threads",
                    "2",
                    "--out",
                ])
                .arg(&out)
                .args(extra)
                .output()
                .unwrap();
            assert_success(&run);
            let metrics: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
            let encoder = std::fs::read(out.join("encoder.onnx")).unwrap();
            (metrics["bn"].clone(), encoder)
        };
        let (beside, streamed) = adapt("beside", &[]);
        let (after, listed) = adapt("after", &["--resume"]);
        assert_eq!(beside["beside_listing"], true, "{beside}");
        assert_eq!(after["beside_listing"], false, "{after}");
        assert_eq!(beside["frames"], 150, "{beside}");
        assert_eq!(beside["layers"], after["layers"]);
        assert!(streamed == listed, "{backend}: the two encoder.onnx differ");
    }
}
