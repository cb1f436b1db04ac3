//! Ranges: two dots, three dots, one commit, a root commit, bad names.

use super::*;
use pretty_assertions::assert_eq;

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
