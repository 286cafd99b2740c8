//! Adaptation's frames as a list that is read again instead of held: a first pass learns which
//! frames there are (their origins, `vtest.avi#12` or a file path, and what was skipped), and
//! every later pass — BN statistics, then the view cache — decodes them again one at a time.
//! Memory then holds a few frames, not all of them: 5,000 camera-sized frames would be 6.6 GB.
//!
//! Re-reading is what makes a resumed run see the same frames: a folder's files and a video's
//! frames come back identically, and a pass that finds a different frame than the first one
//! recorded is an error, not a silently different cache. A camera cannot be read twice, so its
//! frames (a bounded number: cameras need `--max-frames`) are kept from the first pass.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{DecodeSize, Preprocessor, decode_image_at_least, image_files};
use edge_ssl_source::{SourceKind, SourceOptions, detect_kind, open_source};
use ndarray::Array3;

use crate::frames::loader::{kept_pixels, kept_size};
use crate::progress::Progress;

/// One frame's pixels as the trainer keeps them (8-bit CHW in the card's channel count).
pub type Pixels = Array3<u8>;

/// A pass over the frames: each item is the next frame, in the order of [`FrameList::origins`].
pub type FramePass<'a> = Box<dyn Iterator<Item = crate::Result<Pixels>> + Send + 'a>;

enum Replay {
    /// Files of a folder, decoded again by path.
    Folder,
    /// A video file (or a folder read with sampling options), opened again with the same options.
    Source(SourceOptions),
    /// A camera's frames, kept from the only pass there can be.
    Held(Vec<Pixels>),
}

/// The frames a source yields for adaptation, known by origin and read again on demand.
pub struct FrameList {
    spec: String,
    replay: Replay,
    /// Where each kept frame came from, in order.
    pub origins: Vec<PathBuf>,
    /// One message per file or frame that did not decode.
    pub skipped: Vec<String>,
}

