//! Adaptation's frames as a list that is read again instead of held: a first pass learns which
//! frames there are (their origins, `vtest.avi#12` or a file path, and what was skipped), and
//! every later pass — BN statistics, then the view cache — decodes them again one at a time.
//! Memory then holds a few frames, not all of them: 5,000 camera-sized frames would be 6.6 GB.
//!
//! Except when they are small: frames are kept at most a few times the model's input per side
//! ([`kept_pixels`]), so for a small input (the bundled 28×28 encoder: 9 KB a frame, 47 MB for
//! 5,000) the first pass keeps them as long as they fit in [`HOLD_BYTES`], and later passes
//! replay them instead of decoding every frame twice more — decoding was most of what `adapt`
//! cost beside its forward passes there. Past the budget the held frames are dropped and passes
//! decode again, so memory stays bounded whatever the number of frames.
//!
//! Re-reading is what makes a resumed run see the same frames: a folder's files and a video's
//! frames come back identically, and a pass that finds a different frame than the first one
//! recorded is an error, not a silently different cache. A camera cannot be read twice, so its
//! frames (a bounded number: cameras need `--max-frames`) are kept from the first pass: in
//! memory up to [`HOLD_BYTES`], past it in an unlinked file on disk.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{Preprocessor, decode_image_at_least, decodes_differ, image_files};
use edge_ssl_source::{SourceKind, SourceOptions, detect_kind, open_source};
use ndarray::Array3;

use crate::frames::as_run_reads::input_pixels;
use crate::frames::loader::{kept_pixels, kept_size};
use crate::frames::spill::SpillFile;
use crate::frames::tap::Tap;
use crate::progress::Progress;

/// One frame's pixels as the trainer keeps them (8-bit CHW in the card's channel count).
pub type Pixels = Array3<u8>;

/// A pass over the frames: each item is the next frame, in the order of [`FrameList::origins`].
pub type FramePass<'a> = Box<dyn Iterator<Item = crate::Result<Pixels>> + Send + 'a>;

/// Held frames may take this many bytes at most (see the module's note): the same as
/// [`INPUT_HOLD_BYTES`]. A 224×224 encoder's kept frames (448×336 from a 4:3 camera, 441 KiB)
/// fit 371 times: `adapt --max-frames 300` on a clip reads it once (with 128 MiB, 297 fitted and
/// the view pass decoded all 300 again). A source known to have more frames than fit keeps none.
pub const HOLD_BYTES: usize = 160 << 20;

/// Each frame also as `run` reads it (resized once, straight to the input) may take this many
/// bytes at most (none when the kept frames' own budget is 0); past it they are dropped and
/// whoever needs them — the BN pass, the novelty rows — reads the frames again. 160 MiB holds
/// 1,000 frames of a 224×224 RGB encoder (147 KiB each), which then decode once instead of
/// three times.
pub const INPUT_HOLD_BYTES: usize = 160 << 20;

/// The budget for frames held as `run` reads them, beside kept frames budgeted `hold_bytes`.
fn input_budget(hold_bytes: usize) -> usize {
    if hold_bytes == 0 { 0 } else { INPUT_HOLD_BYTES }
}

/// Kept pixels of the first pass, while they fit in [`HOLD_BYTES`]; past it, dropped (the
/// source is read again) or, for a camera, written to a [`SpillFile`].
struct Hold {
    frames: Vec<Pixels>,
    bytes: usize,
    budget: usize,
    /// Over budget once: nothing more is kept.
    spilled: bool,
    /// Where frames over budget go instead of being dropped.
    spill_dir: Option<PathBuf>,
    spill: Option<SpillFile>,
    /// How many frames will come at most, when known: a hold that would not keep them all
    /// lets go at the first frame instead of making frames it would drop.
    expected: Option<usize>,
}

impl Hold {
    fn new(budget: usize) -> Self {
        Hold {
            frames: Vec::new(),
            bytes: 0,
            budget,
            spilled: false,
            spill_dir: None,
            spill: None,
            expected: None,
        }
    }

