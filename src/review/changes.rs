//! What a review looks at: the files a change touches, each with its diff and the lines of
//! the new version that diff shows. Read with git2 from the index (what `git commit` will
//! record), a commit range, or the working tree.

use std::path::{Path, PathBuf};

use git2::{
    Delta, Diff, DiffFindOptions, DiffOptions, ErrorCode, FileMode, Index, Patch, Repository, Tree,
};
use serde::Serialize;

/// How a file changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Moved from `from` (possibly with edits: the patch shows them).
    Renamed {
        from: String,
    },
    /// A file became a symlink or the other way round.
    TypeChanged,
}

/// One hunk of a file's diff, in new-file line numbers (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// First line of the new file the hunk shows (context included).
    pub new_start: u32,
    /// How many new-file lines it shows (context and added); 0 for a pure deletion.
    pub new_lines: u32,
    /// New-file lines the change added or rewrote.
    pub added: Vec<u32>,
}

impl Hunk {
    /// Whether new-file line `line` is shown in this hunk.
    pub fn shows(&self, line: u32) -> bool {
        line >= self.new_start && line < self.new_start + self.new_lines
    }
}

/// One changed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Repository-relative path with `/` separators: the new path (the old one for a
    /// deletion).
    pub path: String,
    pub kind: ChangeKind,
    /// Binary content: no patch, no lines.
    pub binary: bool,
    /// A submodule (gitlink) moved to another commit: no patch, no lines.
    pub submodule: bool,
    /// Sizes in bytes of the old and new versions (0 when absent).
    pub old_size: u64,
    pub new_size: u64,
    /// The unified diff of this file (`@@` hunks with context, no `diff --git` header);
    /// empty for binary files, submodules, deletions and type changes (libgit2 loads no
    /// content for those; the reviewer can still read the new file).
    pub patch: String,
    pub hunks: Vec<Hunk>,
}

impl FileChange {
    /// Whether the new version of the file has line `line` shown in the diff.
    pub fn shows(&self, line: u32) -> bool {
        self.hunks.iter().any(|h| h.shows(line))
    }

    /// Whether the review can point at lines of this file at all.
    pub fn has_lines(&self) -> bool {
        !self.binary && !self.submodule && self.kind != ChangeKind::Deleted
    }

    /// Lines added and lines removed, from the patch.
    pub fn line_counts(&self) -> (usize, usize) {
        let added = self.patch.lines().filter(|l| l.starts_with('+')).count();
        let removed = self.patch.lines().filter(|l| l.starts_with('-')).count();
        (added, removed)
    }
}

/// What to review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The index against HEAD: exactly what `git commit` will record.
    Staged,
    /// A revision range `A..B` (`A...B`: from their merge base), or one commit `C` (its
    /// parent to it).
    Range(String),
    /// HEAD against the working tree (staged and unstaged; untracked files are not part of
    /// a diff, as with `git diff HEAD`).
    Uncommitted,
}

impl Scope {
    /// In words, for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Staged => "staged changes".to_string(),
            Self::Range(range) => format!("range {range}"),
            Self::Uncommitted => "uncommitted changes".to_string(),
        }
    }
}

/// Why the changes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("`{0}` is not inside a git repository; run `lode review` in one (or pass --cwd)")]
    NotARepository(String),
    #[error("cannot resolve `{range}`: {message}; use A..B, A...B or a single commit")]
    BadRange { range: String, message: String },
    #[error("a bare repository has no working tree to review; use --range")]
    Bare,
    #[error("git: {0}")]
    Git(String),
}

impl From<git2::Error> for ChangeError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e.message().to_string())
    }
}

/// Lines of context around each change (the model sees the code it sits in).
pub const CONTEXT_LINES: u32 = 8;

/// Opens the repository containing `dir`, honouring `GIT_DIR` and friends the way git's
/// hooks set them.
pub fn open_repo(dir: &Path) -> Result<Repository, ChangeError> {
    let from_env = std::env::var_os("GIT_DIR").is_some();
    let repo = if from_env {
        Repository::open_from_env()
    } else {
        Repository::discover(dir)
    };
    repo.map_err(|_| ChangeError::NotARepository(dir.display().to_string()))
}

/// The index a commit will record: `GIT_INDEX_FILE` when git set it (a hook under
/// `git commit -a` or `git commit PATH` sees a temporary index), else the repository's.
pub fn staged_index(repo: &Repository) -> Result<Index, ChangeError> {
    match std::env::var_os("GIT_INDEX_FILE") {
        Some(path) => {
            let path = PathBuf::from(path);
            // Relative to where git ran the hook: the working tree root.
            let path = match (path.is_relative(), repo.workdir()) {
                (true, Some(root)) if !Path::new(&path).exists() => root.join(path),
                _ => path,
            };
            Ok(Index::open(&path)?)
        }
        None => Ok(repo.index()?),
    }
}

/// The files `scope` changes, with their diffs.
pub fn collect(repo: &Repository, scope: &Scope) -> Result<Vec<FileChange>, ChangeError> {
    let mut options = DiffOptions::new();
    options
        .context_lines(CONTEXT_LINES)
        .ignore_submodules(false)
        .include_typechange(true);
    let head = head_tree(repo)?;
    let mut diff = match scope {
        Scope::Staged => {
            if repo.is_bare() {
                return Err(ChangeError::Bare);
            }
            let index = staged_index(repo)?;
            repo.diff_tree_to_index(head.as_ref(), Some(&index), Some(&mut options))?
        }
        Scope::Uncommitted => {
            if repo.is_bare() {
                return Err(ChangeError::Bare);
            }
            repo.diff_tree_to_workdir_with_index(head.as_ref(), Some(&mut options))?
        }
        Scope::Range(range) => {
            let (from, to) = range_trees(repo, range)?;
            repo.diff_tree_to_tree(from.as_ref(), Some(&to), Some(&mut options))?
        }
    };
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    let mut files = Vec::new();
    for index in 0..diff.deltas().len() {
        if let Some(change) = file_change(&diff, index)? {
            files.push(change);
        }
    }
    Ok(files)
}

