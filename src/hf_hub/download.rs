//! One file from the hub into the model dir: resumable, and verified before it is in place.
//!
//! Bytes go to `<file>.part`. A rerun after an interruption asks for the rest with
//! `Range: bytes=N-` and hashes the part it already has, so the SHA-256 checked at the end
//! covers every byte, old and new. Only a file whose hash matches the hub's is renamed to its
//! final name; a mismatch removes the part, so a corrupt download is never resumed either.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use reqwest::header::{CONTENT_RANGE, ETAG, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::listing::{sha256_hex, RepoFile};
use super::{check_status, unreachable, Hub, HubError};

/// Told how a download goes: `done` bytes of `total` (when known).
pub trait Progress: Sync {
    fn update(&self, done: u64, total: Option<u64>);
    fn finish(&self);
}

/// How the file came to be in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Downloaded {
    /// It was there already with the hub's hash; nothing was downloaded.
    AlreadyThere,
    /// Downloaded from the first byte.
    Fresh,
    /// Continued from a `.part` file of this many bytes.
    Resumed(u64),
}

pub(super) async fn fetch(
    hub: &Hub,
    repo: &str,
    revision: &str,
    file: &RepoFile,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<Downloaded, HubError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Io { path, source }
    };
    if dest.exists() {
        let expected = file
            .sha256
            .clone()
            .ok_or_else(|| HubError::NoHash(file.path.clone()))?;
        let actual = hash_file(dest).map_err(io(dest))?.0;
        return if actual == expected {
            Ok(Downloaded::AlreadyThere)
        } else {
            Err(HubError::Exists {
                path: dest.to_path_buf(),
                expected,
                actual,
            })
        };
    }
    let part = part_path(dest);
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if file.size.is_some_and(|size| have > size) {
        remove(&part)?;
        have = 0;
    }

    let mut segments = repo.split('/').collect::<Vec<_>>();
    segments.extend(["resolve", revision]);
    segments.extend(file.path.split('/'));
    let url = hub.url(&segments);
    let shown = url.to_string();
    let mut request = hub.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(|e| unreachable(&shown, &e))?;
    let status = response.status();
    let resumed_from = match status {
        StatusCode::PARTIAL_CONTENT if range_start(&response) == Some(have) => have,
        // A part as long as the file: the range is past the end, and the part only needs
        // its check.
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 && file.size == Some(have) => have,
        // The server sent the whole file (it ignores ranges) or a range we did not ask for.
        _ => {
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                // The part does not fit the file as the hub has it now: start over next time.
                remove(&part)?;
            }
            check_status(&shown, status)?;
            0
        }
    };
    let expected = file
        .sha256
        .clone()
        .or_else(|| header_sha256(&response))
        .ok_or_else(|| HubError::NoHash(file.path.clone()))?;
    let total = file.size.or_else(|| {
        let rest = response.content_length()?;
        (status != StatusCode::RANGE_NOT_SATISFIABLE).then_some(resumed_from + rest)
    });

    let (mut hasher, mut done) = if resumed_from > 0 {
        let (_, hasher, len) = hash_prefix(&part).map_err(io(&part))?;
        (hasher, len)
    } else {
        (Sha256::new(), 0)
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed_from > 0)
        .truncate(resumed_from == 0)
        .open(&part)
        .map_err(io(&part))?;
    progress.update(done, total);
    let shown_total = || total.map_or_else(|| "?".to_string(), |t| t.to_string());
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    out.write_all(&bytes).map_err(io(&part))?;
                    hasher.update(&bytes);
                    done += bytes.len() as u64;
                    progress.update(done, total);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = out.flush();
                    progress.finish();
                    return Err(HubError::Interrupted {
                        file: file.path.clone(),
                        done,
                        total: shown_total(),
                        why: super::chain(&e),
                    });
                }
            }
        }
    }
    out.sync_all().map_err(io(&part))?;
    drop(out);
    progress.finish();
    if let Some(total) = total.filter(|&t| done < t) {
        return Err(HubError::Interrupted {
            file: file.path.clone(),
            done,
            total: total.to_string(),
            why: "the server closed the connection early".into(),
        });
    }
    let actual = hex(&hasher.finalize());
    if actual != expected {
        remove(&part)?;
        return Err(HubError::Checksum {
            file: file.path.clone(),
            expected,
            actual,
        });
    }
    std::fs::rename(&part, dest).map_err(io(dest))?;
    Ok(match resumed_from {
        0 => Downloaded::Fresh,
        n => Downloaded::Resumed(n),
    })
}

/// `<dest>.part`, beside the final file so the rename stays on one file system.
pub(super) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn remove(path: &Path) -> Result<(), HubError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HubError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The first byte of a 206's `Content-Range: bytes N-M/T`.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// The hub puts an LFS file's SHA-256 in `X-Linked-Etag` (on the redirect) or `ETag`.
fn header_sha256(response: &reqwest::Response) -> Option<String> {
    ["x-linked-etag", ETAG.as_str()]
        .iter()
        .filter_map(|name| response.headers().get(*name)?.to_str().ok())
        .find_map(sha256_hex)
}

fn hash_prefix(path: &Path) -> std::io::Result<(String, Sha256, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.clone().finalize()), hasher, len))
}

fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    hash_prefix(path).map(|(hex, _, len)| (hex, len))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            hash_file(&path).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(),
                3
            )
        );
        assert_eq!(part_path(&path), dir.path().join("abc.part"));
    }
}