    /// At most `frames` frames will come (`None`: unknown).
    fn expecting(mut self, frames: Option<usize>) -> Self {
        self.expected = frames;
        self
    }

    /// Frames over budget go to a file in `dir` instead of being dropped.
    fn spilling_to(mut self, dir: PathBuf) -> Self {
        self.spill_dir = Some(dir);
        self
    }

    fn push(&mut self, pixels: Pixels) -> crate::Result<()> {
        if let Some(spill) = &mut self.spill {
            return spill.push(&pixels);
        }
        // Frames past the budget would all be dropped (later passes read them again), so when
        // the first one shows they cannot all fit, none are kept: no resize is made for nothing.
        let too_many = |n: usize| n.saturating_mul(pixels.len()) > self.budget;
        if self.frames.is_empty() && self.spill_dir.is_none() && self.expected.is_some_and(too_many)
        {
            self.drop_all();
            return Ok(());
        }
        if self.spilled || self.bytes + pixels.len() > self.budget {
            if let Some(dir) = &self.spill_dir {
                let mut spill = SpillFile::create(dir)?;
                for frame in self.frames.drain(..) {
                    spill.push(&frame)?;
                }
                spill.push(&pixels)?;
                self.spill = Some(spill);
                return Ok(());
            }
            self.drop_all();
            return Ok(());
        }
        self.bytes += pixels.len();
        self.frames.push(pixels);
        Ok(())
    }

    /// Pushes what `make` makes, or — once nothing more will be kept — lets go of what was
    /// kept without making it (a resize per frame that would be dropped anyway).
    fn keep(&mut self, make: impl FnOnce() -> Pixels) -> crate::Result<()> {
        match self.closed() {
            false => self.push(make()),
            true => {
                self.drop_all();
                Ok(())
            }
        }
    }

    /// Whether nothing more will be kept (over budget once, or a budget of 0): callers stop
    /// making what they would push.
    fn closed(&self) -> bool {
        self.spilled || (self.budget == 0 && self.spill_dir.is_none())
    }

    /// Keeps nothing more and lets go of what was kept.
    fn drop_all(&mut self) {
        self.spilled = true;
        self.frames = Vec::new();
    }

    /// How later passes get the frames: held, spilled, or `None` (read the source again).
    fn into_replay(self) -> crate::Result<Option<Replay>> {
        if let Some(mut spill) = self.spill {
            spill.finish()?;
            return Ok(Some(Replay::Spilled(spill)));
        }
        Ok((!self.spilled).then_some(Replay::Held(self.frames)))
    }
}

enum Replay {
    /// Files of a folder, decoded again by path.
    Folder,
    /// A video file (or a folder read with sampling options), opened again with the same options.
    Source(SourceOptions),
    /// Frames kept from the first pass: a camera's (the only pass there can be), or any
    /// source's that fit in [`HOLD_BYTES`].
    Held(Vec<Pixels>),
    /// A camera's frames past [`HOLD_BYTES`], on disk.
    Spilled(SpillFile),
}

/// The frames a source yields for adaptation, known by origin and read again on demand.
pub struct FrameList {
    spec: String,
    replay: Replay,
    /// Where each kept frame came from, in order.
    pub origins: Vec<PathBuf>,
    /// One message per file or frame that did not decode.
    pub skipped: Vec<String>,
    /// What the source is: image files can be decoded again in any order, a video read again
    /// from the start, a camera not at all.
    kind: SourceKind,
    /// Every kept frame is exactly the input size: replayed, it is what `run` reads (up to the
    /// 8-bit rounding of a colour conversion).
    at_input: bool,
    /// Each frame as `run` reads it, when the kept frames are not and these fit in
    /// [`INPUT_HOLD_BYTES`].
    inputs: Option<Vec<Pixels>>,
}

