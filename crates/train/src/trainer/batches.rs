use ndarray::{Array2, ArrayView2, Axis, concatenate};

use super::{Method, TrainConfig, Views};
use crate::Rng;

/// Stream ids: each kind of random decision draws from its own stream of the seed.
const SHUFFLE_STREAM: u64 = 2;
const PAIR_STREAM: u64 = 3;

/// The stacked views of this step's frames, `[v₁; v₂]` (EMP: `emp_views` of them), and for
/// target-network methods the swapped stack `[v₂; v₁]` whose row `i` is the other view.
/// `b` is the batch size and `spe` the steps per epoch: step `t` takes frames
/// `[(t mod spe)·b, …+b)` of epoch `t / spe`'s permutation.
pub(super) fn batch_inputs(
    config: &TrainConfig,
    views: &Views,
    b: usize,
    spe: u64,
    t: u64,
) -> (Array2<f32>, Option<Array2<f32>>) {
    let order = Rng::stream(config.seed, &[SHUFFLE_STREAM, t / spe]).permutation(views.frames());
    let start = (t % spe) as usize * b;
    let frames = &order[start..start + b];
    let k = views.views();
    let mut rng = Rng::stream(config.seed, &[PAIR_STREAM, t]);
    if config.method == Method::Emp {
        // Per frame, a random subset of the views (partial Fisher–Yates).
        let m = config.emp_views.min(k);
        let subsets: Vec<Vec<usize>> = (0..b)
            .map(|_| {
                let mut all: Vec<usize> = (0..k).collect();
                for j in 0..m {
                    let pick = j + rng.below(k - j);
                    all.swap(j, pick);
                }
                all.truncate(m);
                all
            })
            .collect();
        let chunks: Vec<Array2<f32>> = (0..m)
            .map(|j| views.gather(frames, |i| subsets[i][j]))
            .collect();
        let parts: Vec<ArrayView2<f32>> = chunks.iter().map(|a| a.view()).collect();
        return (concatenate(Axis(0), &parts).expect("equal widths"), None);
    }
    // Two distinct views per frame, uniformly among the K(K−1) ordered pairs.
    let pairs: Vec<(usize, usize)> = (0..b)
        .map(|_| {
            let a = rng.below(k);
            let c = rng.below(k - 1);
            (a, if c >= a { c + 1 } else { c })
        })
        .collect();
    let x1 = views.gather(frames, |i| pairs[i].0);
    let x2 = views.gather(frames, |i| pairs[i].1);
    let swapped = config
        .method
        .uses_target()
        .then(|| concatenate![Axis(0), x2, x1]);
    (concatenate![Axis(0), x1, x2], swapped)
}
