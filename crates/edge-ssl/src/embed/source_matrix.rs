//! A whole frame source (an image folder, a video, a camera with a frame limit) into one
//! embedding matrix: frames are read `batch` at a time, embedded and dropped, so memory holds
//! one batch of images and the growing rows, never the decoded source.

use edge_ssl_source::{FrameSource, SourceStats};
use ndarray::Array2;

use super::embedder::{CALL_INPUT_FLOATS, Embedded, Embedder, images_per_call};
use crate::error::bail;
use crate::progress::Progress;

/// What [`embed_source`] read and embedded.
pub struct SourceMatrix {
    /// One row per kept frame, in the source's order.
    pub embeddings: Array2<f32>,
    /// Each frame's feature means, when the embedder was loaded with them
    /// ([`Embedder::load_with_features`]).
    pub features: Option<Array2<f32>>,
    /// Where each row came from: a file's path or `VIDEO#FRAME`.
    pub origins: Vec<String>,
    /// Frames read, kept, skipped and undecodable, with the source's warnings.
    pub stats: SourceStats,
}

impl SourceMatrix {
    /// A line for people when files were skipped as undecodable: how many, and the first.
    pub fn skipped_note(&self) -> Option<String> {
        (self.stats.decode_errors > 0).then(|| {
            let first = self.stats.warnings.first().map_or("", String::as_str);
            format!(
                "skipped {} file(s) that are not decodable images (first: {})",
                self.stats.decode_errors,
                first.strip_prefix("skipped ").unwrap_or(first)
            )
        })
    }
}

/// Embeds every frame `source` keeps, `batch` images per encoder call; `at_most` (the
/// sampling's frame limit) bounds the progress total. A source in strict mode fails at its
/// first undecodable file; otherwise such files are skipped and counted in `stats`. No kept
/// frame at all is an error.
pub fn embed_source(
    embedder: &mut Embedder,
    source: &mut dyn FrameSource,
    batch: usize,
    at_most: Option<u64>,
    progress: &Progress,
) -> crate::Result<SourceMatrix> {
    if batch == 0 {
        bail!(Options, "the batch must be at least 1 image");
    }
    // No more images are read ahead than one encoder call takes: a huge batch holds one call's
    // worth of decoded frames, not the batch.
    let spec = embedder.preprocessor().spec();
    let per_image = spec.channels * spec.height * spec.width;
    let batch = images_per_call(per_image, batch, CALL_INPUT_FLOATS);
    let spec = source.info().spec.clone();
    let total = match (source.info().frame_count, at_most) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut phase = progress.phase("embedding", total);
    let (mut rows, mut dim, mut origins) = (Vec::<f32>::new(), 0, Vec::<String>::new());
    let mut features: Option<(Vec<f32>, usize)> = None;
    loop {
        let mut images = Vec::with_capacity(batch);
        while images.len() < batch {
            let Some(frame) = source.next_frame()? else {
                break;
            };
            origins.push(frame.origin);
            images.push(frame.image);
        }
        if images.is_empty() {
            break;
        }
        phase.advance(images.len() as u64)?;
        let embedded = embedder.embed_images_with_features(&images)?;
        let Embedded {
            rows: out,
            features: f,
        } = embedder.chosen(embedded);
        if let Some(f) = f {
            let (values, _) = features.get_or_insert_with(|| (Vec::new(), f.ncols()));
            values.extend(f.iter().copied());
        }
        if dim != 0 && out.ncols() != dim {
            bail!(
                Model,
                "the model returned {} values per image after {dim} earlier",
                out.ncols()
            );
        }
        dim = out.ncols();
        rows.extend(out.iter().copied());
    }
    phase.finish();
    let stats = source.stats();
    if origins.is_empty() {
        bail!(Data, "{spec}: no frames were kept ({stats})");
    }
    let matrix = |width: usize, values: Vec<f32>| {
        Array2::from_shape_vec((origins.len(), width), values)
            .map_err(|e| crate::Error::Internal(format!("assembling the embedding matrix: {e}")))
    };
    let embeddings = matrix(dim, rows)?;
    let features = features.map(|(v, w)| matrix(w, v)).transpose()?;
    Ok(SourceMatrix {
        embeddings,
        features,
        origins,
        stats,
    })
}
