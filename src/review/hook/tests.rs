use super::*;
use crate::tools::git::sandbox_git_config;
use git2::RepositoryInitOptions;
use pretty_assertions::assert_eq;
use std::collections::BTreeSet;
use tempfile::TempDir;

/// A fresh repository in a temp dir, and its (canonical) working tree root.
fn repo() -> (TempDir, PathBuf) {
    sandbox_git_config();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("repo");
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    Repository::init_opts(&root, &opts).unwrap();
    (dir, root)
}

fn set_hooks_path(root: &Path, value: &str) {
    let repo = Repository::open(root).unwrap();
    repo.config()
        .unwrap()
        .set_str("core.hooksPath", value)
        .unwrap();
}

/// Every file under `dir` with its bytes and mode: "nothing touched" compares these.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.clone(), fs::read(&path).unwrap(), mode(&path)));
        }
    }
    out.sort();
    out
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode(_: &Path) -> u32 {
    0
}

#[cfg(unix)]
fn write_script(path: &Path, body: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn fresh_install_writes_an_executable_hook_with_the_marker_and_the_quoted_path() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    let before = if hooks.exists() {
        names(&hooks)
    } else {
        BTreeSet::new()
    };
    let installed = install(&root, Path::new("/opt/lode/bin/lode")).unwrap();
    assert_eq!(
        installed,
        Installed {
            hook: hooks.join("pre-commit"),
            chained: None,
            backup: None,
            already: false,
        }
    );
    let script = fs::read_to_string(hooks.join("pre-commit")).unwrap();
    assert!(
        script.starts_with("#!/bin/sh\n# lode pre-commit hook\n"),
        "{script}"
    );
    assert!(script.contains("\nLODE='/opt/lode/bin/lode'\n"), "{script}");
    assert!(
        script.ends_with("exec \"$LODE\" review --hook\n"),
        "{script}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&hooks.join("pre-commit")), 0o755);
    let mut expected = before;
    expected.insert("pre-commit".into());
    assert_eq!(names(&hooks), expected, "no temp files left behind");
    assert!(is_installed(&root).unwrap());
}

#[test]
fn installing_twice_changes_nothing_and_a_new_lode_path_is_picked_up() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    let first = install(&root, Path::new("/a/lode")).unwrap();
    let after_first = snapshot(&hooks);
    let again = install(&root, Path::new("/a/lode")).unwrap();
    assert_eq!(
        again,
        Installed {
            already: true,
            ..first.clone()
        }
    );
    assert_eq!(snapshot(&hooks), after_first);

    let moved = install(&root, Path::new("/b/lode")).unwrap();
    assert_eq!(
        moved,
        Installed {
            already: true,
            ..first
        }
    );
    let script = fs::read_to_string(hooks.join("pre-commit")).unwrap();
    assert!(script.contains("\nLODE='/b/lode'\n"), "{script}");
}

#[cfg(unix)]
#[test]
fn an_existing_hook_is_chained_backed_up_and_restored_exactly() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    let theirs = "#!/bin/sh\necho theirs\n";
    write_script(&hooks.join("pre-commit"), theirs, 0o750);
    let before = snapshot(&hooks);

    let installed = install(&root, Path::new("/a/lode")).unwrap();
    assert_eq!(
        installed,
        Installed {
            hook: hooks.join("pre-commit"),
            chained: Some(hooks.join("pre-commit.lode-chained")),
            backup: Some(hooks.join("pre-commit.lode-backup")),
            already: false,
        }
    );
    for kept in ["pre-commit.lode-chained", "pre-commit.lode-backup"] {
        assert_eq!(fs::read_to_string(hooks.join(kept)).unwrap(), theirs);
        assert_eq!(mode(&hooks.join(kept)), 0o750, "{kept}");
    }
    assert!(is_lode_script(&fs::read(hooks.join("pre-commit")).unwrap()));
    assert_eq!(
        install(&root, Path::new("/a/lode")).unwrap(),
        Installed {
            already: true,
            ..installed
        }
    );

    assert_eq!(
        uninstall(&root).unwrap(),
        Uninstalled::Restored {
            hook: hooks.join("pre-commit"),
            previous: true,
        }
    );
    assert_eq!(snapshot(&hooks), before);
    assert!(!is_installed(&root).unwrap());
}

