//! A git repository in a temp dir for the reviewer's tests, with git's configuration
//! sandboxed: the repository the change readers and the snapshot writer are tested on.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use git2::{IndexEntry, IndexTime, Oid, Repository, RepositoryInitOptions, Signature};
use tempfile::TempDir;

pub(crate) use crate::tools::git::sandbox_git_config;

/// A repository whose branch is `main`; `root` is its (canonical) working tree, inside `dir`.
pub(crate) struct GitFixture {
    pub dir: TempDir,
    pub root: PathBuf,
    pub repo: Repository,
}

impl GitFixture {
    pub fn new() -> Self {
        sandbox_git_config();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = Repository::init_opts(&root, &opts).unwrap();
        Self { dir, root, repo }
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let file = self.root.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, content).unwrap();
    }

    /// Stages `paths` as they are in the working tree (a missing file is staged as removed).
    pub fn stage(&self, paths: &[&str]) {
        let mut index = self.repo.index().unwrap();
        for path in paths {
            if fs::symlink_metadata(self.root.join(path)).is_ok() {
                index.add_path(Path::new(path)).unwrap();
            } else {
                index.remove_path(Path::new(path)).unwrap();
            }
        }
        index.write().unwrap();
    }

    /// Commits the index on HEAD.
    pub fn commit(&self, message: &str) -> Oid {
        let tree = self
            .repo
            .find_tree(self.repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let sig = Signature::now("Test", "test@example.com").unwrap();
        let parent = self.repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }
}

/// An index entry with no file behind it: a symlink (`0o120000`) or a submodule
/// (`0o160000`) pointing at `id`.
pub(crate) fn bare_entry(path: &str, mode: u32, id: Oid) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}
