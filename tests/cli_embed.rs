//! `edge-ssl info` and `edge-ssl embed` end to end, compared with ONNX Runtime Python.

mod common;

use edge_ssl_core::npy;

#[test]
fn info_json_parses_and_reports_the_model() {
    let out = common::edge_ssl()
        .args(["info", "default", "--json"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"][0]["name"], "input");
    assert_eq!(v["outputs"][0]["name"], "embedding");
    assert!(v["parameters"].as_u64().unwrap() > 10_000);
    let flops = v["flops_per_sample"].as_u64().unwrap();
    assert!(flops > 1_000_000 && flops < 60_000_000, "{flops}");
    assert_eq!(v["card"]["input"]["layout"], "NCHW");
    assert_eq!(v["card_assumed"], false);
    assert_eq!(v["backends"]["tract"]["available"], true);
    assert_eq!(v["backends"]["ort"]["available"], true, "{v}");
    assert!(v["adapter"].is_null() && v["head"].is_null(), "{v}");
}

#[test]
fn info_on_a_model_directory_reports_its_adapter_and_head() {
    let tmp = tempfile::tempdir().unwrap();
    let (labeled, site) = (tmp.path().join("labeled"), tmp.path().join("site"));
    common::reference_labeled(&labeled);
    common::small_model_dir(&site, &labeled);
    let out = common::edge_ssl()
        .args(["info", "--json"])
        .arg(&site)
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["adapter"]["dim"], v["card"]["output"]["dim"], "{v}");
    assert_eq!(v["head"]["kind"], "softmax");
    assert_eq!(v["head"]["classes"].as_array().unwrap().len(), 8, "{v}");
}

#[test]
fn info_without_a_card_says_what_it_assumed() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("bare.onnx");
    std::fs::copy(common::default_onnx(), &onnx).unwrap();
    let out = common::edge_ssl()
        .args(["info", "--json"])
        .arg(&onnx)
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["card_assumed"], true);
    assert_eq!(v["card"]["input"]["channels"], 1);
    assert_eq!(v["card"]["input"]["height"], 28);
    assert!(String::from_utf8_lossy(&out.stderr).contains("assumed:"));
}

fn embed_with(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("emb.npy");
    let out = common::edge_ssl()
        .args([
            "embed",
            "--model",
            "default",
            "--batch",
            "5",
            "--backend",
            backend,
        ])
        .arg("--input")
        .arg(common::reference_dir().join("images"))
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    common::assert_success(&out);
    let got = npy::read_f32(&out_path).unwrap();
    let expected = npy::read_f32(&common::reference_dir().join("embedding.npy")).unwrap();
    let diff = common::max_abs_diff(&got, &expected);
    assert!(
        diff <= common::reference_atol(),
        "{backend}: max abs diff {diff}"
    );
    let paths = std::fs::read_to_string(dir.path().join("emb.paths.txt")).unwrap();
    let rows: Vec<&str> = paths.lines().collect();
    assert_eq!(rows.len(), expected.nrows());
    assert!(
        rows[0].ends_with("00-boot.png") || rows[0].contains("00-"),
        "{}",
        rows[0]
    );
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows sorted by path");
}

#[test]
fn embed_with_tract_matches_onnxruntime_python() {
    embed_with("tract");
}

#[test]
fn embed_with_ort_matches_onnxruntime_python() {
    embed_with("ort");
}

/// `--backend` defaults to `auto`: ONNX Runtime when its library loads (said on stderr), else
/// tract (said, with why); both embed the image the same within float noise.
#[test]
fn backend_defaults_to_auto_and_says_which_it_picked() {
    let dir = tempfile::tempdir().unwrap();
    let embed = |extra: &[&str], name: &str| {
        let out = common::edge_ssl()
            .args(["embed", "--input"])
            .arg(common::reference_dir().join("images/00-boot.png"))
            .arg("--out")
            .arg(dir.path().join(name))
            .args(extra)
            .output()
            .unwrap();
        common::assert_success(&out);
        let rows = npy::read_f32(&dir.path().join(name)).unwrap();
        (String::from_utf8_lossy(&out.stderr).into_owned(), rows)
    };
    let (stderr, with_ort) = embed(&[], "default.npy");
    assert!(stderr.contains("backend auto: picked ort"), "{stderr}");
    let missing = dir.path().join("no-such-libonnxruntime.so");
    let missing = missing.to_str().unwrap();
    let (stderr, with_tract) = embed(&["--ort-lib", missing], "fallback.npy");
    assert!(
        stderr.contains("backend auto: picked tract (ort unavailable:") && stderr.contains(missing),
        "{stderr}"
    );
    assert_eq!(with_ort.dim(), with_tract.dim());
    let diff = (&with_ort - &with_tract)
        .mapv(f32::abs)
        .fold(0.0f32, |m, &v| m.max(v));
    assert!(diff < 1e-4, "ort and tract differ by {diff}");
}

