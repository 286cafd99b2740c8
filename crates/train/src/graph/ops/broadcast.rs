//! NumPy broadcasting, forward (the common shape) and backward (summing a gradient back down
//! to an input's shape: `N×C×1×1 ⊙ N×C×H×W` in squeeze-excitation gives the gate's gradient
//! summed over H and W).

use ndarray::{ArrayD, ArrayViewD, Axis};

use super::op::OpResult;

pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

/// Sums `g` (of the broadcast shape) down to `shape`.
pub(crate) fn unbroadcast(g: ArrayViewD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if g.shape() == shape {
        return g.to_owned();
    }
    let extra = g.ndim() - shape.len();
    let mut out = g.to_owned();
    for _ in 0..extra {
        out = out.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && out.shape()[i] != 1 {
            out = out.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn shapes_and_sums() {
        assert_eq!(
            broadcast_shape(&[2, 3, 1, 1], &[2, 3, 4, 5]).unwrap(),
            vec![2, 3, 4, 5]
        );
        assert_eq!(broadcast_shape(&[5], &[2, 1, 1]).unwrap(), vec![2, 1, 5]);
        assert!(broadcast_shape(&[2, 3], &[3, 3]).is_err());
        let g = ArrayD::from_elem(IxDyn(&[2, 3, 4]), 1.0f32);
        let s = unbroadcast(g.view(), &[3, 1]);
        assert_eq!(s.shape(), &[3, 1]);
        assert!(s.iter().all(|&v| v == 8.0));
    }
}
