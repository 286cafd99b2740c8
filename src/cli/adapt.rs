use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl_core::write_atomic;
use edge_ssl_runtime::{Backend, reestimate_batch_norm};
use edge_ssl_source::SourceOptions;
use edge_ssl_train::augment::{AugmentConfig, Augmenter};
use edge_ssl_train::trainer::{AdapterTrainer, Method, TrainConfig, Views};
use serde_json::json;

use super::{BackendArgs, SourceArgs};
use crate::embedder::Embedder;
use crate::model_dir::{self, ADAPTER, ENCODER, LOSS_PNG, METRICS};
use crate::model_ref::{self, ResolvedModel};
use crate::{dir_commit, plot, progress, view_cache};

/// Adapt an encoder to a camera's frames without labels: re-estimate its BatchNorm statistics
/// on the frames, then train a residual adapter on embeddings of K augmented views per frame.
///
/// DIR becomes a model directory: edge-ssl.toml, encoder.onnx (BN-patched), adapter.safetensors,
/// metrics.json (loss curve, timings, BN report) and loss.png. Checkpoints go to
/// DIR/.adapt-work/ every --checkpoint-every steps; after a crash, the same command with
/// --resume continues and ends with the same adapter as an uninterrupted run.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// Unlabeled frames: an image folder (recursive; undecodable files are skipped and counted),
    /// a video file, or a camera (/dev/videoN, with --max-frames).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Output model directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Self-supervised objective: vicreg, barlow, simclr, moco, byol, margin or emp.
    #[arg(long, default_value = "vicreg")]
    method: String,
    #[arg(long, default_value_t = AdaptOptions::default().epochs, value_name = "N")]
    epochs: usize,
    /// Augmented views per frame (embedded once, then cached).
    #[arg(long, default_value_t = AdaptOptions::default().views, value_name = "K")]
    views: usize,
    /// Frames per training step.
    #[arg(long, default_value_t = AdaptOptions::default().batch, value_name = "N")]
    batch: usize,
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Keep the encoder's BatchNorm statistics (skip AdaBN).
    #[arg(long)]
    no_bn_adapt: bool,
    /// Train no adapter (BN re-estimation only).
    #[arg(long)]
    no_adapter: bool,
    /// Continue an interrupted run from DIR/.adapt-work/ (same flags required).
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = AdaptOptions::default().checkpoint_every, value_name = "N")]
    checkpoint_every: u64,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Everything `adapt` needs once flags are parsed (the demo builds these directly).
#[derive(Clone, Debug)]
pub struct AdaptOptions {
    pub method: Method,
    pub epochs: usize,
    pub views: usize,
    pub batch: usize,
    pub seed: u64,
    pub bn_adapt: bool,
    pub adapter: bool,
    pub resume: bool,
    pub checkpoint_every: u64,
    pub infer_batch: usize,
    pub bn_frames: usize,
    pub augment: AugmentConfig,
    /// Which frames of a video or camera `--data` are used (`--fps`, `--dedup`, `--max-frames`).
    pub sampling: SourceOptions,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        AdaptOptions {
            method: Method::Vicreg,
            epochs: 10,
            views: 8,
            batch: 256,
            seed: 0,
            bn_adapt: true,
            adapter: true,
            resume: false,
            checkpoint_every: 50,
            // Peak memory is dominated by one batch's activations (and, during BN
            // re-estimation, the probe's extra outputs); 64 keeps them small.
            infer_batch: 64,
            bn_frames: 2048,
            augment: AugmentConfig::camera(),
            sampling: SourceOptions::default(),
        }
    }
}

pub fn run(args: AdaptArgs) -> anyhow::Result<()> {
    let opts = AdaptOptions {
        method: args.method.parse()?,
        epochs: args.epochs,
        views: args.views,
        batch: args.batch,
        seed: args.seed,
        bn_adapt: !args.no_bn_adapt,
        adapter: !args.no_adapter,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        sampling: args.sampling.options(),
        ..AdaptOptions::default()
    };
    let model = model_ref::resolve(&args.model)?;
    let backend = args.backend.backend()?;
    let summary = adapt(backend.as_ref(), &model, &args.data, &args.out, &opts)?;
    if args.json {
        println!("{summary}");
    }
    Ok(())
}

