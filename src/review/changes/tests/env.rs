//! The environment git sets for hooks (`GIT_INDEX_FILE`, `GIT_DIR`), tested in child processes.

use super::*;
use pretty_assertions::assert_eq;

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
