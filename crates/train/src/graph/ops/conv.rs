//! `Conv` (2-D): any `group` (depthwise included), strides, pads, dilations, `auto_pad`.
//!
//! Per image and group: `Y = W·cols` forward; backward `dW += dY·colsᵀ` and
//! `dX = col2im(Wᵀ·dY)`, the columns rebuilt rather than kept from forward (they would be
//! kh·kw times the size of the input, per layer, for the whole batch). A 1×1 unit-stride conv
//! (MobileNet's pointwise layers) uses the image itself as its column matrix.

use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, Axis, IxDyn, ShapeBuilder};

use super::attrs;
use super::im2col::{Geometry, col2im, im2col};
use super::im2row::{
    MIN_CHANNELS, from_channels_last, im2row, row2im, to_channel_major, to_channels_last,
    to_row_major_taps,
};
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};
use crate::parallel;
use edge_ssl_core::{gemm, gemm_overwrite};

#[derive(Debug)]
pub(crate) struct Conv {
    group: usize,
    strides: [usize; 2],
    dilations: [usize; 2],
    /// top, left, bottom, right (ONNX order: begins then ends).
    pads: [usize; 4],
    auto_pad: String,
}

/// Column and gather buffers kept between calls, one set per worker thread (see
/// [`parallel`](crate::parallel)), shared by every conv (they run one at a time): reallocating
/// tens of MB per layer and step cost more in page faults than the copies they hold, and one
/// set per worker (at most 4 × 8 MB and one image, see [`chunk`]) bounds what stays allocated
/// however many convs a graph has.
static SCRATCH: std::sync::Mutex<Vec<[Vec<f32>; 5]>> = std::sync::Mutex::new(Vec::new());

/// Buffer `slot` of `worker`'s set, at least `len` long (callers use its first `len` values).
/// It only grows: convs of different sizes take turns with the same buffers, and shrinking
/// it to each one's size made the next larger one zero the difference again.
fn buffer(worker: usize, slot: usize, len: usize) -> Vec<f32> {
    let mut v = SCRATCH
        .lock()
        .map(|mut sets| {
            sets.get_mut(worker)
                .map(|set| std::mem::take(&mut set[slot]))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if v.len() < len {
        v.resize(len, 0.0);
    }
    v
}

fn give_back(worker: usize, slot: usize, v: Vec<f32>) {
    if let Ok(mut sets) = SCRATCH.lock() {
        if sets.len() <= worker {
            sets.resize_with(worker + 1, Default::default);
        }
        sets[worker][slot] = v;
    }
}

fn pair(v: Option<Vec<i64>>, what: &str) -> OpResult<[usize; 2]> {
    match v.as_deref() {
        None => Ok([1, 1]),
        Some([a, b]) if *a >= 1 && *b >= 1 => Ok([*a as usize, *b as usize]),
        Some(v) => Err(format!(
            "{what} {v:?}: only 2-D convolutions with positive {what} are supported"
        )),
    }
}

impl Conv {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        let pads = match attrs::ints(node, "pads")?.as_deref() {
            None => [0; 4],
            Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
            }
            Some(p) => return Err(format!("pads {p:?}: need 4 non-negative values")),
        };
        let auto_pad = attrs::string(node, "auto_pad", "NOTSET")?;
        if !matches!(
            auto_pad.as_str(),
            "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER"
        ) {
            return Err(format!("auto_pad {auto_pad:?} is not an ONNX value"));
        }
        let group = attrs::int(node, "group", 1)?;
        if group < 1 {
            return Err(format!("group {group} must be positive"));
        }
        Ok(Conv {
            group: group as usize,
            strides: pair(attrs::ints(node, "strides")?, "strides")?,
            dilations: pair(attrs::ints(node, "dilations")?, "dilations")?,
            pads,
            auto_pad,
        })
    }

    /// Geometry of one group of one image, and the output shape.
    fn geometry(&self, x: &[usize], w: &[usize]) -> OpResult<(Geometry, [usize; 4])> {
        let ([n, c, h, wd], [o, cg, kh, kw]) = match (x, w) {
            ([n, c, h, wd], [o, cg, kh, kw]) => ([*n, *c, *h, *wd], [*o, *cg, *kh, *kw]),
            _ => {
                return Err(format!(
                    "input {x:?} and weight {w:?} must both be 4-D (2-D convolution)"
                ));
            }
        };
        let g = self.group;
        if c != cg * g || o % g != 0 || kh == 0 || kw == 0 {
            return Err(format!(
                "input {x:?}, weight {w:?} and group {g} do not fit"
            ));
        }
        let extent = |k: usize, d: usize| d * (k - 1) + 1;
        let (ek, size) = (
            [extent(kh, self.dilations[0]), extent(kw, self.dilations[1])],
            [h, wd],
        );
        let mut pad = [self.pads[0], self.pads[1]];
        let mut out = [0; 2];
        for a in 0..2 {
            let s = self.strides[a];
            let total = match self.auto_pad.as_str() {
                "VALID" => {
                    pad[a] = 0;
                    0
                }
                "SAME_UPPER" | "SAME_LOWER" => {
                    let want = size[a].div_ceil(s);
                    let total = ((want - 1) * s + ek[a]).saturating_sub(size[a]);
                    pad[a] = if self.auto_pad == "SAME_UPPER" {
                        total / 2
                    } else {
                        total - total / 2
                    };
                    total
                }
                _ => self.pads[a] + self.pads[a + 2],
            };
            if size[a] + total < ek[a] {
                return Err(format!(
                    "kernel {:?} does not fit input {x:?} with its padding",
                    [kh, kw]
                ));
            }
            out[a] = (size[a] + total - ek[a]) / s + 1;
        }
        let geo = Geometry {
            channels: cg,
            height: h,
            width: wd,
            kernel: [kh, kw],
            stride: self.strides,
            dilation: self.dilations,
            pad,
            out,
        };
        Ok((geo, [n, o, out[0], out[1]]))
    }
}

