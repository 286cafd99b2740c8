//! Frames for the commands that read images: decoded unlabeled frames and labeled ImageFolder
//! trees ([`image_set`]), and the loader that reads a folder, a video or a camera ([`loader`]), and
//! the list of frames `adapt` reads again per pass instead of holding ([`frame_list`]), a camera's
//! frames kept on disk (`spill`), frames read again as `run` reads them ([`as_run_reads`]), and the
//! listing's frames handed to another thread while it reads ([`tap`]).

pub mod as_run_reads;
pub mod frame_list;
pub mod image_set;
pub mod loader;
mod spill;
pub mod tap;
