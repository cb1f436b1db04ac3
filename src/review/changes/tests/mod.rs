use super::*;
use crate::review::fixture::{bare_entry, sandbox_git_config, GitFixture};
use git2::{Oid, Signature};
use pretty_assertions::assert_eq;
use std::fs;
use std::process::Command;

type Fixture = GitFixture;

/// Reading a fixture's changes.
trait Collect {
    fn collect(&self, scope: Scope) -> Vec<FileChange>;
}

impl Collect for Fixture {
    fn collect(&self, scope: Scope) -> Vec<FileChange> {
        collect(&self.repo, &scope).unwrap()
    }
}

/// `n` lines, `line 1` to `line n`.
fn numbered(n: u32) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

/// A text change of `path` with everything but the patch and hunks filled in.
fn text(path: &str, kind: ChangeKind, old: &str, new: &str) -> FileChange {
    FileChange {
        path: path.to_string(),
        kind,
        binary: false,
        submodule: false,
        old_size: old.len() as u64,
        new_size: new.len() as u64,
        patch: String::new(),
        hunks: Vec::new(),
    }
}

#[test]
fn a_staged_modification_shows_the_change_with_context_lines_around_it() {
    let f = Fixture::new();
    let old = numbered(30);
    f.write("src.txt", &old);
    f.stage(&["src.txt"]);
    f.commit("first");
    let new = old.replace("line 15\n", "changed 15\n");
    f.write("src.txt", &new);
    f.stage(&["src.txt"]);

    let context = |range: std::ops::RangeInclusive<u32>| -> String {
        range.map(|i| format!(" line {i}\n")).collect()
    };
    let patch = format!(
        "@@ -7,17 +7,17 @@ line 6\n{}-line 15\n+changed 15\n{}",
        context(7..=14),
        context(16..=23)
    );
    assert_eq!(
        f.collect(Scope::Staged),
        vec![FileChange {
            patch,
            hunks: vec![Hunk {
                new_start: 15 - CONTEXT_LINES,
                new_lines: 2 * CONTEXT_LINES + 1,
                added: vec![15],
            }],
            ..text("src.txt", ChangeKind::Modified, &old, &new)
        }]
    );
}

#[test]
fn changes_far_apart_make_separate_hunks_that_show_only_their_lines() {
    let f = Fixture::new();
    let old = numbered(40);
    f.write("a.txt", &old);
    f.stage(&["a.txt"]);
    f.commit("first");
    let new = old
        .replace("line 3\n", "three\n")
        .replace("line 35\n", "thirty-five\nthirty-six\n");
    f.write("a.txt", &new);
    f.stage(&["a.txt"]);

    let files = f.collect(Scope::Staged);
    assert_eq!(files.len(), 1);
    let file = &files[0];
    assert_eq!(
        file.hunks,
        vec![
            Hunk {
                new_start: 1,
                new_lines: 11,
                added: vec![3],
            },
            Hunk {
                new_start: 27,
                new_lines: 15,
                added: vec![35, 36],
            },
        ]
    );
    let headers: Vec<&str> = file.patch.lines().filter(|l| l.starts_with("@@")).collect();
    assert_eq!(
        headers,
        vec!["@@ -1,11 +1,11 @@", "@@ -27,14 +27,15 @@ line 26"]
    );
    let (added, removed) = file.line_counts();
    assert_eq!(added + removed, 5);
    let shown: Vec<u32> = (1..=42).filter(|&l| file.shows(l)).collect();
    let expected: Vec<u32> = (1..=11).chain(27..=41).collect();
    assert_eq!(shown, expected);
    assert!(file.has_lines());
}

#[test]
fn staged_reads_the_index_and_uncommitted_the_working_tree() {
    let f = Fixture::new();
    f.write("a.txt", "one\n");
    f.stage(&["a.txt"]);
    f.commit("first");
    f.write("a.txt", "two\n");
    f.write("added.txt", "new\n");
    f.stage(&["a.txt", "added.txt"]);
    // Edited again after staging, and a file git does not track.
    f.write("a.txt", "three\n");
    f.write("untracked.txt", "not part of any diff\n");

    let added = FileChange {
        patch: "@@ -0,0 +1 @@\n+new\n".to_string(),
        hunks: vec![Hunk {
            new_start: 1,
            new_lines: 1,
            added: vec![1],
        }],
        ..text("added.txt", ChangeKind::Added, "", "new\n")
    };
    let modified = |new: &str| FileChange {
        patch: format!("@@ -1 +1 @@\n-one\n+{new}"),
        hunks: vec![Hunk {
            new_start: 1,
            new_lines: 1,
            added: vec![1],
        }],
        ..text("a.txt", ChangeKind::Modified, "one\n", new)
    };
    assert_eq!(
        f.collect(Scope::Staged),
        vec![modified("two\n"), added.clone()]
    );
    assert_eq!(
        f.collect(Scope::Uncommitted),
        vec![modified("three\n"), added]
    );
}

