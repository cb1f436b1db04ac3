//! `lode hook install|uninstall`: puts `lode review --hook` into the repository's pre-commit
//! hook without ever losing the hook that was there. A foreign hook is moved aside to
//! `pre-commit.lode-chained` (which lode's hook runs first) and copied byte-for-byte to
//! `pre-commit.lode-backup`; uninstalling renames the chained hook back, so its content and
//! mode come back exactly. lode's hook is recognised by its marker line and refused to be
//! replaced or removed once a person has edited it.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Repository};

/// The line that makes a `pre-commit` file lode's.
const MARKER: &str = "# lode pre-commit hook";
const HOOK: &str = "pre-commit";
const CHAINED: &str = "pre-commit.lode-chained";
const BACKUP: &str = "pre-commit.lode-backup";

/// lode's hook up to the `LODE=` assignment. The chained hook runs even under LODE_SKIP:
/// skipping is lode's own business (`lode review` reads it), the other hook is not ours to skip.
const SCRIPT_HEAD: &str = r#"#!/bin/sh
# lode pre-commit hook
# Written by `lode hook install`; `lode hook uninstall` removes it and puts back the hook that
# was here before (kept meanwhile as pre-commit.lode-chained, which runs first).
# LODE_SKIP=1 skips lode's review for one commit; `git commit --no-verify` skips every hook.
chained="$(dirname "$0")/pre-commit.lode-chained"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
"#;

/// lode's hook after the `LODE=` assignment: the recorded binary, else `lode` on PATH (the
/// recorded one is gone after an upgrade that moved it).
const SCRIPT_TAIL: &str = r#"
[ -x "$LODE" ] || LODE=lode
exec "$LODE" review --hook
"#;

/// Where the pre-commit hook lives and what was there before lode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The hook file lode wrote.
    pub hook: PathBuf,
    /// The previous hook, kept and run first by lode's hook (None when there was none).
    pub chained: Option<PathBuf>,
    /// A byte-for-byte copy of the previous hook, for `uninstall` and for the user.
    pub backup: Option<PathBuf>,
    /// lode's hook was already there, so nothing was moved or backed up. Its script was
    /// rewritten only where it differed from this install's (the lode path changed).
    pub already: bool,
}

/// What `uninstall` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uninstalled {
    /// lode's hook removed; the previous hook (if any) is back exactly as it was (content and
    /// permissions).
    Restored { hook: PathBuf, previous: bool },
    /// No lode hook here: nothing changed.
    NotInstalled { hook: PathBuf },
}

/// Why installing or removing the hook failed; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{}` is not inside a git repository; run this inside a git repository", dir.display())]
    NotARepository { dir: PathBuf },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("git: {0}")]
    Git(String),
    #[error("`{}` was changed after lode installed it, so lode leaves it alone; {}", hook.display(), modified_hint(chained.as_deref()))]
    Modified {
        hook: PathBuf,
        /// The hook that was there before lode, when there was one.
        chained: Option<PathBuf>,
    },
    #[error("`{}` already exists, so `{}` cannot be moved there without losing one of them; move one of them away and install again", chained.display(), hook.display())]
    ChainedExists { hook: PathBuf, chained: PathBuf },
    #[error("`{}` already exists and differs from `{}`, so lode will not overwrite it with a new backup; move it away and install again", backup.display(), hook.display())]
    BackupExists { hook: PathBuf, backup: PathBuf },
}

fn modified_hint(chained: Option<&Path>) -> String {
    match chained {
        Some(chained) => format!(
            "edit or remove it by hand, and restore the previous hook from `{}`",
            chained.display()
        ),
        None => "edit or remove it by hand".to_string(),
    }
}

/// Builds the `map_err` closure for an I/O step on `path`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> HookError {
    let path = path.to_path_buf();
    move |source| HookError::Io {
        action,
        path,
        source,
    }
}

fn git(e: git2::Error) -> HookError {
    HookError::Git(e.message().to_string())
}

