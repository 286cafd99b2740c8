use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

/// Below this norm a row is treated as having norm `L2_FLOOR` (as `F.normalize` does), so a
/// collapsed all-zero embedding yields a zero direction instead of NaN. Public because an
/// exported graph must floor the same way.
pub const L2_FLOOR: f32 = 1e-8;

/// Rows scaled to unit length; returns the unit rows and the (floored) norms. Shared by every
/// loss that works on the sphere (NT-Xent, MoCo, BYOL, margin, EMP) and by the heads.
pub(crate) fn l2_normalize(x: ArrayView2<f32>) -> (Array2<f32>, Array1<f32>) {
    let norms = x.map_axis(Axis(1), |r| r.dot(&r).sqrt().max(L2_FLOOR));
    let unit = &x / &norms.view().insert_axis(Axis(1));
    (unit, norms)
}

/// dL/dx from dL/du for `u = x/‖x‖`: `(g − u·(u·g)) / ‖x‖`.
pub(crate) fn l2_normalize_backward(
    g: ArrayView2<f32>,
    unit: ArrayView2<f32>,
    norms: ArrayView1<f32>,
) -> Array2<f32> {
    let mut out = g.to_owned();
    Zip::from(out.rows_mut())
        .and(unit.rows())
        .and(&norms)
        .for_each(|mut o, u, &n| {
            let ug = u.dot(&o);
            o.scaled_add(-ug, &u);
            o /= n;
        });
    out
}