#[test]
fn before_the_first_commit_everything_staged_is_added() {
    let f = Fixture::new();
    f.write("a.txt", "a\nb\n");
    f.write("dir/c.txt", "c\n");
    f.stage(&["a.txt", "dir/c.txt"]);

    assert_eq!(
        f.collect(Scope::Staged),
        vec![
            FileChange {
                patch: "@@ -0,0 +1,2 @@\n+a\n+b\n".to_string(),
                hunks: vec![Hunk {
                    new_start: 1,
                    new_lines: 2,
                    added: vec![1, 2],
                }],
                ..text("a.txt", ChangeKind::Added, "", "a\nb\n")
            },
            FileChange {
                patch: "@@ -0,0 +1 @@\n+c\n".to_string(),
                hunks: vec![Hunk {
                    new_start: 1,
                    new_lines: 1,
                    added: vec![1],
                }],
                ..text("dir/c.txt", ChangeKind::Added, "", "c\n")
            },
        ]
    );
}

#[test]
fn nothing_staged_is_no_change() {
    let f = Fixture::new();
    assert_eq!(f.collect(Scope::Staged), vec![]);
    f.write("a.txt", "a\n");
    f.stage(&["a.txt"]);
    f.commit("first");
    f.write("a.txt", "edited but not staged\n");
    assert_eq!(f.collect(Scope::Staged), vec![]);
}

#[test]
fn a_deleted_file_has_no_patch_and_no_lines() {
    let f = Fixture::new();
    f.write("gone.txt", "x\ny\n");
    f.stage(&["gone.txt"]);
    f.commit("first");
    fs::remove_file(f.root.join("gone.txt")).unwrap();
    f.stage(&["gone.txt"]);

    let files = f.collect(Scope::Staged);
    assert_eq!(
        files,
        vec![text("gone.txt", ChangeKind::Deleted, "x\ny\n", "")]
    );
    assert!(!files[0].has_lines());
    assert!(!files[0].shows(1));
}

#[test]
fn a_renamed_file_with_an_edit_shows_the_edit_under_its_new_path() {
    let f = Fixture::new();
    let old = numbered(10);
    f.write("old.txt", &old);
    f.stage(&["old.txt"]);
    f.commit("first");
    fs::remove_file(f.root.join("old.txt")).unwrap();
    let new = old.replace("line 5\n", "edited 5\n");
    f.write("new.txt", &new);
    f.stage(&["old.txt", "new.txt"]);

    let context = |range: std::ops::RangeInclusive<u32>| -> String {
        range.map(|i| format!(" line {i}\n")).collect()
    };
    assert_eq!(
        f.collect(Scope::Staged),
        vec![FileChange {
            patch: format!(
                "@@ -1,10 +1,10 @@\n{}-line 5\n+edited 5\n{}",
                context(1..=4),
                context(6..=10)
            ),
            hunks: vec![Hunk {
                new_start: 1,
                new_lines: 10,
                added: vec![5],
            }],
            ..text(
                "new.txt",
                ChangeKind::Renamed {
                    from: "old.txt".to_string(),
                },
                &old,
                &new,
            )
        }]
    );
}

#[test]
fn a_binary_file_has_no_patch_and_no_lines() {
    let f = Fixture::new();
    f.write("img.bin", [0u8, 1, 2, 0, 255]);
    f.stage(&["img.bin"]);

    let files = f.collect(Scope::Staged);
    assert_eq!(
        files,
        vec![FileChange {
            path: "img.bin".to_string(),
            kind: ChangeKind::Added,
            binary: true,
            submodule: false,
            old_size: 0,
            new_size: 5,
            patch: String::new(),
            hunks: vec![],
        }]
    );
    assert!(!files[0].has_lines());
}

