//! Reading a file the model named: regular files only, and only up to a size. A FIFO would
//! block the turn forever, a device could be endless, and a multi-gigabyte file would be read
//! whole into memory (and diffed, and sent as an event) before anything could say no.

use std::io::Read;
use std::path::Path;

use crate::tools::ToolError;

/// The largest file the file tools read or rewrite.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The bytes of the regular file at `abs` (`shown` names it in errors), at most `limit`.
/// `Ok(None)` when it does not exist.
pub fn read_regular(abs: &Path, shown: &str, limit: u64) -> Result<Option<Vec<u8>>, ToolError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer; non-blocking, it returns at once and
    // the type check below refuses it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = match options.open(abs) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ToolError::Failed(format!("cannot read `{shown}`: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| ToolError::Failed(format!("cannot read `{shown}`: {e}")))?;
    if meta.is_dir() {
        return Err(ToolError::Failed(format!(
            "`{shown}` is a directory; give a file path"
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::Failed(format!(
            "`{shown}` is not a regular file (a FIFO, socket or device); the file tools read \
             regular files only"
        )));
    }
    if meta.len() > limit {
        return Err(ToolError::Failed(format!(
            "`{shown}` is {} bytes; the file tools handle files up to {} MiB — use search to find \
             what you need in it, or shell for a tool made for big files",
            meta.len(),
            limit / (1024 * 1024)
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file growing while it is read stops at the limit too.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::Failed(format!("cannot read `{shown}`: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(ToolError::Failed(format!(
            "`{shown}` grew past {} MiB while it was read",
            limit / (1024 * 1024)
        )));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_are_refused_at_once_and_big_files_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let err = read_regular(&fifo, "pipe", MAX_FILE_BYTES).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::write(dir.path().join("big"), vec![b'x'; 2048]).unwrap();
        let err = read_regular(&dir.path().join("big"), "big", 1024).unwrap_err();
        assert!(err.to_string().contains("2048 bytes"), "{err}");
        assert_eq!(
            read_regular(&dir.path().join("big"), "big", 4096)
                .unwrap()
                .unwrap()
                .len(),
            2048
        );
        assert_eq!(
            read_regular(&dir.path().join("none"), "none", 10).unwrap(),
            None
        );
    }
}
