use crate::{Result, TrainError};

/// Area under the ROC curve of a score that should be higher on `out_scores` (novel rows) than
/// on `in_scores`: the probability that a random novel row outscores a random familiar one,
/// ties counting one half (the Mann–Whitney U statistic over `n_in · n_out`).
///
/// Computed from mid-ranks in one sort, `O((n_in + n_out) log(n_in + n_out))`, so it can
/// compare tens of thousands of frames; 0.5 is chance, 1 is perfect separation.
pub fn auroc(in_scores: &[f32], out_scores: &[f32]) -> Result<f32> {
    for (what, s) in [
        ("in-distribution scores", in_scores),
        ("novel scores", out_scores),
    ] {
        if s.is_empty() {
            return Err(TrainError::Empty(what.into()));
        }
        if s.iter().any(|v| v.is_nan()) {
            return Err(TrainError::NonFinite(what.into()));
        }
    }
    let mut all: Vec<(f32, bool)> = in_scores
        .iter()
        .map(|&v| (v, false))
        .chain(out_scores.iter().map(|&v| (v, true)))
        .collect();
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based, tie-averaged) ranks of the novel rows.
    let mut rank_sum = 0.0f64;
    let mut start = 0;
    while start < all.len() {
        let mut end = start + 1;
        while end < all.len() && all[end].0 == all[start].0 {
            end += 1;
        }
        let mid_rank = (start + end + 1) as f64 / 2.0;
        let novel = all[start..end].iter().filter(|(_, out)| *out).count();
        rank_sum += mid_rank * novel as f64;
        start = end;
    }
    let (n_in, n_out) = (in_scores.len() as f64, out_scores.len() as f64);
    let u = rank_sum - n_out * (n_out + 1.0) / 2.0;
    Ok((u / (n_in * n_out)) as f32)
}