#[test]
fn rgb_jpeg_is_converted_to_the_cards_gray_input() {
    // A colour JPEG of another size must be decoded, converted by luma and resized.
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    });
    let jpg = dir.path().join("photo.jpg");
    img.save(&jpg).unwrap();
    let out = common::edge_ssl()
        .args(["embed", "--input"])
        .arg(&jpg)
        .arg("--out")
        .arg(dir.path().join("p.npy"))
        .output()
        .unwrap();
    common::assert_success(&out);
    let e = npy::read_f32(&dir.path().join("p.npy")).unwrap();
    let card =
        edge_ssl_core::ModelCard::load(&common::default_onnx().with_file_name("encoder.toml"))
            .unwrap();
    assert_eq!(e.dim(), (1, card.output.dim));
    assert!(e.iter().all(|v| v.is_finite()));
}

/// `embed` reads a video through the same loader as `adapt` and `run`: `--fps` and
/// `--max-frames` pick the frames, each row is named `VIDEO#FRAME`, and a row is the embedding
/// of that very frame (compared with ffmpeg's PNG of it, embedded as a file).
#[test]
fn embed_takes_a_video_with_the_sampling_flags() {
    const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("v.npy");
    let run = common::edge_ssl()
        .args([
            "embed",
            "--input",
            VTEST,
            "--fps",
            "2",
            "--max-frames",
            "3",
            "--json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = common::assert_success(&run);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["images"], 3, "{summary}");
    let rows = npy::read_f32(&out).unwrap();
    assert_eq!(rows.nrows(), 3);
    let names = std::fs::read_to_string(tmp.path().join("v.paths.txt")).unwrap();
    // A 10 fps clip at 2 fps: every fifth frame.
    let want: Vec<String> = [0, 5, 10].iter().map(|i| format!("{VTEST}#{i}")).collect();
    assert_eq!(names.lines().collect::<Vec<_>>(), want);

    let png = tmp.path().join("frame5.png");
    let ffmpeg = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            VTEST,
            "-vf",
            "select=eq(n\\,5)",
            "-frames:v",
            "1",
        ])
        .arg(&png)
        .status()
        .unwrap();
    assert!(ffmpeg.success());
    let one = tmp.path().join("one.npy");
    common::edge_ssl()
        .args(["embed", "--input"])
        .arg(&png)
        .arg("--out")
        .arg(&one)
        .assert()
        .success();
    let one = npy::read_f32(&one).unwrap();
    let diff = (&rows.row(1) - &one.row(0))
        .mapv(f32::abs)
        .fold(0.0f32, |a, &b| a.max(b));
    assert!(
        diff < 1e-4,
        "frame 5 embedded from the video and from its PNG differ by {diff}"
    );
    let other = (&rows.row(0) - &one.row(0))
        .mapv(f32::abs)
        .fold(0.0f32, |a, &b| a.max(b));
    assert!(other > 1e-3, "frames 0 and 5 embed alike ({other})");
}

/// A camera (any character device, `/dev/null` here) never ends: `embed` needs a bound.
#[test]
fn embed_from_a_camera_needs_max_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::edge_ssl()
        .args(["embed", "--input", "/dev/null", "--out"])
        .arg(tmp.path().join("c.npy"))
        .output()
        .unwrap();
    common::assert_clean_failure(
        &out,
        "a camera never ends; set a maximum number of frames (pass --max-frames N)",
    );
    assert!(!tmp.path().join("c.npy").exists());
}
