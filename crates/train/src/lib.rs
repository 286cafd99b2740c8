//! # edge-ssl-train
//! (essay written below once the API settles)

mod atomic;
pub mod augment;
mod error;
#[cfg(test)]
mod gradcheck;
pub mod loss;
pub mod nn;
pub mod optim;
mod rng;
mod tensor_file;
pub mod trainer;

pub use error::{Result, TrainError};
pub use rng::Rng;
