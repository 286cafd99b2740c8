//! Real data for the demo and the tests: Fashion-MNIST's IDX files ([`fmnist`]), the
//! camera-like shifted domain made from them ([`shifted_domain`]), the demo's folders
//! ([`demo_data`]) and how the demo scores a model on them ([`demo_score`]).

pub mod demo_data;
pub mod demo_score;
pub mod fmnist;
pub mod shifted_domain;
