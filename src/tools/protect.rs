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
}

impl Snapshot {
    /// Reads `.git/config`, `.git/hooks/*`, `.git/info/attributes` and `.lode/**` under `root`.
    pub fn take(root: &Path) -> Self {
        Self {
            files: scan(root)
                .into_iter()
                .filter_map(|path| Some((path.clone(), read_small(&path)?)))
                .collect(),
        }
    }

    /// Puts back every protected file that changed, appeared or vanished since `take`;
    /// returns the ones it put back, relative to `root`.
    pub fn restore(&self, root: &Path) -> Vec<String> {
        let mut restored = Vec::new();
        let now = scan(root);
        for path in &now {
            if !self.files.contains_key(path) && std::fs::remove_file(path).is_ok() {
                restored.push(path.clone());
            }
        }
        for (path, bytes) in &self.files {
            let same = read_small(path).is_some_and(|current| &current == bytes);
            if !same {
                // A link planted in its place is removed, not followed.
                if path.symlink_metadata().is_ok_and(|m| !m.is_file()) {
                    let _ = std::fs::remove_file(path);
                }
                if crate::tools::fsutil::atomic_write(path, bytes).is_ok() {
                    restored.push(path.clone());
                }
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
        shown
    }
}

/// The protected files now present under `root`.
fn scan(root: &Path) -> Vec<PathBuf> {
    let git = root.join(".git");
    let mut found = Vec::new();
    if git.is_dir() {
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
}
