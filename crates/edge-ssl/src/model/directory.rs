//! The model directory that `adapt`, `head` and `cluster` write and every `--model` reads:
//! `edge-ssl.toml` (card + `[provenance]`), `encoder.onnx`, `adapter.safetensors`,
//! `head.safetensors`, `novelty.safetensors`, `metrics.json`, `loss.png`.
//!
//! The parts are tied together by hashes so a directory assembled from mismatched pieces is an
//! error, not a silently wrong classifier: the card records the encoder's sha256 (checked by
//! `card_for`), the adapter records the encoder it was trained on, and the head records the
//! encoder *and* adapter whose embeddings it was fitted to (so does the novelty model), and the card's `[provenance]`
//! records the adapter's own sha256, so a missing, truncated or bit-flipped adapter is named
//! rather than silently skipped or applied. Writers stage every part and the card in a work
//! directory and move them in with [`commit`](crate::model::commit::commit), card last: a
//! directory whose writer died half-way holds the previous model or no card at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{ModelCard, open_regular, open_regular_in, sha256_file, write_atomic};
use edge_ssl_train::head::Head;
use edge_ssl_train::nn::Adapter;

use crate::model::reference::{DIR_CARD, ResolvedModel};

pub const ENCODER: &str = "encoder.onnx";
pub const ADAPTER: &str = "adapter.safetensors";
pub const HEAD: &str = "head.safetensors";
pub const NOVELTY: &str = "novelty.safetensors";
pub const METRICS: &str = "metrics.json";
pub const LOSS_PNG: &str = "loss.png";

/// `dir/name` when anything is there, checked to be a regular file that stays inside `dir`:
/// a part that is a FIFO, a device, a directory or a link out of the directory is an error,
/// not a hang or a read of `/etc/shadow`. `None` when nothing is there.
pub fn part(dir: &Path, name: &str) -> crate::Result<Option<PathBuf>> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(_) => {}
    }
    open_regular_in(dir, Path::new(name))?;
    Ok(Some(path))
}

/// Metadata key naming the encoder (sha256) an adapter or head was computed with.
const ENCODER_KEY: &str = "encoder_sha256";
/// Metadata key naming the adapter (sha256, or `none`) a head's embeddings went through; the
/// card's `[provenance]` records the directory's adapter under the same key.
const ADAPTER_KEY: &str = "adapter_sha256";

/// Writes `card` as the directory's `edge-ssl.toml`, pointing at `encoder.onnx` (which must
/// already be in place) with its sha256 and a `[provenance]` table that also records the
/// sha256 of `adapter.safetensors` when there is one.
pub fn write_card(
    dir: &Path,
    mut card: ModelCard,
    mut provenance: toml::Table,
) -> crate::Result<()> {
    let onnx = dir.join(ENCODER);
    card.onnx = Some(ENCODER.into());
    card.sha256 = Some(sha256_file(&onnx)?);
    if let Some(adapter) = part(dir, ADAPTER)? {
        provenance.insert(ADAPTER_KEY.into(), sha256_file(&adapter)?.into());
    }
    card.extra
        .insert("provenance".into(), toml::Value::Table(provenance));
    card.save(&dir.join(DIR_CARD))?;
    Ok(())
}

/// Makes `out` a model directory holding `model`'s encoder, adapter and card, unless it
/// already is `model`'s own directory. Used by `head`/`cluster` when `--out` is a new place.
pub fn materialize(model: &ResolvedModel, out: &Path) -> crate::Result<()> {
    if model.dir.as_deref().is_some_and(|d| same_dir(d, out)) {
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stage = crate::model::commit::stage_dir(out)?;
    copy_encoder_atomic(&model.onnx, &stage.join(ENCODER))?;
    if let Some(dir) = &model.dir
        && let Some(adapter) = part(dir, ADAPTER)?
    {
        copy_atomic(&adapter, &stage.join(ADAPTER))?;
    }
    let mut provenance = toml::Table::new();
    provenance.insert(
        "source_model".into(),
        model.onnx.display().to_string().into(),
    );
    write_card(&stage, model.card.clone(), provenance)?;
    // A novelty model of the directory's previous encoder must not outlive it.
    crate::model::commit::commit(&stage, out, &[ENCODER, ADAPTER, NOVELTY])?;
    std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn copy_atomic(from: &Path, to: &Path) -> crate::Result<()> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_regular(from)?, &mut bytes)
        .with_context(|| format!("reading {}", from.display()))?;
    write_atomic(to, |w| w.write_all(&bytes))?;
    Ok(())
}

