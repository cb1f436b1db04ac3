use super::*;
use crate::review::fixture::{bare_entry, GitFixture};
use git2::IndexEntry;
use pretty_assertions::assert_eq;
use std::fs;
use std::time::{Duration, SystemTime};

/// A repository in a temp dir, and a snapshot directory (`base`) beside it.
struct Fixture {
    git: GitFixture,
    base: PathBuf,
}

impl std::ops::Deref for Fixture {
    type Target = GitFixture;
    fn deref(&self) -> &GitFixture {
        &self.git
    }
}

impl Fixture {
    fn new() -> Self {
        let git = GitFixture::new();
        let base = git
            .dir
            .path()
            .canonicalize()
            .unwrap()
            .join("cache/snapshot");
        Self { git, base }
    }

    /// Writes and stages each `(path, content)`.
    fn stage_files(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            self.write(path, content);
        }
        self.stage(&files.iter().map(|(p, _)| *p).collect::<Vec<_>>());
    }

    /// Stages an entry with no file behind it: a symlink or a submodule.
    fn stage_entry(&self, path: &str, mode: u32, id: Oid) {
        let mut index = self.repo.index().unwrap();
        index.add(&bare_entry(path, mode, id)).unwrap();
        index.write().unwrap();
    }

    fn materialize(&self, scope: &Scope) -> Snapshot {
        materialize(&self.repo, scope, &self.base).unwrap().unwrap()
    }

    fn staged(&self) -> Snapshot {
        self.materialize(&Scope::Staged)
    }
}

/// Every file under `dir` (relative path with `/` → content), directories left out.
fn files(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                let content = fs::read_to_string(&path).unwrap_or_else(|_| "<not text>".into());
                out.insert(rel.replace('\\', "/"), content);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn expect(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect()
}

fn blob_id(content: &str) -> Oid {
    Oid::hash_object(ObjectType::Blob, content.as_bytes()).unwrap()
}

#[test]
fn a_staged_snapshot_holds_the_staged_regular_files() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "committed\n"), ("keep.txt", "keep\n")]);
    f.commit("first");
    f.stage_files(&[("a.txt", "staged\n"), ("dir/sub/deep.rs", "fn main() {}\n")]);
    // Edited again after staging: the commit records the staged version.
    f.write("a.txt", "working tree\n");
    f.write("untracked.txt", "not staged\n");
    let target = f.repo.blob(b"keep.txt").unwrap();
    f.stage_entry("link", 0o120000, target);
    let commit = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    f.stage_entry("vendor/lib", 0o160000, commit);

    let snapshot = f.staged();
    assert_eq!(snapshot.root(), f.base.join("tree"));
    assert_eq!(
        files(snapshot.root()),
        expect(&[
            ("a.txt", "staged\n"),
            ("dir/sub/deep.rs", "fn main() {}\n"),
            ("keep.txt", "keep\n"),
        ])
    );
    assert_eq!((snapshot.written, snapshot.files), (3, 3));
    assert!(!f.base.join("tree/vendor").exists());
}

#[test]
fn a_second_snapshot_writes_only_what_changed() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n"), ("b.txt", "b\n"), ("dir/c.txt", "c\n")]);
    let first = f.staged();
    assert_eq!((first.written, first.files), (3, 3));
    drop(first);

    let again = f.staged();
    assert_eq!((again.written, again.files), (0, 3));
    drop(again);

    f.stage_files(&[("b.txt", "b edited\n")]);
    let edited = f.staged();
    assert_eq!((edited.written, edited.files), (1, 3));
    assert_eq!(
        files(edited.root()),
        expect(&[
            ("a.txt", "a\n"),
            ("b.txt", "b edited\n"),
            ("dir/c.txt", "c\n")
        ])
    );
    drop(edited);

    fs::remove_file(f.root.join("dir/c.txt")).unwrap();
    f.stage(&["dir/c.txt"]);
    let removed = f.staged();
    assert_eq!((removed.written, removed.files), (0, 2));
    assert_eq!(
        files(removed.root()),
        expect(&[("a.txt", "a\n"), ("b.txt", "b edited\n")])
    );
}