#[cfg(unix)]
#[test]
fn uninstall_keeps_the_backup_when_the_chained_hook_changed_meanwhile() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    write_script(&hooks.join("pre-commit"), "#!/bin/sh\necho v1\n", 0o755);
    install(&root, Path::new("/a/lode")).unwrap();
    write_script(
        &hooks.join("pre-commit.lode-chained"),
        "#!/bin/sh\necho v2\n",
        0o755,
    );
    uninstall(&root).unwrap();
    assert_eq!(
        fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\necho v2\n"
    );
    assert_eq!(
        fs::read_to_string(hooks.join("pre-commit.lode-backup")).unwrap(),
        "#!/bin/sh\necho v1\n"
    );
    // Installing again would overwrite the only copy of v1.
    let err = install(&root, Path::new("/a/lode")).unwrap_err();
    assert!(matches!(err, HookError::BackupExists { .. }), "{err}");
    assert_eq!(
        fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\necho v2\n"
    );
}

#[test]
fn uninstall_without_a_lode_hook_is_not_installed_and_touches_nothing() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    assert_eq!(
        uninstall(&root).unwrap(),
        Uninstalled::NotInstalled {
            hook: hooks.join("pre-commit"),
        }
    );

    fs::create_dir_all(&hooks).unwrap();
    fs::write(hooks.join("pre-commit"), "#!/bin/sh\necho theirs\n").unwrap();
    fs::write(hooks.join("pre-commit.lode-chained"), "someone else's\n").unwrap();
    let before = snapshot(&hooks);
    assert_eq!(
        uninstall(&root).unwrap(),
        Uninstalled::NotInstalled {
            hook: hooks.join("pre-commit"),
        }
    );
    assert_eq!(snapshot(&hooks), before);
    assert!(!is_installed(&root).unwrap());
}

#[test]
fn a_foreign_hook_over_an_existing_chained_file_is_refused() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::write(hooks.join("pre-commit"), "#!/bin/sh\necho theirs\n").unwrap();
    fs::write(hooks.join("pre-commit.lode-chained"), "older\n").unwrap();
    let before = snapshot(&hooks);
    let err = install(&root, Path::new("/a/lode")).unwrap_err();
    assert!(matches!(err, HookError::ChainedExists { .. }), "{err}");
    assert!(err.to_string().contains("move one of them away"), "{err}");
    assert_eq!(snapshot(&hooks), before);
}

