//! `lode undo`: put back, byte for byte, the files the last `lode run` changed here — never
//! over a change made since (unless `--force`, which keeps that change as a backup).

use std::io::Write;

use crate::cli::UndoArgs;
use crate::commands::CommandError;
use crate::config::Config;
use crate::exec::repo_root;
use crate::tools::journal::{undo_with, UndoMode};
use crate::tools::run_lock::{Holder, RunLock};

/// Runs `lode undo`.
pub fn run(args: &UndoArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let root = repo_root(&cwd);
    // A run still writing would change files under our feet and replace the journal.
    let _lock = RunLock::acquire(&config.dirs.data, &root, Holder::Undo)
        .map_err(|e| CommandError::Undo(e.to_string()))?;
    let mode = if args.force {
        UndoMode::Force
    } else {
        UndoMode::Refuse
    };
    let report =
        undo_with(&config.dirs.data, &root, mode).map_err(|e| CommandError::Undo(e.to_string()))?;
    for kept in &report.backups {
        writeln!(
            out,
            "kept     {} (your version of {}, changed after the run)",
            kept.backup.display(),
            kept.path.display()
        )?;
    }
    for path in &report.restored {
        writeln!(out, "restored {}", path.display())?;
    }
    for path in &report.deleted {
        writeln!(out, "deleted  {} (created by the run)", path.display())?;
    }
    for path in &report.removed_dirs {
        writeln!(out, "removed  {}/ (created by the run)", path.display())?;
    }
    if report.restored.is_empty() && report.deleted.is_empty() {
        writeln!(out, "the last run changed no files")?;
    }
    Ok(())
}
