//! An AVX2+FMA depthwise convolution for tract on x86_64.
//!
//! tract 0.23 has a vector kernel for depthwise convs only on aarch64 and wasm; on x86_64 its
//! `DepthWise` runs generic Rust built for baseline x86-64, a scalar or SSE loop: even with the
//! channel-last moves of [`super::rewrite`], MobileNetV3-Small spent 2.1–2.8 of 5.4–7.5 ms
//! per run in its eleven depthwise convs (224×224, batch 1, one thread). [`AvxDepthwise`] is the
//! same conv, f32, with its weights and bias folded in, computed by kernels compiled with
//! `#[target_feature(enable = "avx2,fma")]`: NCHW plane by plane in [`plane`] (any stride,
//! dilation, padding), channel-last in [`hwc`]. [`replace_depthwise`] puts it in place of the
//! depthwise `Conv`s of a decluttered model, only where `is_x86_feature_detected!` finds AVX2 and
//! FMA (never off x86_64); elsewhere, and for anything it does not take (quantized, grouped,
//! symbolic shapes, weights not constant), tract's own path runs. `rewrite::optimize` calls it,
//! and falls back to the plain plan on any failure.
//!
//! Measured with `target/release/examples/tract_profile MODEL C H W BATCH THREADS RUNS`
//! (`NO_REWRITE=1`: tract's plain plan; "before": the channel-last moves alone), alternated runs,
//! another job on the second of two cores (its load moved all figures by ~30% between rounds):
//! MobileNetV3-Small batch 1, one thread, 30 runs: plain 7.1–9.3 ms per run (fastest 6.6–9.0),
//! before 5.3–7.2 (fastest 5.0–6.7), after 3.4–4.9 (fastest 3.2–4.7); depthwise 2.1–2.8 ms →
//! 0.7–1.0 ms, with no moves left. Batch 4, 10 runs: one thread 51–60 → 39 ms (fastest 48–51 →
//! 37), two threads 59–63 → 54–57 ms (fastest 57–59 → 49–52). Outputs against the plain plan on
//! random input: max abs diff 3e-6 (batch 1) and 5e-6 (batch 4, two threads), outputs up to 5.
//! The bundled encoder (0.46–0.59 ms) and ResNet-18 (50–61 ms) have no depthwise conv and keep the
//! plan they had.

mod hwc;
mod plane;

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::conv::Conv;
use tract_onnx::tract_core::ops::nn::DataFormat;

use plane::Geometry;

/// A depthwise f32 conv on NCHW data with its weights and bias, run by an AVX2+FMA kernel.
#[derive(Debug, Clone)]
pub(crate) struct AvxDepthwise {
    geo: Geometry,
    /// `[C, kh*kw]`.
    weights: Arc<[f32]>,
    bias: Arc<[f32]>,
}

impl PartialEq for AvxDepthwise {
    fn eq(&self, other: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        self.geo == other.geo
            && bits(&self.weights) == bits(&other.weights)
            && bits(&self.bias) == bits(&other.bias)
    }
}

impl Eq for AvxDepthwise {}

impl Op for AvxDepthwise {
    fn name(&self) -> StaticName {
        "AvxDepthwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.geo)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for AvxDepthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs[0].try_as_plain_ram()?;
        let x = input.as_slice::<f32>()?;
        let g = &self.geo;
        ensure!(x.len() == g.n * g.c * g.h * g.w, "AvxDepthwise: input size");
        let mut output = Tensor::zero::<f32>(&g.out_shape)?;
        let mut out_view = output.try_as_plain_ram_mut()?;
        let y = out_view.as_slice_mut::<f32>()?;
        // SAFETY: the op is only built where AVX2 and FMA were detected.
        unsafe {
            if g.channel_last {
                g.run_hwc(&self.weights, &self.bias, x, y)
            } else {
                g.run(&self.weights, &self.bias, x, y)
            }
        };
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for AvxDepthwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type());
        Ok(tvec!(f32::fact(&*self.geo.out_shape)))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let g = &self.geo;
        let fmas = g.n * g.c * g.oh * g.ow * g.kernel[0] * g.kernel[1];
        Ok(tvec!((Cost::FMA(f32::datum_type()), fmas.into())))
    }

    as_op!();
}

