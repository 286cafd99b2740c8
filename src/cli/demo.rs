use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use edge_ssl_core::write_atomic;
use edge_ssl_runtime::Backend;
use edge_ssl_train::head::HeadKind;
use edge_ssl_train::trainer::Method;
use serde_json::json;

use super::BackendArgs;
use edge_ssl::adapt::{AdaptOptions, adapt};
use edge_ssl::datasets::demo_data::{self, DemoData, Split};
use edge_ssl::embed::embedder::Embedder;
use edge_ssl::frames::image_set::{self, LabeledSet};
use edge_ssl::head::eval::Evaluation;
use edge_ssl::model::reference::ResolvedModel;

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
    /// Also train the encoder's own weights, one row per selection, comma-separated (e.g.
    /// `tail:2,all`; SimCLR without BN re-estimation or adapter, as the issue-14 reference).
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
    let mut variants: Vec<(String, AdaptOptions)> = vec![(
        "BN only".into(),
        AdaptOptions {
            adapter: false,
            ..base.clone()
        },
    )];
    for &m in &methods {
        variants.push((
            format!("adapter only ({m})"),
            AdaptOptions {
                method: m,
                bn_adapt: false,
                ..base.clone()
            },
        ));
        variants.push((
            format!("BN + adapter ({m})"),
            AdaptOptions {
                method: m,
                ..base.clone()
            },
        ));
    }
    for train in args.train.iter().flat_map(|l| l.split(',')) {
        let train: edge_ssl::tune::Train = train.parse()?;
        variants.push((
            format!("encoder {train}"),
            AdaptOptions {
                train,
                bn_adapt: false,
                adapter: false,
                ..base.clone()
            },
        ));
    }
    let sets = Sets::read(&data)?;
    let mut rows = vec![score(
        "frozen",
        &source,
        backend.as_ref(),
        &data,
        &sets,
        None,
    )?];
    eprintln!(
        "{}",
        row_line(&rows[0], rows[0]["shifted"].as_f64().unwrap_or(0.0))
    );
    for (name, opts) in &variants {
        let dir = args.out.join("models").join(slug(name));
        let t = Instant::now();
        adapt(
            backend.as_ref(),
            &source,
            &data.shifted_unlabeled,
            &dir,
            opts,
            &crate::progress_bars::terminal(),
        )
        .with_context(|| format!("adapting ({name})"))?;
        let seconds = t.elapsed().as_secs_f64();
        let model = super::model_arg::resolve(&dir.display().to_string())?;
        let row = score(name, &model, backend.as_ref(), &data, &sets, Some(seconds))?;
        eprintln!(
            "{}",
            row_line(&row, rows[0]["shifted"].as_f64().unwrap_or(0.0))
        );
        rows.push(row);
    }
    report(&args, &rows)
}

/// Labeled sets read once and shared by every variant.
struct Sets {
    shifted_labeled: LabeledSet,
    shifted_eval: LabeledSet,
    clean_labeled: LabeledSet,
    clean_eval: LabeledSet,
}

impl Sets {
    fn read(d: &DemoData) -> anyhow::Result<Self> {
        Ok(Sets {
            shifted_labeled: LabeledSet::read(&d.shifted_labeled)?,
            shifted_eval: LabeledSet::read(&d.shifted_eval)?,
            clean_labeled: LabeledSet::read(&d.clean_labeled)?,
            clean_eval: LabeledSet::read(&d.clean_eval)?,
        })
    }
}

