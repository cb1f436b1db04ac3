//! What the reviewer is told. The system message is the same for every commit of a
//! repository (the reviewer's instructions and the project's own), so its KV state comes
//! from the disk prompt cache and a review pays only for its diff; the diff goes in the user
//! message, sampled to fit the model's context when it is too large, and says so.

use crate::review::changes::{ChangeKind, FileChange, Scope};
use crate::tools::Workspace;

/// The reviewer's instructions, compiled in.
pub const REVIEW_PROMPT: &str = include_str!("../../prompts/review.md");

/// Files whose diffs are machine-written: listed, never shown.
const GENERATED: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "flake.lock",
];

/// The system message: the reviewer's instructions, then the project's (AGENTS.md,
/// CLAUDE.md at the root of the reviewed tree).
pub fn system_message(workspace: &Workspace) -> String {
    let mut text = REVIEW_PROMPT.trim_end().to_string();
    let root = workspace.root().to_path_buf();
    for (path, body) in crate::agent::context::project_instructions(workspace, &root) {
        text.push_str(&format!(
            "\n\n# Project instructions ({path})\n\n{}",
            body.trim_end()
        ));
    }
    text.push('\n');
    text
}

/// The review request and what it let the model see.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewInput {
    /// The user message.
    pub message: String,
    /// Every changed file, with `hunks` (and `patch`) cut down to what the message shows:
    /// findings are anchored against these.
    pub shown: Vec<FileChange>,
    /// Files (or parts of files) the model did not see, each with why.
    pub skipped: Vec<(String, String)>,
    /// Whether diffs were left out because they did not fit.
    pub sampled: bool,
}

/// The user message for `files`, showing at most about `budget` bytes of diff: the smallest
/// diffs first, so a huge generated file does not crowd out the rest.
pub fn user_message(scope: &Scope, files: &[FileChange], budget: usize) -> ReviewInput {
    let mut shown: Vec<FileChange> = files.to_vec();
    let mut skipped = Vec::new();
    let mut sampled = false;
    let mut notes: Vec<Option<String>> = vec![None; files.len()];

    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| !files[i].patch.is_empty())
        .collect();
    order.sort_by_key(|&i| (files[i].patch.len(), i));
    let mut left = budget;
    for i in order {
        let file = &mut shown[i];
        if let Some(reason) = hidden_reason(&file.path) {
            skipped.push((file.path.clone(), reason.to_string()));
            notes[i] = Some(format!("not shown: {reason}"));
            hide(file);
            continue;
        }
        if file.patch.len() <= left {
            left -= file.patch.len();
            continue;
        }
        sampled = true;
        let total = file.hunks.len();
        let kept = keep_hunks(file, left);
        left -= file.patch.len().min(left);
        let (added, removed) = files[i].line_counts();
        let reason = format!("the diff is too large for the model's context (+{added} −{removed})");
        if kept == 0 {
            hide(file);
            notes[i] = Some(format!("not shown: {reason}"));
            skipped.push((file.path.clone(), reason));
        } else {
            notes[i] = Some(format!("{kept} of {total} hunks shown"));
            skipped.push((
                file.path.clone(),
                format!("{} of {total} hunks not shown: {reason}", total - kept),
            ));
        }
    }

    let mut message = format!(
        "Review the {}{}: {}.\n",
        scope.describe(),
        match scope {
            Scope::Staged => " (what `git commit` will record)",
            _ => "",
        },
        plural(files.len(), "file changed", "files changed"),
    );
    for (file, note) in shown.iter().zip(&notes) {
        message.push_str(&format!("\n### {} — {}", file.path, kind_words(file)));
        if let Some(note) = note {
            message.push_str(&format!("; {note}"));
        }
        message.push('\n');
        if !file.patch.is_empty() {
            let fence = fence_for(&file.patch);
            message.push_str(&format!("{fence}diff\n{}{fence}\n", file.patch));
        }
    }
    if sampled {
        message.push_str(
            "\nSome diffs were left out because the change is too large to show whole; review what is shown. You may read the other files with read_file.\n",
        );
    }
    message.push_str("\nWhen you are done, answer with the JSON object.\n");
    ReviewInput {
        message,
        shown,
        skipped,
        sampled,
    }
}

