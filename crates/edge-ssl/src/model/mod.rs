//! Models: what a model argument names ([`reference`]), the model directory and its checks
//! ([`directory`]), and how a directory is replaced without ever being half-written ([`commit`]).

pub mod commit;
pub mod directory;
pub mod reference;