/// Images per GEMM: enough columns (≥ 512) to amortize packing, at most 2 M floats of columns
/// (per worker thread). Fixed by the shapes alone, never by the thread count: the weight
/// gradient sums chunk by chunk, and the chunks must be the same on every machine.
/// A pointwise conv with large images multiplies the images in place instead (no copy).
fn chunk(geo: &Geometry, n: usize) -> usize {
    let p = geo.cols().max(1);
    if geo.is_pointwise() && p >= 256 {
        return 1;
    }
    let cap = (2 << 20) / (geo.rows() * p).max(1);
    512usize.div_ceil(p).min(cap).clamp(1, n.max(1))
}

/// Forward splits the images into this many parts, which the threads take one at a time:
/// images are independent there (no sum across them, unlike the weight gradient's lanes), so
/// any split gives the same bits, and small parts keep both threads busy to the end.
const FORWARD_PARTS: usize = 16;

/// Everything forward and backward share about one call.
struct Plan<'a> {
    geo: Geometry,
    shape: [usize; 4],
    groups: usize,
    og: usize,
    p: usize,
    image: usize,
    nb: usize,
    direct: bool,
    xs: &'a [f32],
}

impl Plan<'_> {
    /// The column matrix of images `n0..n0 + cnt`, group `k`: `rows × cnt·p`, rows `ld` apart.
    fn columns<'c>(
        &self,
        n0: usize,
        cnt: usize,
        k: usize,
        cols: &'c mut [f32],
    ) -> OpResult<ArrayView2<'c, f32>>
    where
        Self: 'c,
    {
        let rows = self.geo.rows();
        if self.direct {
            let idx = n0 * self.groups + k;
            let src = &self.xs[idx * self.image..(idx + 1) * self.image];
            return ArrayView2::from_shape((rows, self.p), src).map_err(|e| e.to_string());
        }
        let ld = self.nb * self.p;
        for s in 0..cnt {
            let idx = (n0 + s) * self.groups + k;
            im2col(
                &self.geo,
                &self.xs[idx * self.image..(idx + 1) * self.image],
                &mut cols[s * self.p..],
                ld,
            );
        }
        ArrayView2::from_shape(
            (rows, cnt * self.p).strides((ld, 1)),
            &cols[..(rows - 1) * ld + cnt * self.p],
        )
        .map_err(|e| e.to_string())
    }

    /// The transpose of [`Plan::columns`], rows permuted (see [`im2row`]): `cnt·p × rows`,
    /// built through the channels-last copy `hwc` (one image).
    fn rows_of<'c>(
        &self,
        n0: usize,
        cnt: usize,
        k: usize,
        out: &'c mut [f32],
        hwc: &mut [f32],
    ) -> OpResult<ArrayView2<'c, f32>> {
        let len = self.geo.rows() * self.p;
        for s in 0..cnt {
            let idx = (n0 + s) * self.groups + k;
            to_channels_last(
                &self.geo,
                &self.xs[idx * self.image..(idx + 1) * self.image],
                &mut hwc[..self.image],
            );
            im2row(
                &self.geo,
                &hwc[..self.image],
                &mut out[s * len..(s + 1) * len],
            );
        }
        ArrayView2::from_shape((cnt * self.p, self.geo.rows()), &out[..cnt * len])
            .map_err(|e| e.to_string())
    }

    /// Offset of `(image, channel)` in an `N × O × p` tensor.
    fn at(&self, n: usize, k: usize, o: usize) -> usize {
        (n * self.shape[1] + k * self.og + o) * self.p
    }

    /// Forward for images `lane`, into `out` (their outputs, `lane.len() × O × p`), every value
    /// of which it writes when it returns `Ok`.
    fn forward_images(
        &self,
        lane: Range<usize>,
        out: &mut [MaybeUninit<f32>],
        w2: ArrayView2<'_, f32>,
        og: usize,
        worker: usize,
    ) -> OpResult<()> {
        let (p, nb, rows) = (self.p, self.nb, self.geo.rows());
        let mut cols = buffer(worker, 0, if self.direct { 0 } else { rows * nb * p });
        let mut ybuf = buffer(worker, 1, if nb > 1 { og * nb * p } else { 0 });
        let mut step = || -> OpResult<()> {
            for n0 in lane.clone().step_by(nb) {
                let cnt = nb.min(lane.end - n0);
                for k in 0..self.groups {
                    let colv = self.columns(n0, cnt, k, &mut cols)?;
                    let wk = w2.slice(ndarray::s![k * og..(k + 1) * og, ..]);
                    if cnt == 1 {
                        let at = self.at(n0 - lane.start, k, 0);
                        gemm_overwrite(1.0, wk, colv, &mut out[at..at + og * p]);
                        continue;
                    }
                    let width = cnt * p;
                    let y = ArrayViewMut2::from_shape((og, width), &mut ybuf[..og * width])
                        .map_err(|e| e.to_string())?;
                    gemm(1.0, wk, colv, 0.0, y);
                    for s in 0..cnt {
                        for o in 0..og {
                            let at = self.at(n0 + s - lane.start, k, o);
                            let from = &ybuf[o * width + s * p..o * width + (s + 1) * p];
                            for (y, &v) in out[at..at + p].iter_mut().zip(from) {
                                y.write(v);
                            }
                        }
                    }
                }
            }
            Ok(())
        };
        let result = step();
        give_back(worker, 0, cols);
        give_back(worker, 1, ybuf);
        result
    }

    /// Backward for images `lane`: their input gradients into `dx` (`lane.len()` images), and
    /// with `need_w` this lane's sum of the weight gradient (`O × rows`).
    #[allow(clippy::too_many_arguments)]
    fn backward_images(
        &self,
        lane: Range<usize>,
        dys: &[f32],
        mut dx: Option<&mut [f32]>,
        need_w: bool,
        w2: ArrayView2<'_, f32>,
        wtaps: Option<ArrayView2<'_, f32>>,
        og: usize,
        worker: usize,
    ) -> OpResult<Option<ndarray::Array2<f32>>> {
        if lane.is_empty() {
            return Ok(None);
        }
        let (p, nb, rows) = (self.p, self.nb, self.geo.rows());
        let need_x = dx.is_some();
        let mut dw = need_w.then(|| ndarray::Array2::<f32>::zeros((self.shape[1], rows)));
        let direct = self.direct;
        // The weight gradient's right operand: the image itself when `direct`; with 16 channels
        // per group or more, [`im2row`]'s rows (the gradient's columns then in `(i, j, c)` order
        // until the end), and the input gradient goes through rows too; otherwise im2col's
        // columns and col2im, as runs of one channel gain nothing (see [`MIN_CHANNELS`]).
        let rowwise = !direct && self.geo.channels >= MIN_CHANNELS;
        let by_rows = need_w && rowwise;
        let mut cols = buffer(worker, 0, if need_w && !direct { rows * nb * p } else { 0 });
        let mut hwc = buffer(worker, 4, if rowwise { self.image } else { 0 });
        let mut dcols = buffer(worker, 2, if need_x && !direct { rows * nb * p } else { 0 });
        let mut dybuf = buffer(worker, 3, if nb > 1 { og * nb * p } else { 0 });
        let mut step = || -> OpResult<()> {
            for n0 in lane.clone().step_by(nb) {
                let cnt = nb.min(lane.end - n0);
                let width = cnt * p;
                for k in 0..self.groups {
                    let dyv = if cnt == 1 {
                        let at = self.at(n0, k, 0);
                        ArrayView2::from_shape((og, p), &dys[at..at + og * p])
                    } else {
                        for s in 0..cnt {
                            for o in 0..og {
                                let at = self.at(n0 + s, k, o);
                                dybuf[o * width + s * p..o * width + (s + 1) * p]
                                    .copy_from_slice(&dys[at..at + p]);
                            }
                        }
                        ArrayView2::from_shape((og, width), &dybuf[..og * width])
                    }
                    .map_err(|e| e.to_string())?;
                    if let Some(dw) = &mut dw {
                        let block = dw.slice_mut(ndarray::s![k * og..(k + 1) * og, ..]);
                        if by_rows {
                            let rowv = self.rows_of(n0, cnt, k, &mut cols, &mut hwc)?;
                            gemm(1.0, dyv, rowv, 1.0, block);
                        } else {
                            let colv = self.columns(n0, cnt, k, &mut cols)?;
                            gemm(1.0, dyv, colv.t(), 1.0, block);
                        }
                    }
                    let Some(dxs) = dx.as_deref_mut() else {
                        continue;
                    };
                    let wk = w2.slice(ndarray::s![k * og..(k + 1) * og, ..]);
                    if direct {
                        let idx = (n0 - lane.start) * self.groups + k;
                        let dst = &mut dxs[idx * self.image..(idx + 1) * self.image];
                        let out =
                            ArrayViewMut2::from_shape((rows, p), dst).map_err(|e| e.to_string())?;
                        gemm(1.0, wk.t(), dyv, 0.0, out);
                        continue;
                    }
                    let Some(wtaps) = wtaps else {
                        // Few channels per group: `Wᵀ·dY`, folded back by col2im.
                        let out =
                            ArrayViewMut2::from_shape((rows, width), &mut dcols[..rows * width])
                                .map_err(|e| e.to_string())?;
                        gemm(1.0, wk.t(), dyv, 0.0, out);
                        for s in 0..cnt {
                            let idx = (n0 + s - lane.start) * self.groups + k;
                            let dst = &mut dxs[idx * self.image..(idx + 1) * self.image];
                            // Already zero, but written before col2im adds into it: a large
                            // gradient's fresh pages read as the shared zero page, so the first
                            // `+=` on each page faulted twice, and the copy-on-write fault
                            // flushed the page from every core's TLB, interrupting the other
                            // threads (7 % of a step of the bundled encoder at batch 512).
                            dst.fill(0.0);
                            col2im(&self.geo, &mut dcols[s * p..], width, dst);
                        }
                        continue;
                    };
                    // The columns' gradient as rows (`width × rows`, `(i, j, c)` order): both
                    // operands pack in contiguous runs, and each row folds back into the image
                    // by runs of `C` contiguous values (row2im), where col2im added single
                    // values at the stride of strided layers. The same sums in the same order
                    // as `Wᵀ·dY` then col2im, so the same bits.
                    let wt = wtaps.slice(ndarray::s![k * og..(k + 1) * og, ..]);
                    let out = ArrayViewMut2::from_shape((width, rows), &mut dcols[..rows * width])
                        .map_err(|e| e.to_string())?;
                    gemm(1.0, dyv.t(), wt, 0.0, out);
                    let len = rows * p;
                    for s in 0..cnt {
                        let idx = (n0 + s - lane.start) * self.groups + k;
                        let dst = &mut dxs[idx * self.image..(idx + 1) * self.image];
                        let acc = &mut hwc[..self.image];
                        acc.fill(0.0);
                        row2im(&self.geo, &dcols[s * len..(s + 1) * len], acc);
                        // Assigned, not added: fresh pages fault once (see col2im above).
                        from_channels_last(&self.geo, acc, dst);
                    }
                }
            }
            Ok(())
        };
        let result = step();
        give_back(worker, 0, cols);
        give_back(worker, 2, dcols);
        give_back(worker, 3, dybuf);
        give_back(worker, 4, hwc);
        result?;
        match dw {
            Some(dw) if by_rows => {
                let mut out = ndarray::Array2::<f32>::zeros(dw.raw_dim());
                let (src, dst) = (dw.as_slice(), out.as_slice_mut());
                to_channel_major(
                    &self.geo,
                    src.ok_or("gradient not contiguous")?,
                    dst.ok_or("gradient not contiguous")?,
                );
                Ok(Some(out))
            }
            dw => Ok(dw),
        }
    }
}