/// Whether this host runs [`AvxDepthwise`].
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Replaces the depthwise convs of a decluttered typed model that [`AvxDepthwise`] can run;
/// returns how many. Does nothing where the host lacks AVX2 or FMA.
pub(crate) fn replace_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    if !available() {
        return Ok(0);
    }
    // The kernel carries the weights and bias: only the data input is wired.
    super::replace::replace_nodes(model, |model, node| {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        Ok(avx_depthwise(model, node, conv)?.map(|op| Box::new(op) as Box<dyn TypedOp>))
    })
}

impl AvxDepthwise {
    /// The same conv on channel-last data: the channel axis moved last in and out, the weights
    /// tap-major.
    pub(crate) fn channel_last(self) -> AvxDepthwise {
        let (c, taps) = (self.geo.c, self.weights.len() / self.geo.c);
        let weights: Vec<f32> = (0..taps * c)
            .map(|i| self.weights[(i % c) * taps + i / c])
            .collect();
        let mut out_shape = self.geo.out_shape.clone();
        let c_axis = out_shape.len() - 3;
        out_shape[c_axis..].rotate_left(1);
        AvxDepthwise {
            geo: Geometry {
                out_shape,
                channel_last: true,
                ..self.geo
            },
            weights: weights.into(),
            bias: self.bias,
        }
    }
}

/// The [`AvxDepthwise`] for a plain f32 2-D depthwise conv on NCHW or CHW data of known shape with
/// constant weights and bias.
pub(crate) fn avx_depthwise(
    model: &TypedModel,
    node: &TypedNode,
    conv: &Conv,
) -> TractResult<Option<AvxDepthwise>> {
    let input = model.outlet_fact(node.inputs[0])?;
    let c = conv.input_channels();
    let spec = &conv.pool_spec;
    let usable = node.inputs.len() == 3
        && conv.q_params.is_none()
        && conv.group == c
        && conv.output_channels() == c
        && spec.rank() == 2
        && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
        && input.datum_type == f32::datum_type();
    let (Some(shape), Some(kernel), Some(bias)) = (
        input.shape.as_concrete(),
        model.outlet_fact(node.inputs[1])?.konst.clone(),
        model.outlet_fact(node.inputs[2])?.konst.clone(),
    ) else {
        return Ok(None);
    };
    if !usable || kernel.datum_type() != f32::datum_type() || bias.datum_type() != f32::datum_type()
    {
        return Ok(None);
    }
    let (n, hw) = match shape {
        [n, _, h, w] => (*n, [*h, *w]),
        [_, h, w] => (1, [*h, *w]),
        _ => return Ok(None),
    };
    let Some(out_shape) = model.outlet_fact(node.id.into())?.shape.as_concrete() else {
        return Ok(None);
    };
    let padding = spec.computed_padding(&hw);
    let kernel_shape = [spec.kernel_shape[0], spec.kernel_shape[1]];
    let weights = conv.kernel_fmt.kernel_as_group_o_ihw(&kernel, conv.group)?;
    let weights: Vec<f32> = weights
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect();
    let bias: Vec<f32> = bias.to_plain_array_view::<f32>()?.iter().copied().collect();
    let bias = match bias.len() {
        1 => vec![bias[0]; c],
        len if len == c => bias,
        _ => return Ok(None),
    };
    if weights.len() != c * kernel_shape[0] * kernel_shape[1] {
        return Ok(None);
    }
    let geo = Geometry {
        n,
        c,
        h: hw[0],
        w: hw[1],
        oh: padding[0].convoluted,
        ow: padding[1].convoluted,
        kernel: kernel_shape,
        stride: [spec.stride(0), spec.stride(1)],
        dilation: [spec.dilation(0), spec.dilation(1)],
        pad: [padding[0].pad_before, padding[1].pad_before],
        out_shape: out_shape.into(),
        channel_last: false,
    };
    if geo.out_shape.iter().product::<usize>() != n * c * geo.oh * geo.ow || geo.oh * geo.ow == 0 {
        return Ok(None);
    }
    Ok(Some(AvxDepthwise {
        geo,
        weights: weights.into(),
        bias: bias.into(),
    }))
}

#[cfg(test)]
pub(crate) mod tests;
