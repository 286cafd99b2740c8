//! `DIR/.adapt-work/`: what an interrupted `adapt` leaves for `--resume` (the plan it was
//! started with, the BN-patched encoder, the view cache, checkpoints). A resume is refused
//! when the plan differs, because mixing two runs' halves would give neither's adapter.

use std::path::Path;

use crate::error::Context;
use edge_ssl_core::write_atomic;

use crate::progress::Progress;

/// Creates (or, with `--resume`, reuses) the work directory; true when resuming.
pub fn prepare(
    work: &Path,
    plan: &serde_json::Value,
    resume: bool,
    progress: &Progress,
) -> crate::Result<bool> {
    let plan_path = work.join("plan.json");
    if resume && plan_path.is_file() {
        let old: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan_path)?)
            .with_context(|| format!("{}: corrupt", plan_path.display()))?;
        if old != *plan {
            return Err(crate::Error::ResumeMismatch(format!(
                "the interrupted run in {} used other data or settings ({old})",
                work.display()
            )));
        }
        progress.note(format_args!("resuming from {}", work.display()));
        return Ok(true);
    }
    if resume {
        progress.note(format_args!(
            "no interrupted run in {} to resume; starting from the beginning",
            work.display()
        ));
    }
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    write_atomic(&plan_path, |w| w.write_all(plan.to_string().as_bytes()))?;
    Ok(false)
}
