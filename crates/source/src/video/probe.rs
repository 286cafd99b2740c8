use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

use super::local_input::LOCAL_ONLY;
use crate::{Result, SourceError};

/// What ffprobe says about a file's first video stream.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Probe {
    /// The size of the frames ffmpeg hands over: the stored size, its sides swapped when the
    /// stream says to show it turned a quarter (see [`quarter_turned`]).
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
    /// `fps` as ffprobe wrote it (`2997/125`), to hand back to ffmpeg without rounding.
    pub rate: Option<String>,
    /// From the container header; absent for formats that do not record it (Matroska, streams).
    pub frame_count: Option<u64>,
    pub codec: String,
}

/// Runs ffprobe on `input`, the [`local_input`](super::local_input::local_input) form of
/// `path` (which names the file in errors). Its failure is the clearest "this is not a video"
/// message there is, so it becomes the error as ffprobe worded it.
pub(crate) fn probe(ffprobe: &Path, path: &Path, input: &OsStr) -> Result<Probe> {
    const STREAM: &str = "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames";
    let run = |entries: &str| {
        Command::new(ffprobe)
            .args(["-v", "error"])
            .args(LOCAL_ONLY)
            .args(["-select_streams", "v:0", "-show_entries", entries])
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(input)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_error(ffprobe, e))
    };
    let mut output = run(&format!(
        "{STREAM}:stream_side_data=rotation:stream_tags=rotate"
    ))?;
    // An ffprobe older than its stream side data section names refuses the whole query; it
    // still reports the `rotate` tag, which the muxers of its time set.
    if !output.status.success()
        && String::from_utf8_lossy(&output.stderr).contains("No match for section")
    {
        output = run(&format!("{STREAM}:stream_tags=rotate"))?;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let message = stderr
            .lines()
            .last()
            .map(|l| l.rsplit_once(": ").map_or(l, |(_, m)| m).trim().to_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("ffprobe failed ({})", output.status));
        return Err(SourceError::Video {
            path: path.to_owned(),
            message,
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| SourceError::Video {
        path: path.to_owned(),
        message: "the file has no video stream".into(),
    })
}

pub(crate) fn spawn_error(program: &Path, e: std::io::Error) -> SourceError {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => SourceError::FfmpegMissing {
            program: program.to_owned(),
            message: e.to_string(),
        },
        _ => SourceError::io(program, e),
    }
}

/// Parses ffprobe's `key=value` lines; `None` when there is no usable video stream.
fn parse(text: &str) -> Option<Probe> {
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
    };
    let width = field("width")?.parse().ok().filter(|w| *w > 0)?;
    let height = field("height")?.parse().ok().filter(|h| *h > 0)?;
    let rotation = field("rotation").or_else(|| field("TAG:rotate"));
    let (width, height) = match rotation.is_some_and(quarter_turned) {
        true => (height, width),
        false => (width, height),
    };
    // avg_frame_rate is what the frames actually average; r_frame_rate is the codec's base rate
    // and the only one some containers fill in.
    let (rate_text, fps) = ["avg_frame_rate", "r_frame_rate"]
        .into_iter()
        .find_map(|k| field(k).and_then(|t| Some((t.to_owned(), rate(t)?))))
        .unzip();
    Some(Probe {
        width,
        height,
        fps,
        rate: rate_text,
        frame_count: field("nb_frames")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0),
        codec: field("codec_name").unwrap_or("unknown codec").to_owned(),
    })
}

/// Whether a stream's rotation (degrees, as ffprobe prints its display matrix, or the older
/// `rotate` tag) turns it a quarter either way. ffmpeg shows such a stream upright (it turns
/// every frame: a phone's portrait video, stored 1920×1080 with "rotate 90", comes out 1080×1920),
/// so the frames it hands over have the stored size's sides swapped; reading them at the stored
/// size made every frame a sheared smear.
fn quarter_turned(rotation: &str) -> bool {
    rotation
        .parse::<f64>()
        .is_ok_and(|degrees| (degrees.round() as i64).rem_euclid(180) == 90)
}

/// `30000/1001` → 29.97; `0/0` and `N/A` → None.
fn rate(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/').unwrap_or((text, "1"));
    let r = num.parse::<f64>().ok()? / den.parse::<f64>().ok()?;
    (r.is_finite() && r > 0.0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffprobe_output_and_falls_back_to_the_base_rate() {
        let text = "codec_name=msmpeg4v3\nwidth=768\nheight=576\nr_frame_rate=10/1\n\
                    avg_frame_rate=0/0\nnb_frames=N/A\n";
        let p = parse(text).unwrap();
        assert_eq!(
            (p.width, p.height, p.codec.as_str()),
            (768, 576, "msmpeg4v3")
        );
        assert_eq!((p.fps, p.rate.as_deref()), (Some(10.0), Some("10/1")));
        assert_eq!(p.frame_count, None);
        assert!((rate("30000/1001").unwrap() - 29.97).abs() < 1e-3);
    }

    /// A stream shown turned a quarter (display matrix or the older tag) has its sides
    /// swapped; half a turn or none keeps them.
    #[test]
    fn a_quarter_turn_swaps_the_sides() {
        let base = "codec_name=h264\nwidth=1920\nheight=1080\nr_frame_rate=30/1\n";
        for (extra, sides) in [
            ("rotation=90\n", (1080, 1920)),
            ("rotation=-90\n", (1080, 1920)),
            ("rotation=270\n", (1080, 1920)),
            ("TAG:rotate=90\n", (1080, 1920)),
            ("rotation=180\n", (1920, 1080)),
            ("rotation=-180\n", (1920, 1080)),
            ("rotation=0\n", (1920, 1080)),
            ("", (1920, 1080)),
        ] {
            let p = parse(&format!("{base}{extra}")).unwrap();
            assert_eq!((p.width, p.height), sides, "{extra:?}");
        }
    }

    #[test]
    fn no_stream_is_none() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("width=0\nheight=10\n"), None);
    }
}