impl Conv {
    fn plan<'a>(&self, input: &'a [f32], x: &[usize], w: &[usize]) -> OpResult<Plan<'a>> {
        let (geo, shape) = self.geometry(x, w)?;
        let nb = chunk(&geo, shape[0]);
        Ok(Plan {
            geo,
            shape,
            groups: self.group,
            og: shape[1] / self.group,
            p: geo.cols(),
            image: geo.channels * geo.height * geo.width,
            nb,
            direct: nb == 1 && geo.is_pointwise(),
            xs: input,
        })
    }
}

impl Op for Conv {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let (input, weight) = (x.f32(0)?, x.f32(1)?);
        let input = input.as_standard_layout();
        let weight = weight.as_standard_layout();
        let plan = self.plan(
            input.as_slice().ok_or("input not contiguous")?,
            input.shape(),
            weight.shape(),
        )?;
        let (shape, og, p) = (plan.shape, plan.og, plan.p);
        let bias = x.opt_f32(2)?;
        if let Some(b) = &bias
            && b.shape() != [shape[1]]
        {
            return Err(format!("bias {:?} must be [{}]", b.shape(), shape[1]));
        }
        // The weights as a column-major view of a transposed copy: the GEMM packs them in
        // contiguous runs instead of one value at a time, once per chunk of images (same
        // packed values, so the same results).
        let wt = weight
            .view()
            .into_shape_with_order((shape[1], plan.geo.rows()))
            .map_err(|e| e.to_string())?
            .t()
            .as_standard_layout()
            .into_owned();
        let w2 = wt.t();
        // Not zeroed first: the lanes below write every value (`forward_images`).
        let len: usize = shape.iter().product();
        let mut y = Vec::<f32>::with_capacity(len);
        // Images are independent: each lane writes its own images' outputs.
        let per_image = shape[1] * p;
        let mut rest = &mut y.spare_capacity_mut()[..len];
        let mut items = Vec::with_capacity(FORWARD_PARTS);
        for lane in parallel::parts(shape[0], FORWARD_PARTS) {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(lane.len() * per_image);
            items.push((lane, mine));
            rest = tail;
        }
        parallel::run(items, |worker, (lane, out)| {
            plan.forward_images(lane, out, w2, og, worker)
        })
        .into_iter()
        .collect::<OpResult<()>>()?;
        // SAFETY: the lanes cover the `len` values (`parts` splits all images, each lane's
        // slice is its images' outputs) and every lane returned `Ok`, so wrote all of its own.
        unsafe { y.set_len(len) };
        let mut y = ArrayD::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())?;
        if let Some(b) = bias {
            for (mut plane, &bv) in y.axis_iter_mut(Axis(1)).zip(b.iter()) {
                plane += bv;
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
        let (input, weight) = (x.f32(0)?, x.f32(1)?);
        let input = input.as_standard_layout();
        let weight = weight.as_standard_layout();
        let plan = self.plan(
            input.as_slice().ok_or("input not contiguous")?,
            input.shape(),
            weight.shape(),
        )?;
        let (shape, og, p, rows) = (plan.shape, plan.og, plan.p, plan.geo.rows());
        let dy = single(dy)?.as_standard_layout();
        let dys = dy.as_slice().ok_or("gradient not contiguous")?;
        let w2 = weight
            .view()
            .into_shape_with_order((shape[1], rows))
            .map_err(|e| e.to_string())?;
        let (need_x, need_w) = (need[0], need.get(1).copied().unwrap_or(false));
        let mut dx = need_x.then(|| ArrayD::<f32>::zeros(input.raw_dim()));
        // Each lane: its images' input gradients (disjoint), and its own sum of the weight
        // gradient; the lanes' sums are added in lane order (see `parallel`).
        let mut rest = match &mut dx {
            Some(dx) => Some(dx.as_slice_mut().ok_or("gradient not contiguous")?),
            None => None,
        };
        let mut items = Vec::with_capacity(parallel::LANES);
        for lane in parallel::parts(shape[0], parallel::LANES) {
            let mine = match rest.take() {
                Some(r) => {
                    let (mine, tail) = r.split_at_mut(lane.len() * plan.groups * plan.image);
                    rest = Some(tail);
                    Some(mine)
                }
                None => None,
            };
            items.push((lane, mine));
        }
        // The weights with each row in row2im's `(i, j, c)` order, for the input gradient.
        let wtaps = match need_x && !plan.direct && plan.geo.channels >= MIN_CHANNELS {
            true => {
                let mut t = ndarray::Array2::<f32>::zeros(w2.raw_dim());
                let src = weight.as_slice().ok_or("weights not contiguous")?;
                let dst = t.as_slice_mut().ok_or("weights not contiguous")?;
                to_row_major_taps(&plan.geo, src, dst);
                Some(t)
            }
            false => None,
        };
        let wtaps = wtaps.as_ref().map(|t| t.view());
        let mut dw: Option<ndarray::Array2<f32>> = None;
        for part in parallel::run(items, |worker, (lane, dx)| {
            plan.backward_images(lane, dys, dx, need_w, w2, wtaps, og, worker)
        }) {
            if let Some(part) = part? {
                match &mut dw {
                    Some(sum) => *sum += &part,
                    None => dw = Some(part),
                }
            }
        }
        let dw = match (need_w, dw) {
            (true, None) => Some(ndarray::Array2::<f32>::zeros((shape[1], rows))),
            (_, dw) => dw,
        };
        let dw = dw
            .map(|d| {
                d.into_shape_with_order(IxDyn(weight.shape()))
                    .map_err(|e| e.to_string())
            })
            .transpose()?;
        let db = (x.get(2).is_some() && need.get(2).copied().unwrap_or(false)).then(|| {
            dy.sum_axis(Axis(0))
                .into_shape_with_order((shape[1], p))
                .expect("contiguous sum")
                .sum_axis(Axis(1))
                .into_dyn()
        });
        Ok(vec![dx, dw, db])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    fn conv(attrs: &[(&str, Attr)], bias: bool) -> NodeSpec {
        let inputs: &[&str] = if bias { &["x", "w", "b"] } else { &["x", "w"] };
        attrs.iter().fold(
            NodeSpec::new("Conv", "conv", inputs, &["y"]),
            |n, (k, v)| n.with_attr(k, v.clone()),
        )
    }

    /// Outputs and gradients are the same bit for bit on 1 and 4 threads, for image counts
    /// that split evenly into lanes and that do not, with images batched per GEMM (small
    /// outputs) and one image per GEMM.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let node = conv(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))], true);
        for (n, side) in [(7, 6), (9, 24), (2, 5)] {
            let case = Case::node(node.clone())
                .input("x", &[n, 3, side, side], 1)
                .param("w", &[5, 3, 3, 3], 2)
                .param("b", &[5], 3);
            case.check_thread_independent(4);
        }
    }

    /// 16 channels per group and more: the weight and input gradients go through channels-
    /// last rows (`im2row`), on a strided, padded conv and a grouped one; and the results
    /// still do not depend on the thread count.
    #[test]
    fn row_path_gradients() {
        let node = conv(
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ],
            true,
        );
        let case = Case::node(node)
            .input("x", &[2, 16, 7, 6], 21)
            .param("w", &[3, 16, 3, 3], 22)
            .param("b", &[3], 23);
        case.check_thread_independent(4);
        case.check();
        let node = conv(
            &[
                ("pads", Attr::Ints(vec![1, 0, 1, 2])),
                ("group", Attr::Int(2)),
            ],
            false,
        );
        Case::node(node)
            .input("x", &[3, 32, 4, 5], 24)
            .param("w", &[4, 16, 3, 2], 25)
            .check();
    }

    #[test]
    fn plain_3x3_with_bias() {
        let node = conv(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))], true);
        Case::node(node)
            .input("x", &[2, 3, 5, 6], 1)
            .param("w", &[4, 3, 3, 3], 2)
            .param("b", &[4], 3)
            .check();
    }

    #[test]
    fn strided_dilated_grouped_asymmetric_pads() {
        let node = conv(
            &[
                ("strides", Attr::Ints(vec![2, 1])),
                ("dilations", Attr::Ints(vec![1, 2])),
                ("pads", Attr::Ints(vec![1, 0, 0, 2])),
                ("group", Attr::Int(2)),
            ],
            false,
        );
        Case::node(node)
            .input("x", &[2, 4, 7, 6], 4)
            .param("w", &[6, 2, 3, 3], 5)
            .check();
    }

    #[test]
    fn depthwise_stride_2() {
        let node = conv(
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("group", Attr::Int(3)),
            ],
            true,
        );
        Case::node(node)
            .input("x", &[2, 3, 6, 6], 6)
            .param("w", &[3, 1, 3, 3], 7)
            .param("b", &[3], 8)
            .check();
    }

    #[test]
    fn pointwise_and_same_upper() {
        Case::node(conv(&[], false))
            .input("x", &[2, 5, 3, 4], 9)
            .param("w", &[3, 5, 1, 1], 10)
            .check();
        let node = conv(
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("auto_pad", Attr::String("SAME_UPPER".into())),
            ],
            false,
        );
        let mut g = Case::node(node.clone())
            .input("x", &[1, 2, 5, 5], 11)
            .param("w", &[2, 2, 2, 2], 12);
        assert_eq!(
            g.build()
                .forward(vec![g.inputs[0].1.clone()], false)
                .unwrap()[0]
                .shape(),
            &[1, 2, 3, 3]
        );
        g.inputs[0].1 = crate::graph::check::random(&[1, 2, 6, 5], 13);
        g.check();
    }

    /// 16×16 outputs: two images per GEMM with a last chunk of one (3 images), and a pointwise
    /// conv that multiplies the images in place.
    #[test]
    fn chunked_and_in_place_paths() {
        Case::node(conv(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))], false))
            .input("x", &[3, 2, 16, 16], 14)
            .param("w", &[2, 2, 3, 3], 15)
            .check();
        Case::node(conv(&[], true))
            .input("x", &[2, 3, 16, 16], 16)
            .param("w", &[2, 3, 1, 1], 17)
            .param("b", &[2], 18)
            .check();
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let mut g = Case::node(conv(&[("group", Attr::Int(2))], false))
            .input("x", &[1, 3, 4, 4], 1)
            .param("w", &[2, 2, 3, 3], 2)
            .build();
        let err = g
            .forward(vec![crate::graph::check::random(&[1, 3, 4, 4], 1)], true)
            .unwrap_err();
        assert!(err.to_string().contains("conv (Conv)"), "{err}");
        let mut g = Case::node(conv(&[], false))
            .input("x", &[1, 2, 2, 2], 1)
            .param("w", &[2, 2, 3, 3], 2)
            .build();
        assert!(
            g.forward(vec![crate::graph::check::random(&[1, 2, 2, 2], 1)], true)
                .is_err()
        );
    }
}