/// The directory git runs hooks from for the repository containing `dir`: `core.hooksPath`
/// when set (relative to where git runs hooks: the working tree root, or the git dir of a bare
/// repository; `~/` expanded via $HOME), else `<common git dir>/hooks`, which linked worktrees
/// share with the main repository.
pub fn hooks_dir(dir: &Path) -> Result<PathBuf, HookError> {
    let repo = Repository::discover(dir).map_err(|e| match e.code() {
        ErrorCode::NotFound => HookError::NotARepository {
            dir: dir.to_path_buf(),
        },
        _ => git(e),
    })?;
    let config = repo.config().map_err(git)?;
    let configured = match config.get_string("core.hooksPath") {
        Ok(value) => value,
        Err(e) if e.code() == ErrorCode::NotFound => String::new(),
        Err(e) => return Err(git(e)),
    };
    if configured.is_empty() {
        return Ok(repo.commondir().join("hooks"));
    }
    let path = expand_home(&configured, std::env::var_os("HOME").as_deref());
    if path.is_absolute() {
        return Ok(path);
    }
    let base = repo.workdir().unwrap_or_else(|| repo.path());
    Ok(base.join(path))
}

/// Expands a leading `~` or `~/` the way git does for path-valued config. libgit2's own
/// expansion uses its global-config search path, not $HOME, so it is done here.
fn expand_home(value: &str, home: Option<&OsStr>) -> PathBuf {
    match (home, value.strip_prefix('~')) {
        (Some(home), Some("")) => PathBuf::from(home),
        (Some(home), Some(rest)) if rest.starts_with('/') => {
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(value),
    }
}

/// Whether lode's hook (edited or not) is the repository's pre-commit hook.
pub fn is_installed(dir: &Path) -> Result<bool, HookError> {
    let hook = hooks_dir(dir)?.join(HOOK);
    Ok(read_if_present(&hook)?.is_some_and(|bytes| has_marker(&bytes)))
}

/// Installs lode's pre-commit hook. `lode_exe` is the lode binary the script runs (made
/// absolute against the current directory if it is not); the script falls back to `lode` on
/// PATH when that file is gone.
pub fn install(dir: &Path, lode_exe: &Path) -> Result<Installed, HookError> {
    let hooks = hooks_dir(dir)?;
    fs::create_dir_all(&hooks).map_err(io("create the hooks directory", &hooks))?;
    let lode_exe = std::path::absolute(lode_exe).map_err(io("resolve", lode_exe))?;
    let script = render(&lode_exe);
    let (hook, chained, backup) = (hooks.join(HOOK), hooks.join(CHAINED), hooks.join(BACKUP));
    let present = |path: &Path| exists(path).map(|yes| yes.then(|| path.to_path_buf()));

    match read_if_present(&hook)? {
        Some(current) if has_marker(&current) => {
            if current != script {
                if !is_lode_script(&current) {
                    return Err(HookError::Modified {
                        hook,
                        chained: present(&chained)?,
                    });
                }
                write_executable(&hook, &script)?;
            }
            Ok(Installed {
                chained: present(&chained)?,
                backup: present(&backup)?,
                hook,
                already: true,
            })
        }
        Some(current) => {
            if exists(&chained)? {
                return Err(HookError::ChainedExists { hook, chained });
            }
            if read_if_present(&backup)?.is_some_and(|old| old != current) {
                return Err(HookError::BackupExists { hook, backup });
            }
            copy_atomically(&hook, &backup)?;
            fs::rename(&hook, &chained).map_err(io("move aside", &hook))?;
            if let Err(e) = write_executable(&hook, &script) {
                // Put the user's hook back where git looks for it; the backup stays either way.
                let _ = fs::rename(&chained, &hook);
                return Err(e);
            }
            Ok(Installed {
                hook,
                chained: Some(chained),
                backup: Some(backup),
                already: false,
            })
        }
        None => {
            write_executable(&hook, &script)?;
            // A chained hook without lode's hook is left from a hand-removed install: it was
            // the user's hook before lode, and lode's hook runs it again.
            Ok(Installed {
                chained: present(&chained)?,
                backup: present(&backup)?,
                hook,
                already: false,
            })
        }
    }
}

/// Removes lode's hook and puts back exactly what was there.
pub fn uninstall(dir: &Path) -> Result<Uninstalled, HookError> {
    let hooks = hooks_dir(dir)?;
    let (hook, chained, backup) = (hooks.join(HOOK), hooks.join(CHAINED), hooks.join(BACKUP));
    let current = match read_if_present(&hook)? {
        Some(current) if has_marker(&current) => current,
        _ => return Ok(Uninstalled::NotInstalled { hook }),
    };
    let previous = exists(&chained)?;
    if !is_lode_script(&current) {
        return Err(HookError::Modified {
            hook,
            chained: previous.then_some(chained),
        });
    }
    if !previous {
        fs::remove_file(&hook).map_err(io("remove", &hook))?;
        return Ok(Uninstalled::Restored {
            hook,
            previous: false,
        });
    }
    // A rename replaces lode's hook in one step and keeps the previous hook's mode and inode.
    fs::rename(&chained, &hook).map_err(io("restore the previous hook to", &hook))?;
    // The backup is redundant only when it matches what came back; if the user changed the
    // chained hook meanwhile, the backup is the only copy of the original and stays.
    if let (Some(restored), Some(copy)) = (read_if_present(&hook)?, read_if_present(&backup)?) {
        if restored == copy {
            fs::remove_file(&backup).map_err(io("remove", &backup))?;
        }
    }
    Ok(Uninstalled::Restored {
        hook,
        previous: true,
    })
}

/// lode's hook script for the binary at `lode_exe`.
fn render(lode_exe: &Path) -> Vec<u8> {
    let mut script = SCRIPT_HEAD.as_bytes().to_vec();
    script.extend_from_slice(b"LODE=");
    script.extend(quote(&path_bytes(lode_exe)));
    script.extend_from_slice(SCRIPT_TAIL.as_bytes());
    script
}

fn has_marker(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .any(|line| line.strip_suffix(b"\r").unwrap_or(line) == MARKER.as_bytes())
}

/// Whether `bytes` is exactly what `render` writes for some lode path: anything else with
/// the marker is lode's hook edited by hand.
fn is_lode_script(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix(SCRIPT_HEAD.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"LODE="))
        .and_then(|rest| rest.strip_suffix(SCRIPT_TAIL.as_bytes()))
        .and_then(unquote)
        .is_some()
}

