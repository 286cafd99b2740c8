//! # edge-ssl-source
//!
//! Where frames come from: an image folder, a video file or a V4L2 camera, read one frame at a
//! time, thinned out by time and by similarity, and optionally kept on disk as a bounded history.
//! `edge-ssl adapt --data SRC` and `edge-ssl run --source SRC` both start here.
//!
//! ## Shape
//!
//! Everything is a [`FrameSource`]: `next_frame() -> Result<Option<Frame>>`, plus
//! [`info`](FrameSource::info) (what was opened) and [`stats`](FrameSource::stats) (what happened).
//! A [`Frame`] carries the decoded image, its index in the source, a timestamp in seconds and an
//! origin string (`photo.jpg`, `vtest.avi#123`, `/dev/video0#57`) that a user can follow back.
//! The three readers — [`ImageFolder`], [`VideoFile`], [`Camera`] — know nothing about sampling;
//! [`Sampled`] wraps any of them and applies [`SourceOptions`]: `fps` (by timestamp, on a fixed
//! grid, see [`FpsSampler`]), near-duplicate skipping ([`Dedup`]: 16×16 gray thumbnails compared
//! by mean absolute difference with the last *kept* frame), `max_frames`, and a [`FrameStore`]
//! that writes kept frames as PNG into a directory capped by count and bytes, evicting the
//! oldest. Keeping sampling out of the readers means one implementation serves all three, and a
//! bug in it shows on a folder test as readily as on a camera.
//!
//! The CLI needs one call:
//!
//! ```no_run
//! use edge_ssl_source::{SourceOptions, StoreOptions, open_source};
//! let options = SourceOptions::default()
//!     .with_fps(Some(2.0))
//!     .with_dedup_threshold(Some(3.0))
//!     .with_max_frames(Some(500))
//!     .with_store(Some(StoreOptions::new("/var/lib/edge-ssl/recent")));
//! let mut source = open_source("/dev/video0", &options)?;
//! eprintln!("{}", source.info());
//! while let Some(frame) = source.next_frame()? {
//!     // frame.image: image::DynamicImage, frame.index, frame.timestamp, frame.origin
//! }
//! eprintln!("{}", source.stats());
//! # Ok::<(), edge_ssl_source::SourceError>(())
//! ```
//!
//! [`open_source`] decides by what the path *is*: a directory → images; a character device →
//! camera; a regular file → an image if its magic bytes say PNG/JPEG, else a video.
//!
//! ## Failure is counted, not fatal — until nothing works
//!
//! Sources run unattended, so losing a frame must not end a run: a corrupt file in a folder, a
//! damaged packet in a video, a garbled MJPEG frame from a USB camera are skipped, counted in
//! [`SourceStats::decode_errors`] and described in [`SourceStats::warnings`]. A truncated video
//! yields the frames before the damage and a warning that says how many of the announced frames
//! arrived. What *is* an error ([`SourceError`]) is a source that yields nothing: a missing path,
//! a file that is neither image nor video, a camera that cannot be opened or stops delivering
//! (every wait is bounded by [`CameraOptions::timeout`]), a folder where no file decodes.
//! `with_strict(true)` turns every skipped frame into an error for tests and audits.
//!
//! ## Video: the ffmpeg command line, not a decoding crate
//!
//! Real camera footage arrives in whatever codec the recorder used. The reference clips from
//! Debian's `opencv-doc` alone span three: `vtest.avi` is MS-MPEG4 v3 (DivX 3), `Megamind.avi`
//! is Xvid (MPEG-4 Part 2 ASP), `tree.avi` is Cinepak. No pure-Rust crate decodes any of these;
//! the Rust bindings to libavcodec (`ffmpeg-next`, `ffmpeg-sys`) need the libav* development
//! headers and libclang for bindgen at build time, track one ffmpeg major version each, and make
//! cross-compiling for a Pi or Jetson a sysroot exercise. The `ffmpeg` program decodes every
//! codec there is, is one `apt-get install ffmpeg` on every distribution we target, and runs as a
//! separate process, so a decoder crash on a hostile file cannot take the runtime down.
//! [`VideoFile`] asks `ffprobe` for size, rate and frame count, then reads `rawvideo rgb24` from
//! `ffmpeg`'s stdout in exact frame-sized chunks while a thread drains stderr (counting its error
//! messages). ffmpeg is told to emit frames at the container rate (`-r`), so frame *i* is what is
//! on screen at *i / fps* — an AVI's "repeat the last frame" packets become copies, which dedup
//! removes — and timestamps are exact without parsing ffmpeg's log. Dropping the source kills the
//! child. The price is a copy through a pipe (1.3 MB per 768×576 frame, small next to decoding).
//!
//! ## Cameras: V4L2 by hand
//!
//! [`Camera`] speaks V4L2 through a dozen raw `ioctl`s on `libc` — QUERYCAP, S_FMT, S_PARM,
//! REQBUFS, QUERYBUF/mmap, QBUF/DQBUF, STREAMON/OFF — with the kernel structs written out and their
//! sizes checked, so the build needs neither kernel headers nor libclang and cross-compiles
//! cleanly. It asks for MJPEG (what USB cameras deliver at full rate above VGA) or YUYV, accepts
//! whichever of the two the driver grants, and converts with [`decode_mjpeg`] (which splices in
//! the standard Huffman tables that many cameras leave out) or [`yuyv_to_rgb`]. Those two are
//! public and pure, so they are tested on recorded buffers on machines with no camera. On other
//! operating systems `Camera::open` returns an error, and callers carry no `cfg`.

mod camera;
mod dedup;
mod error;
mod fps;
mod frame;
mod image_folder;
mod info;
mod looped;
mod open;
mod options;
mod sampled;
mod stats;
mod store;
mod video;

pub use camera::{Camera, decode_mjpeg, yuyv_to_rgb};
pub use dedup::{Dedup, THUMB_SIDE, Thumbnail};
pub use error::{Result, SourceError};
pub use fps::FpsSampler;
pub use frame::{Frame, FrameSource, Frames};
pub use image_folder::ImageFolder;
pub use info::{SourceInfo, SourceKind};
pub use looped::{Looped, Opener};
pub use open::{detect_kind, open_source};
pub use options::{CameraFormat, CameraOptions, SourceOptions, StoreOptions};
pub use sampled::Sampled;
pub use stats::SourceStats;
pub use store::FrameStore;
pub use video::VideoFile;
