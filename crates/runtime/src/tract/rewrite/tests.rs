use super::*;
use crate::tract::depthwise::tests::assert_close;
use tract_onnx::tract_core::ops::cnn::PaddingSpec;
use tract_onnx::tract_core::ops::cnn::conv::KernelFormat;

/// A conv with made-up weights, NCHW, "same" padding.
fn conv(
    model: &mut TypedModel,
    name: &str,
    x: OutletId,
    (c_in, c_out, group, kernel, stride): (usize, usize, usize, usize, usize),
) -> OutletId {
    let k: Vec<f32> = (0..c_out * (c_in / group) * kernel * kernel)
        .map(|i| (i as f32 * 0.091).cos() * 0.3)
        .collect();
    let b: Vec<f32> = (0..c_out).map(|i| i as f32 * 0.05 - 0.1).collect();
    let k = Tensor::from_shape(&[c_out, c_in / group, kernel, kernel], &k).unwrap();
    let k = model.add_const(format!("{name}.k"), k).unwrap();
    let b = Tensor::from_shape(&[c_out], &b).unwrap();
    let b = model.add_const(format!("{name}.b"), b).unwrap();
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec!(kernel, kernel),
        padding: PaddingSpec::SameUpper,
        dilations: None,
        strides: Some(tvec!(stride, stride)),
        input_channels: c_in,
        output_channels: c_out,
    };
    let op = Conv {
        pool_spec,
        kernel_fmt: KernelFormat::OIHW,
        group,
        q_params: None,
    };
    model.wire_node(name, op, &[x, k, b]).unwrap()[0]
}

/// An inverted-residual-like chain: 1×1 expansion, a strided 3×3 depthwise conv, a stride-1
/// 3×3 depthwise conv on wide rows, a 5×5 one on short rows, a 1×1 projection.
fn mobile_block() -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 8, 32, 32])).unwrap();
    let x = conv(&mut model, "expand", x, (8, 32, 1, 1, 1));
    let x = conv(&mut model, "dw_strided", x, (32, 32, 32, 3, 2));
    let x = conv(&mut model, "dw_wide", x, (32, 32, 32, 3, 1));
    let x = conv(&mut model, "dw_short", x, (32, 32, 32, 5, 2));
    let x = conv(&mut model, "dw_short_s1", x, (32, 32, 32, 5, 1));
    let x = conv(&mut model, "project", x, (32, 16, 1, 1, 1));
    model.select_output_outlets(&[x]).unwrap();
    model.into_decluttered().unwrap()
}

fn run(model: TypedModel, x: &Tensor) -> Tensor {
    let plan = model.into_runnable().unwrap();
    let mut out = plan.run(tvec!(x.clone().into_tvalue())).unwrap();
    out.remove(0).into_tensor()
}

// On other targets tract flips depthwise convs itself and `optimize` leaves them to it.
#[cfg(target_arch = "x86_64")]
#[test]
fn only_strided_or_short_row_depthwise_convs_are_rewritten() {
    let mut model = mobile_block();
    assert_eq!(rewrite_depthwise(&mut model).unwrap(), 3);
    let rewritten = |name: &str| {
        model
            .nodes
            .iter()
            .any(|n| n.name == format!("{name}.nhwc_out"))
    };
    assert!(rewritten("dw_strided"));
    assert!(!rewritten("dw_wide"));
    assert!(rewritten("dw_short"));
    assert!(rewritten("dw_short_s1"));
}

// On other targets tract flips depthwise convs itself and `optimize` leaves them to it.
#[cfg(target_arch = "x86_64")]
#[test]
fn rewritten_model_computes_the_same() {
    let mut seed = 7u64;
    let data: Vec<f32> = (0..8 * 32 * 32)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let x = Tensor::from_shape(&[1, 8, 32, 32], &data).unwrap();
    let want = run(mobile_block().into_optimized().unwrap(), &x);
    let mut optimized = mobile_block();
    rewrite_depthwise(&mut optimized).unwrap();
    let has = |model: &TypedModel, name: &str| model.nodes.iter().any(|n| n.name == name);
    assert!(has(&optimized, "dw_strided.nhwc_out"));
    optimized.optimize().unwrap();
    // The move in front of the first depthwise conv went into the expansion's matrix product.
    assert!(!has(&optimized, "dw_strided.nhwc_in"));
    if !depthwise::available() {
        // The one behind it stayed.
        assert!(has(&optimized, "dw_strided.nhwc_out"));
        assert!(
            !has(&optimized, "dw_wide.kernel_c_inner"),
            "the wide-row conv went channel-last"
        );
    }
    assert_close(&want, &run(optimized, &x));
}

// On other targets tract flips depthwise convs itself and `optimize` leaves them to it.
#[cfg(target_arch = "x86_64")]
#[test]
fn optimize_runs_depthwise_convs_with_avx2_where_it_can() {
    let data: Vec<f32> = (0..8 * 32 * 32).map(|i| (i as f32 * 0.37).sin()).collect();
    let x = Tensor::from_shape(&[1, 8, 32, 32], &data).unwrap();
    let want = run(mobile_block().into_optimized().unwrap(), &x);
    let optimized = optimize(mobile_block()).unwrap();
    let fast = optimized
        .nodes
        .iter()
        .filter(|n| n.op_is::<crate::tract::depthwise::AvxDepthwise>())
        .count();
    let moved = optimized
        .nodes
        .iter()
        .filter(|n| n.name.ends_with(".nhwc_out"))
        .count();
    if crate::tract::depthwise::available() {
        assert_eq!((fast, moved), (4, 0));
    } else {
        assert_eq!((fast, moved), (0, 3));
    }
    assert_close(&want, &run(optimized, &x));
}

#[test]
fn optimize_computes_what_plain_tract_computes_on_every_target() {
    let data: Vec<f32> = (0..8 * 32 * 32).map(|i| (i as f32 * 0.53).cos()).collect();
    let x = Tensor::from_shape(&[1, 8, 32, 32], &data).unwrap();
    let want = run(mobile_block().into_optimized().unwrap(), &x);
    assert_close(&want, &run(optimize(mobile_block()).unwrap(), &x));
}

#[test]
fn a_model_without_depthwise_convs_is_left_alone() {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 3, 16, 16])).unwrap();
    let x = conv(&mut model, "stem", x, (3, 16, 1, 3, 2));
    model.select_output_outlets(&[x]).unwrap();
    let mut model = model.into_decluttered().unwrap();
    let before = model.nodes.len();
    assert_eq!(rewrite_depthwise(&mut model).unwrap(), 0);
    assert_eq!(model.nodes.len(), before);
}