/// Single-quotes `raw` for sh: inside single quotes only `'` is special, written `'\''`.
fn quote(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in raw {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The inverse of `quote`; None for anything `quote` does not produce.
fn unquote(word: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = word;
    loop {
        rest = rest.strip_prefix(b"'")?;
        let end = rest.iter().position(|&b| b == b'\'')?;
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix(b"\\'")?;
        out.push(b'\'');
    }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

/// Whether anything (a dangling symlink included) sits at `path`.
fn exists(path: &Path) -> Result<bool, HookError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("inspect", path)(e)),
    }
}

/// The file's bytes, or None when nothing is there.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, HookError> {
    if !exists(path)? {
        return Ok(None);
    }
    fs::read(path).map(Some).map_err(io("read", path))
}

/// A temp file next to `target`; its name is unique per process, so a stale one left by a
/// crashed run with the same pid is ours to overwrite.
fn temp_next_to(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or(OsStr::new(HOOK));
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".lode-tmp-{}", std::process::id()));
    target.with_file_name(temp)
}

/// Writes `bytes` to `path` as an executable script, atomically: git never sees a half-written
/// or not-yet-executable hook (it would skip the latter with only a hint).
fn write_executable(path: &Path, bytes: &[u8]) -> Result<(), HookError> {
    let temp = temp_next_to(path);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o755))?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    written.map_err(|e| {
        // Best effort: the temp file is garbage either way, and the original error matters more.
        let _ = fs::remove_file(&temp);
        io("write", path)(e)
    })
}

/// Copies `from` (following a symlink) to `to` with its permissions, atomically.
fn copy_atomically(from: &Path, to: &Path) -> Result<(), HookError> {
    let temp = temp_next_to(to);
    let copied = fs::copy(from, &temp).and_then(|_| fs::rename(&temp, to));
    copied.map_err(|e| {
        let _ = fs::remove_file(&temp);
        io("back up the existing hook to", to)(e)
    })
}

#[cfg(test)]
mod tests;
