//! Crash-safe file replacement. Every file the agent writes (edits, new files, the undo
//! journal itself) goes through `atomic_write`, so an interrupted run — a killed process, a
//! full disk — leaves either the old bytes or the new ones on disk, never half a file.
//!
//! A killed process can leave its temp file (`.NAME.lode-tmp-PID-N`) behind; the name carries
//! the pid so the next run can tell a dead writer's leftovers (`remove_stale_temps`) from a
//! live one's. `write_within` is the variant for `lode undo`, which must not follow symlinks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files of concurrent writers in the same process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes`: writes a temp file next to it, fsyncs it, renames it over
/// the target. An existing file keeps its permissions; a new one gets the default ones (and
/// its missing parent directories are created). A symlink is followed, so the link stays a
/// link and its target gets the new bytes.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = follow_symlink(path)?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` has no file name", target.display()),
        )
    })?;
    let existing_perms = match fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is a directory", target.display()),
            ))
        }
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };

    replace(
        &parent,
        &target,
        &name.to_string_lossy(),
        bytes,
        existing_perms,
    )
}

/// Writes `bytes` to `root/rel` without following any symlink: every directory between `root`
/// and the file must be a real directory (missing ones are created), and the file itself, if
/// present, must be a regular file — it is replaced by rename, which never writes through a
/// link. `lode undo` restores through this, so a symlink swapped in since the run cannot
/// steer the write out of the repository. (A symlink swapped in between the check and the
/// rename is a race this does not close; the window is a few syscalls.)
pub fn write_within(root: &Path, rel: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = rel.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` has no file name", rel.display()),
        )
    })?;
    let mut parent = root.to_path_buf();
    for component in rel.parent().into_iter().flat_map(Path::components) {
        parent.push(component);
        match fs::symlink_metadata(&parent) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(not_a_real_dir(&parent)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&parent)?,
            Err(e) => return Err(e),
        }
    }
    let target = parent.join(name);
    let existing_perms = match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_file() => Some(meta.permissions()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is not a regular file", target.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    replace(
        &parent,
        &target,
        &name.to_string_lossy(),
        bytes,
        existing_perms,
    )
}

/// The first directory of `rel` (below `root`, excluding the file itself) that is a symlink
/// or not a directory: writing below it would go somewhere other than `root/rel`. Missing
/// directories are fine (nothing can be reached through them).
pub fn symlinked_ancestor(root: &Path, rel: &Path) -> io::Result<Option<PathBuf>> {
    let mut dir = root.to_path_buf();
    for component in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(Some(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn not_a_real_dir(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "`{}` is a symlink or not a directory; refusing to write through it",
            path.display()
        ),
    )
}

/// Writes a temp file for `target` in `parent`, fsyncs it and renames it over `target`.
fn replace(
    parent: &Path,
    target: &Path,
    name: &str,
    bytes: &[u8],
    existing_perms: Option<fs::Permissions>,
) -> io::Result<()> {
    let (tmp_path, mut file) = create_temp(parent, name)?;
    let written = (|| {
        file.write_all(bytes)?;
        if let Some(perms) = existing_perms {
            file.set_permissions(perms)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp_path, target)
    })();
    if let Err(e) = written {
        // Best effort: the temp file is garbage either way, and the original error matters more.
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    sync_dir(parent);
    Ok(())
}

/// Resolves `path` through symlinks (renaming over a symlink would replace the link itself).
fn follow_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(real) => Ok(real),
            // A dangling link: write where it points, like `echo > link` would.
            Err(_) => {
                let dest = fs::read_link(path)?;
                Ok(match path.parent() {
                    Some(parent) if dest.is_relative() => parent.join(dest),
                    _ => dest,
                })
            }
        },
        _ => Ok(path.to_path_buf()),
    }
}

const TEMP_MARK: &str = ".lode-tmp-";

fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}{TEMP_MARK}{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // A stale temp from a crashed process with a recycled pid: try the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The pid in `file_name` if it is one of `atomic_write`'s temp files — `.NAME.lode-tmp-PID-N`
/// exactly, for the given `NAME` (any name when `None`).
fn temp_owner(file_name: &str, target: Option<&str>) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?;
    let rest = match target {
        Some(name) => rest.strip_prefix(name)?.strip_prefix(TEMP_MARK)?,
        None => &rest[rest.rfind(TEMP_MARK)? + TEMP_MARK.len()..],
    };
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    // Pid 0 is never a writer (and `kill(0, 0)` would ask about our own process group).
    pid.parse().ok().filter(|&pid| pid != 0)
}

/// Removes from `dir` the temp files of `target` (every target when `None`) whose writer is
/// dead: what a killed `atomic_write` left. Only regular files named exactly like ours go; a
/// live process's temp files, including this one's, stay. Returns what was removed.
pub fn remove_stale_temps(dir: &Path, target: Option<&str>) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| temp_owner(n, target))
        else {
            continue;
        };
        if pid == std::process::id() || process_is_alive(pid) {
            continue;
        }
        // `DirEntry::file_type` does not follow symlinks: a link named like a temp stays.
        if entry.file_type()?.is_file() {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Whether a process with this pid exists (a recycled pid counts as alive: its temp file
/// stays, which is the safe mistake).
#[cfg(unix)]
fn process_is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_is_alive(_pid: u32) -> bool {
    true
}

/// Makes the rename itself durable. Failure is ignored: some file systems refuse to open or
/// sync directories, and the data is already safe in the renamed file.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o751)).unwrap();
        atomic_write(&path, b"#!/bin/sh\necho new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"#!/bin/sh\necho new\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o751
        );
    }

    #[test]
    fn atomic_write_creates_parents_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        atomic_write(&path, b"hello").unwrap();
        atomic_write(&path, b"again").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"again");
        let names: Vec<_> = fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.txt")]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_through_symlink_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real.txt"), "old").unwrap();
        std::os::unix::fs::symlink("real.txt", dir.path().join("link.txt")).unwrap();
        atomic_write(&dir.path().join("link.txt"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.path().join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.path().join("real.txt")).unwrap(), b"new");
    }

    #[test]
    fn temp_names_are_recognised_exactly() {
        assert_eq!(
            temp_owner(".lib.rs.lode-tmp-123-0", Some("lib.rs")),
            Some(123)
        );
        assert_eq!(temp_owner(".lib.rs.lode-tmp-123-0", None), Some(123));
        assert_eq!(temp_owner(".a.lode-tmp-1.lode-tmp-9-2", None), Some(9));
        for other in [
            "lib.rs.lode-tmp-123-0",
            ".lib.rs.lode-tmp-123-",
            ".lib.rs.lode-tmp--0",
            ".lib.rs.lode-tmp-12a-0",
            ".lib.rs.lode-tmp-123-0.bak",
            ".lib.rs.lode-tmp-0-0",
            ".main.rs.lode-tmp-123-0",
        ] {
            assert_eq!(temp_owner(other, Some("lib.rs")), None, "{other}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn stale_temps_of_dead_writers_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        let names = [
            format!(".a.txt.lode-tmp-{dead}-0"),
            format!(".a.txt.lode-tmp-{live}-0"),
            format!(".b.txt.lode-tmp-{dead}-3"),
            format!("a.txt.lode-tmp-{dead}-0"),
        ];
        for name in &names {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        std::os::unix::fs::symlink(
            "a.txt",
            dir.path().join(format!(".a.txt.lode-tmp-{dead}-1")),
        )
        .unwrap();
        let removed = remove_stale_temps(dir.path(), Some("a.txt")).unwrap();
        assert_eq!(removed, vec![dir.path().join(&names[0])]);
        let removed = remove_stale_temps(dir.path(), None).unwrap();
        assert_eq!(removed, vec![dir.path().join(&names[2])]);
        assert!(dir.path().join(&names[1]).exists());
        assert!(dir.path().join(&names[3]).exists());
    }

    #[cfg(unix)]
    #[test]
    fn write_within_never_follows_a_symlink() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim"), "theirs").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("victim"), root.path().join("f")).unwrap();
        assert!(write_within(root.path(), Path::new("sub/victim"), b"ours").is_err());
        assert!(write_within(root.path(), Path::new("f"), b"ours").is_err());
        assert_eq!(fs::read(outside.path().join("victim")).unwrap(), b"theirs");
        assert_eq!(
            symlinked_ancestor(root.path(), Path::new("sub/victim")).unwrap(),
            Some(root.path().join("sub"))
        );
        write_within(root.path(), Path::new("new/dir/g"), b"ok").unwrap();
        assert_eq!(fs::read(root.path().join("new/dir/g")).unwrap(), b"ok");
    }

    #[test]
    fn atomic_write_refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(atomic_write(dir.path(), b"x").is_err());
    }
}
