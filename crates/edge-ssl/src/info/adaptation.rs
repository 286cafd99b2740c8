//! What `adapt` did to make a model directory, as `info` shows it: the recipe recorded in the
//! card's `[provenance]` (adapter objective, BN re-estimation, which of the encoder's own weights
//! trained) and, when the encoder trained, what `metrics.json` says of it (blocks, parameters,
//! epochs). A directory `head` or `cluster` made from a bare ONNX has no recipe.

use std::io::Read;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Context, bail};
use crate::model::directory::{self, METRICS};
use crate::model::reference::ResolvedModel;

/// metrics.json is read whole; a larger one is not a file `adapt` wrote.
const MAX_METRICS_BYTES: u64 = 64 << 20;

/// The recipe of an adapted model directory.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Adaptation {
    /// The adapter's objective (`vicreg`, …), `none` without an adapter.
    pub method: String,
    pub bn_adapt: bool,
    /// BatchNorm layers whose statistics were re-estimated (0 for an encoder without any).
    pub bn_layers: Option<u64>,
    /// Which of the encoder's own weights trained: `none`, `bn`, `tail:N` or `all`.
    pub train: String,
    /// Frames adapted on.
    pub frames: Option<u64>,
    /// With encoder training: blocks trained, of how many, their parameters and epochs.
    pub trained_blocks: Option<u64>,
    pub encoder_blocks: Option<u64>,
    pub trained_parameters: Option<u64>,
    pub encoder_epochs: Option<u64>,
    /// With labeled images (`adapt --labeled`): `trained` when the trained encoder was kept,
    /// `original` when held-out labels were classified worse and the encoder stayed as it was.
    pub labels_kept: Option<String>,
}

impl Adaptation {
    /// The recipe of `model`'s directory; `None` for a bare ONNX or a directory not made by
    /// `adapt`.
    pub fn of(model: &ResolvedModel) -> crate::Result<Option<Self>> {
        let Some(dir) = &model.dir else {
            return Ok(None);
        };
        let Some(p) = model
            .card
            .extra
            .get("provenance")
            .and_then(|p| p.as_table())
        else {
            return Ok(None);
        };
        let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(method), Some(bn_adapt)) = (text("method"), p.get("bn_adapt")) else {
            return Ok(None);
        };
        let metrics = match directory::part(dir, METRICS)? {
            Some(path) => read_metrics(&path)?,
            None => Value::Null,
        };
        let encoder = &metrics["encoder"];
        Ok(Some(Adaptation {
            method,
            bn_adapt: bn_adapt.as_bool().unwrap_or(false),
            bn_layers: metrics["bn"]["layers"]
                .as_array()
                .map(|layers| layers.len() as u64),
            train: text("train").unwrap_or_else(|| "none".into()),
            frames: metrics["frames"].as_u64(),
            trained_blocks: encoder["trained_blocks"].as_u64(),
            encoder_blocks: encoder["blocks"].as_u64(),
            trained_parameters: encoder["parameters"].as_u64(),
            encoder_epochs: encoder["epochs"].as_u64(),
            labels_kept: encoder["labels"]["kept"].as_str().map(str::to_owned),
        }))
    }

    /// One line for `info`: "on 5000 frames: BN re-estimated (7 layers), encoder tail:1 trained (1 of 7
    /// blocks, 33280 parameters, 15 epochs), adapter vicreg".
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if self.bn_adapt {
            parts.push(match self.bn_layers {
                Some(0) => "no BN layer to re-estimate".to_string(),
                Some(n) => format!("BN re-estimated ({n} layers)"),
                None => "BN re-estimated".to_string(),
            });
        }
        if self.labels_kept.as_deref() == Some("original") {
            parts.push(format!(
                "encoder {} trained but not kept (held-out labels were classified worse)",
                self.train
            ));
        } else if self.train != "none" {
            let mut trained = format!("encoder {} trained", self.train);
            let mut details = Vec::new();
            if let (Some(t), Some(of)) = (self.trained_blocks, self.encoder_blocks) {
                details.push(format!("{t} of {of} blocks"));
            }
            if let Some(n) = self.trained_parameters {
                details.push(format!("{n} parameters"));
            }
            if let Some(e) = self.encoder_epochs {
                details.push(format!("{e} epochs"));
            }
            if !details.is_empty() {
                trained.push_str(&format!(" ({})", details.join(", ")));
            }
            parts.push(trained);
        }
        parts.push(match self.method.as_str() {
            "none" => "no adapter".to_string(),
            m => format!("adapter {m}"),
        });
        let on = self
            .frames
            .map_or(String::new(), |n| format!("on {n} frames: "));
        format!("{on}{}", parts.join(", "))
    }
}

fn read_metrics(path: &std::path::Path) -> crate::Result<Value> {
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let mut text = String::new();
    file.take(MAX_METRICS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| crate::Error::io(path, e))?;
    if text.len() as u64 > MAX_METRICS_BYTES {
        bail!(
            Model,
            "{}: larger than {MAX_METRICS_BYTES} bytes",
            path.display()
        );
    }
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::Adaptation;

    fn recipe(bn_layers: Option<u64>) -> Adaptation {
        Adaptation {
            method: "vicreg".into(),
            bn_adapt: true,
            bn_layers,
            train: "none".into(),
            frames: Some(100),
            trained_blocks: None,
            encoder_blocks: None,
            trained_parameters: None,
            encoder_epochs: None,
            labels_kept: None,
        }
    }

    /// An encoder without BatchNorm (a ViT) is not said to have had its statistics re-estimated.
    #[test]
    fn the_line_counts_the_bn_layers_and_says_when_there_were_none() {
        assert_eq!(
            recipe(Some(0)).line(),
            "on 100 frames: no BN layer to re-estimate, adapter vicreg"
        );
        assert_eq!(
            recipe(Some(34)).line(),
            "on 100 frames: BN re-estimated (34 layers), adapter vicreg"
        );
        assert_eq!(
            recipe(None).line(),
            "on 100 frames: BN re-estimated, adapter vicreg"
        );
    }
}
