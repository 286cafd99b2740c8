use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::regular_file::{open_regular, read_regular};
use crate::{CoreError, Result, write_atomic};

/// The longest input side a card may declare (8192: well above any encoder's input).
pub const MAX_INPUT_SIDE: usize = 8192;
/// The most values one input image may have (C × H × W): 2^26 floats, 256 MB.
pub const MAX_INPUT_ELEMENTS: usize = 1 << 26;
/// The widest output a card may declare.
pub const MAX_OUTPUT_DIM: usize = 1 << 20;

/// Memory layout of the image input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

/// How an image of another size is brought to the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Resize both sides to the input size, ignoring aspect ratio.
    Stretch,
    /// Resize the short side to fit, then cut the centre (the torchvision eval recipe).
    CenterCrop,
}

/// What the encoder expects as input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub height: usize,
    pub width: usize,
    /// 1 (gray, converted from RGB by Rec. 601 luma) or 3 (RGB).
    pub channels: usize,
    /// Per channel, applied after scaling pixels to [0, 1].
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub resize: ResizeMode,
}

impl InputSpec {
    /// The tensor shape of a batch of `n` images in this layout.
    pub fn batch_shape(&self, n: usize) -> [usize; 4] {
        match self.layout {
            Layout::Nchw => [n, self.channels, self.height, self.width],
            Layout::Nhwc => [n, self.height, self.width, self.channels],
        }
    }
}

/// What the encoder gives back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    pub dim: usize,
}

/// The contract between an ONNX encoder and everything that feeds it.
///
/// Stored as TOML beside the ONNX (`encoder.onnx` + `encoder.toml`) or as `edge-ssl.toml` in a
/// model directory. `pretraining`, `metrics` and any further sections are free-form and kept
/// as they are when the card is rewritten.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// File name of the ONNX, relative to the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub pretraining: toml::Table,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub metrics: toml::Table,
    #[serde(flatten)]
    pub extra: toml::Table,
    /// What was guessed because no card said it; printed by the CLI, never written.
    #[serde(skip)]
    pub assumptions: Vec<String>,
}

impl ModelCard {
    /// A card built from what an ONNX file declares, for models that arrive without one.
    /// Every value the ONNX cannot tell is listed in `assumptions`.
    pub fn assumed(input: InputSpec, output: OutputSpec, assumptions: Vec<String>) -> Self {
        ModelCard {
            onnx: None,
            sha256: None,
            input,
            output,
            pretraining: Default::default(),
            metrics: Default::default(),
            extra: Default::default(),
            assumptions,
        }
    }

    /// The card that belongs beside an ONNX file: `x.onnx` → `x.toml`.
    pub fn path_beside(onnx: &Path) -> PathBuf {
        onnx.with_extension("toml")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_regular(path)?;
        let text = String::from_utf8(bytes).map_err(|_| CoreError::Card {
            path: path.to_owned(),
            message: "not UTF-8 text".into(),
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let card: ModelCard = toml::from_str(text).map_err(|e| CoreError::Card {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        card.validate().map_err(|message| CoreError::Card {
            path: path.to_owned(),
            message,
        })?;
        Ok(card)
    }

    /// Checks what serde cannot: sizes are positive and mean/std match the channels.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let i = &self.input;
        if i.channels != 1 && i.channels != 3 {
            return Err(format!("input.channels is {}, expected 1 or 3", i.channels));
        }
        if i.height == 0 || i.width == 0 || self.output.dim == 0 {
            return Err("input.height, input.width and output.dim must be positive".into());
        }
        // Sizes decide allocations (a batch is N × C × H × W floats, and a runtime plans for
        // it): a card from elsewhere saying `height = 18446744073709551615` must stop here,
        // not in an allocator's panic.
        if i.height > MAX_INPUT_SIDE || i.width > MAX_INPUT_SIDE {
            return Err(format!(
                "input is {}×{}; a side may be at most {MAX_INPUT_SIDE}",
                i.height, i.width
            ));
        }
        if i.channels * i.height * i.width > MAX_INPUT_ELEMENTS {
            return Err(format!(
                "input is {}×{}×{}, more than {MAX_INPUT_ELEMENTS} values per image",
                i.channels, i.height, i.width
            ));
        }
        if self.output.dim > MAX_OUTPUT_DIM {
            return Err(format!(
                "output.dim is {}; at most {MAX_OUTPUT_DIM}",
                self.output.dim
            ));
        }
        if i.mean.len() != i.channels || i.std.len() != i.channels {
            return Err(format!(
                "input.mean and input.std need {} value(s) each, found {} and {}",
                i.channels,
                i.mean.len(),
                i.std.len()
            ));
        }
        if i.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || i.mean.iter().any(|m| !m.is_finite())
        {
            return Err("input.std must be positive and input.mean finite".into());
        }
        Ok(())
    }

    pub fn to_toml(&self) -> std::result::Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// Writes the card atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_toml().map_err(|message| CoreError::Card {
            path: path.to_owned(),
            message,
        })?;
        write_atomic(path, |w| w.write_all(text.as_bytes()))
    }
}