impl FrameList {
    /// The first pass: which frames `data` (an image folder, a video file or a camera) has.
    ///
    /// A camera's frames past [`HOLD_BYTES`] are written to an unlinked file in `spill_dir`
    /// (deleted however the process ends); without one they all stay in memory.
    pub fn scan(
        data: &Path,
        pre: &Preprocessor,
        options: &SourceOptions,
        spill_dir: Option<&Path>,
        progress: &Progress,
    ) -> crate::Result<FrameList> {
        Self::scan_tapped(data, pre, options, spill_dir, &mut Tap::none(), progress)
    }

    /// [`FrameList::scan`] that hands each frame, as `run` reads it, to `tap`'s receiver while
    /// it reads (see [`super::tap`]).
    pub fn scan_tapped(
        data: &Path,
        pre: &Preprocessor,
        options: &SourceOptions,
        spill_dir: Option<&Path>,
        tap: &mut Tap,
        progress: &Progress,
    ) -> crate::Result<FrameList> {
        let list = Self::scan_holding(data, pre, options, HOLD_BYTES, spill_dir, tap, progress);
        // An error closes the tap without its end.
        tap.stop();
        list
    }

    /// [`FrameList::scan`] keeping at most `hold_bytes` of frames in memory (0: a video or
    /// folder is always read again, a camera's frames all go to `spill_dir`).
    pub(crate) fn scan_holding(
        data: &Path,
        pre: &Preprocessor,
        options: &SourceOptions,
        hold_bytes: usize,
        spill_dir: Option<&Path>,
        tap: &mut Tap,
        progress: &Progress,
    ) -> crate::Result<FrameList> {
        let spec = data
            .to_str()
            .with_context(|| format!("{}: the path is not UTF-8", data.display()))?
            .to_owned();
        let kind = detect_kind(&spec).with_context(|| format!("opening {spec}"))?;
        if kind == SourceKind::Images && *options == SourceOptions::default() {
            return scan_folder(data, spec, pre, hold_bytes, tap, progress);
        }
        if kind == SourceKind::Camera && options.max_frames.is_none() {
            return Err(crate::Error::EndlessSource(spec));
        }
        // A folder read with sampling options: its JPEGs decoded no larger than kept.
        let options = options.clone().with_decode_size(kept_size(pre));
        let mut source = open_source(&spec, &options).with_context(|| format!("opening {spec}"))?;
        progress.note(source.info());
        let bound = match (source.info().frame_count, options.max_frames) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut phase = progress.phase("reading frames", bound.filter(|&b| b > 0));
        // Sampling (`--fps`, `--dedup`) keeps fewer frames than the bound says.
        let exact = options.fps.is_none() && options.dedup_threshold.is_none();
        let expected = bound
            .filter(|_| exact)
            .map(|b| usize::try_from(b).unwrap_or(usize::MAX));
        let mut hold = match (kind == SourceKind::Camera, spill_dir) {
            (true, Some(dir)) => Hold::new(hold_bytes).spilling_to(dir.to_owned()),
            // A camera cannot be read again: without a spill directory, all in memory.
            (true, None) => Hold::new(usize::MAX),
            (false, _) => Hold::new(hold_bytes).expecting(expected),
        };
        let (mut origins, mut at_input) = (Vec::new(), true);
        let mut inputs = Hold::new(input_budget(hold_bytes)).expecting(expected);
        let bound = bound.map(|b| usize::try_from(b).unwrap_or(usize::MAX));
        tap.begin(bound, pre.unit_len(), inputs.budget);
        while let Some(frame) = source
            .next_frame()
            .with_context(|| format!("reading {spec}"))?
        {
            phase.advance(1)?;
            match inputs.closed() || at_input_size(&frame.image, pre) {
                false => {
                    let input = input_pixels(&frame.image, pre);
                    tap.frame(&input);
                    inputs.push(input)?;
                }
                true => {
                    tap.stop();
                    inputs.drop_all();
                }
            }
            // A kept frame is the input size exactly when the decoded one is (see `decode_kept`).
            at_input &= at_input_size(&frame.image, pre);
            hold.keep(|| kept_pixels(frame.image, pre))?;
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
        if let Some(spill) = &hold.spill {
            progress.note(format_args!(
                "{spec}: {} frames ({} MB) kept on disk in {} for the later passes",
                spill.len(),
                spill.bytes() >> 20,
                spill_dir.map_or(String::new(), |d| d.display().to_string())
            ));
        }
        let replay = hold.into_replay()?.unwrap_or(Replay::Source(options));
        let inputs = held_inputs(inputs, at_input)?;
        tap.end(origins.len(), inputs.is_some());
        Ok(FrameList {
            spec,
            replay,
            origins,
            skipped: Vec::new(),
            kind,
            at_input,
            inputs,
        })
    }

    /// Whether the source can be read again the way `run` reads it (decoded and resized
    /// straight to the input), rather than only replayed from the frames kept here: false for
    /// a camera.
    pub fn can_read_again(&self) -> bool {
        self.kind != SourceKind::Camera
    }

    /// Whether the kept frames are exactly what `run` reads: every frame was already the input
    /// size, so nothing is resized twice.
    pub fn kept_at_input(&self) -> bool {
        self.at_input
    }

    /// Whether [`FrameList::pass_at_input`] gives what `run` reads: the frames as `run` reads
    /// them were held, or the kept frames are those.
    pub fn pass_at_input_is_exact(&self) -> bool {
        self.at_input || self.inputs.is_some()
    }

    /// The frames for the encoder as they are (BN statistics, novelty rows): each as `run`
    /// reads it when those were held in the first pass, otherwise the kept frames
    /// ([`FrameList::pass`]), which the caller resizes to the input.
    pub fn pass_at_input<'a>(&'a self, pre: &'a Preprocessor) -> crate::Result<FramePass<'a>> {
        match &self.inputs {
            Some(inputs) => Ok(Box::new(inputs.iter().map(|p| Ok(p.clone())))),
            None => self.pass(pre),
        }
    }

    /// The frames' files when they are image files (a folder, sampled or not), which
    /// [`input_units`] decodes again on every core; `None` for a video or a camera.
    pub fn image_files(&self) -> Option<&[PathBuf]> {
        (self.kind == SourceKind::Images).then_some(self.origins.as_slice())
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
            Replay::Spilled(spill) => Box::new(spill.pass()),
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
    pre: &Preprocessor,
    hold_bytes: usize,
    tap: &mut Tap,
    progress: &Progress,
) -> crate::Result<FrameList> {
    let files = image_files(root)?;
    if files.is_empty() {
        bail!(Data, "{}: no image files (empty folder)", root.display());
    }
    let list = read_files(&files, spec, pre, (hold_bytes, hold_bytes), tap, progress)?;
    if list.origins.is_empty() {
        bail!(
            Data,
            "{}: none of the {} file(s) is a decodable image (first: {})",
            root.display(),
            list.skipped.len(),
            list.skipped[0]
        );
    }
    Ok(list)
}

impl FrameList {
    /// These image files, every one of which must decode (labeled images: a missing one would
    /// shift every label after it); held in memory as far as [`HOLD_BYTES`] allows.
    pub fn strict_files(
        paths: &[PathBuf],
        pre: &Preprocessor,
        progress: &Progress,
    ) -> crate::Result<FrameList> {
        // Labeled views render from the kept frames; nothing reads them as `run` would.
        let budgets = (HOLD_BYTES, 0);
        let list = read_files(
            paths,
            "labeled images".into(),
            pre,
            budgets,
            &mut Tap::none(),
            progress,
        )?;
        if let Some(first) = list.skipped.first() {
            bail!(Data, "{first}");
        }
        if list.is_empty() {
            bail!(Data, "no labeled images");
        }
        Ok(list)
    }
}

/// Decodes `files` in order (blocks on every core), keeping what fits in `hold_bytes`.
fn read_files(
    files: &[PathBuf],
    spec: String,
    pre: &Preprocessor,
    (hold_bytes, input_bytes): (usize, usize),
    tap: &mut Tap,
    progress: &Progress,
) -> crate::Result<FrameList> {
    let mut phase = progress.phase("reading frames", Some(files.len() as u64));
    let hold = Hold::new(hold_bytes).expecting(Some(files.len()));
    let (mut origins, mut skipped, mut hold) = (Vec::new(), Vec::new(), hold);
    let inputs = Hold::new(input_budget(input_bytes)).expecting(Some(files.len()));
    let (mut at_input, mut inputs) = (true, inputs);
    tap.begin(Some(files.len()), pre.unit_len(), inputs.budget);
    // Decoded a block at a time on every core (the files are independent), taken in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    for block in files.chunks(16 * threads) {
        // Once over budget (or when the kept frames are the inputs) none are made; nor kept
        // frames once their own budget is spent (later passes decode them again).
        let want = (!hold.closed(), !inputs.closed());
        let decoded = decode_kept(block, pre, want, threads);
        for (path, kept) in block.iter().zip(decoded) {
            match kept {
                Ok((pixels, is_input, input)) => {
                    at_input &= is_input;
                    match pixels {
                        Some(pixels) => hold.push(pixels)?,
                        None => hold.drop_all(),
                    }
                    match input {
                        Some(input) => {
                            tap.frame(&input);
                            inputs.push(input)?;
                        }
                        None => {
                            tap.stop();
                            inputs.drop_all();
                        }
                    }
                    origins.push(path.clone());
                }
                Err(e) => skipped.push(e.to_string()),
            }
        }
        phase.advance(block.len() as u64)?;
    }
    phase.finish();
    let inputs = held_inputs(inputs, at_input)?;
    tap.end(origins.len(), inputs.is_some());
    Ok(FrameList {
        spec,
        replay: hold.into_replay()?.unwrap_or(Replay::Folder),
        origins,
        skipped,
        kind: SourceKind::Images,
        at_input,
        inputs,
    })
}

/// Whether a decoded frame is already the input size (kept as it is: the kept frame is the input).
fn at_input_size(image: &image::DynamicImage, pre: &Preprocessor) -> bool {
    let spec = pre.spec();
    (image.width() as usize, image.height() as usize) == (spec.width, spec.height)
}

/// The inputs held, when every one fitted and the kept frames are not already those.
fn held_inputs(inputs: Hold, at_input: bool) -> crate::Result<Option<Vec<Pixels>>> {
    match inputs.into_replay()? {
        Some(Replay::Held(frames)) if !at_input => Ok(Some(frames)),
        _ => Ok(None),
    }
}

/// One file of [`decode_kept`]: the kept frame (when asked), whether it is the input size, and
/// the frame as `run` reads it (when asked and not the input size already).
type DecodedFile = (Option<Pixels>, bool, Option<Pixels>);

/// `paths` decoded, in order, split over `threads` threads: each frame kept ([`kept_pixels`],
/// when `want.0`), whether that kept frame is the input size, and the frame as `run` reads it
/// ([`input_pixels`], when `want.1` and it is not the input size already).
fn decode_kept(
    paths: &[PathBuf],
    pre: &Preprocessor,
    want: (bool, bool),
    threads: usize,
) -> Vec<edge_ssl_core::Result<DecodedFile>> {
    let (size, run_size) = (kept_size(pre), pre.decode_size());
    decode_parallel(paths, threads, |path| {
        let image = decode_image_at_least(path, size)?;
        // A kept frame is the input size exactly when the decoded one is: one shrunk to
        // fit `KEEP_SCALE`× the input touches that bound.
        let is_input = at_input_size(&image, pre);
        let input = match want.1 && !is_input {
            false => None,
            // A JPEG that `run` decodes at another DCT scale than the kept frame's is decoded
            // again as `run` decodes it (for a 28×28 encoder: a cheap 1/8-scale decode).
            true if decodes_differ(path, size, run_size) => {
                Some(input_pixels(&decode_image_at_least(path, run_size)?, pre))
            }
            true => Some(input_pixels(&image, pre)),
        };
        Ok((want.0.then(|| kept_pixels(image, pre)), is_input, input))
    })
}

/// `paths` decoded as `run` decodes them and resized straight to the input ([0, 1] CHW, the
/// card's channels), on every core, in order; a file that no longer decodes is an error.
pub fn input_units(paths: &[PathBuf], pre: &Preprocessor) -> crate::Result<Vec<Array3<f32>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let size = pre.decode_size();
    let decoded = decode_parallel(paths, threads, |path| {
        decode_image_at_least(path, size).map(|image| pre.unit_image(&image))
    });
    decoded
        .into_iter()
        .zip(paths)
        .map(|(unit, path)| {
            unit.with_context(|| format!("{}: no longer decodable", path.display()))
        })
        .collect()
}