/// HEAD's tree; `None` before the first commit (everything staged is new).
fn head_tree(repo: &Repository) -> Result<Option<Tree<'_>>, ChangeError> {
    match repo.head() {
        Ok(head) => Ok(Some(head.peel_to_tree()?)),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The trees on both sides of `range`: `A..B`, `A...B` (merge base to B), or `C` (C's first
/// parent to C; a root commit against nothing).
pub fn range_trees<'r>(
    repo: &'r Repository,
    range: &str,
) -> Result<(Option<Tree<'r>>, Tree<'r>), ChangeError> {
    let bad = |e: git2::Error| ChangeError::BadRange {
        range: range.to_string(),
        message: e.message().to_string(),
    };
    let spec = repo.revparse(range).map_err(bad)?;
    let tree_of = |object: &git2::Object<'r>| object.peel_to_tree().map_err(bad);
    let commit_of = |object: &git2::Object<'r>| object.peel_to_commit().map_err(bad);
    match (spec.from(), spec.to()) {
        (Some(from), Some(to)) => {
            let to_tree = tree_of(to)?;
            let from_tree = if spec.mode().contains(git2::RevparseMode::MERGE_BASE) {
                let base = repo
                    .merge_base(commit_of(from)?.id(), commit_of(to)?.id())
                    .map_err(bad)?;
                repo.find_commit(base).map_err(bad)?.tree().map_err(bad)?
            } else {
                tree_of(from)?
            };
            Ok((Some(from_tree), to_tree))
        }
        (Some(single), None) | (None, Some(single)) => {
            let commit = commit_of(single)?;
            let parent = match commit.parent(0) {
                Ok(parent) => Some(parent.tree().map_err(bad)?),
                Err(_) => None,
            };
            Ok((parent, commit.tree().map_err(bad)?))
        }
        (None, None) => Err(ChangeError::BadRange {
            range: range.to_string(),
            message: "it names no commit".to_string(),
        }),
    }
}

fn file_change(diff: &Diff<'_>, index: usize) -> Result<Option<FileChange>, ChangeError> {
    let Some(delta) = diff.get_delta(index) else {
        return Ok(None);
    };
    let path_of = |file: git2::DiffFile<'_>| {
        file.path()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default()
    };
    let old_path = path_of(delta.old_file());
    let new_path = path_of(delta.new_file());
    let kind = match delta.status() {
        Delta::Added | Delta::Copied => ChangeKind::Added,
        Delta::Deleted => ChangeKind::Deleted,
        Delta::Modified => ChangeKind::Modified,
        Delta::Renamed => ChangeKind::Renamed { from: old_path },
        Delta::Typechange => ChangeKind::TypeChanged,
        // Untracked, ignored, unreadable and conflicted entries are not part of a commit.
        _ => return Ok(None),
    };
    let path = if kind == ChangeKind::Deleted {
        path_of(delta.old_file())
    } else {
        new_path
    };
    let submodule = [delta.old_file(), delta.new_file()]
        .iter()
        .any(|f| f.mode() == FileMode::Commit);
    let mut change = FileChange {
        path,
        kind,
        binary: false,
        submodule,
        old_size: delta.old_file().size(),
        new_size: delta.new_file().size(),
        patch: String::new(),
        hunks: Vec::new(),
    };
    if submodule {
        return Ok(Some(change));
    }
    let Some(patch) = Patch::from_diff(diff, index)? else {
        return Ok(Some(change));
    };
    let delta = patch.delta();
    change.old_size = delta.old_file().size();
    change.new_size = delta.new_file().size();
    if delta.flags().is_binary() || delta.old_file().is_binary() || delta.new_file().is_binary() {
        change.binary = true;
        return Ok(Some(change));
    }
    if change.kind == ChangeKind::Deleted {
        return Ok(Some(change));
    }
    let (patch_text, hunks) = render_patch(&patch)?;
    change.patch = patch_text;
    change.hunks = hunks;
    Ok(Some(change))
}

/// The hunks as unified-diff text, and where each one sits in the new file.
fn render_patch(patch: &Patch<'_>) -> Result<(String, Vec<Hunk>), ChangeError> {
    let mut text = String::new();
    let mut hunks = Vec::new();
    for h in 0..patch.num_hunks() {
        let (hunk, lines) = patch.hunk(h)?;
        text.push_str(String::from_utf8_lossy(hunk.header()).trim_end());
        text.push('\n');
        let mut added = Vec::new();
        for l in 0..lines {
            let line = patch.line_in_hunk(h, l)?;
            let content = String::from_utf8_lossy(line.content());
            let content = content.trim_end_matches(['\n', '\r']);
            match line.origin() {
                '+' | '-' | ' ' => {
                    text.push(line.origin());
                    text.push_str(content);
                    text.push('\n');
                }
                // The end-of-file markers: git prints them once, after the line they follow.
                '=' | '>' | '<' => text.push_str("\\ No newline at end of file\n"),
                _ => {}
            }
            if line.origin() == '+' {
                if let Some(n) = line.new_lineno() {
                    added.push(n);
                }
            }
        }
        hunks.push(Hunk {
            new_start: hunk.new_start(),
            new_lines: hunk.new_lines(),
            added,
        });
    }
    Ok((text, hunks))
}

#[cfg(test)]
mod tests;
