//! Real data for the demo and the tests: Fashion-MNIST's IDX files ([`fmnist`]), the
//! camera-like shifted domain made from them ([`shifted_domain`]) and the demo's folders
//! ([`demo_data`]).

pub mod demo_data;
pub mod fmnist;
pub mod shifted_domain;
