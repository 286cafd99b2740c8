//! Fitting a head on labeled (adapted) embeddings, optionally with pseudo-labels from unlabeled
//! frames, and the 2-fold cross-validation that estimates its accuracy on new frames and says
//! whether those pseudo-labels helped.

use crate::error::Context;
use edge_ssl_train::head::{Head, HeadKind, SemiSupervised};
use ndarray::{Array2, ArrayView2, Axis};

/// What using the unlabeled frames did: pseudo-labels made, 2-fold accuracy without/with, and
/// whether the head returned uses them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SemiReport {
    pub unlabeled: usize,
    pub pseudo_labeled: usize,
    pub cv_accuracy_labeled_only: Option<f64>,
    pub cv_accuracy_with_unlabeled: Option<f64>,
    /// False when cross-validation found the pseudo-labels lowered accuracy: the head returned
    /// is then the one fitted on the labels alone.
    pub used_unlabeled: bool,
}

impl SemiReport {
    /// One line for a person: what the unlabeled frames gave and which head was kept.
    pub fn line(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("n/a".into(), |a| format!("{:.1} %", 100.0 * a));
        format!(
            "unlabeled: {} pseudo-labels from {} frames; 2-fold accuracy {} with labels only → {} \
             with unlabeled; kept the head {}",
            self.pseudo_labeled,
            self.unlabeled,
            pct(self.cv_accuracy_labeled_only),
            pct(self.cv_accuracy_with_unlabeled),
            if self.used_unlabeled {
                "with them"
            } else {
                "fitted on the labels alone"
            }
        )
    }
}

/// Fits `kind` on labeled rows, with pseudo-labels from `unlabeled` when given — unless 2-fold
/// cross-validation says they make the head worse, in which case the labels-only head is
/// returned (and the report says so): label propagation on a shifted domain can cost points,
/// and a head that is worse than its labels alone would give is not shipped.
pub fn fit_head(
    kind: HeadKind,
    x: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
    unlabeled: Option<ArrayView2<f32>>,
) -> crate::Result<(Head, Option<SemiReport>)> {
    let plain = || Head::fit(kind, x, labels, names.to_vec()).context("fitting the head");
    let Some(u) = unlabeled else {
        return Ok((plain()?, None));
    };
    let semi = SemiSupervised::default();
    let (head, report) = semi
        .fit(kind, x, labels, names.to_vec(), u)
        .context("fitting the head with pseudo-labels")?;
    let (without, with) = match cross_validate(kind, x, labels, names, Some((u, &semi))) {
        Ok(Some((a, b))) => (Some(a), b),
        _ => (None, None),
    };
    let worse = matches!((without, with), (Some(a), Some(b)) if b < a);
    let head = if worse { plain()? } else { head };
    Ok((
        head,
        Some(SemiReport {
            unlabeled: report.unlabeled,
            pseudo_labeled: report.pseudo_labeled,
            cv_accuracy_labeled_only: without,
            cv_accuracy_with_unlabeled: with,
            used_unlabeled: !worse,
        }),
    ))
}

/// An estimate of how well a `kind` head fitted on these labeled rows classifies new ones: the
/// 2-fold cross-validated accuracy (below). `None` when some class has fewer than two examples.
pub fn cv_accuracy(
    kind: HeadKind,
    x: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
) -> crate::Result<Option<f64>> {
    Ok(cross_validate(kind, x, labels, names, None)?.map(|(plain, _)| plain))
}

/// 2-fold cross-validation (alternate examples of each class): accuracy of a head fitted on one
/// half, without and (given `semi`) with the unlabeled frames, on the other half. `None` when
/// some class has fewer than two examples.
fn cross_validate(
    kind: HeadKind,
    x: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
    semi: Option<(ArrayView2<f32>, &SemiSupervised)>,
) -> crate::Result<Option<(f64, Option<f64>)>> {
    let mut seen = vec![0usize; names.len()];
    let fold: Vec<usize> = labels
        .iter()
        .map(|&l| {
            seen[l] += 1;
            seen[l] % 2
        })
        .collect();
    if seen.iter().any(|&c| c < 2) {
        return Ok(None);
    }
    let (mut plain, mut with, mut total) = (0usize, 0usize, 0usize);
    for f in 0..2 {
        let train: Vec<usize> = (0..labels.len()).filter(|&i| fold[i] != f).collect();
        let test: Vec<usize> = (0..labels.len()).filter(|&i| fold[i] == f).collect();
        let xt = x.select(Axis(0), &train);
        let yt: Vec<usize> = train.iter().map(|&i| labels[i]).collect();
        let xe: Array2<f32> = x.select(Axis(0), &test);
        let a = Head::fit(kind, xt.view(), &yt, names.to_vec())?;
        let correct = |h: &Head| -> crate::Result<usize> {
            Ok(h.predict(xe.view())?
                .iter()
                .zip(&test)
                .filter(|(p, i)| p.class == labels[**i])
                .count())
        };
        plain += correct(&a)?;
        if let Some((u, semi)) = semi {
            let (b, _) = semi.fit(kind, xt.view(), &yt, names.to_vec(), u)?;
            with += correct(&b)?;
        }
        total += test.len();
    }
    let with = semi.map(|_| with as f64 / total as f64);
    Ok(Some((plain as f64 / total as f64, with)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Worked by hand: folds alternate within each class, so a's rows go to folds 1, 0, 1 and
    /// b's likewise. The third `a` row sits on b's axis: held out (fold 1) it is called b by
    /// the class means of the other fold; every other row is right either way. 5 of 6.
    #[test]
    fn cv_accuracy_is_the_held_out_accuracy_over_both_folds() {
        let x = array![
            [1.0f32, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [0.0, 1.0],
            [0.0, 1.0],
            [0.0, 1.0]
        ];
        let labels = [0, 0, 0, 1, 1, 1];
        let names = vec!["a".to_string(), "b".to_string()];
        let cv = cv_accuracy(HeadKind::Imprint, x.view(), &labels, &names).unwrap();
        assert!((cv.unwrap() - 5.0 / 6.0).abs() < 1e-12, "{cv:?}");
        // A class with one example: no estimate rather than a made-up one.
        let cv = cv_accuracy(HeadKind::Imprint, x.view(), &[0, 1, 1, 1, 1, 1], &names).unwrap();
        assert_eq!(cv, None);
    }
}
