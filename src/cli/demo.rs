use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use edge_ssl_core::write_atomic;
use edge_ssl_train::trainer::Method;
use serde_json::json;

use super::BackendArgs;
use edge_ssl::adapt::{AdaptOptions, adapt};
use edge_ssl::datasets::demo_data::{self, Split};
use edge_ssl::datasets::demo_score::{DemoSets, VariantScore, score, slug, variants};
use edge_ssl::tune::Train;

/// The whole story on Fashion-MNIST: make a camera-like shifted domain from the test split,
/// adapt the bundled encoder to it without labels (BN re-estimation, adapter, both), fit a
/// 10-shot head, and print accuracy before/after on the shifted and the clean domain.
///
/// Writes into --out: the data (shifted/, clean/), one model directory per variant (models/),
/// plots (plots/), results.json and REPORT.md.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Work directory.
    #[arg(long, default_value = "out/demo", value_name = "DIR")]
    out: PathBuf,
    /// Fashion-MNIST IDX folder (Debian `dataset-fashion-mnist`).
    #[arg(long, value_name = "DIR")]
    fmnist: Option<PathBuf>,
    /// Adapter objectives to compare, comma-separated (or `all`).
    #[arg(long, default_value = "vicreg", value_name = "LIST")]
    methods: String,
    /// Training epochs of each adapter.
    #[arg(long, default_value_t = AdaptOptions::default().epochs, value_name = "N")]
    epochs: usize,
    /// Augmented views per frame while adapting.
    #[arg(long, default_value_t = AdaptOptions::default().views, value_name = "K")]
    views: usize,
    /// Unlabeled frames to adapt on.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    unlabeled: usize,
    /// Cap on evaluation images per domain (default: all 4,900 left).
    #[arg(long, value_name = "N")]
    eval: Option<usize>,
    /// Seed of the shifted domain, the splits and the adaptation.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Also train the encoder's own weights, two rows per selection (SimCLR alone, and jointly with
    /// the 10 labels per class), comma-separated (e.g. `tail:2,all`; no BN re-estimation or adapter).
    #[arg(long, value_name = "LIST")]
    train: Option<String>,
    /// Only write the data set.
    #[arg(long)]
    data_only: bool,
    /// Print one JSON object on stdout (the rows, the report's and results' paths) instead of
    /// the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let methods: Vec<Method> = if args.methods == "all" {
        Method::ALL.to_vec()
    } else {
        args.methods
            .split(',')
            .map(|m| m.trim().parse())
            .collect::<Result<_, _>>()?
    };
    let split = Split {
        unlabeled: args.unlabeled,
        eval: args.eval.unwrap_or(usize::MAX),
        ..Split::default()
    };
    let t = Instant::now();
    let fmnist = args
        .fmnist
        .clone()
        .unwrap_or_else(edge_ssl::datasets::fmnist::default_dir);
    let data = demo_data::make(
        &fmnist,
        &args.out,
        args.seed,
        split,
        &crate::progress_bars::terminal(),
    )?;
    eprintln!(
        "data ready in {} ({:.1} s)",
        args.out.display(),
        t.elapsed().as_secs_f64()
    );
    if args.data_only {
        if args.json {
            println!("{}", json!({"data": args.out}));
        }
        return Ok(());
    }
    let backend = args.backend.backend()?;
    let source = super::model_arg::resolve("default")?;
    let base = AdaptOptions {
        epochs: args.epochs,
        views: args.views,
        seed: args.seed,
        ..AdaptOptions::default()
    };
    let trains: Vec<Train> = (args.train.iter().flat_map(|l| l.split(',')))
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let progress = crate::progress_bars::terminal();
    let sets = DemoSets::read(&data)?;
    let frozen = score(
        "frozen",
        &source,
        backend.as_ref(),
        &data,
        &sets,
        None,
        &progress,
    )?;
    eprintln!("{}", row_line(&frozen, frozen.shifted));
    let mut rows = vec![frozen];
    for (name, opts) in variants(&methods, &trains, Some(&data.shifted_labeled), &base) {
        let dir = args.out.join("models").join(slug(&name));
        let t = Instant::now();
        adapt(
            backend.as_ref(),
            &source,
            &data.shifted_unlabeled,
            &dir,
            &opts,
            &progress,
        )
        .with_context(|| format!("adapting ({name})"))?;
        let seconds = t.elapsed().as_secs_f64();
        let model = super::model_arg::resolve(&dir.display().to_string())?;
        let row = score(
            &name,
            &model,
            backend.as_ref(),
            &data,
            &sets,
            Some(seconds),
            &progress,
        )?;
        eprintln!("{}", row_line(&row, rows[0].shifted));
        rows.push(row);
    }
    report(&args, &rows)
}

fn row_line(r: &VariantScore, frozen: f64) -> String {
    format!(
        "| {:<24} | {:>6.2} % | {:>+6.2} | {:>6.2} % | {:>6.2} % | {:>7} |",
        r.variant,
        100.0 * r.shifted,
        100.0 * (r.shifted - frozen),
        100.0 * r.shifted_with_unlabeled,
        100.0 * r.in_domain,
        r.adapt_seconds.map_or("-".into(), |s| format!("{s:.1} s"))
    )
}

fn report(args: &DemoArgs, rows: &[VariantScore]) -> anyhow::Result<()> {
    let frozen = rows[0].shifted;
    let mut table = String::new();
    writeln!(
        table,
        "| variant                  | shifted  | Δ frozen | + unlabeled head | in-domain | adapt |"
    )?;
    writeln!(
        table,
        "|--------------------------|----------|--------|----------|----------|---------|"
    )?;
    for r in rows {
        writeln!(table, "{}", row_line(r, frozen))?;
    }
    let command: Vec<String> = std::env::args().collect();
    let mut md = format!(
        "# edge-ssl demo\n\n`{}`\n\nFashion-MNIST test split → camera-like shifted domain (seed {}), {} unlabeled frames for `adapt`, \
10 labeled per class for a softmax head, {} images per domain for evaluation. `shifted`: 10-shot accuracy on the shifted domain; \
`+ unlabeled head`: the same head with label propagation over the unlabeled frames; `in-domain`: 10-shot accuracy on clean images.\n\n{table}\nPlots (shifted eval set):\n\n",
        command.join(" "),
        args.seed,
        args.unlabeled,
        rows[0].n_eval
    );
    for r in rows {
        for p in &r.plots {
            writeln!(md, "- {}: {}", r.variant, p.display())?;
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let (md_path, json_path) = (args.out.join("REPORT.md"), args.out.join("results.json"));
    write_atomic(&md_path, |w| w.write_all(md.as_bytes()))?;
    write_atomic(&json_path, |w| {
        w.write_all(serde_json::to_string_pretty(rows)?.as_bytes())
    })?;
    if args.json {
        println!(
            "{}",
            json!({"rows": rows, "report": md_path, "results": json_path})
        );
        return Ok(());
    }
    println!("{table}");
    let best = rows.iter().skip(1).map(|r| r.shifted).reduce(f64::max);
    for r in rows
        .iter()
        .filter(|r| r.variant == "frozen" || Some(r.shifted) == best)
    {
        let plots: Vec<String> = r.plots.iter().map(|p| p.display().to_string()).collect();
        println!("plots ({}): {}", r.variant, plots.join(" "));
    }
    println!(
        "report: {}  results: {}",
        md_path.display(),
        json_path.display()
    );
    Ok(())
}