/// `decode` of every path on `threads` threads, results in order, each thread taking the next
/// path not yet taken ([`edge_ssl_core::claim_each`]; no gain measurable through this machine's
/// noise over contiguous halves: the listing of 1,000 768×576 JPEGs took 1.5–2.0 s either way).
fn decode_parallel<T: Send>(
    paths: &[PathBuf],
    threads: usize,
    decode: impl Fn(&PathBuf) -> edge_ssl_core::Result<T> + Sync,
) -> Vec<edge_ssl_core::Result<T>> {
    let (results, _panic) =
        edge_ssl_core::claim_each(paths.iter().collect(), threads, |_, path| decode(path));
    // A decoder that panicked (decode_image catches the image crate's own) leaves the paths its
    // thread took without a result: they count as undecodable files, never as a crash.
    results
        .into_iter()
        .zip(paths)
        .map(|(result, path)| {
            result.unwrap_or_else(|| {
                Err(edge_ssl_core::CoreError::Image {
                    path: path.clone(),
                    message: "the decoder failed".into(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use edge_ssl_core::Preprocessor;
    use edge_ssl_source::SourceOptions;

    use super::{FrameList, HOLD_BYTES, Pixels, Replay, Tap, input_units};
    use crate::frames::loader::decode;
    use crate::progress::Progress;

    const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    /// Every frame of a pass, which must not fail.
    fn all(pass: crate::Result<super::FramePass<'_>>) -> Vec<Pixels> {
        pass.unwrap().collect::<crate::Result<_>>().unwrap()
    }

    fn pre() -> Preprocessor {
        let card = edge_ssl_core::ModelCard::load(
            &std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("models/fmnist-ssl/encoder.toml"),
        )
        .unwrap();
        Preprocessor::new(card.input)
    }

    /// The frames of VTEST that `options` samples, listed from the video and from a folder of
    /// them saved losslessly, and the decoded frames themselves.
    fn video_and_folder(
        options: &SourceOptions,
        pre: &Preprocessor,
    ) -> (
        FrameList,
        FrameList,
        Vec<image::DynamicImage>,
        tempfile::TempDir,
    ) {
        let silent = Progress::silent();
        let dir = tempfile::tempdir().unwrap();
        let mut video = edge_ssl_source::open_source(VTEST, options).unwrap();
        let mut images = Vec::new();
        while let Some(frame) = video.next_frame().unwrap() {
            let path = dir.path().join(format!("{:03}.png", images.len()));
            frame.image.save(path).unwrap();
            images.push(frame.image);
        }
        let from_video = FrameList::scan(VTEST.as_ref(), pre, options, None, &silent).unwrap();
        let folder = SourceOptions::default();
        let from_folder = FrameList::scan(dir.path(), pre, &folder, None, &silent).unwrap();
        (from_video, from_folder, images, dir)
    }

    #[test]
    fn a_video_is_listed_once_and_read_again_identically() {
        let options = SourceOptions::default()
            .with_fps(Some(2.0))
            .with_max_frames(Some(4));
        let (pre, silent) = (pre(), Progress::silent());
        let list = FrameList::scan(VTEST.as_ref(), &pre, &options, None, &silent).unwrap();
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
        let pre = pre();
        let (from_video, from_folder, _, _dir) = video_and_folder(&options, &pre);
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

    /// Camera-size frames are kept shrunk for the views, and also held as `run` reads them:
    /// `pass_at_input` gives, for a folder and for the video its frames came from, each frame
    /// resized once to the input — the very pixels `run` computes from the decoded frame (within
    /// half a level) — while the kept frames resized again differ from them.
    #[test]
    fn frames_as_run_reads_them_are_held_beside_the_kept_ones() {
        let options = SourceOptions::default().with_max_frames(Some(3));
        let pre = pre();
        let (from_video, from_folder, images, _dir) = video_and_folder(&options, &pre);
        let run_units: Vec<_> = images.iter().map(|i| pre.unit_image(i)).collect();
        for list in [&from_video, &from_folder] {
            assert!(!list.kept_at_input() && list.pass_at_input_is_exact());
            let inputs: Vec<_> = list
                .pass_at_input(&pre)
                .unwrap()
                .collect::<crate::Result<_>>()
                .unwrap();
            assert_eq!(inputs.len(), 3);
            assert_as_run_reads(&inputs, &run_units);
            // The kept frames, resized a second time, are not what `run` reads.
            let kept = list.pass(&pre).unwrap().next().unwrap().unwrap();
            let twice = pre.resize_unit(kept.mapv(|v| f32::from(v) / 255.0).view());
            let mean_diff = (&twice - &run_units[0]).mapv(f32::abs).mean().unwrap();
            assert!(mean_diff > 1.0 / 255.0, "{mean_diff}");
        }
    }

    /// JPEG frames are decoded smaller in the DCT domain, by how much depending on what the
    /// decode is for: the inputs held for BN and novelty must come from the decode `run` makes
    /// (for the 28×28 encoder, 1/8 of a 768×576 frame), not from the kept frames' (1/4).
    #[test]
    fn jpeg_inputs_are_held_from_the_decode_run_makes() {
        let options = SourceOptions::default().with_max_frames(Some(3));
        let pre = pre();
        let (_, _, images, _dir) = video_and_folder(&options, &pre);
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(k, image)| {
                let path = dir.path().join(format!("{k:03}.jpg"));
                image.to_rgb8().save(&path).unwrap();
                path
            })
            .collect();
        let (w, h) = (images[0].width(), images[0].height());
        assert_ne!(
            super::kept_size(&pre).reduction(w, h),
            pre.decode_size().reduction(w, h),
            "the kept frames and `run` must decode at different scales for this test"
        );
        let (folder, silent) = (SourceOptions::default(), Progress::silent());
        let list = FrameList::scan(dir.path(), &pre, &folder, None, &silent).unwrap();
        assert!(list.pass_at_input_is_exact());
        let held = all(list.pass_at_input(&pre));
        assert_eq!(held.len(), 3);
        assert_as_run_reads(&held, &input_units(&files, &pre).unwrap());
    }

    /// Held 8-bit inputs are `run`'s float inputs rounded: within half a level each.
    fn assert_as_run_reads(held: &[Pixels], run: &[ndarray::Array3<f32>]) {
        assert_eq!(held.len(), run.len());
        for (input, unit) in held.iter().zip(run) {
            assert_eq!(input.dim(), unit.dim());
            let worst = input
                .iter()
                .zip(unit)
                .map(|(&a, &b)| (f32::from(a) / 255.0 - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 0.5 / 255.0 + 1e-6, "{worst}");
        }
    }

    /// A folder whose kept frames overflow their budget (made no more once it is spent) still
    /// holds every frame as `run` reads it, and later passes decode the same kept frames again.
    #[test]
    fn a_folder_past_its_kept_budget_still_holds_the_inputs() {
        let options = SourceOptions::default().with_max_frames(Some(4));
        let pre = pre();
        let (_, generous, _, dir) = video_and_folder(&options, &pre);
        let silent = Progress::silent();
        let folder = SourceOptions::default();
        let tight = FrameList::scan_holding(
            dir.path(),
            &pre,
            &folder,
            1,
            None,
            &mut Tap::none(),
            &silent,
        )
        .unwrap();
        assert!(matches!(tight.replay, Replay::Folder));
        assert!(matches!(generous.replay, Replay::Held(_)));
        assert_eq!(tight.len(), 4);
        assert!(!tight.kept_at_input() && tight.pass_at_input_is_exact());
        let inputs = |l: &FrameList| all(l.pass_at_input(&pre));
        assert_eq!(inputs(&tight), inputs(&generous));
        let kept = |l: &FrameList| all(l.pass(&pre));
        assert_eq!(kept(&tight), kept(&generous));
    }

    /// Small frames are held from the first pass; later passes give exactly what reading the
    /// source again gives, and a budget too small for them all holds none.
    #[test]
    fn held_frames_equal_frames_read_again() {
        let options = SourceOptions::default().with_max_frames(Some(6));
        let (pre, silent) = (pre(), Progress::silent());
        let scan = |budget| {
            FrameList::scan_holding(
                VTEST.as_ref(),
                &pre,
                &options,
                budget,
                None,
                &mut Tap::none(),
                &silent,
            )
            .unwrap()
        };
        let (held, again) = (scan(HOLD_BYTES), scan(0));
        let Replay::Held(frames) = &held.replay else {
            panic!("six small frames are held")
        };
        let partly = scan(3 * frames[0].len());
        assert!(matches!(again.replay, Replay::Source(_)));
        assert!(
            matches!(partly.replay, Replay::Source(_)),
            "3 of 6 frames fit: none held"
        );
        let pass = |list: &FrameList| all(list.pass(&pre));
        assert_eq!(pass(&held), pass(&again));
        assert_eq!(held.origins, again.origins);
    }

    /// A hold told how many frames will come keeps none when the first shows they cannot all
    /// fit (no frame is made only to be dropped), and all of them when they can.
    #[test]
    fn a_hold_that_cannot_keep_every_expected_frame_keeps_none() {
        let frame = super::Pixels::from_elem((3, 8, 8), 1);
        let mut short = super::Hold::new(5 * 192).expecting(Some(6));
        short.push(frame.clone()).unwrap();
        assert!(
            short.closed(),
            "six 192-byte frames do not fit in 960 bytes"
        );
        let mut made = 0;
        short
            .keep(|| {
                made += 1;
                frame.clone()
            })
            .unwrap();
        assert_eq!(made, 0);
        assert!(short.into_replay().unwrap().is_none());

        let mut enough = super::Hold::new(6 * 192).expecting(Some(6));
        for _ in 0..6 {
            enough.push(frame.clone()).unwrap();
        }
        let Some(Replay::Held(frames)) = enough.into_replay().unwrap() else {
            panic!("six frames fit in six frames' budget")
        };
        assert_eq!(frames.len(), 6);
    }

    /// What a camera's frames do past the budget: all of them (the held ones first) go to
    /// disk and come back in order; without a spill directory they would be dropped.
    #[test]
    fn frames_over_budget_spill_to_disk_in_order() {
        let frames: Vec<super::Pixels> = (0..6u8)
            .map(|i| super::Pixels::from_elem((3, 8, 8), i))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut hold = super::Hold::new(2 * 192).spilling_to(dir.path().to_owned());
        for f in &frames {
            hold.push(f.clone()).unwrap();
        }
        let Some(Replay::Spilled(spill)) = hold.into_replay().unwrap() else {
            panic!("six frames over a budget of two spill")
        };
        let back: Vec<_> = spill.pass().collect::<crate::Result<_>>().unwrap();
        assert_eq!(back, frames);
        let mut dropped = super::Hold::new(2 * 192);
        for f in &frames {
            dropped.push(f.clone()).unwrap();
        }
        assert!(dropped.into_replay().unwrap().is_none());
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
        // Held frames (the default for frames this small) cannot vanish; read again, they can.
        let list = FrameList::scan_holding(
            dir.path(),
            &pre,
            &SourceOptions::default(),
            0,
            None,
            &mut Tap::none(),
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
