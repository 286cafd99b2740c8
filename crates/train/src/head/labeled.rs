use ndarray::ArrayView2;

use crate::error::{ensure_dim, ensure_finite};
use crate::{Result, TrainError};

/// The checks every supervised head shares: rows and labels agree, labels are in range, every
/// named class has an example, at least two classes, finite values.
pub(super) fn validate_labeled(
    x: ArrayView2<f32>,
    labels: &[usize],
    class_names: &[String],
) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(TrainError::Empty("the labeled set".into()));
    }
    ensure_dim("number of labels", x.nrows(), labels.len())?;
    if class_names.len() < 2 {
        return Err(TrainError::TooFewClasses(class_names.len()));
    }
    let mut counts = vec![0usize; class_names.len()];
    for &y in labels {
        let slot = counts.get_mut(y).ok_or_else(|| {
            TrainError::InvalidConfig(format!(
                "label {y} out of range for {} classes",
                class_names.len()
            ))
        })?;
        *slot += 1;
    }
    if let Some(empty) = counts.iter().position(|&c| c == 0) {
        return Err(TrainError::EmptyClass(class_names[empty].clone()));
    }
    ensure_finite("labeled embeddings", &x)
}