/// Copies the encoder `from` into a model directory as `to`: its bytes, or, when its weights
/// are in external data files (torch's exporter writes `model.onnx.data` by default), the
/// model with them read in — a directory's `encoder.onnx` holds its weights, so it can be
/// moved, bundled and checked by one sha256.
pub fn copy_encoder_atomic(from: &Path, to: &Path) -> crate::Result<()> {
    match edge_ssl_runtime::onnx::inspect::inline_bytes(from)? {
        Some(bytes) => Ok(write_atomic(to, |w| w.write_all(&bytes))?),
        None => copy_atomic(from, to),
    }
}

/// The sha256 that adapters and heads record for `model`'s encoder: of the bytes a model
/// directory holds for it ([`copy_encoder_atomic`]), so a bare file with external data and the
/// directory made from it record the same encoder.
pub fn encoder_sha(model: &ResolvedModel) -> crate::Result<String> {
    if model.dir.is_none()
        && let Some(bytes) = edge_ssl_runtime::onnx::inspect::inline_bytes(&model.onnx)?
    {
        return Ok(edge_ssl_core::sha256_reader(bytes.as_slice())?);
    }
    match &model.card.sha256 {
        Some(s) => Ok(s.clone()),
        None => Ok(sha256_file(&model.onnx)?),
    }
}

/// Metadata an adapter trained on `encoder_sha`'s embeddings carries.
pub fn adapter_metadata(encoder_sha: &str, extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    m.insert(ENCODER_KEY.into(), encoder_sha.into());
    m
}

/// The adapter of a model directory, if it has one, checked against the directory's encoder
/// and against the sha256 the card records for it.
pub fn load_adapter(model: &ResolvedModel) -> crate::Result<Option<Adapter>> {
    let Some(dir) = &model.dir else {
        return Ok(None);
    };
    let found = part(dir, ADAPTER)?;
    let path = dir.join(ADAPTER);
    let recorded = model
        .card
        .extra
        .get("provenance")
        .and_then(|p| p.get(ADAPTER_KEY))
        .and_then(|v| v.as_str());
    if found.is_none() {
        if let Some(sha) = recorded {
            bail!(
                Model,
                "{}: missing; the card records an adapter (sha256 {sha}); restore it or re-run `edge-ssl adapt`",
                path.display()
            );
        }
        return Ok(None);
    }
    // The typed error names the file already.
    let (adapter, meta) = Adapter::load_with_metadata(&path)?;
    if adapter.dim() != model.card.output.dim {
        bail!(
            Model,
            "mismatched model directory: {} is {}-d but the encoder outputs {}-d",
            path.display(),
            adapter.dim(),
            model.card.output.dim
        );
    }
    let encoder = encoder_sha(model)?;
    if meta.get(ENCODER_KEY).is_some_and(|s| *s != encoder) {
        bail!(
            Model,
            "mismatched model directory: {} was trained on another encoder than {} (re-run `edge-ssl adapt`)",
            path.display(),
            model.onnx.display()
        );
    }
    if let Some(sha) = recorded
        && !sha.eq_ignore_ascii_case(&sha256_file(&path)?)
    {
        bail!(
            Model,
            "{}: corrupt or replaced: its sha256 is not the {sha} the card records (re-run `edge-ssl adapt`)",
            path.display()
        );
    }
    Ok(Some(adapter))
}

