//! The journal's tests: recording, undoing, refusing, sweeping.

use super::*;
use crate::tools::fsutil::atomic_write;
use pretty_assertions::assert_eq;
fn setup() -> (tempfile::TempDir, tempfile::TempDir, Workspace) {
    let data = tempfile::tempdir().unwrap();
    let ws_dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(ws_dir.path()).unwrap();
    (data, ws_dir, ws)
}

/// What `write::save_file` does for each write of a run: record, write, note.
fn write_as_the_run(journal: &mut Journal, path: &Path, bytes: &[u8]) {
    journal.record(path).unwrap();
    atomic_write(path, bytes).unwrap();
    journal.note_written(path, bytes).unwrap();
}

#[test]
fn undo_restores_bytes_and_deletes_created_files() {
    let (data, _w, ws) = setup();
    let root = ws.root();
    let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe, b'\r', b'\n']).collect();
    fs::write(root.join("bin.dat"), &binary).unwrap();
    fs::write(root.join("text.txt"), "one\r\ntwo\r\n").unwrap();

    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    write_as_the_run(&mut journal, &root.join("bin.dat"), b"replaced");
    write_as_the_run(&mut journal, &root.join("text.txt"), b"changed");
    // A second write of the same file in the run must keep the first original.
    write_as_the_run(&mut journal, &root.join("text.txt"), b"changed twice");
    write_as_the_run(&mut journal, &root.join("new/created.rs"), b"fn main() {}");

    let report = undo_last(data.path(), root).unwrap();
    assert_eq!(fs::read(root.join("bin.dat")).unwrap(), binary);
    assert_eq!(fs::read(root.join("text.txt")).unwrap(), b"one\r\ntwo\r\n");
    assert!(!root.join("new/created.rs").exists());
    assert_eq!(
        report,
        UndoReport {
            root: root.to_path_buf(),
            restored: vec![PathBuf::from("bin.dat"), PathBuf::from("text.txt")],
            deleted: vec![PathBuf::from("new/created.rs")],
            removed_dirs: vec![PathBuf::from("new")],
            backups: vec![],
        }
    );
    assert!(!root.join("new").exists(), "the run's directory must go");
    let err = undo_last(data.path(), root).unwrap_err();
    assert!(err.to_string().starts_with("nothing to undo in "), "{err}");
}

#[cfg(unix)]
#[test]
fn undo_restores_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let (data, _w, ws) = setup();
    let path = ws.root().join("run.sh");
    fs::write(&path, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    write_as_the_run(&mut journal, &path, b"changed");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    undo_last(data.path(), ws.root()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o700
    );
    assert_eq!(fs::read(&path).unwrap(), b"#!/bin/sh\n");
}

#[test]
fn a_file_changed_after_the_run_is_refused_unless_forced_and_then_kept() {
    let (data, _w, ws) = setup();
    let path = ws.root().join("a.txt");
    let other = ws.root().join("b.txt");
    fs::write(&path, "original").unwrap();
    fs::write(&other, "b original").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    for p in [&path, &other] {
        journal.record(p).unwrap();
        fs::write(p, "by the run").unwrap();
        journal.note_written(p, b"by the run").unwrap();
    }
    fs::write(&path, "by the user later").unwrap();

    let err = undo_last(data.path(), ws.root()).unwrap_err();
    assert!(matches!(err, UndoError::ChangedSince { .. }), "{err}");
    assert!(err.to_string().contains("a.txt changed after"), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "by the user later");
    assert_eq!(fs::read_to_string(&other).unwrap(), "by the run");

    let report = undo_with(data.path(), ws.root(), UndoMode::Force).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "original");
    assert_eq!(fs::read_to_string(&other).unwrap(), "b original");
    let backup = ws.root().join("a.txt.lode-backup");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "by the user later");
    assert_eq!(
        report.backups,
        vec![Backup {
            path: PathBuf::from("a.txt"),
            backup: PathBuf::from("a.txt.lode-backup"),
        }]
    );
    assert!(report.to_string().contains("kept     a.txt.lode-backup"));
}

#[test]
fn a_backup_never_replaces_an_earlier_one() {
    let (data, _w, ws) = setup();
    let path = ws.root().join("new.txt");
    fs::write(ws.root().join("new.txt.lode-backup"), "older backup").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&path).unwrap();
    fs::write(&path, "by the run").unwrap();
    journal.note_written(&path, b"by the run").unwrap();
    fs::write(&path, "by the user").unwrap();
    let report = undo_with(data.path(), ws.root(), UndoMode::Force).unwrap();
    assert!(!path.exists());
    assert_eq!(
        fs::read_to_string(ws.root().join("new.txt.lode-backup")).unwrap(),
        "older backup"
    );
    assert_eq!(
        fs::read_to_string(ws.root().join("new.txt.lode-backup.2")).unwrap(),
        "by the user"
    );
    assert_eq!(report.deleted, vec![PathBuf::from("new.txt")]);
}

