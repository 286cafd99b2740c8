//! `LayerNormalization`: standardize over the axes from `axis` (default −1) on, then
//! `scale ⊙ x̂ + bias` with scale and bias broadcast over the leading axes. Only output Y is
//! produced (exports do not ask for Mean and InvStdDev). Backward per row:
//! `dx = inv · (ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))` with `ĝ = dy ⊙ scale`.

use ndarray::{ArrayD, ArrayView2, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};

/// Rows, row length, scale and bias (flattened to the row length).
type Layout = (usize, usize, Vec<f32>, Option<Vec<f32>>);

#[derive(Debug)]
pub(crate) struct LayerNorm {
    axis: i64,
    epsilon: f32,
}

impl LayerNorm {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("only the Y output is supported".into());
        }
        Ok(LayerNorm {
            axis: attrs::int(node, "axis", -1)?,
            epsilon: attrs::float(node, "epsilon", 1e-5)?,
        })
    }

    /// Rows × row length, and the scale/bias as flat vectors of the row length.
    fn layout(&self, x: &Inputs<'_>) -> OpResult<Layout> {
        let input = x.f32(0)?;
        let a = attrs::axis(self.axis, input.ndim())?;
        let d: usize = input.shape()[a..].iter().product();
        let flat = |i: usize| -> OpResult<Option<Vec<f32>>> {
            match x.opt_f32(i)? {
                None => Ok(None),
                Some(v) => {
                    let v = v.broadcast(IxDyn(&input.shape()[a..])).ok_or_else(|| {
                        format!(
                            "input {i} {:?} does not fit the normalized shape",
                            v.shape()
                        )
                    })?;
                    Ok(Some(v.iter().copied().collect()))
                }
            }
        };
        let scale = flat(1)?.ok_or("Scale is required")?;
        Ok((input.len() / d.max(1), d, scale, flat(2)?))
    }
}

/// Per row: x̂ and 1/σ, in f64 sums.
fn standardize(row: &[f32], eps: f32, xhat: &mut [f32]) -> f32 {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps as f64).sqrt();
    for (o, &v) in xhat.iter_mut().zip(row) {
        *o = ((v as f64 - mean) * inv) as f32;
    }
    inv as f32
}

fn rows<'a>(
    x: &'a ndarray::CowArray<'a, f32, IxDyn>,
    r: usize,
    d: usize,
) -> OpResult<ArrayView2<'a, f32>> {
    x.view()
        .into_shape_with_order((r, d))
        .map_err(|e| e.to_string())
}

impl Op for LayerNorm {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let (r, d, scale, bias) = self.layout(x)?;
        let input = x.f32(0)?;
        let std_input = input.as_standard_layout();
        let xs = rows(&std_input, r, d)?;
        let mut y = ArrayD::<f32>::zeros(input.raw_dim());
        let ys = y.as_slice_mut().ok_or("output not contiguous")?;
        for (i, row) in xs.outer_iter().enumerate() {
            let out = &mut ys[i * d..(i + 1) * d];
            standardize(
                row.as_slice().ok_or("row not contiguous")?,
                self.epsilon,
                out,
            );
            for (j, o) in out.iter_mut().enumerate() {
                *o = *o * scale[j] + bias.as_ref().map_or(0.0, |b| b[j]);
            }
        }
        Ok(vec![Tensor::F32(y)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let (r, d, scale, _) = self.layout(x)?;
        let input = x.f32(0)?;
        let std_input = input.as_standard_layout();
        let xs = rows(&std_input, r, d)?;
        let g = single(dy)?.as_standard_layout();
        let gs = g.as_slice().ok_or("gradient not contiguous")?;
        let mut dx = ArrayD::<f32>::zeros(input.raw_dim());
        let dxs = dx.as_slice_mut().ok_or("gradient not contiguous")?;
        let (mut dscale, mut dbias) = (vec![0.0f64; d], vec![0.0f64; d]);
        let mut xhat = vec![0.0f32; d];
        for (i, row) in xs.outer_iter().enumerate() {
            let inv = standardize(
                row.as_slice().ok_or("row not contiguous")?,
                self.epsilon,
                &mut xhat,
            );
            let gr = &gs[i * d..(i + 1) * d];
            let (mut m1, mut m2) = (0.0f64, 0.0f64);
            for j in 0..d {
                dscale[j] += (gr[j] * xhat[j]) as f64;
                dbias[j] += gr[j] as f64;
                let gh = (gr[j] * scale[j]) as f64;
                m1 += gh;
                m2 += gh * xhat[j] as f64;
            }
            let (m1, m2) = ((m1 / d as f64) as f32, (m2 / d as f64) as f32);
            for j in 0..d {
                dxs[i * d + j] = inv * (gr[j] * scale[j] - m1 - xhat[j] * m2);
            }
        }
        let param = |i: usize, v: Vec<f64>| -> OpResult<Option<ArrayD<f32>>> {
            match (need.get(i).copied().unwrap_or(false), x.opt_f32(i)?) {
                (true, Some(p)) => {
                    let a = attrs::axis(self.axis, input.ndim())?;
                    let norm_shape = IxDyn(&input.shape()[a..]);
                    let full =
                        ArrayD::from_shape_vec(norm_shape, v.iter().map(|&v| v as f32).collect())
                            .map_err(|e| e.to_string())?;
                    Ok(Some(super::broadcast::unbroadcast(full.view(), p.shape())))
                }
                _ => Ok(None),
            }
        };
        Ok(vec![
            need[0].then_some(dx),
            param(1, dscale)?,
            param(2, dbias)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn backward_matches_finite_differences() {
        let node = NodeSpec::new("LayerNormalization", "ln", &["x", "s", "b"], &["y"])
            .with_attr("epsilon", Attr::Float(1e-6));
        Case::node(node)
            .input("x", &[2, 3, 6], 1)
            .param("s", &[6], 2)
            .param("b", &[6], 3)
            .check();
        let node = NodeSpec::new("LayerNormalization", "ln", &["x", "s"], &["y"])
            .with_attr("axis", Attr::Int(1));
        Case::node(node)
            .input("x", &[2, 3, 4], 4)
            .param("s", &[3, 4], 5)
            .check();
    }
}
