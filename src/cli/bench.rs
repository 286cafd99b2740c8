use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl::adapt::AdaptOptions;
use edge_ssl::bench::adapt_cost::{self, Settings};
use edge_ssl::bench::adapt_report;
use edge_ssl::bench::collect::{Collected, combinations};
use edge_ssl::bench::host::Host;
use edge_ssl::bench::peers::{Peers, TORCH_EAGER};
use edge_ssl::bench::report::{table, write_report};
use edge_ssl::bench::worker::{self, Budget, Combination};
use edge_ssl::bench::{child, end_to_end};
use edge_ssl_runtime::BackendOptions;
use edge_ssl_runtime::onnx::inspect;

use super::SourceArgs;

/// Measure a model on this device: for every backend × threads × batch, cold start (load +
/// optimize + first inference), latency p50/p90/p99 over a warmed run, throughput, achieved
/// GFLOP/s and peak RSS.
///
/// Each combination runs in a fresh child process, so cold starts are cold and memory peaks are
/// not inherited from earlier rows. `--peers` adds the same model, threads and batch through ONNX
/// Runtime's Python API and PyTorch eager (benches/peers/peer_bench.py) and reports latency
/// ratios. Numbers depend on what else the machine is doing: the load average is recorded.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// ONNX file, model directory (measured whole: encoder, adapter and head, as a device runs
    /// it), or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// Backends to measure, comma-separated: tract, ort.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tract,ort",
        value_name = "B,.."
    )]
    backend: Vec<String>,
    /// Thread counts, comma-separated (default: every core).
    #[arg(long, value_delimiter = ',', value_name = "N,..")]
    threads: Vec<usize>,
    /// Batch sizes, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,8",
        value_name = "N,.."
    )]
    batch: Vec<usize>,
    /// Exactly N timed calls per combination (instead of a time budget).
    #[arg(long, value_name = "N")]
    iters: Option<usize>,
    /// Time budget of the timed run per combination, at least 5 calls.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    seconds: f64,
    /// Untimed calls between the first inference and the timed run.
    #[arg(long, default_value_t = 3, value_name = "N")]
    warmup: usize,
    /// Also run the Python peers (ONNX Runtime Python, PyTorch eager) and report ratios.
    #[arg(long)]
    peers: bool,
    /// Python for the peers (default: EDGE_SSL_PYTHON, the project's .venv, python3).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// PyTorch architecture that mirrors the model (`fmnist-ssl` or a torchvision/timm name);
    /// default: what the card says.
    #[arg(long, value_name = "NAME")]
    torch_arch: Option<String>,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Also time the whole image → class path (decode + preprocess + infer + 10-class head) over
    /// the .jpg/.png files in DIR; with --peers, beside Pillow + ONNX Runtime in Python.
    #[arg(long, value_name = "DIR")]
    e2e: Option<PathBuf>,
    /// Write DIR/report.md and PNG charts.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, the project's .venv, the system).
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Measure adaptation instead: for each backend × threads, `adapt` on the frames of DATA
    /// (an image folder or a video) beside embedding the same frames (1 + views) times, each in
    /// a fresh process; prints the wall-time ratio and both peak RSS.
    #[arg(long, value_name = "DATA")]
    adapt: Option<PathBuf>,
    #[command(flatten)]
    sampling: SourceArgs,
    /// With --adapt: augmented views per frame.
    #[arg(long, default_value_t = AdaptOptions::default().views, value_name = "K")]
    views: usize,
    /// With --adapt: training epochs.
    #[arg(long, default_value_t = AdaptOptions::default().epochs, value_name = "N")]
    epochs: usize,
    /// With --adapt: run each side N times, alternating, and take each side's fastest run
    /// (other work on a shared machine only adds time); every pair's ratio is shown too.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=20))]
    repeat: u64,
    /// Internal: run one side of --adapt (adapt|embed:ENGINE:THREADS) and print it as JSON.
    #[arg(long, hide = true, value_name = "W:E:T")]
    adapt_child: Option<String>,
    /// Internal: measure one ENGINE:THREADS:BATCH in this process and print it as JSON.
    #[arg(long, hide = true, value_name = "E:T:B")]
    measure_one: Option<String>,
}

impl BenchArgs {
    fn options(&self) -> BackendOptions {
        BackendOptions::default().with_ort_lib(self.ort_lib.clone())
    }
}

