//! The reviewed version of the tree on disk, so the read-only tools see exactly what will be
//! committed (a file staged and then edited again is read as staged).
//!
//! The snapshot lives in the cache directory, one per repository, and is updated in place:
//! a manifest records which blob each file holds, so a review after the first writes only
//! the files that changed since. A manifest is written only after every file is in place, so
//! an interrupted update is redone in full instead of being trusted.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::review::changes::{self, ChangeError, Scope};

/// Files of one tree: path → blob id.
type Entries = BTreeMap<String, Oid>;

/// Where the snapshot's files and manifest sit.
const TREE: &str = "tree";
const MANIFEST: &str = "manifest.json";
const LOCK: &str = "lock";

/// A lock older than this belongs to a review that died; it is taken over.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot write the review snapshot at `{}`: {source}; check the cache directory (LODE_CACHE_DIR)", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Changes(#[from] ChangeError),
}

impl From<git2::Error> for SnapshotError {
    fn from(e: git2::Error) -> Self {
        Self::Changes(e.into())
    }
}

/// A materialised tree, locked for this review. A private temporary copy (another review
/// holds the shared one) is removed on drop.
#[derive(Debug)]
pub struct Snapshot {
    root: PathBuf,
    lock: Option<PathBuf>,
    temporary: Option<PathBuf>,
    /// Files written by this update (0 when nothing changed since the last review).
    pub written: usize,
    /// Files the tree holds.
    pub files: usize,
}

impl Snapshot {
    /// The directory the reviewer's tools run in.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(lock) = &self.lock {
            let _ = std::fs::remove_file(lock);
        }
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The tree `scope` reviews, written under `base` (for `Uncommitted` the working tree itself
/// is the reviewed version: `None`).
pub fn materialize(
    repo: &Repository,
    scope: &Scope,
    base: &Path,
) -> Result<Option<Snapshot>, SnapshotError> {
    let entries = match scope {
        Scope::Uncommitted => return Ok(None),
        Scope::Staged => index_entries(&changes::staged_index(repo)?),
        Scope::Range(range) => {
            let (_, tree) = changes::range_trees(repo, range)?;
            tree_entries(&tree)?
        }
    };
    std::fs::create_dir_all(base).map_err(io(base))?;
    let (dir, lock, temporary) = match take_lock(&base.join(LOCK)) {
        Some(lock) => (base.to_path_buf(), Some(lock), None),
        // Another review is using the shared snapshot: work on a private one.
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            let dir = base.with_file_name(format!(
                "{}-{}-{nanos}",
                base.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            (dir.clone(), None, Some(dir))
        }
    };
    let mut snapshot = Snapshot {
        root: dir.join(TREE),
        lock,
        temporary,
        written: 0,
        files: entries.len(),
    };
    snapshot.written = update(repo, &dir, &entries)?;
    Ok(Some(snapshot))
}

/// Turns an I/O error at `path` into the error that names it.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { path, source }
}

/// Brings `dir/tree` to `entries`; returns how many files were written.
fn update(repo: &Repository, dir: &Path, entries: &Entries) -> Result<usize, SnapshotError> {
    let tree = dir.join(TREE);
    let manifest_path = dir.join(MANIFEST);
    let old: Entries = std::fs::read(&manifest_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<BTreeMap<String, String>>(&bytes).ok())
        .map(|m| {
            m.into_iter()
                .filter_map(|(path, id)| Some((path, Oid::from_str(&id).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    if old.is_empty() && tree.exists() {
        // No manifest: nothing in the tree can be trusted.
        std::fs::remove_dir_all(&tree).map_err(io(&tree))?;
    }
    // From here until the new manifest is written, the tree is in flux.
    match std::fs::remove_file(&manifest_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&manifest_path)(e)),
    }
    std::fs::create_dir_all(&tree).map_err(io(&tree))?;
    for path in old.keys().filter(|p| !entries.contains_key(*p)) {
        let file = tree.join(path);
        let _ = std::fs::remove_file(&file);
    }
    let mut written = 0;
    for (path, id) in entries {
        let file = tree.join(path);
        if old.get(path) == Some(id) && file.is_file() {
            continue;
        }
        let blob = repo.find_blob(*id)?;
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // A directory where a file now goes (or the other way round): the new tree wins.
        if file.is_dir() {
            std::fs::remove_dir_all(&file).map_err(io(&file))?;
        }
        std::fs::write(&file, blob.content()).map_err(io(&file))?;
        written += 1;
    }
    let manifest: BTreeMap<&String, String> =
        entries.iter().map(|(p, id)| (p, id.to_string())).collect();
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    std::fs::write(&manifest_path, bytes).map_err(io(&manifest_path))?;
    Ok(written)
}

/// Regular files of the index at stage 0 (conflicts, symlinks and submodules have no
/// content to read).
fn index_entries(index: &git2::Index) -> Entries {
    index
        .iter()
        .filter(|e| stage(e.flags) == 0 && is_regular(e.mode))
        .filter_map(|e| Some((safe_path(&String::from_utf8_lossy(&e.path))?, e.id)))
        .collect()
}

fn tree_entries(tree: &git2::Tree<'_>) -> Result<Entries, SnapshotError> {
    let mut entries = Entries::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) && is_regular(entry.filemode() as u32) {
            let path = format!("{dir}{}", entry.name().unwrap_or_default());
            if let Some(path) = safe_path(&path) {
                entries.insert(path, entry.id());
            }
        }
        TreeWalkResult::Ok
    })?;
    Ok(entries)
}

/// The merge stage in an index entry's flags (0 = not conflicted).
fn stage(flags: u16) -> u16 {
    (flags >> 12) & 0x3
}

/// 100644 or 100755.
fn is_regular(mode: u32) -> bool {
    mode & 0o170000 == 0o100000
}

/// A path that stays inside the snapshot: relative, no `..`, no `.git`.
fn safe_path(path: &str) -> Option<String> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components().all(|c| match c {
            Component::Normal(name) => name != ".git",
            _ => false,
        });
    ok.then(|| path.to_string())
}

/// Creates `path` exclusively (or takes over a stale one); `None` when another live review
/// holds it.
fn take_lock(path: &Path) -> Option<PathBuf> {
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    if create().is_ok() {
        return Some(path.to_path_buf());
    }
    let stale = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > STALE_LOCK);
    if stale {
        let _ = std::fs::remove_file(path);
        if create().is_ok() {
            return Some(path.to_path_buf());
        }
    }
    None
}

#[cfg(test)]
mod tests;
