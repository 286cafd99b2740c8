use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl::embed::source_matrix::{SourceMatrix, embed_source};
use edge_ssl::frames::loader;
use edge_ssl_core::{ensure_not_input, image_files, npy, write_atomic};

use super::{BackendArgs, SourceArgs};

/// Embed images: one row of the encoder's output per image, as an N×D float32 `.npy`, and
/// beside it `FILE.paths.txt` naming the source of each row (a file's path, or `VIDEO#FRAME`;
/// one per line, with `\`, line breaks, tabs and other control characters escaped as `\\`,
/// `\n`, `\r`, `\t`, `\u{XX}`, and each byte of a file name that is not UTF-8 as `\xHH`, so
/// every row reads back to the name's exact bytes; `run --json` writes `origin` in the same form).
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// An image file, a folder searched recursively (sorted by path), a video file or a camera
    /// (with --max-frames).
    #[arg(long = "data", visible_alias = "input", value_name = "PATH")]
    input: PathBuf,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Output `.npy` file (written atomically).
    #[arg(long, value_name = "FILE.npy")]
    out: PathBuf,
    /// Images per inference call.
    #[arg(long, default_value_t = 32, value_name = "N")]
    batch: usize,
    /// Fail on the first file that is not a decodable image (default: skip and count).
    #[arg(long)]
    strict: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

fn paths_file(out: &Path) -> PathBuf {
    let mut name = out.file_stem().unwrap_or_default().to_os_string();
    name.push(".paths.txt");
    out.with_file_name(name)
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    // Fail before any work when the output cannot be written.
    let out_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !out_dir.is_dir() {
        bail!("{}: output directory does not exist", out_dir.display());
    }
    let model = super::model_arg::resolve(&args.model)?;
    let options = args.sampling.options_for(&model).with_strict(args.strict);
    let mut source = loader::open(&args.input, &options)?;
    // Neither output may be a file this command reads: an image or video, the encoder, its card.
    let mut inputs = super::model_arg::model_files(&model);
    inputs.push(args.input.clone());
    if args.input.is_dir() {
        inputs.extend(image_files(&args.input)?);
    }
    for out in [args.out.clone(), paths_file(&args.out)] {
        ensure_not_input(&out, &inputs)?;
    }
    let backend = args.backend.backend()?;
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model, None)?;
    let started = Instant::now();
    let progress = crate::progress_bars::terminal();
    let at_most = args.sampling.max_frames;
    let embedded = embed_source(
        &mut embedder,
        source.as_mut(),
        args.batch,
        at_most,
        &progress,
    );
    let embedded = match embedded {
        Err(e) if args.strict && matches!(e.root(), edge_ssl::Error::Source(_)) => {
            return Err(e).context("--strict: stopping at a file that is not an image");
        }
        r => r?,
    };
    let skipped = embedded.skipped_note();
    let SourceMatrix {
        embeddings,
        origins,
        stats,
        ..
    } = embedded;
    let dim = embeddings.ncols();
    npy::write_f32(&args.out, embeddings.view())?;
    write_atomic(&paths_file(&args.out), |w| {
        origins
            .iter()
            // Origins are already in the escaped, one-line form (`Frame::origin`).
            .try_for_each(|o| writeln!(w, "{o}"))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(note) = skipped {
        eprintln!("{note}; --strict makes this an error");
    }
    if source.info().kind != edge_ssl_source::SourceKind::Images {
        eprintln!("{}: {stats}", args.input.display());
    }
    eprintln!(
        "embedded {} image(s) → {}x{} in {:.2} s with {}; wrote {} and {}",
        origins.len(),
        origins.len(),
        dim,
        seconds,
        embedder.describe(),
        args.out.display(),
        paths_file(&args.out).display()
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "images": origins.len(),
                "dim": dim,
                "skipped": stats.decode_errors,
                "seconds": seconds,
                "backend": embedder.describe(),
                "out": args.out,
                "paths": paths_file(&args.out),
            })
        );
    }
    Ok(())
}
