//! Files lode keeps for itself (measurements, fitted heads), written whole.

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file renamed into place, creating the
/// directory: two lodes writing at once, or one killed mid-write, never leave half a file.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