/// Hex sha256 of a regular file, streamed so large models do not sit in memory twice. A FIFO
/// or device is refused rather than read (it would block or never end).
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = open_regular(path)?;
    sha256_reader(file).map_err(|e| CoreError::io(path, e))
}

/// Hex sha256 of everything `reader` yields: a file, or an entry of an archive that is checked
/// without being unpacked.
pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = r#"
onnx = "encoder.onnx"
sha256 = "00"

[input]
name = "input"
layout = "NCHW"
height = 28
width = 28
channels = 1
mean = [0.286]
std = [0.353]
resize = "stretch"

[output]
name = "embedding"
dim = 128

[pretraining]
method = "simclr"
epochs = 3

[provenance]
adapted_from = "default"
"#;

    #[test]
    fn parses_and_round_trips_with_free_form_sections() {
        let card = ModelCard::parse(CARD, Path::new("c.toml")).unwrap();
        assert_eq!(card.input.layout, Layout::Nchw);
        assert_eq!(card.input.batch_shape(4), [4, 1, 28, 28]);
        assert_eq!(card.pretraining["method"].as_str(), Some("simclr"));
        assert!(card.extra.contains_key("provenance"));
        let again = ModelCard::parse(&card.to_toml().unwrap(), Path::new("c.toml")).unwrap();
        assert_eq!(card, again);
    }

    #[test]
    fn rejects_mean_of_the_wrong_length_with_the_path() {
        let bad = CARD.replace("mean = [0.286]", "mean = [0.1, 0.2, 0.3]");
        let err = ModelCard::parse(&bad, Path::new("x/c.toml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("x/c.toml") && text.contains("input.mean"),
            "{text}"
        );
    }

    #[test]
    fn sizes_that_no_memory_holds_are_refused() {
        for (from, to) in [
            ("height = 28", "height = 9223372036854775807"),
            ("width = 28", "width = 100000"),
            (
                "height = 28\nwidth = 28\nchannels = 1\nmean = [0.286]\nstd = [0.353]",
                "height = 8192\nwidth = 8192\nchannels = 3\nmean = [0, 0, 0]\nstd = [1, 1, 1]",
            ),
            ("dim = 128", "dim = 9223372036854775807"),
        ] {
            let bad = CARD.replace(from, to);
            assert_ne!(bad, CARD);
            let err = ModelCard::parse(&bad, Path::new("c.toml")).unwrap_err();
            assert!(matches!(err, CoreError::Card { .. }), "{to}: {err}");
        }
        let big = CARD.replace("height = 28\nwidth = 28", "height = 4096\nwidth = 4096");
        assert!(ModelCard::parse(&big, Path::new("c.toml")).is_ok());
    }

    #[test]
    fn rejects_unknown_layout() {
        let bad = CARD.replace("\"NCHW\"", "\"CHWN\"");
        assert!(ModelCard::parse(&bad, Path::new("c.toml")).is_err());
    }
}