/// Why a file's diff is never shown, if it is one of those.
fn hidden_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if GENERATED.contains(&name) {
        Some("a lockfile")
    } else if name.ends_with(".min.js") || name.ends_with(".min.css") || name.ends_with(".map") {
        Some("minified or generated")
    } else {
        None
    }
}

/// Keeps the leading hunks that fit in `budget` bytes; returns how many.
fn keep_hunks(file: &mut FileChange, budget: usize) -> usize {
    let mut text = String::new();
    let mut kept = 0;
    for block in split_hunks(&file.patch) {
        if text.len() + block.len() > budget {
            break;
        }
        text.push_str(block);
        kept += 1;
    }
    file.patch = text;
    file.hunks.truncate(kept);
    kept
}

/// The patch cut at each `@@` header.
fn split_hunks(patch: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = patch.match_indices("\n@@ ").map(|(i, _)| i + 1).collect();
    if patch.starts_with("@@ ") {
        starts.insert(0, 0);
    }
    starts.push(patch.len());
    starts.windows(2).map(|w| &patch[w[0]..w[1]]).collect()
}

fn hide(file: &mut FileChange) {
    file.patch.clear();
    file.hunks.clear();
}

/// `modified`, `added, binary (12.3 KB)`, `renamed from a.rs`, …
fn kind_words(file: &FileChange) -> String {
    let mut words = match &file.kind {
        ChangeKind::Added => "added".to_string(),
        ChangeKind::Modified => "modified".to_string(),
        ChangeKind::Deleted => "deleted".to_string(),
        ChangeKind::Renamed { from } => format!("renamed from {from}"),
        ChangeKind::TypeChanged => "changed type (file ↔ symlink)".to_string(),
    };
    if file.submodule {
        words.push_str(", a submodule now at another commit");
    } else if file.binary {
        words.push_str(&format!(
            ", binary ({}); content not shown",
            size(file.new_size.max(file.old_size))
        ));
    } else if file.kind == ChangeKind::Deleted {
        words.push_str(&format!(
            " (was {}); content not shown",
            size(file.old_size)
        ));
    } else if file.patch.is_empty() && file.hunks.is_empty() && file.old_size == file.new_size {
        words.push_str(" (mode only)");
    }
    words
}