#[cfg(unix)]
#[test]
fn a_symlink_swapped_in_is_never_followed() {
    let (data, _w, ws) = setup();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    fs::write(&victim, "not yours").unwrap();
    let path = ws.root().join("a.txt");
    fs::write(&path, "original").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&path).unwrap();
    fs::write(&path, "by the run").unwrap();
    journal.note_written(&path, b"by the run").unwrap();
    fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();

    let err = undo_last(data.path(), ws.root()).unwrap_err();
    assert!(matches!(err, UndoError::ChangedSince { .. }), "{err}");
    undo_with(data.path(), ws.root(), UndoMode::Force).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "not yours");
    assert_eq!(fs::read_to_string(&path).unwrap(), "original");
    assert!(!fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    let kept = ws.root().join("a.txt.lode-backup");
    assert!(fs::symlink_metadata(&kept)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[cfg(unix)]
#[test]
fn a_directory_swapped_for_a_symlink_refuses_even_when_forced() {
    let (data, _w, ws) = setup();
    let outside = tempfile::tempdir().unwrap();
    let sub = ws.root().join("sub");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("a.txt");
    fs::write(&path, "original").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&path).unwrap();
    fs::write(&path, "by the run").unwrap();
    journal.note_written(&path, b"by the run").unwrap();
    fs::write(outside.path().join("a.txt"), "by the run").unwrap();
    fs::rename(&sub, ws.root().join("sub.moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &sub).unwrap();

    for mode in [UndoMode::Refuse, UndoMode::Force] {
        let err = undo_with(data.path(), ws.root(), mode).unwrap_err();
        assert!(matches!(err, UndoError::Redirected { .. }), "{err}");
    }
    assert_eq!(
        fs::read_to_string(outside.path().join("a.txt")).unwrap(),
        "by the run"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[test]
fn created_directories_that_are_no_longer_empty_stay() {
    let (data, _w, ws) = setup();
    let root = ws.root();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&root.join("a/b/new.rs")).unwrap();
    atomic_write(&root.join("a/b/new.rs"), b"x").unwrap();
    journal
        .note_written(&root.join("a/b/new.rs"), b"x")
        .unwrap();
    fs::write(root.join("a/mine.txt"), "the user's").unwrap();
    let report = undo_last(data.path(), root).unwrap();
    assert_eq!(report.removed_dirs, vec![PathBuf::from("a/b")]);
    assert_eq!(
        fs::read_to_string(root.join("a/mine.txt")).unwrap(),
        "the user's"
    );
}

#[cfg(unix)]
#[test]
fn temps_of_a_dead_run_are_swept_next_to_journaled_files_only() {
    let (data, _w, ws) = setup();
    let root = ws.root();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("src/lib.rs"), "x").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&root.join("src/lib.rs")).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = root.join(format!("src/.lib.rs.lode-tmp-{dead}-0"));
    let elsewhere = root.join(format!(".other.rs.lode-tmp-{dead}-0"));
    fs::write(&stale, "half").unwrap();
    fs::write(&elsewhere, "not ours to judge").unwrap();
    let removed = sweep_stale_temps(data.path(), root).unwrap();
    assert_eq!(removed, vec![stale.clone()]);
    assert!(!stale.exists());
    assert!(elsewhere.exists());
}

#[test]
fn only_the_last_run_is_undoable() {
    let (data, _w, ws) = setup();
    let a = ws.root().join("a.txt");
    let b = ws.root().join("b.txt");
    fs::write(&a, "a0").unwrap();
    fs::write(&b, "b0").unwrap();

    let mut first = Journal::begin(data.path(), &ws).unwrap();
    write_as_the_run(&mut first, &a, b"a1");
    // A run that changes nothing keeps the previous journal.
    let _idle = Journal::begin(data.path(), &ws).unwrap();
    let mut second = Journal::begin(data.path(), &ws).unwrap();
    write_as_the_run(&mut second, &b, b"b1");

    let report = undo_last(data.path(), ws.root()).unwrap();
    assert_eq!(report.restored, vec![PathBuf::from("b.txt")]);
    assert_eq!(fs::read_to_string(&a).unwrap(), "a1");
    assert_eq!(fs::read_to_string(&b).unwrap(), "b0");
}

#[test]
fn damaged_journal_changes_nothing() {
    let (data, _w, ws) = setup();
    let a = ws.root().join("a.txt");
    let b = ws.root().join("b.txt");
    fs::write(&a, "a0").unwrap();
    fs::write(&b, "b0").unwrap();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    journal.record(&a).unwrap();
    journal.record(&b).unwrap();
    fs::write(&a, "a1").unwrap();
    fs::write(&b, "b1").unwrap();
    let blob = blake3::hash(b"b0").to_hex().to_string();
    fs::write(journal_dir(data.path(), ws.root()).join(blob), "tampered").unwrap();
    let err = undo_last(data.path(), ws.root()).unwrap_err();
    assert!(matches!(err, UndoError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read_to_string(&a).unwrap(), "a1");
}

#[test]
fn record_refuses_paths_outside_the_workspace() {
    let (data, _w, ws) = setup();
    let mut journal = Journal::begin(data.path(), &ws).unwrap();
    assert!(journal.record(Path::new("/etc/passwd")).is_err());
    assert!(journal.record(ws.root()).is_err());
}