#[test]
fn the_manifest_records_each_files_blob() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]);
    drop(f.staged());
    let manifest: BTreeMap<String, String> =
        serde_json::from_slice(&fs::read(f.base.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(
        manifest,
        BTreeMap::from([
            ("a.txt".to_string(), blob_id("a\n").to_string()),
            ("dir/b.txt".to_string(), blob_id("b\n").to_string()),
        ])
    );
}

#[test]
fn a_missing_or_corrupt_manifest_rewrites_the_whole_tree() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]);
    let expected = expect(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]);
    let corruptions: [(&str, Option<&str>); 3] = [
        ("missing", None),
        ("not json", Some("{not json")),
        ("empty", Some("{}")),
    ];
    for (what, manifest) in corruptions {
        drop(f.staged());
        // What an interrupted update could leave: a file the tree no longer has, a file
        // whose content is not what the manifest would say.
        fs::write(f.base.join("tree/stale.txt"), "stale\n").unwrap();
        fs::write(f.base.join("tree/a.txt"), "half written").unwrap();
        match manifest {
            None => fs::remove_file(f.base.join(MANIFEST)).unwrap(),
            Some(text) => fs::write(f.base.join(MANIFEST), text).unwrap(),
        }
        let snapshot = f.staged();
        assert_eq!(
            (snapshot.written, snapshot.files),
            (2, 2),
            "manifest {what}"
        );
        assert_eq!(files(snapshot.root()), expected, "manifest {what}");
    }
}

#[test]
fn a_file_missing_from_the_tree_is_written_again() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    drop(f.staged());
    fs::remove_file(f.base.join("tree/a.txt")).unwrap();
    let snapshot = f.staged();
    assert_eq!((snapshot.written, snapshot.files), (1, 2));
    assert_eq!(
        files(snapshot.root()),
        expect(&[("a.txt", "a\n"), ("b.txt", "b\n")])
    );
}

#[test]
fn a_file_and_a_directory_can_swap_places() {
    let f = Fixture::new();
    f.stage_files(&[("x", "a file\n"), ("y/inner.txt", "in a directory\n")]);
    drop(f.staged());

    fs::remove_file(f.root.join("x")).unwrap();
    fs::remove_dir_all(f.root.join("y")).unwrap();
    f.stage(&["x", "y/inner.txt"]);
    f.stage_files(&[("x/inner.txt", "now a directory\n"), ("y", "now a file\n")]);
    let snapshot = f.staged();
    assert_eq!((snapshot.written, snapshot.files), (2, 2));
    assert_eq!(
        files(snapshot.root()),
        expect(&[("x/inner.txt", "now a directory\n"), ("y", "now a file\n")])
    );
}

#[test]
fn a_range_snapshot_holds_the_second_commits_tree() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a1\n"), ("old.txt", "old\n")]);
    let a = f.commit("a");
    fs::remove_file(f.root.join("old.txt")).unwrap();
    f.stage(&["old.txt"]);
    f.stage_files(&[("a.txt", "a2\n"), ("dir/new.txt", "new\n")]);
    let b = f.commit("b");
    // Neither the index nor the working tree matters for a range.
    f.stage_files(&[("a.txt", "staged\n")]);
    f.write("a.txt", "working tree\n");

    let expected = expect(&[("a.txt", "a2\n"), ("dir/new.txt", "new\n")]);
    for range in [
        format!("{a}..{b}"),
        format!("{b}"),
        "HEAD~1..HEAD".to_string(),
    ] {
        let snapshot = f.materialize(&Scope::Range(range.clone()));
        assert_eq!(files(snapshot.root()), expected, "{range}");
    }
}

#[test]
fn a_bad_range_is_a_change_error() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n")]);
    f.commit("a");
    let err = materialize(&f.repo, &Scope::Range("nope..HEAD".to_string()), &f.base).unwrap_err();
    assert!(
        matches!(
            &err,
            SnapshotError::Changes(ChangeError::BadRange { range, .. }) if range == "nope..HEAD"
        ),
        "{err:?}"
    );
}

#[test]
fn uncommitted_changes_need_no_snapshot() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n")]);
    let snapshot = materialize(&f.repo, &Scope::Uncommitted, &f.base).unwrap();
    assert!(snapshot.is_none());
    assert!(!f.base.exists());
}

