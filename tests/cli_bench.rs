//! `edge-ssl bench` on the bundled encoder with tiny iteration counts: the JSON has sane fields,
//! `--report` writes Markdown and decodable PNGs, and bad flags fail with one `error:` line.

mod common;

use common::{assert_clean_failure, edge_ssl};
use serde_json::Value;

/// `edge-ssl bench` on the bundled encoder with tract.
fn bench_default_tract() -> assert_cmd::Command {
    let mut cmd = edge_ssl();
    cmd.args(["bench", "--model", "default", "--backend", "tract"]);
    cmd
}

fn bench_json(extra: &[&str]) -> Value {
    let out = bench_default_tract()
        .args(["--iters", "3", "--warmup", "1", "--json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stderr}"))
}

#[test]
fn json_has_one_sane_row_per_combination() {
    let run = bench_json(&["--threads", "1,2", "--batch", "1,4"]);
    assert_eq!(run["input_shape"], serde_json::json!([1, 1, 28, 28]));
    let flops = run["flops_per_sample"].as_u64().unwrap();
    assert!(
        (20_000_000..40_000_000).contains(&flops),
        "bundled encoder is ~27 MFLOP, got {flops}"
    );
    let rows = run["measurements"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "tract × {{1,2}} threads × {{1,4}} batch");
    for m in rows {
        let p = &m["latency_ms"];
        let (p50, p90, p99, min) = (
            p["p50"].as_f64().unwrap(),
            p["p90"].as_f64().unwrap(),
            p["p99"].as_f64().unwrap(),
            p["min"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= p50 && p50 <= p90 && p90 <= p99, "{m}");
        assert_eq!(m["iterations"], 3);
        assert_eq!(m["engine"], "tract");
        let batch = m["batch"].as_f64().unwrap();
        // throughput is batch / per-call time; the loop's wall time also holds p99 calls.
        let sps = m["samples_per_s"].as_f64().unwrap();
        assert!(sps > 0.0 && sps <= batch / (min / 1e3) * 1.01, "{m}");
        let gflops = m["gflops_per_s"].as_f64().unwrap();
        let expect = flops as f64 * batch / (p50 / 1e3) / 1e9;
        assert!((gflops - expect).abs() < 1e-6 * expect.max(1.0), "{m}");
        assert!(m["cold_start_ms"].as_f64().unwrap() > 0.0);
        if cfg!(target_os = "linux") {
            let peak = m["peak_rss_mb"].as_f64().unwrap();
            let before = m["baseline_rss_mb"].as_f64().unwrap();
            assert!(peak > before && before > 1.0, "{m}");
        }
    }
    let mut combos: Vec<(u64, u64)> = rows
        .iter()
        .map(|m| (m["threads"].as_u64().unwrap(), m["batch"].as_u64().unwrap()))
        .collect();
    combos.sort();
    assert_eq!(combos, [(1, 1), (1, 4), (2, 1), (2, 4)]);
    assert!(run["host"]["cores"].as_u64().unwrap() >= 1);
}

#[test]
fn report_writes_markdown_and_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let run = bench_json(&[
        "--threads",
        "1",
        "--batch",
        "2",
        "--report",
        report.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("| tract | 1 | 2 |"), "{md}");
    let p50 = run["measurements"][0]["latency_ms"]["p50"]
        .as_f64()
        .unwrap();
    assert!(
        md.contains(&format!("{p50:.3}")),
        "report shows the measured p50 {p50:.3}: {md}"
    );
    for png in [
        "latency_p50.png",
        "throughput.png",
        "gflops.png",
        "cold_start.png",
    ] {
        let img = image::open(report.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() > 100 && img.height() > 20, "{png}");
        assert!(md.contains(&format!("]({png})")), "report links {png}");
    }
}

#[test]
fn unknown_backend_fails_cleanly() {
    let out = edge_ssl()
        .args(["bench", "--backend", "tract,tensorflow"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "unknown backend `tensorflow`");
}

#[test]
fn batch_zero_fails_cleanly() {
    let out = edge_ssl()
        .args(["bench", "--batch", "1,0"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "--batch");
}

#[test]
fn missing_model_fails_cleanly() {
    let out = edge_ssl()
        .args(["bench", "--model", "/no/such/model.onnx"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "no such model file");
}

#[test]
fn unavailable_peer_python_is_reported_not_fatal() {
    let run = bench_json(&[
        "--threads",
        "1",
        "--batch",
        "1",
        "--peers",
        "--python",
        "/no/such/python",
    ]);
    assert_eq!(
        run["measurements"].as_array().unwrap().len(),
        1,
        "tract still measured"
    );
    let skipped = run["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["engine"] == "onnxruntime-python"
            && s["reason"].as_str().unwrap().contains("/no/such/python")),
        "{skipped:?}"
    );
}

/// `--model DIR` times what a device runs per batch: encoder, adapter and head, not the
/// encoder alone; a damaged adapter is refused rather than left out of the measurement.
#[test]
fn a_model_directory_is_measured_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (labeled, site) = (tmp.path().join("labeled"), tmp.path().join("site"));
    common::reference_labeled(&labeled);
    common::small_model_dir(&site, &labeled);
    let bench = |model: &std::path::Path| {
        edge_ssl()
            .args([
                "bench",
                "--backend",
                "tract",
                "--iters",
                "2",
                "--warmup",
                "0",
            ])
            .args(["--batch", "2", "--threads", "1", "--json", "--model"])
            .arg(model)
            .output()
            .unwrap()
    };
    let out = bench(&site);
    let run: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(run["model"], site.display().to_string());
    let describe = run["measurements"][0]["describe"].as_str().unwrap();
    assert!(
        describe.ends_with("(encoder + adapter + softmax head)"),
        "{describe}"
    );
    let bare = bench(&common::default_onnx());
    let bare: Value = serde_json::from_slice(&bare.stdout).unwrap();
    let bare = bare["measurements"][0]["describe"].as_str().unwrap();
    assert!(!bare.contains("head"), "{bare}");

    let adapter = site.join("adapter.safetensors");
    let mut bytes = std::fs::read(&adapter).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&adapter, bytes).unwrap();
    assert_clean_failure(&bench(&site), "adapter.safetensors");
}

/// `bench --adapt --repeat 2`: two fresh (adapt, embed) pairs; the row's ratio is the faster
/// adapt over the faster embed, each pair's own ratio is kept, and the terminal line says so.
#[test]
fn adapt_cost_with_repeats_takes_each_sides_fastest_run() {
    let images = common::reference_dir().join("images");
    let run = |extra: &[&str]| {
        bench_default_tract()
            .args(["--threads", "1", "--adapt"])
            .arg(&images)
            .args(["--views", "2", "--epochs", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--repeat", "2", "--json"]);
    let stdout = common::assert_success(&out);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let row = &json["rows"][0];
    let pairs: Vec<f64> = row["pair_ratios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(pairs.len(), 2, "{row}");
    let (adapt, embed) = (
        row["adapt"]["wall_s"].as_f64().unwrap(),
        row["embed"]["wall_s"].as_f64().unwrap(),
    );
    let ratio = row["ratio"].as_f64().unwrap();
    assert!((ratio - adapt / embed).abs() < 1e-9 * ratio, "{row}");
    // The fastest of each side: no pair's adapt ran faster, nor its embed.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let walls = |what: &str| -> Vec<f64> {
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("bench: {what:<5} tract t1: ")))
            .map(|l| l.split(" s,").next().unwrap().parse().unwrap())
            .collect()
    };
    let (adapts, embeds) = (walls("adapt"), walls("embed"));
    assert_eq!((adapts.len(), embeds.len()), (2, 2), "{stderr}");
    // The log rounds to 0.1 s.
    assert!(
        adapts
            .iter()
            .all(|&a| a >= (adapt * 10.0).round() / 10.0 - 1e-9),
        "{stderr}"
    );
    assert!(
        embeds
            .iter()
            .all(|&e| e >= (embed * 10.0).round() / 10.0 - 1e-9),
        "{stderr}"
    );
    assert!(row["adapt"]["frames"].as_u64().unwrap() >= 2, "{row}");
    let text = common::assert_success(&run(&["--repeat", "2"]));
    assert!(
        text.contains("fastest of 2 runs each, single pairs"),
        "{text}"
    );
    let zero = run(&["--repeat", "0"]);
    let stderr = String::from_utf8_lossy(&zero.stderr);
    assert!(
        !zero.status.success() && stderr.contains("'--repeat <N>'"),
        "{stderr}"
    );
}
