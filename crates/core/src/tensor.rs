/// A dense f32 tensor of any rank. Encoders here take and give f32; quantized models are a
/// backend's business, not the caller's.
pub type Tensor = ndarray::ArrayD<f32>;

/// A borrowed [`Tensor`], what sessions take as input so batching never copies twice.
pub type TensorView<'a> = ndarray::ArrayViewD<'a, f32>;
