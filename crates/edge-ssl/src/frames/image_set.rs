//! Sets of images the training commands read: a folder of unlabeled frames (`adapt`,
//! `cluster`, `head --unlabeled`) and an ImageFolder tree `ROOT/<class>/*` (`head`, `eval`).
//!
//! Unlabeled frames tolerate a few undecodable files (a camera dump often holds a truncated
//! last frame) and report the count; labeled sets do not, because a silently missing example
//! changes a 10-shot head.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{Preprocessor, decode_image, decode_image_at_least, image_files};
use ndarray::{Array2, Array3};

use crate::embed::embedder::{Embedded, Embedder};
use crate::embed::source_matrix;
use crate::progress::Progress;
use edge_ssl_source::SourceOptions;

/// Decoded frames, kept as 8-bit CHW at their own size (a quarter of the memory of f32) in the
/// card's channel count; [`Frames::unit`] gives the [0, 1] float view the augmenter takes.
pub struct Frames {
    pub paths: Vec<PathBuf>,
    pub pixels: Vec<Array3<u8>>,
    /// One message per file that did not decode.
    pub skipped: Vec<String>,
}

impl Frames {
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    pub fn unit(&self, i: usize) -> Array3<f32> {
        self.pixels[i].mapv(|v| v as f32 / 255.0)
    }

    /// Frame `i` resized to the encoder's input size.
    pub fn input_unit(&self, i: usize, pre: &Preprocessor) -> Array3<f32> {
        pre.resize_unit(self.unit(i).view())
    }

    /// A line for stderr when files were skipped.
    pub fn skipped_note(&self) -> Option<String> {
        self.skipped.first().map(|first| {
            format!(
                "skipped {} file(s) that are not decodable images (first: {first})",
                self.skipped.len()
            )
        })
    }
}

/// Decodes every image under `root` (recursively); undecodable files are skipped and counted,
/// and a folder with nothing decodable is an error.
pub fn decode_frames(
    root: &Path,
    pre: &Preprocessor,
    progress: &Progress,
) -> crate::Result<Frames> {
    let files = image_files(root)?;
    if files.is_empty() {
        bail!(Data, "{}: no image files (empty folder)", root.display());
    }
    let mut phase = progress.phase("decoding", Some(files.len() as u64));
    let mut frames = Frames {
        paths: Vec::new(),
        pixels: Vec::new(),
        skipped: Vec::new(),
    };
    for path in files {
        phase.advance(1)?;
        match decode_image(&path) {
            Ok(img) => {
                frames
                    .pixels
                    .push(pre.unit_full(&img).mapv(|v| (v * 255.0).round() as u8));
                frames.paths.push(path);
            }
            Err(e) => frames.skipped.push(edge_ssl_core::error_line(&e)),
        }
    }
    phase.finish();
    if frames.pixels.is_empty() {
        bail!(
            Data,
            "{}: none of the {} file(s) is a decodable image (first: {})",
            root.display(),
            frames.skipped.len(),
            frames.skipped[0]
        );
    }
    Ok(frames)
}

/// An ImageFolder tree: class names are the sorted sub-folder names, `labels[i]` indexes them.
pub struct LabeledSet {
    pub class_names: Vec<String>,
    pub paths: Vec<PathBuf>,
    pub labels: Vec<usize>,
}

impl LabeledSet {
    /// Each image's label as an index into `class_names` (a head's classes), matched by name; a
    /// folder class the head does not know is an error.
    pub fn labels_in(&self, class_names: &[String]) -> crate::Result<Vec<usize>> {
        let index = |name: &String| class_names.iter().position(|c| c == name);
        let map: Vec<Option<usize>> = self.class_names.iter().map(index).collect();
        self.labels
            .iter()
            .map(|&l| {
                map[l].ok_or_else(|| {
                    crate::Error::Data(format!(
                        "class `{}` is not one the head knows ({})",
                        self.class_names[l],
                        class_names.join(", ")
                    ))
                })
            })
            .collect()
    }

    /// Reads `ROOT/<class>/...`; at least two classes, each with at least one file.
    pub fn read(root: &Path) -> crate::Result<Self> {
        let entries = std::fs::read_dir(root)
            .with_context(|| format!("{}: cannot read the labeled folder", root.display()))?;
        let mut classes: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", root.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().is_dir() {
                if entry.file_name().to_str().is_none() {
                    bail!(
                        Data,
                        "{}: a class folder name is not UTF-8",
                        entry.path().display()
                    );
                }
                if let Some(why) = edge_ssl_core::class_name_problem(&name) {
                    bail!(Data, "{}: {why}", root.display());
                }
                classes.push((name, entry.path()));
            }
        }
        classes.sort();
        if classes.len() < 2 {
            bail!(
                Data,
                "{}: found {} class folder(s); a labeled root needs at least two (ROOT/<class>/*.png)",
                root.display(),
                classes.len()
            );
        }
        let mut set = LabeledSet {
            class_names: Vec::new(),
            paths: Vec::new(),
            labels: Vec::new(),
        };
        for (label, (name, dir)) in classes.into_iter().enumerate() {
            let files = image_files(&dir)?;
            if files.is_empty() {
                bail!(Data, "{}: class `{name}` has no images", dir.display());
            }
            set.labels.extend(std::iter::repeat_n(label, files.len()));
            set.paths.extend(files);
            set.class_names.push(name);
        }
        Ok(set)
    }
}

