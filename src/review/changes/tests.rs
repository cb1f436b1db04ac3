use super::*;
use git2::{IndexEntry, IndexTime, Oid, RepositoryInitOptions, Signature};
use pretty_assertions::assert_eq;
use std::fs;
use std::process::Command;
use std::sync::Once;
use tempfile::TempDir;

fn sandbox_git_config() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let empty = tempfile::tempdir().unwrap().keep();
        for level in [
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::System,
        ] {
            // SAFETY: runs once, before this test binary's first repository is opened here.
            unsafe { git2::opts::set_search_path(level, empty.as_os_str()).unwrap() };
        }
    });
}

/// A repository in a temp dir; `root` is its working tree, `dir` the temp dir around it.
struct Fixture {
    dir: TempDir,
    root: PathBuf,
    repo: Repository,
}

impl Fixture {
    fn new() -> Self {
        sandbox_git_config();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = Repository::init_opts(&root, &opts).unwrap();
        Self { dir, root, repo }
    }

    fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let file = self.root.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, content).unwrap();
    }

    /// Stages `paths` as they are in the working tree (a missing file is staged as removed).
    fn stage(&self, paths: &[&str]) {
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
    fn commit(&self, message: &str) -> Oid {
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

fn gitlink(path: &str, id: Oid) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o160000,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
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
    assert_eq!(file.changed_lines(), 5);
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
    assert_eq!(files[0].changed_lines(), 0);
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
    index.add(&gitlink("vendor/lib", first)).unwrap();
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
    index.add(&gitlink("vendor/lib", second)).unwrap();
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

/// Two commits on `main` (a.txt, then b.txt edited) and a branch `feature` from the first
/// that edits c.txt.
struct History {
    f: Fixture,
    root_commit: Oid,
    main: Oid,
    feature: Oid,
}

fn history() -> History {
    let f = Fixture::new();
    f.write("a.txt", "a\n");
    f.write("b.txt", "b\n");
    f.write("c.txt", "c\n");
    f.stage(&["a.txt", "b.txt", "c.txt"]);
    let root_commit = f.commit("root");
    f.write("b.txt", "b on main\n");
    f.stage(&["b.txt"]);
    let main = f.commit("main");

    let sig = Signature::now("Test", "test@example.com").unwrap();
    let base = f.repo.find_commit(root_commit).unwrap();
    let mut index = Index::new().unwrap();
    index.read_tree(&base.tree().unwrap()).unwrap();
    let blob = f.repo.blob(b"c on feature\n").unwrap();
    let mut entry = index.get_path(Path::new("c.txt"), 0).unwrap();
    entry.id = blob;
    entry.file_size = 13;
    index.add(&entry).unwrap();
    let tree = f
        .repo
        .find_tree(index.write_tree_to(&f.repo).unwrap())
        .unwrap();
    let feature = f
        .repo
        .commit(
            Some("refs/heads/feature"),
            &sig,
            &sig,
            "feature",
            &tree,
            &[&base],
        )
        .unwrap();
    drop((tree, base));
    History {
        f,
        root_commit,
        main,
        feature,
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

#[test]
fn a_two_dot_range_compares_its_two_ends() {
    let h = history();
    let files = h.f.collect(Scope::Range("main..feature".to_string()));
    assert_eq!(
        summary(&files),
        vec![
            modified("b.txt", "@@ -1 +1 @@\n-b on main\n+b\n"),
            modified("c.txt", "@@ -1 +1 @@\n-c\n+c on feature\n"),
        ]
    );
    let by_id =
        h.f.collect(Scope::Range(format!("{}..{}", h.main, h.feature)));
    assert_eq!(by_id, files);
}

#[test]
fn a_three_dot_range_starts_from_the_merge_base() {
    let h = history();
    let files = h.f.collect(Scope::Range("main...feature".to_string()));
    assert_eq!(
        summary(&files),
        vec![modified("c.txt", "@@ -1 +1 @@\n-c\n+c on feature\n")]
    );
}

#[test]
fn a_single_commit_is_compared_with_its_parent() {
    let h = history();
    for range in ["main".to_string(), h.main.to_string()] {
        let files = h.f.collect(Scope::Range(range));
        assert_eq!(
            summary(&files),
            vec![modified("b.txt", "@@ -1 +1 @@\n-b\n+b on main\n")]
        );
    }
}

#[test]
fn a_root_commit_alone_adds_all_its_files() {
    let h = history();
    let files = h.f.collect(Scope::Range(h.root_commit.to_string()));
    let added = |path: &str, line: &str| {
        (
            path.to_string(),
            ChangeKind::Added,
            format!("@@ -0,0 +1 @@\n+{line}\n"),
        )
    };
    assert_eq!(
        summary(&files),
        vec![
            added("a.txt", "a"),
            added("b.txt", "b"),
            added("c.txt", "c")
        ]
    );
    let (from, to) = range_trees(&h.f.repo, &h.root_commit.to_string()).unwrap();
    assert!(from.is_none());
    assert_eq!(
        to.id(),
        h.f.repo.find_commit(h.root_commit).unwrap().tree_id()
    );
}

#[test]
fn range_trees_gives_the_trees_on_both_sides() {
    let h = history();
    let tree_of = |id: Oid| h.f.repo.find_commit(id).unwrap().tree_id();
    let ids = |range: &str| {
        let (from, to) = range_trees(&h.f.repo, range).unwrap();
        (from.map(|t| t.id()), to.id())
    };
    assert_eq!(
        ids("main..feature"),
        (Some(tree_of(h.main)), tree_of(h.feature))
    );
    assert_eq!(
        ids("main...feature"),
        (Some(tree_of(h.root_commit)), tree_of(h.feature))
    );
    assert_eq!(ids("main"), (Some(tree_of(h.root_commit)), tree_of(h.main)));
}

#[test]
fn a_bad_range_names_the_range() {
    let h = history();
    for range in ["nope..main", "main~5", "not-a-branch"] {
        let err = collect(&h.f.repo, &Scope::Range(range.to_string())).unwrap_err();
        assert!(
            matches!(&err, ChangeError::BadRange { range: r, .. } if r == range),
            "{range}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&format!("`{range}`")), "{message}");
        assert!(
            message.contains("use A..B, A...B or a single commit"),
            "{message}"
        );
    }
}

#[test]
fn open_repo_finds_the_repository_from_a_subdirectory() {
    let f = Fixture::new();
    f.write("deep/er/file.txt", "x\n");
    let repo = open_repo(&f.root.join("deep/er")).unwrap();
    assert_eq!(repo.workdir(), Some(f.root.join("").as_path()));
}

#[test]
fn open_repo_outside_a_repository_says_so() {
    sandbox_git_config();
    let dir = tempfile::tempdir().unwrap();
    if Repository::discover(dir.path()).is_ok() {
        return; // the temp dir sits inside someone's repository; nothing to check here
    }
    let Err(err) = open_repo(dir.path()) else {
        panic!("opened a repository at {}", dir.path().display());
    };
    assert!(matches!(err, ChangeError::NotARepository(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` is not inside a git repository; run `lode review` in one (or pass --cwd)",
            dir.path().display()
        )
    );
}

#[test]
fn scopes_describe_themselves() {
    assert_eq!(
        [
            Scope::Staged,
            Scope::Range("a..b".to_string()),
            Scope::Uncommitted
        ]
        .map(|s| s.describe()),
        [
            "staged changes".to_string(),
            "range a..b".to_string(),
            "uncommitted changes".to_string()
        ]
    );
}

// The environment is process-global: a test that set GIT_INDEX_FILE or GIT_DIR here would
// leak it into every test running alongside (snapshot's tests read the staged index too, and
// no lock can be shared with them). Those tests run their checks in a child process instead:
// the parent builds the repository, the child (an ignored test, run by name) reads it with
// the variables set.

/// Set in the child process: the repository's working tree root.
const CHILD_REPO: &str = "LODE_TEST_CHILD_REPO";

/// Runs the ignored test `name` of this module in a child process, in `cwd`, with `env`.
fn run_child(name: &str, cwd: &Path, env: &[(&str, &Path)]) {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    let test = format!("{module}::{name}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test.as_str(), "--exact", "--ignored", "--test-threads=1"])
        .current_dir(cwd);
    for var in ["GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", CHILD_REPO] {
        command.env_remove(var);
    }
    for (var, value) in env {
        command.env(var, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `a.txt` committed as `one`; a second index file, `.git/alt-index`, stages it as `two`
/// while the repository's own index stages nothing.
fn with_alternate_index() -> Fixture {
    let f = Fixture::new();
    f.write("a.txt", "one\n");
    f.stage(&["a.txt"]);
    f.commit("first");
    let alt = f.root.join(".git/alt-index");
    fs::copy(f.root.join(".git/index"), &alt).unwrap();
    let mut index = Index::open(&alt).unwrap();
    let mut entry = index.get_path(Path::new("a.txt"), 0).unwrap();
    entry.id = f.repo.blob(b"two\n").unwrap();
    entry.file_size = 4;
    index.add(&entry).unwrap();
    index.write().unwrap();
    f
}

fn alternate_change() -> Vec<FileChange> {
    vec![FileChange {
        patch: "@@ -1 +1 @@\n-one\n+two\n".to_string(),
        hunks: vec![Hunk {
            new_start: 1,
            new_lines: 1,
            added: vec![1],
        }],
        ..text("a.txt", ChangeKind::Modified, "one\n", "two\n")
    }]
}

#[test]
fn staged_reads_the_index_git_index_file_names() {
    let f = with_alternate_index();
    assert_eq!(f.collect(Scope::Staged), vec![]);
    let repo = f.root.as_path();
    let name = "child_reads_git_index_file";
    // As git sets it: an absolute path, and one relative to the working tree root (the
    // child runs outside it, so only the root makes sense of it).
    let absolute = f.root.join(".git/alt-index");
    run_child(
        name,
        f.dir.path(),
        &[(CHILD_REPO, repo), ("GIT_INDEX_FILE", &absolute)],
    );
    run_child(
        name,
        f.dir.path(),
        &[
            (CHILD_REPO, repo),
            ("GIT_INDEX_FILE", Path::new(".git/alt-index")),
        ],
    );
}

#[test]
#[ignore = "run in a child process by staged_reads_the_index_git_index_file_names"]
fn child_reads_git_index_file() {
    let Some(root) = std::env::var_os(CHILD_REPO) else {
        return;
    };
    let repo = Repository::open(&root).unwrap();
    let index = staged_index(&repo).unwrap();
    assert_eq!(
        index.get_path(Path::new("a.txt"), 0).map(|e| e.id),
        Some(Oid::hash_object(git2::ObjectType::Blob, b"two\n").unwrap())
    );
    assert_eq!(collect(&repo, &Scope::Staged).unwrap(), alternate_change());
}

#[test]
fn open_repo_honours_git_dir_as_a_hook_sees_it() {
    let f = Fixture::new();
    f.write("a.txt", "one\n");
    f.stage(&["a.txt"]);
    f.commit("first");
    f.write("a.txt", "two\n");
    f.stage(&["a.txt"]);
    run_child(
        "child_opens_git_dir",
        f.dir.path(),
        &[
            (CHILD_REPO, f.root.as_path()),
            ("GIT_DIR", &f.root.join(".git")),
        ],
    );
}

#[test]
#[ignore = "run in a child process by open_repo_honours_git_dir_as_a_hook_sees_it"]
fn child_opens_git_dir() {
    let Some(root) = std::env::var_os(CHILD_REPO) else {
        return;
    };
    let root = PathBuf::from(root);
    // The child runs outside the repository: only GIT_DIR leads to it.
    let repo = open_repo(&std::env::current_dir().unwrap()).unwrap();
    assert_eq!(
        repo.path().canonicalize().unwrap(),
        root.join(".git").canonicalize().unwrap()
    );
    assert_eq!(
        summary(&collect(&repo, &Scope::Staged).unwrap()),
        vec![modified("a.txt", "@@ -1 +1 @@\n-one\n+two\n")]
    );
}
