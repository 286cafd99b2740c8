use std::io::Read;
use std::path::Path;

use crate::{
    Camera, FrameSource, ImageFolder, Looped, Result, Sampled, SourceError, SourceKind,
    SourceOptions, VideoFile,
};

/// Opens whatever `spec` names, wrapped in the sampling `options` ask for. This is the one call
/// the CLI makes for `adapt --data` and `run --source`.
///
/// A folder is read as images, a character device (`/dev/video0`, or a udev link to one such as
/// `/dev/v4l/by-id/…`) as a V4L2 camera, and a regular file as an image when its first bytes
/// say PNG or JPEG, otherwise as a video — so an `.avi`, `.mp4`, `.mkv` or an extension-less
/// capture all work, and a file that is neither gets ffprobe's verdict as its error.
///
/// With `options.looping` a folder or video starts again when it ends (the sampling wraps the
/// whole loop, so `max_frames` counts over all passes); a camera never ends, so it is unchanged.
pub fn open_source(spec: &str, options: &SourceOptions) -> Result<Box<dyn FrameSource>> {
    options.validate()?;
    let kind = detect_kind(spec)?;
    let inner = open_unsampled(spec, kind, options)?;
    if options.looping && kind != SourceKind::Camera {
        let (pass_spec, pass_options) = (spec.to_owned(), options.clone());
        let mut first = Some(inner);
        let looped = Looped::new(Box::new(move || match first.take() {
            Some(source) => Ok(source),
            None => open_unsampled(&pass_spec, kind, &pass_options),
        }))?;
        return Ok(Box::new(Sampled::new(looped, options)?));
    }
    Ok(Box::new(Sampled::new(inner, options)?))
}

fn open_unsampled(
    spec: &str,
    kind: SourceKind,
    options: &SourceOptions,
) -> Result<Box<dyn FrameSource>> {
    let path = Path::new(spec);
    Ok(match kind {
        SourceKind::Images => Box::new(ImageFolder::open(path, options)?),
        SourceKind::Video => Box::new(VideoFile::open(path, options)?),
        SourceKind::Camera => Box::new(Camera::open(path, options)?),
    })
}

/// Which kind of source `spec` is, by what is at that path (not by its name).
pub fn detect_kind(spec: &str) -> Result<SourceKind> {
    let path = Path::new(spec);
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(if spec.starts_with("/dev/video") {
                SourceError::camera(
                    path,
                    "no such camera (is it plugged in? see `ls /dev/video*`)",
                )
            } else {
                SourceError::NotFound {
                    spec: spec.to_owned(),
                }
            });
        }
        Err(e) => return Err(SourceError::io(path, e)),
    };
    if meta.is_dir() {
        return Ok(SourceKind::Images);
    }
    if is_char_device(&meta) {
        return Ok(SourceKind::Camera);
    }
    if !meta.is_file() {
        return Err(SourceError::Option(format!(
            "{spec}: not a file, folder or camera"
        )));
    }
    let mut magic = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| SourceError::io(path, e))?;
    let magic = &magic[..n];
    let image = magic.starts_with(b"\x89PNG\r\n\x1a\n") || magic.starts_with(&[0xFF, 0xD8, 0xFF]);
    Ok(if image {
        SourceKind::Images
    } else {
        SourceKind::Video
    })
}

#[cfg(unix)]
fn is_char_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_char_device(_meta: &std::fs::Metadata) -> bool {
    false
}
