//! The protected files a test run must not change. `run_tests` runs without approval in the
//! default mode, and a test suite is code from the repository: a build script could plant
//! `core.fsmonitor` in `.git/config` or a hook in `.git/hooks/`, which git would run on the
//! user's next command. So the files that make git or lode run code are snapshotted before
//! the test command and put back, byte for byte, if it changed them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this, or more than `MAX_FILES` of them, are not snapshotted (git's
/// config and hooks are small; a `.lode/` that big is not lode's).
const MAX_FILE: u64 = 1024 * 1024;
const MAX_FILES: usize = 512;

/// The protected files as they were.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// Symlinks that were there, with their targets: put back if changed, never followed.
    links: BTreeMap<PathBuf, PathBuf>,
    /// Everything that was there, snapshotted or not (a link, a file too big to keep): what
    /// was there before the run is the user's, never removed.
    present: std::collections::BTreeSet<PathBuf>,
    /// The protected directories that were real directories (not links) at `take`.
    dirs: Vec<PathBuf>,
}

/// The directories whose replacement by a link is undone.
const DIRS: [&str; 3] = [".git/hooks", ".git/info", ".lode"];

impl Snapshot {
    /// Reads `.git/config`, `.git/hooks/*`, `.git/info/attributes` and `.lode/**` under `root`.
    pub fn take(root: &Path) -> Self {
        let present: std::collections::BTreeSet<PathBuf> = scan(root).into_iter().collect();
        Self {
            files: present
                .iter()
                .filter_map(|path| Some((path.clone(), read_small(path)?)))
                .collect(),
            links: present
                .iter()
                .filter_map(|path| Some((path.clone(), std::fs::read_link(path).ok()?)))
                .collect(),
            present,
            dirs: DIRS
                .iter()
                .map(|d| root.join(d))
                .filter(|d| real_dir(d))
                .collect(),
        }
    }

    /// Puts back every protected file that changed, appeared or vanished since `take`;
    /// returns the ones it put back, relative to `root`. Nothing is written or removed
    /// through a symlink: a directory swapped for one is left alone (and not read).
    pub fn restore(&self, root: &Path) -> Vec<String> {
        let mut restored = Vec::new();
        // A protected directory swapped for a link (to hooks elsewhere) loses the link.
        for path in &self.dirs {
            if is_link(path) && remove_within(root, path) {
                restored.push(path.clone());
            }
        }
        for path in scan(root) {
            if !self.present.contains(&path) && remove_within(root, &path) {
                restored.push(path);
            }
        }
        for (path, target) in &self.links {
            if std::fs::read_link(path).is_ok_and(|now| &now == target) {
                continue;
            }
            if put_link_back(root, path, target) {
                restored.push(path.clone());
            }
        }
        for (path, bytes) in &self.files {
            if read_small(path).is_some_and(|current| &current == bytes) {
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            // A link planted in the file's place is removed, never followed.
            if is_link(path) {
                remove_within(root, path);
            }
            if crate::tools::fsutil::write_within(root, rel, bytes).is_ok() {
                restored.push(path.clone());
            }
        }
        let mut shown: Vec<String> = restored
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        shown.sort();
        shown.dedup();
        shown
    }
}

/// Puts the link `path` back to `target` in place of whatever is there now, unless a
/// directory on the way is a symlink.
#[cfg(unix)]
fn put_link_back(root: &Path, path: &Path, target: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    if !matches!(
        crate::tools::fsutil::symlinked_ancestor(root, rel),
        Ok(None)
    ) {
        return false;
    }
    if path.symlink_metadata().is_ok() && std::fs::remove_file(path).is_err() {
        return false;
    }
    std::os::unix::fs::symlink(target, path).is_ok()
}

#[cfg(not(unix))]
fn put_link_back(_root: &Path, _path: &Path, _target: &Path) -> bool {
    false
}

/// Removes `path` (a file or link under `root`) unless a directory on the way is a symlink.
fn remove_within(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    matches!(
        crate::tools::fsutil::symlinked_ancestor(root, rel),
        Ok(None)
    ) && std::fs::remove_file(path).is_ok()
}

/// The protected files now present under `root`.
fn scan(root: &Path) -> Vec<PathBuf> {
    let git = root.join(".git");
    let mut found = Vec::new();
    if real_dir(&git) {
        for file in ["config", "info/attributes"] {
            let path = git.join(file);
            if path.symlink_metadata().is_ok() {
                found.push(path);
            }
        }
        walk(&git.join("hooks"), &mut found);
    }
    walk(&root.join(".lode"), &mut found);
    found.truncate(MAX_FILES);
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    // A symlinked directory leads somewhere else: not ours to snapshot or clean.
    if !real_dir(dir) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if found.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found),
            Ok(_) => found.push(path),
            Err(_) => {}
        }
    }
}

/// A directory, and not a link to one.
fn real_dir(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.is_dir())
}

fn is_link(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = path.symlink_metadata().ok()?;
    (meta.is_file() && meta.len() <= MAX_FILE)
        .then(|| std::fs::read(path).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_added_and_removed_protected_files_are_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(root.join(".lode")).unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(root.join(".lode/config.toml"), "[engine]\n").unwrap();
        std::fs::write(root.join("src.rs"), "x").unwrap();
        let snapshot = Snapshot::take(root);
        std::fs::write(root.join(".git/config"), "[core]\n\tfsmonitor = evil\n").unwrap();
        std::fs::write(root.join(".git/hooks/pre-commit"), "evil").unwrap();
        std::fs::remove_file(root.join(".lode/config.toml")).unwrap();
        std::fs::write(root.join("src.rs"), "y").unwrap();
        let restored = snapshot.restore(root);
        assert_eq!(
            restored,
            [".git/config", ".git/hooks/pre-commit", ".lode/config.toml"]
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".git/config")).unwrap(),
            "[core]\n"
        );
        assert!(!root.join(".git/hooks/pre-commit").exists());
        assert_eq!(
            std::fs::read_to_string(root.join(".lode/config.toml")).unwrap(),
            "[engine]\n"
        );
        // Everything else is the test run's business.
        assert_eq!(std::fs::read_to_string(root.join("src.rs")).unwrap(), "y");
        assert!(snapshot.restore(root).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_hooks_directory_swapped_for_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), "keep").unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        let snapshot = Snapshot::take(root);
        std::fs::remove_dir(root.join(".git/hooks")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join(".git/hooks")).unwrap();
        snapshot.restore(root);
        assert_eq!(
            std::fs::read_to_string(outside.path().join("precious")).unwrap(),
            "keep"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_and_big_files_that_were_there_are_the_users_and_survive_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".lode/commands")).unwrap();
        std::fs::write(root.join("notes.md"), "mine").unwrap();
        let link = root.join(".lode/commands/leak.md");
        std::os::unix::fs::symlink("../../notes.md", &link).unwrap();
        let big = root.join(".lode/big.bin");
        std::fs::write(&big, vec![7u8; (MAX_FILE + 1) as usize]).unwrap();
        let snapshot = Snapshot::take(root);
        assert!(snapshot.restore(root).is_empty());
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../notes.md")
        );
        assert!(big.exists());
        // A run that points the link elsewhere gets it pointed back.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert_eq!(snapshot.restore(root), [".lode/commands/leak.md"]);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../notes.md")
        );
    }
}