#[test]
fn core_hooks_path_relative_and_absolute_is_where_the_hook_goes() {
    let (dir, root) = repo();
    set_hooks_path(&root, ".githooks");
    assert_eq!(hooks_dir(&root).unwrap(), root.join(".githooks"));
    // From a subdirectory too: relative means relative to the working tree root.
    fs::create_dir_all(root.join("src/deep")).unwrap();
    assert_eq!(
        hooks_dir(&root.join("src/deep")).unwrap(),
        root.join(".githooks")
    );
    let installed = install(&root.join("src/deep"), Path::new("/a/lode")).unwrap();
    assert_eq!(installed.hook, root.join(".githooks/pre-commit"));
    assert!(!root.join(".git/hooks/pre-commit").exists());
    assert!(is_installed(&root).unwrap());
    assert_eq!(
        uninstall(&root).unwrap(),
        Uninstalled::Restored {
            hook: root.join(".githooks/pre-commit"),
            previous: false,
        }
    );
    assert_eq!(names(&root.join(".githooks")), BTreeSet::new());

    let elsewhere = dir.path().canonicalize().unwrap().join("shared-hooks");
    set_hooks_path(&root, elsewhere.to_str().unwrap());
    assert_eq!(hooks_dir(&root).unwrap(), elsewhere);
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
    let installed = install(&root, Path::new("/a/lode")).unwrap();
    assert_eq!(
        installed.chained,
        Some(elsewhere.join("pre-commit.lode-chained"))
    );
    uninstall(&root).unwrap();
    assert_eq!(
        fs::read_to_string(elsewhere.join("pre-commit")).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
    assert_eq!(
        names(&elsewhere),
        BTreeSet::from(["pre-commit".to_string()])
    );
}

#[test]
fn home_is_expanded_in_core_hooks_path() {
    let home = Some(OsStr::new("/home/me"));
    assert_eq!(
        expand_home("~/hooks", home),
        PathBuf::from("/home/me/hooks")
    );
    assert_eq!(expand_home("~", home), PathBuf::from("/home/me"));
    assert_eq!(expand_home("~other/x", home), PathBuf::from("~other/x"));
    assert_eq!(expand_home("~/hooks", None), PathBuf::from("~/hooks"));
    assert_eq!(expand_home("a/~/b", home), PathBuf::from("a/~/b"));
}

#[test]
fn linked_worktrees_share_the_main_repositorys_hooks() {
    let (dir, root) = repo();
    let repo = Repository::open(&root).unwrap();
    let tree = repo
        .find_tree(repo.index().unwrap().write_tree().unwrap())
        .unwrap();
    let sig = git2::Signature::now("Test", "test@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    let linked = dir.path().canonicalize().unwrap().join("linked");
    repo.worktree("linked", &linked, None).unwrap();
    assert_eq!(hooks_dir(&linked).unwrap(), root.join(".git/hooks"));
}

#[test]
fn a_hand_edited_lode_hook_is_modified_and_left_alone() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::write(hooks.join("pre-commit"), "#!/bin/sh\necho theirs\n").unwrap();
    install(&root, Path::new("/a/lode")).unwrap();
    let mut script = fs::read_to_string(hooks.join("pre-commit")).unwrap();
    script.push_str("echo mine\n");
    fs::write(hooks.join("pre-commit"), &script).unwrap();
    let before = snapshot(&hooks);

    let err = uninstall(&root).unwrap_err();
    assert!(matches!(err, HookError::Modified { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("was changed after lode installed it"),
        "{message}"
    );
    assert!(message.contains("pre-commit.lode-chained"), "{message}");
    let err = install(&root, Path::new("/a/lode")).unwrap_err();
    assert!(matches!(err, HookError::Modified { .. }), "{err}");
    assert_eq!(snapshot(&hooks), before);
    assert!(
        is_installed(&root).unwrap(),
        "an edited lode hook is still lode's"
    );
}

#[test]
fn only_the_lode_path_may_differ_from_what_lode_writes() {
    let (_dir, root) = repo();
    let hooks = root.join(".git/hooks");
    install(&root, Path::new("/a/lode")).unwrap();
    let script = fs::read_to_string(hooks.join("pre-commit")).unwrap();
    let repointed = script.replace("LODE='/a/lode'", "LODE='/usr/local/bin/it'\\''s'");
    fs::write(hooks.join("pre-commit"), repointed).unwrap();
    assert_eq!(
        uninstall(&root).unwrap(),
        Uninstalled::Restored {
            hook: hooks.join("pre-commit"),
            previous: false,
        }
    );

    install(&root, Path::new("/a/lode")).unwrap();
    let broken = script.replace("LODE='/a/lode'", "LODE=/a/lode");
    fs::write(hooks.join("pre-commit"), broken).unwrap();
    assert!(matches!(uninstall(&root), Err(HookError::Modified { .. })));
}

#[test]
fn quoting_round_trips() {
    for raw in [
        "/a/b",
        "/it's/lode",
        "'",
        "''",
        "/a b/$HOME/`x`/\"q\"\\n",
        "",
    ] {
        let quoted = quote(raw.as_bytes());
        assert_eq!(unquote(&quoted).as_deref(), Some(raw.as_bytes()), "{raw}");
    }
    assert_eq!(quote(b"/it's"), b"'/it'\\''s'".to_vec());
    for bad in [&b"/a"[..], b"'/a", b"'a'b'", b"'a'\\'", b"'a''b'"] {
        assert_eq!(unquote(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[cfg(unix)]
#[test]
fn sh_reads_the_quoted_path_back_unchanged() {
    for raw in ["/it's/lode", "/a b/$HOME/`x`/\"q\"\\n", "/'/''/'''"] {
        let mut line = b"LODE=".to_vec();
        line.extend(quote(raw.as_bytes()));
        line.extend_from_slice(b"; printf %s \"$LODE\"");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(String::from_utf8(line).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), raw);
    }
}

#[test]
fn outside_a_repository_says_to_run_inside_one() {
    sandbox_git_config();
    let dir = tempfile::tempdir().unwrap();
    if Repository::discover(dir.path()).is_ok() {
        return; // the temp dir sits inside someone's repository; nothing to check here
    }
    for err in [
        hooks_dir(dir.path()).unwrap_err(),
        install(dir.path(), Path::new("/a/lode")).unwrap_err(),
        uninstall(dir.path()).unwrap_err(),
    ] {
        assert!(matches!(err, HookError::NotARepository { .. }), "{err}");
        assert!(
            err.to_string().contains("run this inside a git repository"),
            "{err}"
        );
    }
}

#[cfg(unix)]
mod running;
