//! `cluster`: a head for frames without any labels. The frames' (adapted) embeddings are
//! grouped by k-means ([`KMeansHead`]); the head names its classes `cluster-0..K-1`, and a
//! novelty model is fitted on the same embeddings (as `head` does), so a directory made by
//! `cluster` also says when a frame is unlike every frame it grouped. Both go into the model
//! directory with [`write_head`], and `clusters.json` records what each cluster holds (its size
//! and a few example paths) beside the novelty model's calibration — the summary `cluster`
//! prints.

use std::path::{Path, PathBuf};

use edge_ssl_core::write_atomic;
use edge_ssl_train::head::{KMeansHead, KMeansOptions};
use serde::Serialize;

use super::write::write_head;
use crate::embed::embedder::Embedded;
use crate::error::{Context, bail};
use crate::model::reference::ResolvedModel;
use crate::novelty::{NoveltyOutcome, NoveltyPlan};
use crate::progress::Progress;

/// The file beside the head that lists the clusters.
pub const CLUSTERS_JSON: &str = "clusters.json";

/// What to cluster into and what to write beside it.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of clusters (at least 2).
    pub k: usize,
    /// Seed of the k-means++ initialisation.
    pub seed: u64,
    /// Example paths listed per cluster.
    pub examples: usize,
    /// The novelty model written with the head: the directory's own, or one fitted on the same
    /// frames (their embeddings, or their feature means when it scores those: [`cluster`]'s rows
    /// must then carry them), or none.
    pub novelty: NoveltyPlan,
}

/// One cluster: its index (class `cluster-<index>`), its size and its first few frames.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterSummary {
    pub cluster: usize,
    pub size: usize,
    pub examples: Vec<String>,
}

/// What `cluster` did: the clusters, how well they fit, and the novelty model's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterReport {
    pub k: usize,
    pub frames: usize,
    pub skipped: usize,
    /// Mean squared distance of a unit embedding to its centroid.
    pub inertia: f32,
    pub iterations: usize,
    pub clusters: Vec<ClusterSummary>,
    pub novelty: NoveltyOutcome,
    /// Where the head went.
    #[serde(skip)]
    pub head: PathBuf,
    /// Where the summary went.
    #[serde(skip)]
    pub summary: PathBuf,
}

/// Refuses a `k` that cannot be clustered: fewer than 2, or more than the `frames` read from
/// `data` (`None` before they are read).
pub fn check_k(k: usize, frames: Option<usize>, data: &Path) -> crate::Result<()> {
    if k < 2 {
        bail!(Options, "--k must be at least 2");
    }
    match frames {
        Some(n) if n < k => bail!(
            Data,
            "--k {k} is larger than the {n} decodable image(s) in {}",
            data.display()
        ),
        _ => Ok(()),
    }
}

/// Clusters `embedded`'s rows (one embedding per frame of `paths`, under `model`), fits the
/// novelty model on them (or on their feature means, when it scores those), and writes the
/// k-means head, the novelty model and [`CLUSTERS_JSON`] into `out`. `skipped` counts the frames
/// that did not decode (for the summary).
pub fn cluster(
    model: &ResolvedModel,
    embedded: &Embedded,
    paths: &[PathBuf],
    skipped: usize,
    out: &Path,
    options: ClusterOptions,
    progress: &Progress,
) -> crate::Result<ClusterReport> {
    let rows = embedded.rows.view();
    if rows.nrows() != paths.len() {
        bail!(
            Options,
            "{} embeddings for {} frames",
            rows.nrows(),
            paths.len()
        );
    }
    let kmeans = KMeansOptions::new(options.k).with_seed(options.seed);
    let clustering = KMeansHead::fit(rows, &kmeans).context("k-means")?;
    let clusters = (0..options.k)
        .map(|c| ClusterSummary {
            cluster: c,
            size: clustering.sizes[c],
            examples: (0..paths.len())
                .filter(|&i| clustering.assignments[i] == c)
                .take(options.examples)
                .map(|i| paths[i].display().to_string())
                .collect(),
        })
        .collect();
    let (novelty, outcome) = options.novelty.finish(&[embedded], progress)?;
    let head = write_head(model, out, &clustering.head, "kmeans", novelty.as_ref())?;
    let report = ClusterReport {
        k: options.k,
        frames: paths.len(),
        skipped,
        inertia: clustering.inertia,
        iterations: clustering.iterations,
        clusters,
        novelty: outcome,
        head,
        summary: out.join(CLUSTERS_JSON),
    };
    let text = serde_json::to_string_pretty(&report)?;
    write_atomic(&report.summary, |w| w.write_all(text.as_bytes()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_must_be_two_or_more_and_at_most_the_frames() {
        let data = Path::new("frames");
        assert!(check_k(2, None, data).is_ok());
        assert!(check_k(3, Some(3), data).is_ok());
        let one = check_k(1, None, data).unwrap_err().to_string();
        assert!(one.contains("at least 2"), "{one}");
        let many = check_k(6, Some(5), data).unwrap_err().to_string();
        assert!(many.contains("larger than the 5"), "{many}");
    }
}
