//! Models: the two types a program opens — [`Encoder`] (embeds; no head) and [`ModelDir`]
//! (classifies) — and below them what a model argument names ([`reference`](mod@reference)), the model
//! directory's parts and checks ([`directory`]), and how a directory is replaced without ever
//! being half-written ([`commit`]) nor by two writers at once ([`dir_lock`]).

pub mod commit;
pub mod dir_lock;
pub mod directory;
mod encoder;
pub mod exported;
mod model_dir;
pub mod reference;

pub use encoder::Encoder;
pub use model_dir::ModelDir;
