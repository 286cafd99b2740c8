use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

/// `(x − mean) / √(var + ε)` with the mean and (biased) variance taken along `axis`.
///
/// One function serves LayerNorm (`Axis(1)`: per sample), BatchNorm (`Axis(0)`: per feature) and
/// Barlow Twins' batch standardization, so the delicate backward below exists once.
/// Returns `x̂` and `1/√(var + ε)` (one per lane across `axis`).
pub(crate) fn standardize(x: ArrayView2<f32>, axis: Axis, eps: f32) -> (Array2<f32>, Array1<f32>) {
    let n = x.len_of(axis) as f32;
    let mean = x.mean_axis(axis).expect("standardize over an empty axis");
    let mut xc = &x - &mean.view().insert_axis(axis);
    let var = xc.map_axis(axis, |lane| lane.iter().map(|v| v * v).sum::<f32>() / n);
    let inv_std = var.mapv(|v| 1.0 / (v + eps).sqrt());
    xc *= &inv_std.view().insert_axis(axis);
    (xc, inv_std)
}

/// dL/dx from dL/dx̂: `inv_std · (g − mean(g) − x̂ · mean(g ⊙ x̂))`, means along `axis`.
pub(crate) fn standardize_backward(
    g: ArrayView2<f32>,
    xhat: ArrayView2<f32>,
    inv_std: ArrayView1<f32>,
    axis: Axis,
) -> Array2<f32> {
    let n = g.len_of(axis) as f32;
    let mean_g = g.sum_axis(axis) / n;
    let mut gx = g.to_owned();
    gx *= &xhat;
    let mean_gx = gx.sum_axis(axis) / n;
    let (mean_g, mean_gx, inv) = (
        mean_g.insert_axis(axis),
        mean_gx.insert_axis(axis),
        inv_std.insert_axis(axis),
    );
    let mut out = Array2::zeros(g.raw_dim());
    Zip::from(&mut out)
        .and(&g)
        .and(&xhat)
        .and_broadcast(&mean_g)
        .and_broadcast(&mean_gx)
        .and_broadcast(&inv)
        .for_each(|o, &g, &xh, &mg, &mgx, &inv| *o = inv * (g - mg - xh * mgx));
    out
}
