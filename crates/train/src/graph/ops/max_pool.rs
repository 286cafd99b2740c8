//! `MaxPool` (2-D, `ceil_mode = 0`): ResNet's stem. Forward remembers where each maximum came
//! from; backward routes `dy` there (ties: the first in the window, as PyTorch's CPU kernel).

use ndarray::{ArrayD, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};

#[derive(Debug)]
pub(crate) struct MaxPool {
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    /// Per output element, the flat index of its maximum within its input plane.
    argmax: Vec<u32>,
}

fn pair(v: Option<Vec<i64>>, default: usize, what: &str) -> OpResult<[usize; 2]> {
    match v.as_deref() {
        None => Ok([default; 2]),
        Some([a, b]) if *a >= 1 && *b >= 1 => Ok([*a as usize, *b as usize]),
        Some(v) => Err(format!("{what} {v:?}: only 2-D pooling is supported")),
    }
}

impl MaxPool {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        if attrs::int(node, "ceil_mode", 0)? != 0 {
            return Err("ceil_mode = 1 is not supported".into());
        }
        let auto_pad = attrs::string(node, "auto_pad", "NOTSET")?;
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return Err(format!("auto_pad {auto_pad} is not supported"));
        }
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("the Indices output is not supported".into());
        }
        let pads = match attrs::ints(node, "pads")?.as_deref() {
            None => [0; 4],
            Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
            }
            Some(p) => return Err(format!("pads {p:?}: need 4 non-negative values")),
        };
        Ok(MaxPool {
            kernel: pair(attrs::ints(node, "kernel_shape")?, 0, "kernel_shape").and_then(|k| {
                if k[0] == 0 {
                    Err("kernel_shape is required".into())
                } else {
                    Ok(k)
                }
            })?,
            strides: pair(attrs::ints(node, "strides")?, 1, "strides")?,
            dilations: pair(attrs::ints(node, "dilations")?, 1, "dilations")?,
            pads,
            argmax: Vec::new(),
        })
    }

    fn out(&self, h: usize, w: usize) -> OpResult<[usize; 2]> {
        let mut out = [0; 2];
        for (a, size) in [h, w].into_iter().enumerate() {
            let extent = self.dilations[a] * (self.kernel[a] - 1) + 1;
            let total = size + self.pads[a] + self.pads[a + 2];
            if total < extent {
                return Err(format!(
                    "window {:?} larger than the padded input",
                    self.kernel
                ));
            }
            out[a] = (total - extent) / self.strides[a] + 1;
        }
        Ok(out)
    }
}

impl Op for MaxPool {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.f32(0)?;
        let &[n, c, h, w] = input.shape() else {
            return Err(format!("input {:?} must be N × C × H × W", input.shape()));
        };
        let [oh, ow] = self.out(h, w)?;
        let input = input.as_standard_layout();
        let xs = input.as_slice().ok_or("input not contiguous")?;
        let mut y = ArrayD::<f32>::zeros(IxDyn(&[n, c, oh, ow]));
        let ys = y.as_slice_mut().ok_or("output not contiguous")?;
        self.argmax.clear();
        self.argmax.reserve(ys.len());
        for plane in 0..n * c {
            let src = &xs[plane * h * w..(plane + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut at) = (f32::NEG_INFINITY, u32::MAX);
                    for i in 0..self.kernel[0] {
                        let iy = (oy * self.strides[0] + i * self.dilations[0])
                            .wrapping_sub(self.pads[0]);
                        if iy >= h {
                            continue;
                        }
                        for j in 0..self.kernel[1] {
                            let ix = (ox * self.strides[1] + j * self.dilations[1])
                                .wrapping_sub(self.pads[1]);
                            if ix < w && (src[iy * w + ix] > best || at == u32::MAX) {
                                best = src[iy * w + ix];
                                at = (iy * w + ix) as u32;
                            }
                        }
                    }
                    ys[(plane * oh + oy) * ow + ox] = best;
                    self.argmax.push(at);
                }
            }
        }
        Ok(vec![Tensor::F32(y)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let g = single(dy)?.as_standard_layout();
        let gs = g.as_slice().ok_or("gradient not contiguous")?;
        if gs.len() != self.argmax.len() {
            return Err("backward does not match the last forward".into());
        }
        let (h, w) = (input.shape()[2], input.shape()[3]);
        let per_plane = gs.len() / (input.shape()[0] * input.shape()[1]).max(1);
        let mut dx = ArrayD::<f32>::zeros(input.raw_dim());
        let dxs = dx.as_slice_mut().ok_or("gradient not contiguous")?;
        for (k, (&gv, &at)) in gs.iter().zip(&self.argmax).enumerate() {
            if at != u32::MAX {
                dxs[(k / per_plane) * h * w + at as usize] += gv;
            }
        }
        Ok(vec![Some(dx)])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn resnet_stem_pool() {
        let node = NodeSpec::new("MaxPool", "pool", &["x"], &["y"])
            .with_attr("kernel_shape", Attr::Ints(vec![3, 3]))
            .with_attr("strides", Attr::Ints(vec![2, 2]))
            .with_attr("pads", Attr::Ints(vec![1, 1, 1, 1]));
        let c = Case::node(node).input("x", &[2, 3, 7, 6], 1);
        assert_eq!(
            c.build()
                .forward(vec![c.inputs[0].1.clone()], false)
                .unwrap()[0]
                .shape(),
            &[2, 3, 4, 3]
        );
        c.check();
    }
}