fn validate(args: &BenchArgs) -> anyhow::Result<Vec<usize>> {
    for b in &args.backend {
        if !matches!(b.as_str(), "tract" | "ort") {
            bail!("unknown backend `{b}` (expected tract or ort)");
        }
    }
    if args.batch.is_empty() || args.batch.contains(&0) {
        bail!("--batch values must be at least 1");
    }
    if args.threads.contains(&0) {
        bail!("--threads values must be at least 1");
    }
    Ok(if args.threads.is_empty() {
        vec![BackendOptions::default().thread_count()]
    } else {
        args.threads
            .iter()
            .map(|&t| super::limits::cap_threads(t))
            .collect()
    })
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(data) = &args.adapt {
        return run_adapt(&args, data);
    }
    let budget = Budget::new(args.warmup, args.iters, args.seconds).context("--iters/--seconds")?;
    if let Some(spec) = &args.measure_one {
        let model = super::model_arg::resolve(&args.model)?;
        let combo = Combination::parse(spec)?;
        let m = match (&args.e2e, combo.engine.ends_with("-e2e")) {
            (Some(dir), true) => end_to_end::measure(&model, &combo, args.options(), budget, dir)?,
            _ => worker::measure(&model, &combo, args.options(), budget)?,
        };
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let threads = validate(&args)?;
    let model = super::model_arg::resolve(&args.model)?;
    if let Some(dir) = &args.e2e {
        end_to_end::pictures(dir)?;
    }
    let shape = model.card.input.batch_shape(1).to_vec();
    for &b in &args.batch {
        super::limits::check_batch(&model.onnx, &shape, b)?;
    }
    let flops = match inspect::flops_per_sample(&model.onnx, &shape) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("note: no FLOP count, so no GFLOP/s ({e})");
            None
        }
    };
    let mut host = Host::now();
    let mut got = Collected::new(flops);
    let mut engines: Vec<String> = args.backend.clone();
    if args.e2e.is_some() {
        engines.extend(args.backend.iter().map(|b| end_to_end::engine_name(b)));
    }
    for combo in combinations(&engines, &threads, &args.batch) {
        let what = format!("the {} measurement", combo.to_arg());
        let (lib, e2e) = (args.ort_lib.as_deref(), args.e2e.as_deref());
        let result = child::measure_command(&args.model, &combo, budget, lib, e2e)
            .and_then(|c| child::run_measurement(c, &what));
        eprintln!("bench: {}", got.record(&combo, result));
    }
    if args.peers {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (python, arch) = (args.python.as_deref(), args.torch_arch.as_deref());
        let peers = Peers::locate(repo, &model, python, arch, args.e2e.as_deref());
        for engine in peers.engines() {
            match engine {
                Ok(engine) => {
                    for combo in combinations(&[engine.into()], &threads, &args.batch) {
                        let line = got.record(&combo, peers.measure(&model, &combo, budget));
                        eprintln!("bench: {line}");
                    }
                }
                Err((engine, mut why)) => {
                    if engine == TORCH_EAGER {
                        why.push_str(" (pass --torch-arch NAME)");
                    }
                    eprintln!("bench: {engine} skipped: {why}");
                    got.skip_engine(engine, why);
                }
            }
        }
    }
    host.finish();
    // A directory is measured whole, so the run names the directory.
    let measured = model.dir.clone().unwrap_or_else(|| model.onnx.clone());
    let run = got.finish(measured, shape, host, budget)?;
    if let Some(dir) = &args.report {
        for path in write_report(&run, dir)? {
            eprintln!("wrote {}", path.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print!("{}", table(&run));
    }
    Ok(())
}

/// `bench --adapt DATA`: per backend × threads, adapt and plain embedding in fresh children.
fn run_adapt(args: &BenchArgs, data: &Path) -> anyhow::Result<()> {
    if args.views < 2 || args.epochs == 0 {
        bail!("--views must be at least 2 and --epochs at least 1");
    }
    let model = super::model_arg::resolve(&args.model)?;
    let settings = Settings {
        model: &model,
        data,
        sampling: args.sampling.options(),
        views: args.views,
        epochs: args.epochs,
        options: args.options(),
    };
    if let Some(spec) = &args.adapt_child {
        let parts: Vec<&str> = spec.split(':').collect();
        let [what, engine, threads] = parts[..] else {
            bail!("--adapt-child wants WHAT:ENGINE:THREADS, got `{spec}`");
        };
        let threads = threads
            .parse()
            .with_context(|| format!("threads in `{spec}`"))?;
        let result = adapt_cost::measure(&settings, what, engine, threads)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    let threads = validate(args)?;
    let mut host = Host::now();
    let mut rows = Vec::new();
    for engine in &args.backend {
        for &t in &threads {
            let log = &mut |line: String| eprintln!("bench: {line}");
            match child::adapt_row(
                &args.model,
                &settings,
                (engine, t),
                args.repeat as usize,
                log,
            ) {
                Ok(row) => rows.push(row),
                Err(e) => eprintln!("bench: {engine} t{t} not measured: {e:#}"),
            }
        }
    }
    host.finish();
    if rows.is_empty() {
        bail!("no backend could be measured");
    }
    if args.json {
        let run = adapt_report::to_json(&model.onnx, data, &host, &rows);
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print!("{}", adapt_report::table(&model.onnx, &host, &rows));
    }
    Ok(())
}