/// Runs the whole adaptation and returns the metrics it wrote.
pub fn adapt(
    backend: &dyn Backend,
    model: &ResolvedModel,
    data: &Path,
    out: &Path,
    opts: &AdaptOptions,
) -> anyhow::Result<serde_json::Value> {
    if opts.views < 2 || opts.batch < 2 || opts.epochs == 0 {
        bail!("--views and --batch must be at least 2 and --epochs at least 1");
    }
    let started = Instant::now();
    let pre = edge_ssl_core::Preprocessor::new(model.card.input.clone());
    let frames = crate::live::data_frames::decode(data, &pre, &opts.sampling)?;
    if frames.len() < 2 {
        bail!(
            "{}: adaptation needs at least 2 decodable frames, found {}",
            data.display(),
            frames.len()
        );
    }
    if let Some(note) = frames.skipped_note() {
        eprintln!("{note}");
    }
    let t_decode = started.elapsed().as_secs_f64();
    let work = out.join(".adapt-work");
    let plan = json!({
        "source_sha256": model_dir::encoder_sha(model)?, "frames": frames.len(),
        "first": frames.paths.first(), "last": frames.paths.last(),
        "method": opts.method.name(), "epochs": opts.epochs, "views": opts.views,
        "batch": opts.batch, "seed": opts.seed, "bn_adapt": opts.bn_adapt, "adapter": opts.adapter,
    });
    let resuming = prepare_work_dir(&work, &plan, opts.resume)?;

    // 1. BN re-estimation (forward passes only) → the encoder every later step uses.
    let t = Instant::now();
    let encoder = work.join(ENCODER);
    let mut bn_report = serde_json::Value::Null;
    if !(resuming && encoder.is_file()) {
        if opts.bn_adapt {
            let batches = view_cache::bn_batches(&frames, &pre, opts.bn_frames, opts.infer_batch)?;
            let report =
                reestimate_batch_norm(backend, &model.onnx, &model.card, &batches, 2, &encoder)
                    .context("re-estimating BatchNorm statistics")?;
            eprintln!(
                "re-estimated {} BatchNorm layer(s) on {} frames",
                report.layers.len(),
                report.frames
            );
            bn_report = serde_json::to_value(&report)?;
            write_atomic(&work.join("bn.json"), |w| {
                w.write_all(bn_report.to_string().as_bytes())
            })?;
        } else {
            model_dir::copy_atomic(&model.onnx, &encoder)?;
        }
    } else if let Ok(text) = std::fs::read_to_string(work.join("bn.json")) {
        bn_report = serde_json::from_str(&text).unwrap_or_default();
    }
    let t_bn = t.elapsed().as_secs_f64();
    let mut card = model.card.clone();
    card.sha256 = None;
    let patched = ResolvedModel {
        onnx: encoder.clone(),
        card: card.clone(),
        dir: None,
    };

    // 2. K views per frame through the encoder, cached.
    let t = Instant::now();
    let mut losses = Vec::new();
    let mut adapter = None;
    let mut t_views = 0.0;
    let mut steps = 0;
    if opts.adapter {
        let cache_path = work.join("views.npy");
        let cached = resuming
            .then(|| view_cache::load(&cache_path, opts.views, frames.len()))
            .flatten();
        let cache = match cached {
            Some(c) => c,
            None => {
                let mut embedder = Embedder::load(backend, &patched)?;
                let (h, w) = (card.input.height, card.input.width);
                let augmenter = Augmenter::new(opts.augment.clone(), h, w, opts.seed)?;
                let c = view_cache::build(
                    &mut embedder,
                    &frames,
                    &augmenter,
                    opts.views,
                    opts.infer_batch,
                )?;
                view_cache::save(&cache_path, &c)?;
                c
            }
        };
        t_views = t.elapsed().as_secs_f64();
        let views = Views::new(cache).context("the view cache")?;
        let trained = train(&views, opts, &work, resuming)?;
        steps = trained.steps_done();
        losses = trained.loss_curve().to_vec();
        adapter = Some(trained.into_adapter());
    }
    let t_train = t.elapsed().as_secs_f64() - t_views;

    // 3. Every part and the card staged in the work directory, then moved in, card last.
    let encoder_sha = edge_ssl_core::sha256_file(&encoder)?;
    let adapter_path = work.join(ADAPTER);
    if let Some(a) = &adapter {
        let meta = model_dir::adapter_metadata(
            &encoder_sha,
            &[
                ("method", opts.method.name().into()),
                ("seed", opts.seed.to_string()),
                ("epochs", opts.epochs.to_string()),
                ("views", opts.views.to_string()),
            ],
        );
        a.save_with_metadata(&adapter_path, &meta)?;
        plot::loss_curve(
            &losses,
            &format!("{} adapter loss", opts.method),
            &work.join(LOSS_PNG),
        )?;
    } else {
        // A stale one from an interrupted run with other flags must not be committed.
        for stale in [&adapter_path, &work.join(LOSS_PNG)] {
            if stale.is_file() {
                std::fs::remove_file(stale)?;
            }
        }
    }
    let metrics = json!({
        "frames": frames.len(), "skipped": frames.skipped.len(), "method": opts.method.name(),
        "epochs": opts.epochs, "views": opts.views, "batch": opts.batch, "seed": opts.seed,
        "bn_adapt": opts.bn_adapt, "adapter": opts.adapter, "steps": steps, "loss_curve": losses,
        "bn": bn_report, "resumed": resuming,
        "seconds": { "decode": t_decode, "bn": t_bn, "views": t_views, "train": t_train,
                     "total": started.elapsed().as_secs_f64() },
    });
    write_atomic(&work.join(METRICS), |w| {
        w.write_all(serde_json::to_string_pretty(&metrics)?.as_bytes())
    })?;
    let provenance = provenance(model, opts)?;
    model_dir::write_card(&work, card, provenance)?;
    dir_commit::commit(&work, out, &[ENCODER, ADAPTER, LOSS_PNG, METRICS])?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "adapted on {} frames × {} views in {:.1} s (BN {:.1} s, views {:.1} s, training {:.1} s); wrote {}",
        frames.len(),
        opts.views,
        started.elapsed().as_secs_f64(),
        t_bn,
        t_views,
        t_train,
        out.display()
    );
    Ok(metrics)
}

