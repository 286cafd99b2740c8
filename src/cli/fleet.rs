//! `edge-ssl fleet`: take part in a Flower federation as a SuperNode (`join`), and make the
//! model directory a ServerApp starts from (`init`). The work is `edge_ssl::fleet`; this file
//! parses flags and prints events.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use edge_ssl::fleet::edge_ssl_fleet::{self as flower, Security};
use edge_ssl::fleet::report;
use edge_ssl::fleet::{ModelTask, ModelTaskOptions};
use edge_ssl::model::reference as model_ref;

use super::{BackendArgs, NoveltyArgs, SourceArgs};

/// Federated adaptation with Flower (flwr 1.42): devices train the adapter (and softmax head)
/// on their own frames; a ServerApp averages them (see docs/fleet.md).
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    Join(Box<JoinArgs>),
    Init(InitArgs),
}

/// Join a Flower SuperLink as a SuperNode and answer its rounds until stopped (Ctrl-C) or
/// --max-runs runs have finished.
///
/// On a train message the device continues the global adapter on its frames for the
/// ServerApp's `local-epochs`, refits the softmax head on --labeled if the federation has one,
/// and replies with the arrays, `num-examples` (its frame count) and metrics; on an evaluate
/// message it reports the global head's accuracy on --labeled (without labels: how far the
/// adapter moves its embeddings). Every message's global model is written to WORK/model as a
/// model directory (atomically), with a novelty model (--novelty; by default on the encoder's feature means) fitted on this device's frames. The node's key pair is kept in WORK (node-key.pem, mode 0600; node-key.pub).
/// Frames never leave the device.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The SuperLink's Fleet API address (the port given to `flower-superlink --port`).
    #[arg(long, value_name = "HOST:PORT")]
    superlink: String,
    /// The device's model: an ONNX file, a model directory, or `default`.
    #[arg(long, value_name = "MODEL")]
    model: String,
    /// The device's unlabeled frames: an image folder, a video file or a camera (with
    /// --max-frames), read once at start.
    #[arg(long, value_name = "FRAMES")]
    data: PathBuf,
    /// A labeled ImageFolder tree (ROOT/<class>/*) for the head.
    #[arg(long, value_name = "ROOT")]
    labeled: Option<PathBuf>,
    /// Where the node keeps its key and writes the global model (WORK/model).
    #[arg(long, value_name = "DIR")]
    work: PathBuf,
    /// HTTPS, trusting only the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM", conflicts_with = "insecure")]
    root_certificates: Option<PathBuf>,
    /// Plain HTTP (for loopback and tests). Without this or --root-certificates, HTTPS trusting
    /// the system's CA bundle (/etc/ssl/certs/ca-certificates.crt, or SSL_CERT_FILE).
    #[arg(long)]
    insecure: bool,
    /// Leave after N runs have finished.
    #[arg(long, value_name = "N")]
    max_runs: Option<usize>,
    /// Print one JSON object per event (stderr) instead of a line of text.
    #[arg(long)]
    json: bool,
    /// Augmented views embedded per frame (once, at start).
    #[arg(long, default_value_t = 4, value_name = "K")]
    views: usize,
    /// Frames per training step.
    #[arg(long, default_value_t = 256, value_name = "N")]
    batch: usize,
    /// Seed of the views and of each round's batches (plus the server round).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Loss when the ServerApp does not send `method`.
    #[arg(long, default_value = "vicreg")]
    method: String,
    #[command(flatten)]
    sampling: SourceArgs,
    #[command(flatten)]
    novelty: NoveltyArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Write the model directory a federation starts from: MODEL with its adapter and head, or a
/// fresh adapter (the identity) when it has none. Give it to the ServerApp as
/// `initial-model`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// An ONNX file, a model directory, or `default`.
    #[arg(long, value_name = "MODEL")]
    model: String,
    /// The model directory to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Hidden units of a fresh adapter.
    #[arg(long, value_name = "N")]
    hidden: Option<usize>,
    /// Seed of a fresh adapter's initial weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: FleetArgs) -> anyhow::Result<()> {
    match args.command {
        FleetCommand::Join(a) => join(*a),
        FleetCommand::Init(a) => init(a),
    }
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    let model = model_ref::resolve(&args.model)?;
    let out = edge_ssl::fleet::initial::write(&model, &args.out, args.hidden, args.seed)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn join(args: JoinArgs) -> anyhow::Result<()> {
    let security = match (&args.root_certificates, args.insecure) {
        (Some(pem), _) => Security::RootCertificates(
            std::fs::read(pem).with_context(|| format!("reading {}", pem.display()))?,
        ),
        (None, true) => Security::Insecure,
        (None, false) => Security::SystemRoots,
    };
    if args.max_runs == Some(0) {
        bail!("--max-runs must be at least 1");
    }
    let method = args
        .method
        .parse()
        .map_err(|e| anyhow::anyhow!("--method: {e}"))?;
    let model = model_ref::resolve(&args.model)?;
    let options = ModelTaskOptions::default()
        .with_views(args.views)
        .with_batch(args.batch)
        .with_seed(args.seed)
        .with_method(method)
        .with_sampling(args.sampling.options())
        .with_novelty(args.novelty.adapt_config(&model)?);
    let backend = args.backend.backend()?;
    std::fs::create_dir_all(&args.work)
        .with_context(|| format!("creating {}", args.work.display()))?;
    let progress = crate::progress_bars::notes(args.json);
    let mut task = ModelTask::prepare(
        backend.as_ref(),
        &model,
        &args.data,
        args.labeled.as_deref(),
        args.work.join("model"),
        options,
        &progress,
    )
    .context("preparing the local data")?;
    let print = Printer { json: args.json };
    print.line(report::ready(task.frames(), task.labeled()));

    let mut join = flower::JoinOptions::new(&args.superlink, &args.work)
        .with_security(security)
        .with_stop_flag(progress.cancel_flag());
    if let Some(n) = args.max_runs {
        join = join.with_max_runs(n);
    }
    let summary = flower::join(&join, &mut task, &mut |e| print.line(report::event(e)))
        .with_context(|| format!("in the federation at {}", args.superlink))?;
    print.line(report::left(&summary, task.global_model(), task.novelty()));
    Ok(())
}

struct Printer {
    json: bool,
}

impl Printer {
    fn line(&self, (value, text): report::Report) {
        if self.json {
            eprintln!("{value}");
        } else {
            eprintln!("{text}");
        }
    }
}
