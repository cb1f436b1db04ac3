//! The undo journal under attack: concurrent runs, later hand edits, symlinks swapped in after
//! the run, a killed run's leftovers, a broken script. The real `lode` binary with scripted
//! model turns on temp copies of the fixture repositories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pretty_assertions::assert_eq;
use serde_json::{json, Value};

use crate::suite::agent_run::repo;
use crate::suite::common::{lode, output};

/// Writes a script of model `turns` into `home`; returns the `--backend` value that plays it.
fn script(home: &Path, name: &str, turns: Value) -> String {
    let path = home.join(name);
    fs::write(&path, json!({ "turns": turns }).to_string()).unwrap();
    format!("scripted:{}", path.display())
}

/// A script whose one turn writes `path` with `content`.
fn writes(home: &Path, name: &str, path: &str, content: &str) -> String {
    script(
        home,
        name,
        json!([
            {"calls": [{"tool": "write_file", "args": {"path": path, "content": content}}]},
            {"say": "Done."}
        ]),
    )
}

/// `lode run TASK` in `repo` with `backend`; the repository's tests are not run.
fn run_command(home: &Path, repo: &Path, backend: &str, task: &str) -> Command {
    let mut cmd = lode(home);
    cmd.args([
        "run",
        "--yolo",
        "--test-cmd",
        "true",
        "--backend",
        backend,
        "--cwd",
    ])
    .arg(repo)
    .arg(task);
    cmd
}

/// `lode run` in `repo` with `backend`, to its end.
fn run(home: &Path, repo: &Path, backend: &str) -> (i32, String, String) {
    output(&mut run_command(home, repo, backend, "do the thing"))
}

