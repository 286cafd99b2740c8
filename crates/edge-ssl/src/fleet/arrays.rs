//! Between Flower's named arrays and the adapter and head a model directory holds. Names are
//! those of the safetensors files (`adapter.fc1.weight`…), the head's prefixed with `head.`
//! (`head.softmax.weight`), so a ServerApp can read its initial arrays straight from a model
//! directory's files.

use edge_ssl_fleet::{Arrays, NdArray};
use edge_ssl_train::Rng;
use edge_ssl_train::head::{Head, HeadModel, SoftmaxHead};
use edge_ssl_train::nn::{Adapter, Module};
use ndarray::Array2;

use super::error::{FleetTaskError, Result};

/// The head's arrays (a softmax head: `C × D` weight, `1 × C` bias).
pub const HEAD_WEIGHT: &str = "head.softmax.weight";
pub const HEAD_BIAS: &str = "head.softmax.bias";
const FC1: &str = "adapter.fc1.weight";

/// An adapter wider than this is refused before its weights are allocated.
const MAX_HIDDEN: usize = 1 << 14;

/// The adapter in `arrays`, for embeddings of width `dim`.
pub fn adapter(arrays: &Arrays, dim: usize) -> Result<Adapter> {
    let fc1 = get(arrays, FC1)?;
    let hidden = match fc1.shape() {
        [h, d] if *d == dim && (1..=MAX_HIDDEN).contains(h) => *h,
        got => {
            return Err(FleetTaskError::ArrayShape {
                name: FC1.into(),
                got: got.to_vec(),
                expected: format!("[H, {dim}] with 1 <= H <= {MAX_HIDDEN}"),
            });
        }
    };
    let mut a = Adapter::new(dim, hidden, &mut Rng::new(0));
    for p in a.params_mut() {
        p.value = matrix(arrays, &p.name, p.value.dim())?;
    }
    Ok(a)
}

/// The softmax head in `arrays`, if the federation has one, named by `classes` (or
/// `class-0`… when none are known).
pub fn head(arrays: &Arrays, dim: usize, classes: Option<&[String]>) -> Result<Option<Head>> {
    if arrays.get(HEAD_WEIGHT).is_none() && arrays.get(HEAD_BIAS).is_none() {
        return Ok(None);
    }
    let c = match get(arrays, HEAD_WEIGHT)?.shape() {
        [c, d] if *d == dim && *c >= 2 => *c,
        got => {
            return Err(FleetTaskError::ArrayShape {
                name: HEAD_WEIGHT.into(),
                got: got.to_vec(),
                expected: format!("[C, {dim}] with C >= 2"),
            });
        }
    };
    let names: Vec<String> = match classes {
        Some(names) if names.len() == c => names.to_vec(),
        Some(names) => {
            return Err(FleetTaskError::ArrayShape {
                name: HEAD_WEIGHT.into(),
                got: vec![c, dim],
                expected: format!("{} classes, as the config names", names.len()),
            });
        }
        None => (0..c).map(|i| format!("class-{i}")).collect(),
    };
    let weight = matrix(arrays, HEAD_WEIGHT, (c, dim))?;
    let bias = matrix(arrays, HEAD_BIAS, (1, c))?;
    Ok(Some(Head {
        class_names: names,
        model: HeadModel::Softmax(SoftmaxHead { weight, bias }),
    }))
}

/// The arrays of `adapter` and `head` (a head that is not softmax does not travel).
pub fn to_arrays(adapter: &Adapter, head: Option<&Head>) -> Result<Arrays> {
    let mut out = Arrays::new();
    for p in adapter.params() {
        out.insert(p.name.clone(), nd(&p.value)?);
    }
    if let Some(Head {
        model: HeadModel::Softmax(h),
        ..
    }) = head
    {
        out.insert(HEAD_WEIGHT, nd(&h.weight)?);
        out.insert(HEAD_BIAS, nd(&h.bias)?);
    }
    Ok(out)
}

fn get<'a>(arrays: &'a Arrays, name: &str) -> Result<&'a NdArray> {
    arrays
        .get(name)
        .ok_or_else(|| FleetTaskError::MissingArray { name: name.into() })
}