/// Creates (or, with `--resume`, reuses) the work directory; true when resuming.
fn prepare_work_dir(work: &Path, plan: &serde_json::Value, resume: bool) -> anyhow::Result<bool> {
    let plan_path = work.join("plan.json");
    if resume && plan_path.is_file() {
        let old: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan_path)?)
            .with_context(|| format!("{}: corrupt", plan_path.display()))?;
        if old != *plan {
            bail!(
                "--resume: the interrupted run in {} used other data or flags ({old}); run without --resume to start over",
                work.display()
            );
        }
        eprintln!("resuming from {}", work.display());
        return Ok(true);
    }
    if resume {
        eprintln!(
            "--resume: no interrupted run in {}; starting from the beginning",
            work.display()
        );
    }
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    write_atomic(&plan_path, |w| w.write_all(plan.to_string().as_bytes()))?;
    Ok(false)
}

fn train(
    views: &Views,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
) -> anyhow::Result<AdapterTrainer> {
    let config = TrainConfig::default()
        .with_method(opts.method)
        .with_epochs(opts.epochs)
        .with_batch(opts.batch)
        .with_seed(opts.seed);
    let ckpt = work.join("checkpoint.safetensors");
    let mut trainer = (if resuming && ckpt.is_file() {
        let t = AdapterTrainer::load_checkpoint(&ckpt).context("reading the checkpoint")?;
        if *t.config() != config {
            bail!(
                "--resume: {} was written with other training settings",
                ckpt.display()
            );
        }
        t
    } else {
        AdapterTrainer::new(config, views)?
    })
    .with_checkpoint(&ckpt, opts.checkpoint_every);
    let bar = progress::bar(trainer.total_steps(), "adapting");
    bar.set_position(trainer.steps_done());
    trainer.fit(views, |s| {
        bar.set_position(s.step);
        bar.set_prefix(format!("epoch {} loss {:.4}", s.epoch + 1, s.loss));
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    Ok(trainer)
}

fn provenance(model: &ResolvedModel, opts: &AdaptOptions) -> anyhow::Result<toml::Table> {
    let mut t = toml::Table::new();
    t.insert(
        "source_model".into(),
        model.onnx.display().to_string().into(),
    );
    t.insert(
        "source_sha256".into(),
        model_dir::encoder_sha(model)?.into(),
    );
    t.insert(
        "method".into(),
        (if opts.adapter {
            opts.method.name()
        } else {
            "none"
        })
        .into(),
    );
    t.insert("bn_adapt".into(), opts.bn_adapt.into());
    t.insert("seed".into(), (opts.seed as i64).into());
    t.insert("epochs".into(), (opts.epochs as i64).into());
    t.insert("views".into(), (opts.views as i64).into());
    let command: Vec<String> = std::env::args().collect();
    t.insert("command".into(), command.join(" ").into());
    Ok(t)
}
