//! Flower's content-addressed objects: the framing every object shares, the JSON and `.npy`
//! encodings inside their bodies, and the walk from an object tree to records and back.

pub mod deflate;
pub mod head;
pub mod inflate;
pub mod json;
pub mod npy;
