//! # edge-ssl-core
//!
//! The vocabulary every other edge-ssl crate speaks, and nothing that needs a model runtime.
//!
//! An encoder is only useful if the pixels that reach it look like the pixels it was trained on.
//! The [`ModelCard`] is where that contract lives: which input tensor, which layout (NCHW or NHWC),
//! size, channels, mean/std and resize rule, which output and how wide the embedding is, how the
//! encoder was pretrained and the sha256 of the exact ONNX file the card describes. When a model
//! arrives without a card, the runtime reads what the ONNX says and fills a card from it
//! ([`ModelCard::assumed`]), recording every guess so the CLI can print it.
//!
//! [`Preprocessor`] turns decoded images into batches exactly as the card says: convert channels
//! (RGB → gray by Rec. 601 luma), resize (stretch or resize-then-center-crop), scale to [0, 1],
//! normalize per channel and lay out as NCHW or NHWC. Decoding is separate from normalizing
//! ([`Preprocessor::unit_image`] gives the [0, 1] CHW image) because the trainer augments images in
//! that space before they are normalized.
//!
//! The remaining pieces are the small, boring parts that every command needs and none should write
//! twice: finding images under a folder in a deterministic order ([`image_files`]), writing files
//! atomically so a crash or a full disk never replaces a good file with half of one
//! ([`write_atomic`]), the `.npy` format that embeddings are exchanged in ([`npy`]), and
//! independent work handed out one item at a time to a few threads ([`claim_each`]), and the one
//! wrapper around `gemm-f32`'s f32 GEMM ([`gemm`]) that the trainer and the runtime multiply through.
//!
//! Files arrive from elsewhere and edge-ssl often runs as root, so the core also holds the
//! rules every file access follows: only regular files are read as data ([`open_regular`];
//! [`open_regular_in`] also keeps a path found inside a model directory inside it), only a
//! regular file or nothing is replaced by a write, never a device, FIFO or symbolic link
//! ([`write_atomic`]), an output may not be one of its own command's inputs
//! ([`ensure_not_input`]), and a decoded image may not exceed [`MAX_IMAGE_PIXELS`] whatever its
//! colour type; a class name read from a file may not carry a terminal escape
//! ([`class_name_problem`]), and text from outside is printed as [`one_line`].
//!
//! Errors are one typed enum, [`CoreError`]; every variant names the path it concerns, because the
//! CLI prints it as the one line a user reads.

mod atomic_write;
mod card;
mod class_name;
mod error;
mod image_files;
pub mod npy;
mod preprocess;
mod printable;
mod regular_file;
mod resample;
mod same_file;
mod scaled_decode;
mod sgemm;
mod simd;
mod tensor;
mod work_queue;

pub use atomic_write::write_atomic;
pub use card::{
    InputSpec, Layout, MAX_INPUT_ELEMENTS, MAX_INPUT_SIDE, MAX_OUTPUT_DIM, ModelCard, OutputSpec,
    ResizeMode, sha256_file, sha256_reader,
};
pub use class_name::{MAX_CLASS_NAME_BYTES, class_name_problem};
pub use error::{CoreError, Result, error_line};
pub use image_files::image_files;
pub use preprocess::{
    MAX_IMAGE_PIXELS, Preprocessor, decode_image, decode_image_at_least, decode_image_bytes,
    decode_image_bytes_at_least, decodes_differ, unit_to_byte,
};
pub use printable::{escape_path, escape_row, one_line, unescape_row};
pub use regular_file::{open_regular, open_regular_in};
pub use resample::{resize_to_fit, resize_to_fit_chw};
pub use same_file::ensure_not_input;
pub use scaled_decode::{DECODE_MARGIN, DecodeSize};
pub use sgemm::{gemm, gemm_overwrite};
pub use tensor::{Tensor, TensorView};
pub use work_queue::{Panic, claim_each};
