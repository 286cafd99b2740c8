use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl_core::{decode_image, ensure_not_input, image_files, npy, write_atomic};
use ndarray::Array2;

use super::BackendArgs;

/// Embed images: one row of the encoder's output per image, as an N×D float32 `.npy`, and
/// beside it `FILE.paths.txt` naming the source of each row.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// An image file, or a folder searched recursively (sorted by path).
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
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

pub fn paths_file(out: &std::path::Path) -> PathBuf {
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
    let files = image_files(&args.input)?;
    if files.is_empty() {
        bail!("{}: no files to embed (empty folder)", args.input.display());
    }
    // Neither output may be a file this command reads: an image, the encoder or its card.
    let inputs = super::model_arg::model_files(&model);
    for out in [args.out.clone(), paths_file(&args.out)] {
        ensure_not_input(&out, inputs.iter().chain(files.iter()))?;
    }
    let backend = args.backend.backend()?;
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model)?;
    let started = Instant::now();
    let progress = crate::progress_bars::terminal();
    let mut bar = progress.phase("embedding", Some(files.len() as u64));
    let mut rows: Vec<f32> = Vec::new();
    let mut dim = 0;
    let mut kept: Vec<&PathBuf> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for chunk in files.chunks(args.batch) {
        let mut images = Vec::with_capacity(chunk.len());
        for path in chunk {
            match decode_image(path) {
                Ok(img) => {
                    images.push(img);
                    kept.push(path);
                }
                Err(e) if args.strict => {
                    return Err(e).context("--strict: stopping at a file that is not an image");
                }
                Err(e) => skipped.push(e.to_string()),
            }
        }
        bar.advance(chunk.len() as u64)?;
        if images.is_empty() {
            continue;
        }
        let out = embedder.embed_images(&images)?;
        if dim != 0 && out.ncols() != dim {
            bail!(
                "the model returned {} values per image after {dim} earlier",
                out.ncols()
            );
        }
        dim = out.ncols();
        rows.extend(out.iter().copied());
    }
    bar.finish();
    if kept.is_empty() {
        bail!(
            "{}: none of the {} file(s) is a decodable image (first: {})",
            args.input.display(),
            files.len(),
            skipped.first().map_or("", String::as_str)
        );
    }
    let embeddings = Array2::from_shape_vec((kept.len(), dim), rows)
        .context("assembling the embedding matrix")?;
    write_outputs(&args, &embeddings, &kept)?;
    let seconds = started.elapsed().as_secs_f64();
    if !skipped.is_empty() {
        eprintln!(
            "skipped {} file(s) that are not decodable images (first: {}); --strict makes this an error",
            skipped.len(),
            skipped[0]
        );
    }
    eprintln!(
        "embedded {} image(s) → {}x{} in {:.2} s with {}; wrote {} and {}",
        kept.len(),
        kept.len(),
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
                "images": kept.len(),
                "dim": dim,
                "skipped": skipped.len(),
                "seconds": seconds,
                "backend": embedder.describe(),
                "out": args.out,
                "paths": paths_file(&args.out),
            })
        );
    }
    Ok(())
}

fn write_outputs(
    args: &EmbedArgs,
    embeddings: &Array2<f32>,
    sources: &[&PathBuf],
) -> anyhow::Result<()> {
    npy::write_f32(&args.out, embeddings.view())?;
    let paths = paths_file(&args.out);
    write_atomic(&paths, |w| {
        for p in sources {
            writeln!(w, "{}", p.display())?;
        }
        Ok(())
    })?;
    Ok(())
}
