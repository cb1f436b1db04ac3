//! What a review looks at: the files a change touches, each with its diff and the lines of
//! the new version that diff shows. Read with git2 from the index (what `git commit` will
//! record), a commit range, or the working tree.

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
    /// empty for binary files, submodules and deletions.
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

    /// Lines added or removed, from the patch.
    pub fn changed_lines(&self) -> usize {
        self.patch
            .lines()
            .filter(|l| l.starts_with('+') || l.starts_with('-'))
            .count()
    }
}
