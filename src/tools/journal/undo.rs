//! Rolling back the last journaled run, without ever losing work: a file changed since the
//! run is not overwritten unless forced, and then the changed version is kept as a backup
//! next to it; nothing is written through a symlink.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{is_plain_relative, journal_dir, remove_dir_if_present, Before, Entry, Manifest};
use super::{FORMAT_VERSION, MANIFEST};
use crate::tools::fsutil::{symlinked_ancestor, write_within};

/// What to do with files changed since the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UndoMode {
    /// Refuse the whole undo, touching nothing.
    #[default]
    Refuse,
    /// Undo anyway, keeping each changed version as a backup (`lode undo --force`).
    Force,
}

/// A file changed since the run, moved aside before the original came back.
#[derive(Clone, Debug, PartialEq)]
pub struct Backup {
    /// Workspace-relative.
    pub path: PathBuf,
    /// Workspace-relative: `<path>.lode-backup` (or `.lode-backup.N` when that exists).
    pub backup: PathBuf,
}

/// What an undo did; paths are workspace-relative.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UndoReport {
    pub root: PathBuf,
    /// Files put back to their pre-run bytes and permissions.
    pub restored: Vec<PathBuf>,
    /// Files the run had created, now removed.
    pub deleted: Vec<PathBuf>,
    /// Directories the run had created, now removed (empty ones only).
    pub removed_dirs: Vec<PathBuf>,
    /// Files changed since the run (forced undo only): the changed version is kept here.
    pub backups: Vec<Backup>,
}

impl fmt::Display for UndoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "undid the last run in {}", self.root.display())?;
        for backup in &self.backups {
            writeln!(
                f,
                "  kept     {} (your version of {}, changed after the run)",
                backup.backup.display(),
                backup.path.display()
            )?;
        }
        for path in &self.restored {
            writeln!(f, "  restored {}", path.display())?;
        }
        for path in &self.deleted {
            writeln!(f, "  deleted  {}", path.display())?;
        }
        for path in &self.removed_dirs {
            writeln!(f, "  removed  {}/", path.display())?;
        }
        Ok(())
    }
}

/// Why an undo did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("nothing to undo in {}: no run has changed files there since the last undo", root.display())]
    NothingToUndo { root: PathBuf },
    #[error("the undo journal at {} is damaged ({reason}); nothing was restored — delete that directory to start afresh", dir.display())]
    Corrupt { dir: PathBuf, reason: String },
    #[error("nothing was undone: {} changed after the last run, and undoing would lose that; `lode undo --force` undoes anyway and keeps your versions as FILE.lode-backup", list(paths))]
    ChangedSince { paths: Vec<PathBuf> },
    #[error("nothing was undone: `{}` is now a symlink or not a directory, and undo does not write through one; put the directory back and undo again", path.display())]
    Redirected { path: PathBuf },
    #[error("cannot undo `{}`: {source}; files listed before it were already restored", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// Rolls back the last journaled run in the workspace at `workspace_root`, refusing if any
/// file changed since (`UndoMode::Refuse`).
pub fn undo_last(data_dir: &Path, workspace_root: &Path) -> Result<UndoReport, UndoError> {
    undo_with(data_dir, workspace_root, UndoMode::Refuse)
}

/// What is at a journaled path now.
enum Now {
    Absent,
    File(String),
    /// A symlink, a directory, anything that is not a regular file.
    Other,
}

/// Rolls back the last journaled run in the workspace at `workspace_root` and removes its
/// journal. Every blob and every path is checked before any file is touched, so a damaged
/// journal, a refused change or a redirected directory changes nothing.
pub fn undo_with(
    data_dir: &Path,
    workspace_root: &Path,
    mode: UndoMode,
) -> Result<UndoReport, UndoError> {
    let root = workspace_root
        .canonicalize()
        .unwrap_or_else(|_| workspace_root.to_path_buf());
    let dir = journal_dir(data_dir, &root);
    let manifest = load(&dir, &root)?;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UndoError::Io { path, source }
    };

    // Load and verify everything first.
    let mut plan = Vec::with_capacity(manifest.entries.len());
    let mut changed = Vec::new();
    for entry in &manifest.entries {
        let original = original_bytes(&dir, entry)?;
        if let Some(path) = symlinked_ancestor(&root, &entry.path).map_err(io_err(&entry.path))? {
            let path = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
            return Err(UndoError::Redirected { path });
        }
        let now = now(&root.join(&entry.path)).map_err(io_err(&entry.path))?;
        let conflict = match &now {
            // Gone: putting the original back loses nothing.
            Now::Absent => false,
            Now::File(hash) => {
                let before = match &entry.before {
                    Before::File { blob, .. } => Some(blob),
                    Before::Missing => None,
                };
                entry.after.as_ref() != Some(hash) && before != Some(hash)
            }
            Now::Other => true,
        };
        if conflict {
            changed.push(entry.path.clone());
        }
        plan.push((entry, original, now, conflict));
    }
    if mode == UndoMode::Refuse && !changed.is_empty() {
        return Err(UndoError::ChangedSince { paths: changed });
    }

    let mut report = UndoReport {
        root: root.clone(),
        ..UndoReport::default()
    };
    for (entry, original, now, conflict) in plan {
        let abs = root.join(&entry.path);
        let err = io_err(&entry.path);
        if conflict {
            // Rename never follows a link: a symlink is moved aside as the link it is.
            let backup = free_backup_name(&abs);
            fs::rename(&abs, &backup).map_err(io_err(&entry.path))?;
            report.backups.push(Backup {
                path: entry.path.clone(),
                backup: backup.strip_prefix(&root).unwrap_or(&backup).to_path_buf(),
            });
        }
        match (&entry.before, original) {
            (
                Before::File {
                    mode: bits,
                    readonly,
                    ..
                },
                Some(bytes),
            ) => {
                write_within(&root, &entry.path, &bytes).map_err(io_err(&entry.path))?;
                set_permissions(&abs, *bits, *readonly).map_err(err)?;
                report.restored.push(entry.path.clone());
            }
            _ => {
                if matches!(now, Now::File(_)) && !conflict {
                    fs::remove_file(&abs).map_err(err)?;
                }
                report.deleted.push(entry.path.clone());
            }
        }
    }
    report.removed_dirs = remove_created_dirs(&root, &manifest.entries);
    remove_dir_if_present(&dir).map_err(io_err(&dir))?;
    Ok(report)
}

