use ndarray::Array2;

/// A trainable tensor and the gradient accumulated into it.
///
/// Every parameter is 2-D (a bias is `1 × n`) so optimizers, checkpoints and broadcasting treat
/// them all alike. `name` is the dotted path (`adapter.fc1.weight`) used as the tensor name in
/// safetensors files; `decay` says whether AdamW/SGD weight decay applies (weights yes, biases and
/// normalization gains no — decaying a LayerNorm gain towards 0 would switch the adapter off).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: Array2<f32>,
    pub grad: Array2<f32>,
    pub decay: bool,
}

impl Param {
    pub fn new(name: impl Into<String>, value: Array2<f32>, decay: bool) -> Self {
        let grad = Array2::zeros(value.raw_dim());
        Param {
            name: name.into(),
            value,
            grad,
            decay,
        }
    }
}
