//! The generated script, executed the way git executes it: directly, and by `git commit`.

use super::*;
use pretty_assertions::assert_eq;
use std::process::{Command, Output};

/// A fake lode in a directory whose name needs quoting; it records its arguments.
fn fake_lode(base: &Path) -> (PathBuf, PathBuf) {
    let record = base.join("lode-was-run");
    let exe = base.join("it's a \"dir\"").join("lode");
    write_script(
        &exe,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > '{}'\n",
            record.display()
        ),
        0o755,
    );
    (exe, record)
}

/// A chained hook that records it ran (with its arguments) and exits with `status`.
fn chained_hook(hooks: &Path, base: &Path, status: i32) -> PathBuf {
    let record = base.join("chained-was-run");
    write_script(
        &hooks.join("pre-commit"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > '{}'\nexit {status}\n",
            record.display()
        ),
        0o755,
    );
    record
}

/// Runs `.git/hooks/pre-commit` from the working tree root, as git does. Retries on
/// ETXTBSY: another test thread forking while a script here was open for writing.
fn run_hook(root: &Path, env: &[(&str, &OsStr)]) -> Output {
    for _ in 0..20 {
        let out = Command::new(".git/hooks/pre-commit")
            .args(["one", "two"])
            .current_dir(root)
            .envs(env.iter().copied())
            .output();
        match out {
            Err(e) if e.raw_os_error() == Some(26) => {}
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("Text file busy") => {}
            other => return other.unwrap(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the hook stayed busy");
}

#[test]
fn the_hook_runs_the_chained_hook_then_lode() {
    let (dir, root) = repo();
    let base = dir.path().canonicalize().unwrap();
    let hooks = root.join(".git/hooks");
    let (exe, lode_record) = fake_lode(&base);
    let chained_record = chained_hook(&hooks, &base, 0);
    install(&root, &exe).unwrap();

    // LODE_SKIP is lode's to honour; the user's own hook runs regardless.
    let out = run_hook(&root, &[("LODE_SKIP", OsStr::new("1"))]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read_to_string(&chained_record).unwrap(), "one two\n");
    assert_eq!(fs::read_to_string(&lode_record).unwrap(), "review --hook\n");
}

#[test]
fn a_failing_chained_hook_stops_before_lode() {
    let (dir, root) = repo();
    let base = dir.path().canonicalize().unwrap();
    let hooks = root.join(".git/hooks");
    let (exe, lode_record) = fake_lode(&base);
    let chained_record = chained_hook(&hooks, &base, 3);
    install(&root, &exe).unwrap();

    let out = run_hook(&root, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(chained_record.exists());
    assert!(!lode_record.exists(), "lode ran after a failing hook");
}

#[test]
fn a_vanished_lode_binary_falls_back_to_lode_on_path() {
    let (dir, root) = repo();
    let base = dir.path().canonicalize().unwrap();
    let (exe, lode_record) = fake_lode(&base);
    install(&root, &base.join("gone/lode")).unwrap();
    let path = std::env::join_paths(std::iter::once(exe.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();

    let out = run_hook(&root, &[("PATH", &path)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read_to_string(&lode_record).unwrap(), "review --hook\n");
}

/// The real git finds the hook where `hooks_dir` says, and `dirname "$0"` finds the
/// chained hook from where git runs it (also under a relative core.hooksPath).
#[test]
fn git_commit_runs_the_chained_hook_and_lode() {
    let git_works = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !git_works {
        return; // no git binary here; the direct runs above cover the script
    }
    for hooks_path in [None, Some(".githooks")] {
        let (dir, root) = repo();
        let base = dir.path().canonicalize().unwrap();
        if let Some(value) = hooks_path {
            set_hooks_path(&root, value);
        }
        let hooks = hooks_dir(&root).unwrap();
        let (exe, lode_record) = fake_lode(&base);
        let chained_record = chained_hook(&hooks, &base, 0);
        install(&root, &exe).unwrap();
        fs::write(root.join("file.txt"), "hello\n").unwrap();

        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
                .args(args)
                .current_dir(&root)
                .env("HOME", &base)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .env_remove("GIT_INDEX_FILE")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?} ({hooks_path:?}): {out:?}"
            );
        };
        git(&["add", "file.txt"]);
        git(&["commit", "-q", "-m", "first"]);
        assert_eq!(fs::read_to_string(&chained_record).unwrap(), "\n");
        assert_eq!(fs::read_to_string(&lode_record).unwrap(), "review --hook\n");
    }
}