/// What a head (or novelty model) records about the embeddings it was fitted on: encoder and
/// adapter hashes.
pub fn embedding_key(model: &ResolvedModel) -> crate::Result<BTreeMap<String, String>> {
    let adapter = match &model.dir {
        Some(d) => part(d, ADAPTER)?,
        None => None,
    };
    embedding_key_of(&encoder_sha(model)?, adapter.as_deref())
}

/// The embedding key of an encoder with sha256 `encoder_sha` behind the adapter file
/// `adapter` (or none), for a writer whose directory is not assembled yet.
pub fn embedding_key_of(
    encoder_sha: &str,
    adapter: Option<&Path>,
) -> crate::Result<BTreeMap<String, String>> {
    let adapter = match adapter {
        Some(p) => sha256_file(p)?,
        None => "none".into(),
    };
    Ok(BTreeMap::from([
        (ENCODER_KEY.to_string(), encoder_sha.to_string()),
        (ADAPTER_KEY.to_string(), adapter),
    ]))
}

/// Writes `head` into `dir` with the embedding key of `model` (whose files `dir` now holds).
pub fn save_head(
    head: &Head,
    model: &ResolvedModel,
    dir: &Path,
    extra: &[(&str, String)],
) -> crate::Result<PathBuf> {
    let mut meta = embedding_key(model)?;
    meta.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let path = dir.join(HEAD);
    head.save_with_metadata(&path, &meta)?;
    Ok(path)
}

/// The head of a model directory, refusing one fitted on other embeddings. The adapter is
/// checked first, so a corrupt adapter is named as such rather than reported as a head fitted
/// on other embeddings.
pub fn load_head(model: &ResolvedModel) -> crate::Result<Head> {
    load_adapter(model)?;
    let Some(dir) = &model.dir else {
        return Err(crate::Error::NoHead {
            model: model.onnx.clone(),
            what: "is a bare ONNX file with no head".into(),
        });
    };
    let Some(path) = part(dir, HEAD)? else {
        return Err(crate::Error::NoHead {
            model: dir.clone(),
            what: format!("has no {HEAD}"),
        });
    };
    let (head, meta) = Head::load_with_metadata(&path)?;
    let expected = embedding_key(model)?;
    for (k, v) in &expected {
        if meta.get(k).is_some_and(|m| m != v) {
            return Err(crate::Error::StaleHead {
                head: path,
                differs: k.to_string(),
            });
        }
    }
    if head.dim() != model.card.output.dim {
        bail!(
            Model,
            "mismatched model directory: {} takes {}-d embeddings, the model gives {}-d",
            path.display(),
            head.dim(),
            model.card.output.dim
        );
    }
    Ok(head)
}

/// The files of a model directory that a device needs to `run` it, as (file name, path): the
/// card, the encoder it names, the adapter if there is one, the head (which must fit the
/// encoder and adapter), the novelty model (checked the same way) and `metrics.json` if there
/// are. Not the training plots.
pub fn deploy_files(model: &ResolvedModel) -> crate::Result<Vec<(String, PathBuf)>> {
    let Some(dir) = &model.dir else {
        return Err(crate::Error::NoHead {
            model: model.onnx.clone(),
            what: "is a bare ONNX file; a bundle needs a model directory with a head".into(),
        });
    };
    load_head(model)?;
    crate::novelty::file::load(model)?;
    let onnx_name = model
        .onnx
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| dir.join(n) == model.onnx)
        .with_context(|| {
            format!(
                "{}: the card's encoder {} is not a file in the directory",
                dir.display(),
                model.onnx.display()
            )
        })?;
    let mut files = vec![(DIR_CARD.to_string(), dir.join(DIR_CARD))];
    files.push((onnx_name.to_string(), model.onnx.clone()));
    for optional in [ADAPTER, NOVELTY, METRICS] {
        if let Some(path) = part(dir, optional)? {
            files.push((optional.to_string(), path));
        }
    }
    files.push((HEAD.to_string(), dir.join(HEAD)));
    Ok(files)
}
