//! The whole run: what `--json` prints and what `--report DIR` turns into `report.md` plus one
//! PNG chart per metric.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bar_chart::{self, Bar};
use super::host::Host;
use super::measurement::{COLUMNS, Measurement, Skipped};
use super::ratios::Ratio;
use crate::error::Context;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchRun {
    /// The ONNX file, or the model directory (measured whole).
    pub model: PathBuf,
    /// `[N, C, H, W]` (or NHWC) at batch 1.
    pub input_shape: Vec<usize>,
    pub flops_per_sample: Option<u64>,
    pub host: Host,
    /// How the warmed run was bounded: `{"warmup": W, "iters": N}` or `{"warmup": W, "seconds": S}`.
    pub budget: serde_json::Value,
    pub measurements: Vec<Measurement>,
    pub ratios: Vec<Ratio>,
    pub skipped: Vec<Skipped>,
}

/// The charts the report embeds: file name, title, unit, and the value drawn.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Measurement) -> Option<f64>,
);
const CHARTS: [Metric; 5] = [
    ("latency_p50.png", "latency p50 per call", "ms", |m| {
        Some(m.latency_ms.p50)
    }),
    ("throughput.png", "throughput", "samples/s", |m| {
        Some(m.samples_per_s)
    }),
    ("gflops.png", "achieved compute", "GFLOP/s", |m| {
        m.gflops_per_s
    }),
    (
        "cold_start.png",
        "cold start: load + optimize + first run",
        "ms",
        |m| Some(m.cold_start_ms),
    ),
    (
        "peak_rss.png",
        "peak RSS of the measuring process",
        "MB",
        |m| m.peak_rss_mb,
    ),
];

/// Writes `dir/report.md` and the charts; returns the paths written.
pub fn write_report(run: &BenchRun, dir: &Path) -> crate::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut sorted = run.measurements.clone();
    sorted.sort_by(|a, b| (a.batch, a.threads, &a.engine).cmp(&(b.batch, b.threads, &b.engine)));
    for (file, title, unit, value) in CHARTS {
        let bars: Vec<Bar> = sorted
            .iter()
            .filter_map(|m| {
                value(m).map(|v| Bar {
                    label: m.label(),
                    engine: m.engine.clone(),
                    value: v,
                })
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let path = dir.join(file);
        bar_chart::horizontal(title, unit, &bars, &path)
            .with_context(|| format!("drawing {}", path.display()))?;
        written.push(path);
    }
    let md = dir.join("report.md");
    let text = markdown(run, &sorted, &written);
    edge_ssl_core::write_atomic(&md, |w| w.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", md.display()))?;
    written.insert(0, md);
    Ok(written)
}

/// The terminal table: a header line, one line per measurement, one per ratio.
pub fn table(run: &BenchRun) -> String {
    const WIDTHS: [usize; 10] = [20, 7, 5, 13, 9, 9, 9, 11, 8, 11];
    let mut s = format!(
        "model {}  ({})\n",
        run.model.display(),
        run.host.describe_load()
    );
    let mut line = |cells: &[String]| {
        let _ = write!(s, "{:<w$}", cells[0], w = WIDTHS[0]);
        for (cell, w) in cells.iter().zip(WIDTHS).skip(1) {
            let _ = write!(s, " {cell:>w$}");
        }
        s.push('\n');
    };
    line(&COLUMNS.map(String::from));
    for m in &run.measurements {
        line(&m.cells("-"));
    }
    for r in &run.ratios {
        let target = r.target.map_or(String::new(), |t| {
            format!(
                "  (target ≤ {t:.2}×: {})",
                if r.p50_ratio <= t { "met" } else { "not met" }
            )
        });
        let _ = writeln!(
            s,
            "{} / {} at t{} b{}: {:.2}×{target}",
            r.engine, r.versus, r.threads, r.batch, r.p50_ratio
        );
    }
    s
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

pub fn markdown(run: &BenchRun, sorted: &[Measurement], charts: &[PathBuf]) -> String {
    let mut s = String::new();
    let h = &run.host;
    let _ = writeln!(s, "# edge-ssl bench: {}\n", run.model.display());
    let _ = writeln!(
        s,
        "- input {:?}, {} per sample",
        run.input_shape,
        run.flops_per_sample
            .map_or("FLOPs unknown".into(), |f| format!(
                "{:.2} MFLOP",
                f as f64 / 1e6
            ))
    );
    let _ = writeln!(
        s,
        "- host: {} ({}/{}), edge-ssl {}",
        h.cpu, h.os, h.arch, h.edge_ssl_version
    );
    let _ = writeln!(s, "- {}", h.describe_load());
    let _ = writeln!(s, "- warmed run: {}", run.budget);
    let _ = writeln!(
        s,
        "- every row ran in its own fresh process; a load average above the core count means these numbers are shared with other work and are noisy\n"
    );
    let _ = writeln!(
        s,
        "| {} | RSS before load MB | iterations |",
        COLUMNS.join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in sorted {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            m.cells("–").join(" | "),
            opt(m.baseline_rss_mb, 1),
            m.iterations
        );
    }
    let _ = writeln!(s, "\nEngines: {}\n", engines_described(sorted));
    if !run.ratios.is_empty() {
        let _ = writeln!(
            s,
            "## Ratios (p50 latency, same threads and batch; above 1 = first engine slower)\n"
        );
        let _ = writeln!(
            s,
            "| engine | versus | threads | batch | ratio | target | met |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|");
        for r in &run.ratios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.2}× | {} | {} |",
                r.engine,
                r.versus,
                r.threads,
                r.batch,
                r.p50_ratio,
                r.target.map_or("–".into(), |t| format!("≤ {t:.2}×")),
                r.meets_target.map_or("–", |m| if m { "yes" } else { "no" })
            );
        }
        s.push('\n');
    }
    if !run.skipped.is_empty() {
        let _ = writeln!(s, "## Not measured\n");
        for k in &run.skipped {
            let at = match (k.threads, k.batch) {
                (Some(t), Some(b)) => format!(" (threads {t}, batch {b})"),
                _ => String::new(),
            };
            let _ = writeln!(s, "- {}{at}: {}", k.engine, k.reason);
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Charts\n");
    for c in charts {
        if let Some(name) = c.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(s, "![{name}]({name})\n");
        }
    }
    let _ = writeln!(
        s,
        "Peak RSS is VmHWM of the process that measured the row: executable, runtime libraries \
        and (Python rows) the interpreter with its imports included; \"RSS before load\" is that process \
        just before the model was loaded. Cold start counts library loading, graph optimization and the \
        first inference at the row's batch size, not process start or Python imports."
    );
    s
}

fn engines_described(sorted: &[Measurement]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for m in sorted {
        let d = format!("`{}` = {}", m.engine, m.describe);
        if !seen
            .iter()
            .any(|x| x.starts_with(&format!("`{}`", m.engine)))
        {
            seen.push(d);
        }
    }
    seen.join("; ")
}