#[test]
fn a_second_review_works_on_a_private_copy_while_the_first_holds_the_lock() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]);
    let lock = f.base.join(LOCK);

    let first = f.staged();
    assert_eq!(first.root(), f.base.join("tree"));
    assert!(lock.is_file());

    let second = f.staged();
    assert_ne!(second.root(), first.root());
    assert!(!second.root().starts_with(&f.base));
    assert_eq!((second.written, second.files), (2, 2));
    assert_eq!(files(second.root()), files(first.root()));
    let private = second.root().parent().unwrap().to_path_buf();
    assert!(private.is_dir());

    drop(second);
    assert!(!private.exists());
    assert!(lock.is_file(), "the first review still holds the lock");
    assert!(first.root().join("a.txt").is_file());

    drop(first);
    assert!(!lock.exists());
    let third = f.staged();
    assert_eq!(third.root(), f.base.join("tree"));
    assert_eq!(third.written, 0);
}

#[test]
fn a_stale_lock_is_taken_over() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n")]);
    let lock = f.base.join(LOCK);
    fs::create_dir_all(&f.base).unwrap();
    let file = fs::File::create(&lock).unwrap();
    let old = SystemTime::now() - STALE_LOCK - Duration::from_secs(60);
    file.set_modified(old).unwrap();
    drop(file);

    let snapshot = f.staged();
    assert_eq!(snapshot.root(), f.base.join("tree"));
    let modified = fs::metadata(&lock).unwrap().modified().unwrap();
    assert!(modified > old, "the lock was created anew");
    drop(snapshot);
    assert!(!lock.exists());
}

#[test]
fn a_fresh_lock_is_left_to_its_owner() {
    let f = Fixture::new();
    f.stage_files(&[("a.txt", "a\n")]);
    let lock = f.base.join(LOCK);
    fs::create_dir_all(&f.base).unwrap();
    fs::write(&lock, "").unwrap();

    let snapshot = f.staged();
    assert!(!snapshot.root().starts_with(&f.base));
    assert_eq!(files(snapshot.root()), expect(&[("a.txt", "a\n")]));
    drop(snapshot);
    assert!(lock.is_file(), "someone else's lock is not removed");
}

#[test]
fn conflicted_entries_are_left_out() {
    let f = Fixture::new();
    f.stage_files(&[("clean.txt", "clean\n")]);
    let mut index = f.repo.index().unwrap();
    for stage in 1..=3u16 {
        let id = f.repo.blob(format!("side {stage}\n").as_bytes()).unwrap();
        index
            .add(&IndexEntry {
                file_size: 7,
                flags: stage << 12,
                ..bare_entry("conflict.txt", 0o100644, id)
            })
            .unwrap();
    }
    index.write().unwrap();
    assert!(f.repo.index().unwrap().has_conflicts());

    let snapshot = f.staged();
    assert_eq!(files(snapshot.root()), expect(&[("clean.txt", "clean\n")]));
}

#[test]
fn safe_paths_stay_inside_the_snapshot() {
    let kept: Vec<&str> = [
        "a.txt",
        "dir/sub/b.rs",
        ".github/workflows/ci.yml",
        ".gitignore",
        "a/.git.txt",
        "",
        "../up",
        "dir/../../up",
        "/etc/passwd",
        "./a.txt",
        ".git",
        ".git/config",
        "dir/.git/hooks/pre-commit",
    ]
    .into_iter()
    .filter(|p| safe_path(p).as_deref() == Some(*p))
    .collect();
    assert_eq!(
        kept,
        vec![
            "a.txt",
            "dir/sub/b.rs",
            ".github/workflows/ci.yml",
            ".gitignore",
            "a/.git.txt"
        ]
    );
}

#[test]
fn stage_reads_the_merge_stage_from_index_flags() {
    let name_length = 0x0123;
    let assume_valid = 0x8000;
    let flags = [
        0,
        1 << 12,
        2 << 12,
        3 << 12,
        name_length,
        assume_valid | name_length | (2 << 12),
    ];
    assert_eq!(flags.map(stage), [0, 1, 2, 3, 0, 2]);
}

#[test]
fn only_plain_and_executable_files_are_regular() {
    let modes = [0o100644, 0o100755, 0o120000, 0o160000, 0o040000];
    assert_eq!(modes.map(is_regular), [true, true, false, false, false]);
}