/// Embeds `paths` in batches of `batch`, failing on the first file that does not decode
/// (naming it): for labeled sets every row must be there.
pub fn embed_strict(
    embedder: &mut Embedder,
    paths: &[PathBuf],
    batch: usize,
    what: &'static str,
    progress: &Progress,
) -> crate::Result<Array2<f32>> {
    Ok(embed_strict_with_features(embedder, paths, batch, what, progress)?.rows)
}

/// [`embed_strict`], with the feature means beside the rows when `embedder` was loaded with them
/// ([`Embedder::load_fitting`]).
pub fn embed_strict_with_features(
    embedder: &mut Embedder,
    paths: &[PathBuf],
    batch: usize,
    what: &'static str,
    progress: &Progress,
) -> crate::Result<Embedded> {
    let mut phase = progress.phase(what, Some(paths.len() as u64));
    let mut parts = Vec::new();
    for chunk in paths.chunks(batch.max(1)) {
        let images = chunk
            .iter()
            .map(|p| decode_image_at_least(p, embedder.preprocessor().decode_size()))
            .collect::<Result<Vec<_>, _>>()?;
        let embedded = embedder.embed_images_with_features(&images)?;
        parts.push(embedder.chosen(embedded));
        phase.advance(chunk.len() as u64)?;
    }
    phase.finish();
    Embedded::concat(&parts)
}

/// Embeds already-decoded frames (resized to the input size), in batches.
pub fn embed_frames(
    embedder: &mut Embedder,
    frames: &Frames,
    batch: usize,
    progress: &Progress,
) -> crate::Result<Array2<f32>> {
    Ok(embed_frames_with_features(embedder, frames, batch, progress)?.rows)
}

/// [`embed_frames`], with the feature means beside the rows when `embedder` was loaded with them.
pub fn embed_frames_with_features(
    embedder: &mut Embedder,
    frames: &Frames,
    batch: usize,
    progress: &Progress,
) -> crate::Result<Embedded> {
    let pre = embedder.preprocessor().clone();
    let mut phase = progress.phase("embedding", Some(frames.len() as u64));
    let mut parts = Vec::new();
    let idx: Vec<usize> = (0..frames.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let units: Vec<_> = chunk.iter().map(|&i| frames.input_unit(i, &pre)).collect();
        let embedded = embedder.embed_units_with_features(&units)?;
        parts.push(embedder.chosen(embedded));
        phase.advance(chunk.len() as u64)?;
    }
    phase.finish();
    Embedded::concat(&parts)
}

/// Reads `data` (an image folder, a video file or a camera, sampled by `options`) and embeds
/// every frame as it comes ([`embed_source`](crate::embed::source_matrix::embed_source): a batch
/// of frames in memory at a time, each decoded no larger than the model needs and preprocessed
/// as `run` does): the unlabeled rows `head` fits on, the out-of-domain rows `eval` scores. The
/// note says what did not decode.
pub fn embed_source(
    embedder: &mut Embedder,
    data: &Path,
    options: &SourceOptions,
    batch: usize,
    progress: &Progress,
) -> crate::Result<(Array2<f32>, Option<String>)> {
    let (embedded, note) = embed_source_with_features(embedder, data, options, batch, progress)?;
    Ok((embedded.rows, note))
}

/// [`embed_source`], with the feature means beside the rows when `embedder` was loaded with them.
pub fn embed_source_with_features(
    embedder: &mut Embedder,
    data: &Path,
    options: &SourceOptions,
    batch: usize,
    progress: &Progress,
) -> crate::Result<(Embedded, Option<String>)> {
    let options = options
        .clone()
        .with_decode_size(embedder.preprocessor().decode_size());
    let mut source = crate::frames::loader::open(data, &options)?;
    // A video or camera says what it is and what was read and kept (a folder's undecodable
    // files are the returned note), as the loader reports them.
    let stream = source.info().kind != edge_ssl_source::SourceKind::Images;
    if stream {
        progress.note(source.info());
    }
    let at_most = options.max_frames;
    let m = source_matrix::embed_source(embedder, source.as_mut(), batch, at_most, progress)?;
    if stream {
        progress.note(format_args!("{}: {}", data.display(), m.stats));
        for warning in &m.stats.warnings {
            progress.note(format_args!("warning: {warning}"));
        }
    }
    let note = m.skipped_note();
    let embedded = Embedded {
        rows: m.embeddings,
        features: m.features,
    };
    Ok((embedded, note))
}