#[test]
fn a_missing_newline_at_the_end_is_marked_as_git_marks_it() {
    let f = Fixture::new();
    f.write("lost.txt", "a\nb\n");
    f.write("gained.txt", "a\nb");
    f.write("neither.txt", "a\nb");
    f.stage(&["lost.txt", "gained.txt", "neither.txt"]);
    f.commit("first");
    f.write("lost.txt", "a\nb");
    f.write("gained.txt", "a\nb\nc\n");
    f.write("neither.txt", "a\nc");
    f.stage(&["lost.txt", "gained.txt", "neither.txt"]);

    let marker = "\\ No newline at end of file\n";
    let one_hunk = |new_lines: u32, added: Vec<u32>| {
        vec![Hunk {
            new_start: 1,
            new_lines,
            added,
        }]
    };
    assert_eq!(
        f.collect(Scope::Staged),
        vec![
            FileChange {
                patch: format!("@@ -1,2 +1,3 @@\n a\n-b\n{marker}+b\n+c\n"),
                hunks: one_hunk(3, vec![2, 3]),
                ..text("gained.txt", ChangeKind::Modified, "a\nb", "a\nb\nc\n")
            },
            FileChange {
                patch: format!("@@ -1,2 +1,2 @@\n a\n-b\n+b\n{marker}"),
                hunks: one_hunk(2, vec![2]),
                ..text("lost.txt", ChangeKind::Modified, "a\nb\n", "a\nb")
            },
            FileChange {
                patch: format!("@@ -1,2 +1,2 @@\n a\n-b\n{marker}+c\n{marker}"),
                hunks: one_hunk(2, vec![2]),
                ..text("neither.txt", ChangeKind::Modified, "a\nb", "a\nc")
            },
        ]
    );
}

#[cfg(unix)]
#[test]
fn a_mode_only_change_is_a_modification_without_hunks() {
    use std::os::unix::fs::PermissionsExt;

    let f = Fixture::new();
    f.write("run.sh", "echo hi\n");
    f.stage(&["run.sh"]);
    f.commit("first");
    fs::set_permissions(f.root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    f.stage(&["run.sh"]);

    let files = f.collect(Scope::Staged);
    assert_eq!(
        files,
        vec![text(
            "run.sh",
            ChangeKind::Modified,
            "echo hi\n",
            "echo hi\n"
        )]
    );
    assert_eq!(files[0].line_counts(), (0, 0));
}

#[cfg(unix)]
#[test]
fn a_file_that_became_a_symlink_is_a_type_change() {
    let f = Fixture::new();
    f.write("target.txt", "t\n");
    f.write("link", "was a file\n");
    f.stage(&["target.txt", "link"]);
    f.commit("first");
    fs::remove_file(f.root.join("link")).unwrap();
    std::os::unix::fs::symlink("target.txt", f.root.join("link")).unwrap();
    f.stage(&["link"]);

    let files = f.collect(Scope::Staged);
    let kinds: Vec<(&str, &ChangeKind)> =
        files.iter().map(|c| (c.path.as_str(), &c.kind)).collect();
    assert_eq!(kinds, vec![("link", &ChangeKind::TypeChanged)]);
}

#[test]
fn a_submodule_is_reported_without_a_patch() {
    let f = Fixture::new();
    let first = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    let second = Oid::from_str("89abcdef0123456789abcdef0123456789abcdef").unwrap();
    let mut index = f.repo.index().unwrap();
    index
        .add(&bare_entry("vendor/lib", 0o160000, first))
        .unwrap();
    index.write().unwrap();

    let submodule = |kind: ChangeKind| FileChange {
        submodule: true,
        ..text("vendor/lib", kind, "", "")
    };
    let files = f.collect(Scope::Staged);
    assert_eq!(files, vec![submodule(ChangeKind::Added)]);
    assert!(!files[0].has_lines());

    f.commit("first");
    let mut index = f.repo.index().unwrap();
    index
        .add(&bare_entry("vendor/lib", 0o160000, second))
        .unwrap();
    index.write().unwrap();
    assert_eq!(
        f.collect(Scope::Staged),
        vec![submodule(ChangeKind::Modified)]
    );
}

#[test]
fn a_bare_repository_has_nothing_staged_or_uncommitted_to_review() {
    sandbox_git_config();
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    for scope in [Scope::Staged, Scope::Uncommitted] {
        let err = collect(&repo, &scope).unwrap_err();
        assert!(matches!(err, ChangeError::Bare), "{scope:?}: {err}");
    }
}

/// Path, kind and patch of each change: enough to tell which trees were compared.
fn summary(files: &[FileChange]) -> Vec<(String, ChangeKind, String)> {
    files
        .iter()
        .map(|c| (c.path.clone(), c.kind.clone(), c.patch.clone()))
        .collect()
}

fn modified(path: &str, patch: &str) -> (String, ChangeKind, String) {
    (path.to_string(), ChangeKind::Modified, patch.to_string())
}

mod env;
mod ranges;
