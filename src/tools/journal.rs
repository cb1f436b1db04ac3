//! The undo journal behind `lode undo`. Before a run first changes a file, the original bytes
//! and permissions (or the fact that the file did not exist, and which of its directories did
//! not either) are saved under `<data_dir>/undo/<workspace id>/`, so the whole run can be
//! rolled back byte for byte even after the process is gone. Only the last run that changed
//! something is kept: its first `record` replaces the previous journal. One run at a time
//! writes it (`run_lock`); rolling back is `undo`.

mod undo;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tools::fsutil::{atomic_write, remove_stale_temps, symlinked_ancestor};
use crate::tools::Workspace;

pub use undo::{undo_last, undo_with, Backup, UndoError, UndoMode, UndoReport};

const MANIFEST: &str = "manifest.json";
const FORMAT_VERSION: u32 = 1;

/// Where the journal of the workspace at `root` lives.
pub fn journal_dir(data_dir: &Path, root: &Path) -> PathBuf {
    let hash = blake3::hash(root.as_os_str().as_encoded_bytes());
    data_dir.join("undo").join(&hash.to_hex()[..16])
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    root: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// Workspace-relative.
    path: PathBuf,
    before: Before,
    /// blake3 of the bytes the run left; lets `undo` tell when someone changed the file since.
    after: Option<String>,
    /// Directories (workspace-relative, outermost first) that did not exist when a new file
    /// was recorded: the write creates them, so undo removes them again if they are empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    created_dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Before {
    Missing,
    File {
        /// Blob file name: the blake3 hex of the contents.
        blob: String,
        /// Unix permission bits; `None` where the platform has none.
        mode: Option<u32>,
        readonly: bool,
    },
}

/// The journal of one run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    root: PathBuf,
    manifest: Manifest,
    recorded: HashSet<PathBuf>,
    /// Whether this run has replaced the previous run's journal yet.
    started: bool,
}

impl Journal {
    /// Prepares the journal for a run in `workspace`. Nothing on disk changes until the first
    /// `record`, so a run that changes nothing leaves the previous run undoable.
    pub fn begin(data_dir: &Path, workspace: &Workspace) -> io::Result<Journal> {
        let root = workspace.root().to_path_buf();
        fs::create_dir_all(data_dir.join("undo"))?;
        Ok(Journal {
            dir: journal_dir(data_dir, &root),
            manifest: Manifest {
                version: FORMAT_VERSION,
                root: root.clone(),
                entries: Vec::new(),
            },
            root,
            recorded: HashSet::new(),
            started: false,
        })
    }

    /// Saves the current state of `abs_path` (a file inside the workspace, symlinks already
    /// resolved, as `Workspace::resolve` gives it) unless this run already did: call it before
    /// every modification, the first one is what `undo` restores.
    pub fn record(&mut self, abs_path: &Path) -> io::Result<()> {
        let rel = self.relative(abs_path)?;
        if self.recorded.contains(&rel) {
            return Ok(());
        }
        if !self.started {
            remove_dir_if_present(&self.dir)?;
            fs::create_dir_all(&self.dir)?;
            self.started = true;
        }
        let mut created_dirs = Vec::new();
        let before = match fs::symlink_metadata(abs_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                created_dirs = self.missing_dirs(&rel);
                Before::Missing
            }
            Err(e) => return Err(e),
            Ok(_) => {
                // Follow symlinks: writers replace the target's bytes, so those are what to keep.
                let meta = fs::metadata(abs_path)?;
                if !meta.is_file() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("`{}` is not a regular file", abs_path.display()),
                    ));
                }
                let bytes = fs::read(abs_path)?;
                let blob = blake3::hash(&bytes).to_hex().to_string();
                let blob_path = self.dir.join(&blob);
                if !blob_path.exists() {
                    atomic_write(&blob_path, &bytes)?;
                }
                Before::File {
                    blob,
                    mode: mode_of(&meta),
                    readonly: meta.permissions().readonly(),
                }
            }
        };
        self.manifest.entries.push(Entry {
            path: rel.clone(),
            before,
            after: None,
            created_dirs,
        });
        self.save()?;
        self.recorded.insert(rel);
        Ok(())
    }

    /// Notes the bytes a tool left in `abs_path`, so `undo` can tell whether the file was
    /// changed again after the run. Files never `record`ed are ignored.
    pub fn note_written(&mut self, abs_path: &Path, bytes: &[u8]) -> io::Result<()> {
        let rel = self.relative(abs_path)?;
        let hash = blake3::hash(bytes).to_hex().to_string();
        match self.manifest.entries.iter_mut().find(|e| e.path == rel) {
            Some(entry) => entry.after = Some(hash),
            None => return Ok(()),
        }
        self.save()
    }

    /// Workspace-relative paths recorded so far, in order.
    pub fn recorded_paths(&self) -> Vec<PathBuf> {
        self.manifest
            .entries
            .iter()
            .map(|e| e.path.clone())
            .collect()
    }

    /// The ancestors of `rel` that do not exist yet, outermost first.
    fn missing_dirs(&self, rel: &Path) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = rel
            .ancestors()
            .skip(1)
            .filter(|dir| !dir.as_os_str().is_empty())
            .take_while(|dir| {
                matches!(fs::symlink_metadata(self.root.join(dir)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound)
            })
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        missing
    }

    fn relative(&self, abs_path: &Path) -> io::Result<PathBuf> {
        match abs_path.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => Ok(rel.to_path_buf()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}` is not a file inside the workspace {}",
                    abs_path.display(),
                    self.root.display()
                ),
            )),
        }
    }

    fn save(&self) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.manifest).map_err(io::Error::other)?;
        atomic_write(&self.dir.join(MANIFEST), &json)
    }
}

/// Removes the temp files a killed run left (see `fsutil::remove_stale_temps`) where that run
/// could have written them: next to each file in the last journal — a run records a file
/// before writing it, so its journal names every file it was writing when it died — and in
/// the journal's own directory. No walk of the repository, and nothing below a directory
/// that has become a symlink. Returns what was removed. Call it holding the run lock.
pub fn sweep_stale_temps(data_dir: &Path, root: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = journal_dir(data_dir, root);
    let mut removed = remove_stale_temps(&dir, None)?;
    let entries = fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|text| serde_json::from_slice::<Manifest>(&text).ok())
        .map(|m| m.entries)
        .unwrap_or_default();
    let mut places = BTreeSet::new();
    for entry in entries {
        if let (Some(parent), Some(name)) = (entry.path.parent(), entry.path.file_name()) {
            if is_plain_relative(&entry.path) {
                places.insert((parent.to_path_buf(), name.to_string_lossy().into_owned()));
            }
        }
    }
    for (parent, name) in places {
        if symlinked_ancestor(root, &parent.join(&name))?.is_some() {
            continue;
        }
        removed.extend(remove_stale_temps(&root.join(&parent), Some(&name))?);
    }
    Ok(removed)
}

/// Only `Normal` components: a manifest path that cannot climb out of the workspace.
fn is_plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn remove_dir_if_present(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> Option<u32> {
    None
}