/// `name` as a `rows × cols` matrix; a 1-D array of `cols` values is a `1 × cols` row.
fn matrix(arrays: &Arrays, name: &str, (rows, cols): (usize, usize)) -> Result<Array2<f32>> {
    let a = get(arrays, name)?;
    let fits = a.shape() == [rows, cols] || (rows == 1 && a.shape() == [cols]);
    if !fits {
        return Err(FleetTaskError::ArrayShape {
            name: name.into(),
            got: a.shape().to_vec(),
            expected: format!("[{rows}, {cols}]"),
        });
    }
    if a.data().iter().any(|v| !v.is_finite()) {
        return Err(FleetTaskError::NonFinite { name: name.into() });
    }
    Array2::from_shape_vec((rows, cols), a.data().to_vec())
        .map_err(|e| FleetTaskError::Data(format!("array `{name}`: {e}")))
}

fn nd(m: &Array2<f32>) -> Result<NdArray> {
    let data: Vec<f32> = m.iter().copied().collect();
    NdArray::new(vec![m.nrows(), m.ncols()], data).map_err(|e| FleetTaskError::Data(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained_adapter() -> Adapter {
        let mut a = Adapter::new(6, 4, &mut Rng::new(3));
        a.fc2.weight.value.fill(0.25);
        a
    }

    #[test]
    fn adapter_and_head_round_trip_by_their_file_names() {
        let a = trained_adapter();
        let head = Head {
            class_names: vec!["a".into(), "b".into(), "c".into()],
            model: HeadModel::Softmax(SoftmaxHead {
                weight: Array2::from_elem((3, 6), 0.5),
                bias: Array2::from_elem((1, 3), -1.0),
            }),
        };
        let arrays = to_arrays(&a, Some(&head)).unwrap();
        let names: Vec<&str> = arrays.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "adapter.norm.weight",
                "adapter.norm.bias",
                "adapter.fc1.weight",
                "adapter.fc1.bias",
                "adapter.fc2.weight",
                "adapter.fc2.bias",
                HEAD_WEIGHT,
                HEAD_BIAS
            ]
        );
        let back = adapter(&arrays, 6).unwrap();
        assert_eq!(back.params(), a.params());
        let classes = head.class_names.clone();
        assert_eq!(super::head(&arrays, 6, Some(&classes)).unwrap(), Some(head));
        assert_eq!(
            super::head(&arrays, 6, None).unwrap().unwrap().class_names,
            ["class-0", "class-1", "class-2"]
        );
        assert!(
            super::head(&to_arrays(&a, None).unwrap(), 6, None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn wrong_arrays_are_typed_errors_not_panics() {
        let a = trained_adapter();
        let good = to_arrays(&a, None).unwrap();
        assert!(matches!(
            adapter(&good, 7),
            Err(FleetTaskError::ArrayShape { .. })
        ));
        assert!(matches!(
            adapter(&Arrays::new(), 6),
            Err(FleetTaskError::MissingArray { .. })
        ));
        let mut bad = good.clone();
        bad.get_mut("adapter.fc2.bias").unwrap().data_mut()[0] = f32::NAN;
        assert!(matches!(
            adapter(&bad, 6),
            Err(FleetTaskError::NonFinite { .. })
        ));
        let mut short = good.clone();
        short.insert(
            "adapter.fc2.weight",
            NdArray::new(vec![2], vec![0.0, 0.0]).unwrap(),
        );
        assert!(matches!(
            adapter(&short, 6),
            Err(FleetTaskError::ArrayShape { .. })
        ));
        // A hidden width the size of the address space is refused before allocating.
        let mut huge = good;
        huge.insert(FC1, NdArray::new(vec![0, 6], vec![]).unwrap());
        assert!(adapter(&huge, 6).is_err());
        let mut head_only_bias = to_arrays(&a, None).unwrap();
        head_only_bias.insert(HEAD_BIAS, NdArray::new(vec![1, 2], vec![0.0; 2]).unwrap());
        assert!(matches!(
            super::head(&head_only_bias, 6, None),
            Err(FleetTaskError::MissingArray { .. })
        ));
    }
}
