//! The workspace's paths for `@path` completion in the prompt. The list is walked once (it
//! honors the same ignore files as git, so build output and vendored trees stay out) and then
//! ranked on every keystroke, which is cheap next to walking the tree again.

use ignore::WalkBuilder;
use std::path::Path;

/// Past this many entries the walk stops: completion in a huge tree is still useful from a
/// partial list, and a full walk of it would stall the session.
pub const MAX_ENTRIES: usize = 50_000;

/// Files and directories of the workspace as relative paths with '/' separators (directories
/// end in '/'), honoring .gitignore/.ignore (the `ignore` crate's WalkBuilder with standard
/// filters; hidden entries and `.git` excluded), sorted, capped at [`MAX_ENTRIES`] entries.
/// Unreadable directories and paths that are not UTF-8 are left out: they cannot be typed.
pub fn list(root: &Path) -> Vec<String> {
    walk(root, MAX_ENTRIES)
}

fn walk(root: &Path, cap: usize) -> Vec<String> {
    // Sorting the walk makes a capped list the same on every run.
    let walker = WalkBuilder::new(root)
        .standard_filters(true)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut out = Vec::new();
    for entry in walker.flatten() {
        if out.len() >= cap {
            break;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect();
        let Some(parts) = parts.filter(|p| !p.is_empty()) else {
            continue;
        };
        let mut path = parts.join("/");
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            path.push('/');
        }
        out.push(path);
    }
    out.sort();
    out
}

/// How well a path matches; earlier variants rank first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Prefix,
    NamePrefix,
    Substring,
    Subsequence,
}

/// The best completions of `partial` among `files`, at most `limit`, case-insensitive, ranked:
/// (1) paths starting with partial, (2) paths whose final component starts with partial, (3)
/// paths containing partial, (4) subsequence (fuzzy) matches; within a rank shorter first, then
/// alphabetical. An empty partial lists the top-level entries (no '/' except a trailing one),
/// shortest first.
pub fn complete(files: &[String], partial: &str, limit: usize) -> Vec<String> {
    let needle = partial.to_lowercase();
    // Each key is computed once: this runs on every keystroke over up to MAX_ENTRIES paths.
    let mut ranked: Vec<(Rank, usize, String, &String)> = files
        .iter()
        .filter_map(|file| {
            let lower = file.to_lowercase();
            let rank = rank(&lower, &needle)?;
            Some((rank, file.chars().count(), lower, file))
        })
        .collect();
    ranked.sort_unstable();
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, _, _, file)| file.clone())
        .collect()
}

/// `path` and `needle` are already lowercase; an empty needle matches exactly the top-level
/// entries.
fn rank(path: &str, needle: &str) -> Option<Rank> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if needle.is_empty() {
        return (!trimmed.contains('/')).then_some(Rank::Prefix);
    }
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if path.starts_with(needle) {
        Some(Rank::Prefix)
    } else if name.starts_with(needle) {
        Some(Rank::NamePrefix)
    } else if path.contains(needle) {
        Some(Rank::Substring)
    } else {
        let mut rest = path.chars();
        needle
            .chars()
            .all(|c| rest.any(|p| p == c))
            .then_some(Rank::Subsequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::fs;

    /// A workspace with a git dir, ignore files, hidden entries and ignored build output.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            ".git/objects",
            "src/tui",
            "docs/empty",
            "target/debug",
            ".hidden",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let files = [
            (".git/HEAD", "ref: refs/heads/main\n"),
            (".gitignore", "target/\n*.log\n"),
            (".ignore", "secret.txt\n"),
            (".hidden/x", ""),
            (".env", ""),
            ("README.md", ""),
            ("src/main.rs", ""),
            ("src/tui/input.rs", ""),
            ("target/debug/lode", ""),
            ("build.log", ""),
            ("secret.txt", ""),
        ];
        for (path, text) in files {
            fs::write(root.join(path), text).unwrap();
        }
        dir
    }

    const LISTED: [&str; 7] = [
        "README.md",
        "docs/",
        "docs/empty/",
        "src/",
        "src/main.rs",
        "src/tui/",
        "src/tui/input.rs",
    ];

    #[test]
    fn leaves_out_ignored_hidden_and_git_entries() {
        let dir = workspace();
        assert_eq!(list(dir.path()), LISTED);
    }

    #[test]
    fn honors_gitignore_outside_a_git_repo() {
        let dir = workspace();
        fs::remove_dir_all(dir.path().join(".git")).unwrap();
        assert_eq!(list(dir.path()), LISTED);
    }

    #[test]
    fn a_capped_walk_is_sorted_and_stable() {
        let dir = workspace();
        let first = walk(dir.path(), 3);
        assert_eq!(first, ["README.md", "docs/", "docs/empty/"]);
        assert_eq!(walk(dir.path(), 3), first);
    }

    fn files() -> Vec<String> {
        [
            "Cargo.toml",
            "README.md",
            "docs/",
            "docs/INPUT.md",
            "inventory.txt",
            "lib/iron.rs",
            "src/",
            "src/main.rs",
            "src/tui/",
            "src/tui/input.rs",
            "tests/suite/input_test.rs",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn ranks_prefix_then_name_then_substring_then_fuzzy() {
        let expected = [
            "inventory.txt",
            "docs/INPUT.md",
            "src/tui/input.rs",
            "tests/suite/input_test.rs",
            "src/main.rs",
            "lib/iron.rs",
        ];
        assert_eq!(complete(&files(), "in", 10), expected);
    }

    #[test]
    fn matching_ignores_case_and_respects_the_limit() {
        assert_eq!(
            complete(&files(), "IN", 2),
            ["inventory.txt", "docs/INPUT.md"]
        );
        assert_eq!(complete(&files(), "readme", 5), ["README.md"]);
        assert_eq!(complete(&files(), "zzz", 5), Vec::<String>::new());
    }

    #[test]
    fn ties_go_to_the_shorter_then_alphabetical() {
        let files = ["src/b.rs", "src/", "src/a.rs", "src/tui/", "src/aa.rs"].map(String::from);
        let expected = ["src/", "src/a.rs", "src/b.rs", "src/tui/", "src/aa.rs"];
        assert_eq!(complete(&files, "src/", 10), expected);
    }

    #[test]
    fn directories_complete_into_their_entries() {
        let expected = ["src/tui/", "src/tui/input.rs"];
        assert_eq!(complete(&files(), "src/tui", 10), expected);
    }

    #[test]
    fn empty_partial_lists_top_level_entries_shortest_first() {
        let expected = ["src/", "docs/", "README.md", "Cargo.toml", "inventory.txt"];
        assert_eq!(complete(&files(), "", 10), expected);
        assert_eq!(complete(&files(), "", 2), ["src/", "docs/"]);
    }
}