fn undo(home: &Path, repo: &Path, extra: &[&str]) -> (i32, String, String) {
    output(lode(home).arg("undo").args(extra).arg("--cwd").arg(repo))
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Kills the process when the test ends, passing or not.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pid no process has: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(unix)]
#[test]
fn a_second_run_is_refused_while_one_works_and_a_killed_run_leaves_no_stale_lock() {
    let (home, repo) = repo("rust-calc");
    let original = fs::read(repo.join("src/lib.rs")).unwrap();
    let sleeper_pid = home.path().join("sleeper.pid");
    let first = script(
        home.path(),
        "first.json",
        json!([
            {"calls": [{"tool": "write_file", "args": {"path": "NOTES.md", "content": "first\n"}}]},
            {"calls": [{"tool": "shell", "args": {
                "command": format!("sleep 30 & echo $! > {}; wait", sleeper_pid.display()),
                "timeout_s": 60}}]},
            {"say": "Done."}
        ]),
    );
    let mut first_run = KillOnDrop(
        run_command(home.path(), &repo, &first, "first")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let sleeper: i32 = loop {
        if let Some(pid) = fs::read_to_string(&sleeper_pid)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "the first run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };

    // The second run would replace the first one's journal; it must not start.
    let second = writes(home.path(), "second.json", "src/lib.rs", "// second\n");
    let (code, _, stderr) = run(home.path(), &repo, &second);
    assert_eq!(code, 2, "{stderr}");
    let root = repo.canonicalize().unwrap();
    assert_eq!(
        stderr.trim(),
        format!(
            "lode: another lode run (pid {}) is working in {}; wait for it or stop it",
            first_run.0.id(),
            root.display()
        )
    );
    assert_eq!(fs::read(repo.join("src/lib.rs")).unwrap(), original);

    // kill -9: the kernel drops the lock with the process; its `sleep` child, still alive,
    // must not hold it either.
    first_run.0.kill().unwrap();
    first_run.0.wait().unwrap();
    let (code, stdout, stderr) = undo(home.path(), &repo, &[]);
    // SAFETY: plain signal delivery to the test's own grandchild.
    unsafe { libc::kill(sleeper, libc::SIGKILL) };
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "deleted  NOTES.md (created by the run)\n");
    assert!(!repo.join("NOTES.md").exists());
}

#[test]
fn a_hand_edit_after_the_run_is_never_thrown_away() {
    let (home, repo) = repo("rust-calc");
    let lib = repo.join("src/lib.rs");
    let original = fs::read(&lib).unwrap();
    let backend = writes(home.path(), "s.json", "src/lib.rs", "// by the run\n");
    let (code, _, stderr) = run(home.path(), &repo, &backend);
    assert_eq!(code, 0, "{stderr}");
    fs::write(&lib, "// by the user, later\n").unwrap();

    let (code, stdout, stderr) = undo(home.path(), &repo, &[]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("src/lib.rs changed after the last run") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&lib).unwrap(), "// by the user, later\n");
    assert!(!repo.join("src/lib.rs.lode-backup").exists());

    let (code, stdout, stderr) = undo(home.path(), &repo, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "kept     src/lib.rs.lode-backup (your version of src/lib.rs, changed after the run)\n\
         restored src/lib.rs\n"
    );
    assert_eq!(fs::read(&lib).unwrap(), original);
    assert_eq!(
        fs::read_to_string(repo.join("src/lib.rs.lode-backup")).unwrap(),
        "// by the user, later\n"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_swapped_in_for_a_journaled_file_is_not_followed() {
    let (home, repo) = repo("rust-calc");
    let lib = repo.join("src/lib.rs");
    let original = fs::read(&lib).unwrap();
    let victim = home.path().join("victim.txt");
    fs::write(&victim, "outside the repository\n").unwrap();
    let backend = writes(home.path(), "s.json", "src/lib.rs", "// by the run\n");
    assert_eq!(run(home.path(), &repo, &backend).0, 0);
    fs::remove_file(&lib).unwrap();
    std::os::unix::fs::symlink(&victim, &lib).unwrap();

    let (code, _, stderr) = undo(home.path(), &repo, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "outside the repository\n"
    );
    // Forced, the link itself is moved aside (never its target) and the file comes back.
    let (code, _, stderr) = undo(home.path(), &repo, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "outside the repository\n"
    );
    assert!(!is_symlink(&lib));
    assert_eq!(fs::read(&lib).unwrap(), original);
    assert!(is_symlink(&repo.join("src/lib.rs.lode-backup")));
}

#[cfg(unix)]
#[test]
fn a_directory_swapped_for_a_symlink_out_is_refused_even_when_forced() {
    let (home, repo) = repo("rust-calc");
    let outside = home.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let backend = writes(home.path(), "s.json", "src/lib.rs", "// by the run\n");
    assert_eq!(run(home.path(), &repo, &backend).0, 0);
    // `src` now leads out, to a directory holding what the run left.
    fs::rename(repo.join("src"), home.path().join("src.moved")).unwrap();
    fs::write(outside.join("lib.rs"), "// by the run\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("src")).unwrap();

    for extra in [&[][..], &["--force"][..]] {
        let (code, _, stderr) = undo(home.path(), &repo, extra);
        assert_eq!(code, 1, "{extra:?}: {stderr}");
        assert!(stderr.contains("`src` is now a symlink"), "{stderr}");
    }
    let names: Vec<PathBuf> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names, vec![outside.join("lib.rs")]);
    assert_eq!(
        fs::read_to_string(outside.join("lib.rs")).unwrap(),
        "// by the run\n"
    );
}

#[test]
fn undo_removes_the_directories_the_run_created() {
    let (home, repo) = repo("rust-calc");
    fs::create_dir(repo.join("docs")).unwrap();
    let backend = script(
        home.path(),
        "s.json",
        json!([
            {"calls": [
                {"tool": "write_file", "args": {"path": "gen/deep/out.txt", "content": "x\n"}},
                {"tool": "write_file", "args": {"path": "docs/new/page.md", "content": "y\n"}}
            ]},
            {"say": "Done."}
        ]),
    );
    let (code, _, stderr) = run(home.path(), &repo, &backend);
    assert_eq!(code, 0, "{stderr}");
    assert!(repo.join("gen/deep/out.txt").exists());

    let (code, stdout, stderr) = undo(home.path(), &repo, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!repo.join("gen").exists(), "{stdout}");
    assert!(!repo.join("docs/new").exists(), "{stdout}");
    // `docs` was there before the run.
    assert!(repo.join("docs").is_dir());
    assert!(
        stdout.contains("removed  gen/ (created by the run)"),
        "{stdout}"
    );
}

/// What `kill -9` in the middle of a write leaves: the journal names the file, and its temp
/// file, named for the dead writer's pid, sits next to it.
#[test]
fn a_killed_runs_temp_files_are_cleaned_at_the_next_start() {
    let (home, repo) = repo("rust-calc");
    let backend = writes(home.path(), "s.json", "src/lib.rs", "// by the run\n");
    assert_eq!(run(home.path(), &repo, &backend).0, 0);
    let dead = dead_pid();
    let stale = repo.join(format!("src/.lib.rs.lode-tmp-{dead}-0"));
    let live = repo.join(format!("src/.lib.rs.lode-tmp-{}-0", std::process::id()));
    let not_ours = repo.join(format!("src/.lib.rs.lode-tmp-{dead}-0.orig"));
    let elsewhere = repo.join(format!(".Cargo.toml.lode-tmp-{dead}-0"));
    for path in [&stale, &live, &not_ours, &elsewhere] {
        fs::write(path, "half a file").unwrap();
    }

    let idle = script(home.path(), "idle.json", json!([{"say": "Nothing to do."}]));
    let (code, _, stderr) = run(home.path(), &repo, &idle);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stale.exists(), "the dead run's temp file is still there");
    // A live writer's temp, a name that only looks like ours, a file the journal does not
    // know: none of them is ours to remove.
    for kept in [&live, &not_ours, &elsewhere] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
}

#[test]
fn a_malformed_script_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("broken.json");
    fs::write(&path, "{\"turns\": [{\"say\": \"unfinished\"").unwrap();
    let (code, _, stderr) = output(
        lode(home.path())
            .args(["run", "--backend"])
            .arg(format!("scripted:{}", path.display()))
            .arg("x"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("lode: script `"), "{stderr}");
    assert!(stderr.contains("is not valid"), "{stderr}");
}