fn load(dir: &Path, root: &Path) -> Result<Manifest, UndoError> {
    let corrupt = |reason: String| UndoError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let text = match fs::read(dir.join(MANIFEST)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(UndoError::NothingToUndo {
                root: root.to_path_buf(),
            })
        }
        Err(e) => return Err(corrupt(format!("cannot read {MANIFEST}: {e}"))),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| corrupt(format!("{MANIFEST}: {e}")))?;
    if manifest.version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "unknown format version {}",
            manifest.version
        )));
    }
    for entry in &manifest.entries {
        let bad = std::iter::once(&entry.path)
            .chain(&entry.created_dirs)
            .find(|p| !is_plain_relative(p));
        if let Some(bad) = bad {
            return Err(corrupt(format!("bad path {}", bad.display())));
        }
    }
    Ok(manifest)
}

/// The verified pre-run bytes of `entry` (`None`: the run created the file).
fn original_bytes(dir: &Path, entry: &Entry) -> Result<Option<Vec<u8>>, UndoError> {
    let Before::File { blob, .. } = &entry.before else {
        return Ok(None);
    };
    let corrupt = |reason: String| UndoError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let bytes = fs::read(dir.join(blob))
        .map_err(|e| corrupt(format!("blob of {}: {e}", entry.path.display())))?;
    if blake3::hash(&bytes).to_hex().as_str() != blob {
        return Err(corrupt(format!(
            "blob of {} does not match its hash",
            entry.path.display()
        )));
    }
    Ok(Some(bytes))
}

/// What is at `abs`, without following a symlink there.
fn now(abs: &Path) -> io::Result<Now> {
    match fs::symlink_metadata(abs) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Now::Absent),
        Err(e) => Err(e),
        Ok(meta) if meta.is_file() => {
            let bytes = fs::read(abs)?;
            Ok(Now::File(blake3::hash(&bytes).to_hex().to_string()))
        }
        Ok(_) => Ok(Now::Other),
    }
}

/// `<abs>.lode-backup`, or `.lode-backup.2`, `.3`, … when taken: a backup never replaces one.
fn free_backup_name(abs: &Path) -> PathBuf {
    let base = abs.as_os_str().to_os_string();
    let mut n = 1u32;
    loop {
        let mut name = base.clone();
        name.push(".lode-backup");
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let candidate = PathBuf::from(name);
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

/// Removes the directories the run created, deepest first, where they are still empty real
/// directories; returns those removed. A directory someone put files in stays.
fn remove_created_dirs(root: &Path, entries: &[Entry]) -> Vec<PathBuf> {
    let mut dirs: Vec<&PathBuf> = entries.iter().flat_map(|e| &e.created_dirs).collect();
    dirs.sort_by(|a, b| {
        let depth = |d: &Path| d.components().count();
        depth(b).cmp(&depth(a)).then_with(|| a.cmp(b))
    });
    dirs.dedup();
    let mut removed = Vec::new();
    for dir in dirs {
        let safe = matches!(symlinked_ancestor(root, &dir.join("x")), Ok(None));
        let abs = root.join(dir);
        let is_dir = fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir());
        // `remove_dir` fails on a non-empty directory, which is the point.
        if safe && is_dir && fs::remove_dir(&abs).is_ok() {
            removed.push(dir.clone());
        }
    }
    removed.sort();
    removed
}

fn set_permissions(path: &Path, mode: Option<u32>, readonly: bool) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        return fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
    let _ = mode;
    let mut perms = fs::metadata(path)?.permissions();
    perms.set_readonly(readonly);
    fs::set_permissions(path, perms)
}
