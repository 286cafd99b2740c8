//! Replacing a model directory's files so that a reader never sees a mix of two models.
//!
//! Each file on its own is written atomically, but a model is several files tied together by
//! hashes: a new encoder beside the old card is as unreadable as a torn file. So writers put
//! every new part *and* the new card in a stage directory inside `out` (same filesystem), and
//! [`commit`] then removes the old card, renames the parts in, and renames the card in last.
//! Renames need no free space, so a full disk fails while staging and leaves the old model
//! whole; a crash during the commit leaves a directory without a card, which every command
//! refuses with a clear "not a model directory" instead of loading mismatched parts.

use std::path::{Path, PathBuf};

use crate::error::Context;

use crate::model::reference::DIR_CARD;

/// A fresh, empty stage directory inside `out`.
pub fn stage_dir(out: &Path) -> crate::Result<PathBuf> {
    let stage = out.join(".edge-ssl-stage");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    std::fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    Ok(stage)
}

/// Moves `parts` (and the card) from `stage` into `out`, card last. A part missing from the
/// stage is removed from `out`, so a stale file of the old model cannot outlive it.
pub fn commit(stage: &Path, out: &Path, parts: &[&str]) -> crate::Result<()> {
    let old_card = out.join(DIR_CARD);
    if old_card.exists() {
        std::fs::remove_file(&old_card)
            .with_context(|| format!("removing {}", old_card.display()))?;
        sync_dir(out);
    }
    for part in parts {
        let (from, to) = (stage.join(part), out.join(part));
        if from.is_file() {
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} into place", to.display()))?;
        } else if to.is_file() {
            std::fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
        }
    }
    sync_dir(out);
    std::fs::rename(stage.join(DIR_CARD), &old_card)
        .with_context(|| format!("moving {} into place", old_card.display()))?;
    sync_dir(out);
    Ok(())
}

/// Persists renames and removals in `dir`; some filesystems refuse fsync on a directory,
/// which only weakens durability across a power cut, so it is not an error.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
