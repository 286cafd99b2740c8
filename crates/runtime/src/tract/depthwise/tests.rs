use super::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::conv::KernelFormat;
use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

/// A depthwise conv on an NCHW input: channels, kernel, stride, dilation, padding, bias.
struct Case {
    shape: [usize; 4],
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: PaddingSpec,
    bias: bool,
}

fn noise(len: usize, mut seed: u64) -> Vec<f32> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn model(case: &Case) -> TypedModel {
    let [_, c, _, _] = case.shape;
    let k = case.kernel;
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(case.shape)).unwrap();
    let kernel = Tensor::from_shape(&[c, 1, k, k], &noise(c * k * k, 3)).unwrap();
    let kernel = model.add_const("k", kernel).unwrap();
    let bias = if case.bias {
        Tensor::from_shape(&[c], &noise(c, 5)).unwrap()
    } else {
        tensor0(0f32)
    };
    let bias = model.add_const("b", bias).unwrap();
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec!(k, k),
        padding: case.padding.clone(),
        dilations: Some(tvec!(case.dilation, case.dilation)),
        strides: Some(tvec!(case.stride, case.stride)),
        input_channels: c,
        output_channels: c,
    };
    let op = Conv {
        pool_spec,
        kernel_fmt: KernelFormat::OIHW,
        group: c,
        q_params: None,
    };
    let y = model.wire_node("dw", op, &[x, kernel, bias]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model.into_decluttered().unwrap()
}

fn run(model: TypedModel, x: &Tensor) -> Tensor {
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    plan.run(tvec!(x.clone().into_tvalue()))
        .unwrap()
        .remove(0)
        .into_tensor()
}

fn check(case: Case) {
    if !available() {
        return;
    }
    let x = Tensor::from_shape(&case.shape, &noise(case.shape.iter().product(), 11)).unwrap();
    let want = run(model(&case), &x);
    let mut replaced = model(&case);
    assert_eq!(replace_depthwise(&mut replaced).unwrap(), 1);
    assert!(replaced.nodes.iter().any(|n| n.op_is::<AvxDepthwise>()));
    assert_close(&want, &run(replaced, &x));
    assert_close(&want, &run(channel_last(model(&case)), &x));
}

/// The model with its conv run by the channel-last [`AvxDepthwise`] between two moves.
fn channel_last(mut model: TypedModel) -> TypedModel {
    let node = model.nodes.iter().find(|n| n.op_is::<Conv>()).unwrap();
    let op = avx_depthwise(&model, node, node.op_as::<Conv>().unwrap());
    let op = op.unwrap().unwrap().channel_last();
    let rank = model.outlet_fact(node.inputs[0]).unwrap().rank();
    let mut patch = TypedModelPatch::default();
    let x = patch.tap_model(&model, node.inputs[0]).unwrap();
    let x = patch.wire_node("in", AxisOp::Move(rank - 3, rank - 1), &[x]);
    let y = patch.wire_node("dw_hwc", op, &x.unwrap()).unwrap();
    let y = patch.wire_node("out", AxisOp::Move(rank - 1, rank - 3), &y);
    patch
        .shunt_outside(&model, node.id.into(), y.unwrap()[0])
        .unwrap();
    patch.apply(&mut model).unwrap();
    model
}

/// Same shape and every value within 1e-4: how a rewritten plan is held to tract's own.
pub(crate) fn assert_close(want: &Tensor, got: &Tensor) {
    assert_eq!(want.shape(), got.shape());
    let want = want.to_plain_array_view::<f32>().unwrap();
    let got = got.to_plain_array_view::<f32>().unwrap();
    let max_abs = want
        .iter()
        .zip(got.iter())
        .map(|(w, g)| (w - g).abs())
        .fold(0f32, f32::max);
    assert!(max_abs < 1e-4, "max abs diff {max_abs}");
}

fn case(shape: [usize; 4], kernel: usize, stride: usize, padding: PaddingSpec) -> Case {
    Case {
        shape,
        kernel,
        stride,
        dilation: 1,
        padding,
        bias: true,
    }
}

#[test]
fn stride_1_3x3_same() {
    check(case([1, 16, 28, 28], 3, 1, PaddingSpec::SameUpper));
}

#[test]
fn stride_2_3x3_same_odd_size() {
    check(case([1, 44, 29, 23], 3, 2, PaddingSpec::SameUpper));
}

#[test]
fn stride_1_5x5_short_rows_no_bias() {
    check(Case {
        bias: false,
        ..case([1, 40, 7, 7], 5, 1, PaddingSpec::SameUpper)
    });
}

#[test]
fn stride_2_5x5_odd_size_batch_2() {
    check(case([2, 8, 15, 17], 5, 2, PaddingSpec::SameLower));
}

#[test]
fn valid_padding() {
    check(case([1, 8, 13, 11], 3, 1, PaddingSpec::Valid));
    check(case([2, 8, 13, 11], 5, 2, PaddingSpec::Valid));
}

#[test]
fn asymmetric_explicit_padding_stride_3() {
    let padding = PaddingSpec::Explicit(tvec!(0, 2), tvec!(1, 0));
    check(case([1, 5, 19, 20], 3, 3, padding));
}

#[test]
fn dilation_2_batch_2_no_bias() {
    check(Case {
        dilation: 2,
        bias: false,
        ..case([2, 12, 16, 9], 3, 1, PaddingSpec::SameUpper)
    });
}

#[test]
fn a_grouped_non_depthwise_conv_is_left_alone() {
    let mut model = model(&case([1, 8, 8, 8], 3, 1, PaddingSpec::SameUpper));
    let conv = model.nodes.iter().position(|n| n.op_is::<Conv>()).unwrap();
    let op = model.nodes[conv].op_as::<Conv>().unwrap().clone();
    assert_eq!(op.group, 8);
    let mut other = TypedModel::default();
    let x = other.add_source("x", f32::fact([1, 8, 8, 8])).unwrap();
    let k = Tensor::from_shape(&[8, 4, 3, 3], &noise(8 * 4 * 9, 1)).unwrap();
    let k = other.add_const("k", k).unwrap();
    let b = other.add_const("b", tensor0(0f32)).unwrap();
    let grouped = Conv { group: 2, ..op };
    let y = other.wire_node("g", grouped, &[x, k, b]).unwrap();
    other.select_output_outlets(&y).unwrap();
    assert_eq!(replace_depthwise(&mut other).unwrap(), 0);
    assert_eq!(
        replace_depthwise(&mut model).unwrap(),
        usize::from(available())
    );
}