/// A Markdown fence longer than any backtick run inside `text`.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::changes::Hunk;

    fn change(path: &str, hunks: &[(u32, u32, usize)]) -> FileChange {
        let mut patch = String::new();
        let mut out = Vec::new();
        for &(start, lines, body) in hunks {
            patch.push_str(&format!("@@ -{start},{lines} +{start},{lines} @@\n"));
            for i in 0..lines {
                patch.push_str(&format!("+{}\n", "x".repeat(body.max(1) + i as usize % 2)));
            }
            out.push(Hunk {
                new_start: start,
                new_lines: lines,
                added: (start..start + lines).collect(),
            });
        }
        FileChange {
            path: path.to_string(),
            kind: ChangeKind::Modified,
            binary: false,
            submodule: false,
            old_size: 10,
            new_size: 20,
            patch,
            hunks: out,
        }
    }

    #[test]
    fn everything_fits_and_nothing_is_sampled() {
        let files = vec![change("a.rs", &[(1, 3, 10)]), change("b.rs", &[(5, 2, 10)])];
        let input = user_message(&Scope::Staged, &files, 100_000);
        assert!(!input.sampled);
        assert!(input.skipped.is_empty());
        assert_eq!(input.shown, files);
        assert!(input.message.starts_with(
            "Review the staged changes (what `git commit` will record): 2 files changed.\n"
        ));
        assert!(input
            .message
            .contains("### a.rs — modified\n```diff\n@@ -1,3 +1,3 @@\n"));
        assert!(input.message.ends_with("answer with the JSON object.\n"));
    }

    #[test]
    fn a_huge_diff_is_sampled_smallest_first_and_said_so() {
        let files = vec![
            change("big.rs", &[(1, 50, 100), (200, 50, 100)]),
            change("small.rs", &[(3, 2, 10)]),
        ];
        let budget = files[1].patch.len() + files[0].patch.len() / 2 + 10;
        let input = user_message(&Scope::Staged, &files, budget);
        assert!(input.sampled);
        assert_eq!(input.shown[1], files[1], "the small file is shown whole");
        assert_eq!(input.shown[0].hunks.len(), 1, "one of big.rs's hunks fits");
        assert!(input.shown[0].shows(1) && !input.shown[0].shows(200));
        assert!(input
            .message
            .contains("### big.rs — modified; 1 of 2 hunks shown"));
        assert_eq!(input.skipped.len(), 1);
        assert!(input.skipped[0].1.starts_with("1 of 2 hunks not shown"));
        assert!(input.message.contains("Some diffs were left out"));
    }

    #[test]
    fn a_diff_that_does_not_fit_at_all_is_listed_without_lines() {
        let files = vec![change("big.rs", &[(1, 50, 100)])];
        let input = user_message(&Scope::Range("a..b".into()), &files, 100);
        assert!(input.shown[0].hunks.is_empty() && input.shown[0].patch.is_empty());
        assert!(input.message.contains(
            "### big.rs — modified; not shown: the diff is too large for the model's context (+50 −0)"
        ));
    }

    #[test]
    fn lockfiles_binaries_deletions_and_submodules_are_listed_not_shown() {
        let lock = change("web/package-lock.json", &[(1, 3, 10)]);
        let mut binary = change("logo.png", &[]);
        binary.binary = true;
        binary.kind = ChangeKind::Added;
        binary.new_size = 2048;
        let mut deleted = change("old.rs", &[]);
        deleted.kind = ChangeKind::Deleted;
        deleted.old_size = 300;
        let mut sub = change("vendor/lib", &[]);
        sub.submodule = true;
        let mut renamed = change("new.rs", &[(1, 1, 5)]);
        renamed.kind = ChangeKind::Renamed {
            from: "old_name.rs".into(),
        };
        let files = vec![lock, binary, deleted, sub, renamed];
        let input = user_message(&Scope::Staged, &files, 100_000);
        let m = &input.message;
        assert!(m.contains("### web/package-lock.json — modified; not shown: a lockfile\n"));
        assert!(m.contains("### logo.png — added, binary (2.0 KB); content not shown\n"));
        assert!(m.contains("### old.rs — deleted (was 300 B); content not shown\n"));
        assert!(m.contains("### vendor/lib — modified, a submodule now at another commit\n"));
        assert!(m.contains("### new.rs — renamed from old_name.rs\n```diff\n"));
        assert_eq!(
            input.skipped,
            vec![(
                "web/package-lock.json".to_string(),
                "a lockfile".to_string()
            )]
        );
        assert!(!input.sampled, "leaving out a lockfile is not sampling");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_diff() {
        let mut file = change("README.md", &[(1, 1, 3)]);
        file.patch = "@@ -1 +1 @@\n+```rust\n".to_string();
        let input = user_message(&Scope::Uncommitted, &[file], 1000);
        assert!(input
            .message
            .contains("````diff\n@@ -1 +1 @@\n+```rust\n````\n"));
    }

    #[test]
    fn the_system_message_is_the_same_for_every_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "Use tabs.\n").unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        let text = system_message(&ws);
        assert!(text.starts_with("You are lode's code reviewer."));
        assert!(text.ends_with("# Project instructions (AGENTS.md)\n\nUse tabs.\n"));
        std::fs::write(dir.path().join("lib.rs"), "fn main() {}\n").unwrap();
        assert_eq!(
            system_message(&ws),
            text,
            "no repo map: it would change per commit"
        );
    }
}
