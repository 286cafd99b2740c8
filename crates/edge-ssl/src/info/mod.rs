//! What a model is: its graph's inputs, outputs, parameters and FLOPs, its card, a model
//! directory's adapter and head (each loaded and checked, so a damaged part shows here first),
//! and which backends can run it on this machine ([`model_info::ModelInfo`]); what `adapt` did to
//! make it ([`adaptation`]); and the input shape a caller may give to count FLOPs at another size
//! ([`input_shape`]).

pub mod adaptation;
pub mod input_shape;
pub mod model_info;
