//! One lode at a time per repository. `lode run`, the interactive session and `lode undo`
//! all write the repository's one undo journal; two of them at once would replace each
//! other's journal and leave nothing undoable. So each takes an exclusive OS file lock
//! (`flock`) on `<data_dir>/undo/<workspace id>.lock` first: the kernel drops it when the
//! process dies, however it dies, so a killed run never leaves a stale lock. The lock lives
//! under the data dir, next to the journal, not in the repository. The file holds the
//! holder's pid and command, for the message the next one gets.
//!
//! Holding the lock, the newcomer knows no other lode writes here, and removes the temp files
//! a killed run left (`journal::sweep_stale_temps`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::tools::journal::{journal_dir, sweep_stale_temps};

/// Which command holds the lock; named in the message another one gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Run,
    Session,
    Undo,
}

impl Holder {
    fn name(self) -> &'static str {
        match self {
            Holder::Run => "lode run",
            Holder::Session => "lode session",
            Holder::Undo => "lode undo",
        }
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another {who} is working in {}; wait for it or stop it", root.display())]
    Busy { who: String, root: PathBuf },
    #[error("cannot lock {} against other lode runs: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    /// Temp files of killed runs removed when the lock was taken.
    pub swept: Vec<PathBuf>,
}

/// Where the lock of the workspace at `root` (canonical) lives.
fn lock_path(data_dir: &Path, root: &Path) -> PathBuf {
    journal_dir(data_dir, root).with_extension("lock")
}

impl RunLock {
    /// Takes the lock of the repository at `root` for `holder`, or says who has it.
    pub fn acquire(data_dir: &Path, root: &Path, holder: Holder) -> Result<RunLock, LockError> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let path = lock_path(data_dir, &root);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        // No truncation on open: the file holds the current holder's pid until we own it.
        // std opens with O_CLOEXEC, so commands the agent starts do not inherit the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Busy {
                    who: describe_holder(&text),
                    root,
                });
            }
            Err(e) => return Err(io_err(e)),
        }
        let stamp = format!("{} {}\n", std::process::id(), holder.name());
        (|| {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(stamp.as_bytes())
        })()
        .map_err(io_err)?;
        // Leftovers are garbage whatever happens here; failing to remove them must not stop
        // the run, and the next one tries again.
        let swept = sweep_stale_temps(data_dir, &root).unwrap_or_default();
        Ok(RunLock { _file: file, swept })
    }
}

/// "lode run (pid 123)" from the lock file's `123 lode run`; a file being rewritten reads
/// as empty, hence the fallback.
fn describe_holder(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.split_once(' ') {
        Some((pid, name)) if pid.parse::<u32>().is_ok() && name.starts_with("lode ") => {
            format!("{name} (pid {pid})")
        }
        _ => "lode process".to_string(),
    }
}

/// Takes an exclusive `flock` without waiting: `Ok(false)` when someone else holds it.
/// (`File::try_lock` would do, but is newer than our minimum Rust, 1.85.)
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this `File` owns for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_second_holder_is_told_who_has_the_lock_until_it_is_released() {
        let data = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(data.path(), repo.path(), Holder::Run).unwrap();
        let err = RunLock::acquire(data.path(), repo.path(), Holder::Undo).unwrap_err();
        let root = repo.path().canonicalize().unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "another lode run (pid {}) is working in {}; wait for it or stop it",
                std::process::id(),
                root.display()
            )
        );
        drop(first);
        let again = RunLock::acquire(data.path(), repo.path(), Holder::Session).unwrap();
        let other = tempfile::tempdir().unwrap();
        // Another repository has its own lock.
        RunLock::acquire(data.path(), other.path(), Holder::Run).unwrap();
        drop(again);
    }

    #[test]
    fn an_unreadable_holder_is_still_named_as_lode() {
        assert_eq!(describe_holder(""), "lode process");
        assert_eq!(describe_holder("12 lode undo\n"), "lode undo (pid 12)");
        assert_eq!(describe_holder("x lode undo"), "lode process");
    }
}
