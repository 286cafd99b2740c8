//! Tests of encoder training: import and split, write-back against ONNX Runtime, SimCLR
//! steps and resume, unsupported operators, and (ignored) real-size encoders.

mod checkpoint_file;
mod chunked;
mod fixtures;
mod import_split;
mod labeled;
mod real_size;
mod simclr;
mod unsupported;
mod write_back_ort;