/// 10-shot softmax accuracy of `model` on the shifted and clean domains, and with the
/// unlabeled shifted frames added to the head (label propagation).
fn score(
    name: &str,
    model: &ResolvedModel,
    backend: &dyn Backend,
    data: &DemoData,
    sets: &Sets,
    adapt_seconds: Option<f64>,
) -> anyhow::Result<serde_json::Value> {
    let mut e = super::model_arg::embedder(backend, model)?;
    let accuracy = |e: &mut Embedder,
                    train: &LabeledSet,
                    test: &LabeledSet,
                    unlabeled: Option<&ndarray::Array2<f32>>|
     -> anyhow::Result<(f64, Evaluation)> {
        let x = image_set::embed_strict(
            e,
            &train.paths,
            256,
            "labeled",
            &crate::progress_bars::terminal(),
        )?;
        let (h, _) = edge_ssl::head::fit::fit_head(
            HeadKind::Softmax,
            x.view(),
            &train.labels,
            &train.class_names,
            unlabeled.map(|u| u.view()),
        )?;
        let xe = image_set::embed_strict(
            e,
            &test.paths,
            256,
            "eval",
            &crate::progress_bars::terminal(),
        )?;
        let r = edge_ssl::head::eval::evaluate(&h, xe.view(), &test.labels)?;
        Ok((r.accuracy, r))
    };
    let (shifted, result) = accuracy(&mut e, &sets.shifted_labeled, &sets.shifted_eval, None)?;
    let (clean, _) = accuracy(&mut e, &sets.clean_labeled, &sets.clean_eval, None)?;
    let frames = image_set::decode_frames(
        &data.shifted_unlabeled,
        e.preprocessor(),
        &crate::progress_bars::terminal(),
    )?;
    let u = image_set::embed_frames(&mut e, &frames, 256, &crate::progress_bars::terminal())?;
    let (semi, _) = accuracy(&mut e, &sets.shifted_labeled, &sets.shifted_eval, Some(&u))?;
    let plots = data
        .shifted_eval
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("plots").join(slug(name)));
    let mut plot_paths = Vec::new();
    if let Some(dir) = plots {
        let xe = image_set::embed_strict(
            &mut e,
            &sets.shifted_eval.paths,
            256,
            "eval",
            &crate::progress_bars::terminal(),
        )?;
        let (a, b) = edge_ssl::head::eval::write_plots(
            &dir,
            &result,
            xe.view(),
            &sets.shifted_eval.labels,
            &sets.shifted_eval.class_names,
        )?;
        plot_paths = vec![a, b];
    }
    Ok(
        json!({ "variant": name, "shifted": shifted, "shifted_with_unlabeled": semi, "in_domain": clean,
               "adapt_seconds": adapt_seconds, "plots": plot_paths, "n_eval": sets.shifted_eval.paths.len() }),
    )
}

fn slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' | '+' => Some('-'),
            _ => None,
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn row_line(r: &serde_json::Value, frozen: f64) -> String {
    let pct = |k: &str| 100.0 * r[k].as_f64().unwrap_or(0.0);
    format!(
        "| {:<24} | {:>6.2} % | {:>+6.2} | {:>6.2} % | {:>6.2} % | {:>7} |",
        r["variant"].as_str().unwrap_or(""),
        pct("shifted"),
        pct("shifted") - 100.0 * frozen,
        pct("shifted_with_unlabeled"),
        pct("in_domain"),
        r["adapt_seconds"]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.1} s"))
    )
}

fn report(args: &DemoArgs, rows: &[serde_json::Value]) -> anyhow::Result<()> {
    let frozen = rows[0]["shifted"].as_f64().unwrap_or(0.0);
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
        rows[0]["n_eval"]
    );
    for r in rows {
        for p in r["plots"].as_array().into_iter().flatten() {
            writeln!(
                md,
                "- {}: {}",
                r["variant"].as_str().unwrap_or(""),
                p.as_str().unwrap_or("")
            )?;
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let (md_path, json_path) = (args.out.join("REPORT.md"), args.out.join("results.json"));
    write_atomic(&md_path, |w| w.write_all(md.as_bytes()))?;
    write_atomic(&json_path, |w| {
        w.write_all(serde_json::to_string_pretty(&json!(rows))?.as_bytes())
    })?;
    if args.json {
        println!(
            "{}",
            json!({"rows": rows, "report": md_path, "results": json_path})
        );
        return Ok(());
    }
    println!("{table}");
    for r in rows.iter().filter(|r| {
        r["variant"] == "frozen"
            || r["shifted"].as_f64()
                == rows
                    .iter()
                    .skip(1)
                    .filter_map(|r| r["shifted"].as_f64())
                    .reduce(f64::max)
    }) {
        println!(
            "plots ({}): {}",
            r["variant"].as_str().unwrap_or(""),
            r["plots"].as_array().map_or(String::new(), |a| a
                .iter()
                .filter_map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "))
        );
    }
    println!(
        "report: {}  results: {}",
        md_path.display(),
        json_path.display()
    );
    Ok(())
}