impl FrameList {
    /// The first pass: which frames `data` (an image folder, a video file or a camera) has.
    pub fn scan(
        data: &Path,
        pre: &Preprocessor,
        options: &SourceOptions,
        progress: &Progress,
    ) -> crate::Result<FrameList> {
        let spec = data
            .to_str()
            .with_context(|| format!("{}: the path is not UTF-8", data.display()))?
            .to_owned();
        let kind = detect_kind(&spec).with_context(|| format!("opening {spec}"))?;
        if kind == SourceKind::Images && *options == SourceOptions::default() {
            return scan_folder(data, spec, kept_size(pre), progress);
        }
        if kind == SourceKind::Camera && options.max_frames.is_none() {
            return Err(crate::Error::EndlessSource(spec));
        }
        // A folder read with sampling options: its JPEGs decoded no larger than kept.
        let options = options.clone().with_decode_size(kept_size(pre));
        let mut source = open_source(&spec, &options).with_context(|| format!("opening {spec}"))?;
        progress.note(source.info());
        let bound = match (source.info().frame_count, options.max_frames) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0),
        };
        let mut phase = progress.phase("reading frames", (bound > 0).then_some(bound));
        let camera = kind == SourceKind::Camera;
        let (mut origins, mut held) = (Vec::new(), Vec::new());
        while let Some(frame) = source
            .next_frame()
            .with_context(|| format!("reading {spec}"))?
        {
            phase.advance(1)?;
            if camera {
                held.push(kept_pixels(frame.image, pre));
            }
            origins.push(PathBuf::from(frame.origin));
        }
        phase.finish();
        let stats = source.stats();
        progress.note(format_args!("{spec}: {stats}"));
        for warning in &stats.warnings {
            progress.note(format_args!("warning: {warning}"));
        }
        if origins.is_empty() {
            bail!(Data, "{spec}: no frames were kept ({stats})");
        }
        let replay = if camera {
            Replay::Held(held)
        } else {
            Replay::Source(options)
        };
        Ok(FrameList {
            spec,
            replay,
            origins,
            skipped: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.origins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// A line for stderr when files were skipped.
    pub fn skipped_note(&self) -> Option<String> {
        self.skipped.first().map(|first| {
            format!(
                "skipped {} file(s) that are not decodable images (first: {first})",
                self.skipped.len()
            )
        })
    }

    /// Reads the frames again, in order; a frame that is not the one the first pass saw is an
    /// error (the source changed since).
    pub fn pass<'a>(&'a self, pre: &'a Preprocessor) -> crate::Result<FramePass<'a>> {
        Ok(match &self.replay {
            Replay::Held(pixels) => Box::new(pixels.iter().map(|p| Ok(p.clone()))),
            Replay::Folder => Box::new(self.origins.iter().map(move |path| {
                let image = decode_image_at_least(path, kept_size(pre))
                    .with_context(|| format!("{}: no longer decodable", path.display()))?;
                // Kept as a video's frames are: a large photo is scaled down to a few times
                // the input first, so views render from (and memory holds) no more than that.
                Ok(kept_pixels(image, pre))
            })),
            Replay::Source(options) => {
                let mut source = open_source(&self.spec, options)
                    .with_context(|| format!("opening {} again", self.spec))?;
                let mut expected = self.origins.iter();
                let spec = &self.spec;
                Box::new(std::iter::from_fn(move || {
                    let frame = match source.next_frame() {
                        Ok(frame) => frame,
                        Err(e) => {
                            return Some(
                                Err::<Pixels, _>(e).with_context(|| format!("reading {spec}")),
                            );
                        }
                    };
                    match (frame, expected.next()) {
                        (None, None) => None,
                        (Some(frame), Some(want)) if Path::new(&frame.origin) == want => {
                            Some(Ok(kept_pixels(frame.image, pre)))
                        }
                        (got, want) => Some(Err(crate::Error::Data(format!(
                            "{spec} changed while it was read: expected frame {}, got {}",
                            want.map_or("none".into(), |w| w.display().to_string()),
                            got.map_or("none".into(), |f| f.origin)
                        )))),
                    }
                }))
            }
        })
    }
}

fn scan_folder(
    root: &Path,
    spec: String,
    size: DecodeSize,
    progress: &Progress,
) -> crate::Result<FrameList> {
    let files = image_files(root)?;
    if files.is_empty() {
        bail!(Data, "{}: no image files (empty folder)", root.display());
    }
    let mut phase = progress.phase("reading frames", Some(files.len() as u64));
    let (mut origins, mut skipped) = (Vec::new(), Vec::new());
    for path in files {
        phase.advance(1)?;
        match decode_image_at_least(&path, size) {
            Ok(_) => origins.push(path),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    phase.finish();
    if origins.is_empty() {
        bail!(
            Data,
            "{}: none of the {} file(s) is a decodable image (first: {})",
            root.display(),
            skipped.len(),
            skipped[0]
        );
    }
    Ok(FrameList {
        spec,
        replay: Replay::Folder,
        origins,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use edge_ssl_core::Preprocessor;
    use edge_ssl_source::SourceOptions;

    use super::FrameList;
    use crate::frames::loader::decode;
    use crate::progress::Progress;

    const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    fn pre() -> Preprocessor {
        let card = edge_ssl_core::ModelCard::load(
            &std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("models/fmnist-ssl/encoder.toml"),
        )
        .unwrap();
        Preprocessor::new(card.input)
    }

    #[test]
    fn a_video_is_listed_once_and_read_again_identically() {
        let options = SourceOptions::default()
            .with_fps(Some(2.0))
            .with_max_frames(Some(4));
        let (pre, silent) = (pre(), Progress::silent());
        let list = FrameList::scan(VTEST.as_ref(), &pre, &options, &silent).unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(list.origins[1].display().to_string(), format!("{VTEST}#5"));
        let first: Vec<_> = list
            .pass(&pre)
            .unwrap()
            .collect::<crate::Result<_>>()
            .unwrap();
        let again: Vec<_> = list
            .pass(&pre)
            .unwrap()
            .collect::<crate::Result<_>>()
            .unwrap();
        assert_eq!(first, again);
        let held = decode(VTEST.as_ref(), &pre, &options, &silent).unwrap();
        assert_eq!(first, held.pixels);
    }

    /// A folder of a video's frames (saved losslessly) is read exactly as the video is: large
    /// frames are scaled down to a few times the input the same way, not kept at full size.
    #[test]
    fn a_folder_of_a_videos_frames_is_read_as_the_video() {
        let options = SourceOptions::default().with_max_frames(Some(3));
        let (pre, silent) = (pre(), Progress::silent());
        let dir = tempfile::tempdir().unwrap();
        let mut video = edge_ssl_source::open_source(VTEST, &options).unwrap();
        let mut i = 0;
        while let Some(frame) = video.next_frame().unwrap() {
            frame
                .image
                .save(dir.path().join(format!("{i:03}.png")))
                .unwrap();
            i += 1;
        }
        let from_video = FrameList::scan(VTEST.as_ref(), &pre, &options, &silent).unwrap();
        let from_folder =
            FrameList::scan(dir.path(), &pre, &SourceOptions::default(), &silent).unwrap();
        let pass = |list: &FrameList| -> Vec<_> {
            list.pass(&pre)
                .unwrap()
                .collect::<crate::Result<_>>()
                .unwrap()
        };
        let (video, folder) = (pass(&from_video), pass(&from_folder));
        assert_eq!(folder.len(), 3);
        assert!(folder[0].dim().1 <= 4 * 28, "{:?}", folder[0].dim());
        assert_eq!(folder, video);
    }

    #[test]
    fn a_folder_skips_undecodable_files_and_a_vanished_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.png", "b.png"] {
            image::RgbImage::from_fn(12, 10, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 7]))
                .save(dir.path().join(name))
                .unwrap();
        }
        std::fs::write(dir.path().join("c.png"), b"not a png").unwrap();
        let pre = pre();
        let list = FrameList::scan(
            dir.path(),
            &pre,
            &SourceOptions::default(),
            &Progress::silent(),
        )
        .unwrap();
        assert_eq!((list.len(), list.skipped.len()), (2, 1));
        assert_eq!(list.pass(&pre).unwrap().filter(|f| f.is_ok()).count(), 2);
        std::fs::remove_file(dir.path().join("b.png")).unwrap();
        let err = list.pass(&pre).unwrap().find_map(Result::err).unwrap();
        assert!(err.to_string().contains("b.png"), "{err}");
    }
}
