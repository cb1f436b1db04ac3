//! A repository's files as the hub lists them, and the one GGUF a [`Selector`] picks.
//!
//! `GET /api/models/{repo}/revision/{rev}?blobs=true` answers `siblings`, each with its
//! `rfilename` and, for files kept in LFS (every GGUF on the hub), `lfs: {sha256, size}`.
//! The answer is read liberally: the tree API's `oid` stands in for `sha256`, and a missing
//! `lfs` only means the hash must come from the download's headers.

use serde::Deserialize;

use super::spec::{checked_file, Selector};
use super::HubError;

/// One file of the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoFile {
    /// The path inside the repository (`sub/model-Q4_K_M.gguf`).
    pub path: String,
    /// Bytes, when the hub said.
    pub size: Option<u64>,
    /// Lower-case hex SHA-256 of the content, when the hub said.
    pub sha256: Option<String>,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

/// The files in a model-info answer. Names that are not plain relative paths are dropped:
/// the answer comes from a server, and a name becomes a file on this machine.
pub fn parse(body: &str) -> Result<Vec<RepoFile>, String> {
    let info: Info = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(info
        .siblings
        .into_iter()
        .filter(|s| checked_file(&s.rfilename).is_some())
        .map(|s| {
            let lfs = s.lfs;
            RepoFile {
                size: lfs.as_ref().and_then(|l| l.size).or(s.size),
                sha256: lfs
                    .and_then(|l| l.sha256.or(l.oid))
                    .and_then(|h| sha256_hex(&h)),
                path: s.rfilename,
            }
        })
        .collect())
}

/// `h` as lower-case hex when it is a SHA-256 (64 hex digits, maybe `sha256:`-prefixed or
/// quoted, as ETags are); `None` for anything else (a git SHA-1 ETag of a small file).
pub fn sha256_hex(h: &str) -> Option<String> {
    let h = h.trim().trim_start_matches("W/").trim_matches('"');
    let h = h.strip_prefix("sha256:").unwrap_or(h);
    (h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

/// The file `selector` names among `files` (GGUFs only).
pub fn select(repo: &str, files: &[RepoFile], selector: &Selector) -> Result<RepoFile, HubError> {
    let ggufs: Vec<&RepoFile> = files.iter().filter(|f| is_model_gguf(&f.path)).collect();
    let matches: Vec<&RepoFile> = match selector {
        Selector::File(name) => {
            return files
                .iter()
                .find(|f| &f.path == name)
                .cloned()
                .ok_or_else(|| {
                    HubError::Select(format!(
                        "`{repo}` has no file `{name}`; its GGUF files: {}",
                        names(&ggufs)
                    ))
                });
        }
        Selector::Only => ggufs.clone(),
        Selector::Quant(quant) => {
            let bounded: Vec<&RepoFile> = ggufs
                .iter()
                .copied()
                .filter(|f| has_token(&f.path, quant))
                .collect();
            if bounded.is_empty() {
                // `Q4_K` alone is not a token of `Q4_K_M`; a partial name still picks when
                // nothing carries it whole.
                let q = quant.to_ascii_lowercase();
                ggufs
                    .iter()
                    .copied()
                    .filter(|f| f.path.to_ascii_lowercase().contains(&q))
                    .collect()
            } else {
                bounded
            }
        }
    };
    let what = match selector {
        Selector::Quant(q) => format!("`{repo}` has no GGUF file named for `{q}`"),
        _ => format!("`{repo}` has no GGUF file"),
    };
    match matches.as_slice() {
        [] if ggufs.is_empty() => Err(HubError::Select(what)),
        [] => Err(HubError::Select(format!(
            "{what}; its GGUF files: {}",
            names(&ggufs)
        ))),
        [one] if is_split(&one.path) => Err(split_error(repo, &one.path)),
        [one] => Ok((*one).clone()),
        many if many.iter().all(|f| is_split(&f.path)) => Err(split_error(repo, &many[0].path)),
        many => Err(HubError::Select(format!(
            "`{repo}` has {} GGUF files that match; name one with hf:{repo}:QUANT or hf:{repo}/FILE: {}",
            many.len(),
            names(many)
        ))),
    }
}

fn split_error(repo: &str, path: &str) -> HubError {
    HubError::Select(format!(
        "`{repo}`: `{path}` is one part of a split GGUF, which `lode models pull` does not download yet; pick an unsplit quant"
    ))
}

fn names(files: &[&RepoFile]) -> String {
    if files.is_empty() {
        return "(none)".into();
    }
    files
        .iter()
        .map(|f| f.path.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A GGUF that is a model, not a multimodal projector (`mmproj-*.gguf`), which nobody means
/// by a quant name.
fn is_model_gguf(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    lower.ends_with(".gguf") && !base.starts_with("mmproj")
}

/// `name-00001-of-00003.gguf`.
fn is_split(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let Some(stem) = lower.strip_suffix(".gguf") else {
        return false;
    };
    let bytes = stem.as_bytes();
    bytes.len() >= 15 && {
        let tail = &stem[stem.len() - 15..];
        tail.starts_with('-')
            && tail[1..6].chars().all(|c| c.is_ascii_digit())
            && &tail[6..10] == "-of-"
            && tail[10..].chars().all(|c| c.is_ascii_digit())
    }
}

/// `quant` appears in `path` bounded by characters that are neither alphanumeric nor `_`.
fn has_token(path: &str, quant: &str) -> bool {
    let (hay, needle) = (path.to_ascii_lowercase(), quant.to_ascii_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    hay.match_indices(&needle).any(|(at, _)| {
        !word(hay[..at].chars().next_back()) && !word(hay[at + needle.len()..].chars().next())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn files(paths: &[&str]) -> Vec<RepoFile> {
        paths
            .iter()
            .map(|p| RepoFile {
                path: p.to_string(),
                size: Some(1),
                sha256: None,
            })
            .collect()
    }

    fn pick(paths: &[&str], selector: Selector) -> Result<String, String> {
        select("o/r", &files(paths), &selector)
            .map(|f| f.path)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_lfs_hash_and_size_and_drops_unsafe_names() {
        let hash = "AB".repeat(32);
        let body = serde_json::json!({"siblings": [
            {"rfilename": "README.md"},
            {"rfilename": "m-Q4_K_M.gguf", "lfs": {"sha256": hash, "size": 42}},
            {"rfilename": "t.gguf", "size": 7, "lfs": {"oid": format!("sha256:{}", "cd".repeat(32))}},
            {"rfilename": "../../evil.gguf", "lfs": {"sha256": hash, "size": 1}},
            {"rfilename": "/abs.gguf"}
        ]})
        .to_string();
        assert_eq!(
            parse(&body).unwrap(),
            vec![
                RepoFile {
                    path: "m-Q4_K_M.gguf".into(),
                    size: Some(42),
                    sha256: Some("ab".repeat(32))
                },
                RepoFile {
                    path: "t.gguf".into(),
                    size: Some(7),
                    sha256: Some("cd".repeat(32))
                },
            ]
        );
        assert!(parse("not json").is_err());
    }

    #[test]
    fn etag_forms_of_a_sha256() {
        let h = "0f".repeat(32);
        assert_eq!(sha256_hex(&format!("\"{h}\"")), Some(h.clone()));
        assert_eq!(sha256_hex(&format!("W/\"{h}\"")), Some(h.clone()));
        assert_eq!(
            sha256_hex("\"da39a3ee5e6b4b0d3255bfef95601890afd80709\""),
            None
        );
    }

    #[test]
    fn quant_picks_by_whole_token_case_insensitively() {
        let repo = [
            "m-Q4_K_M.gguf",
            "m-Q4_K_S.gguf",
            "m-Q8_0.gguf",
            "mmproj-m-Q8_0.gguf",
            "README.md",
        ];
        assert_eq!(
            pick(&repo, Selector::Quant("q8_0".into())),
            Ok("m-Q8_0.gguf".into())
        );
        assert_eq!(
            pick(&repo, Selector::Quant("Q4_K_M".into())),
            Ok("m-Q4_K_M.gguf".into())
        );
        let err = pick(&repo, Selector::Quant("Q4_K".into())).unwrap_err();
        assert!(
            err.contains("2 GGUF files that match") && err.contains("m-Q4_K_S.gguf"),
            "{err}"
        );
        let err = pick(&repo, Selector::Quant("IQ2_XS".into())).unwrap_err();
        assert!(
            err.contains("no GGUF file named for `IQ2_XS`") && err.contains("m-Q8_0.gguf"),
            "{err}"
        );
    }

    #[test]
    fn only_and_file_selectors() {
        assert_eq!(
            pick(&["a.gguf", "mmproj.gguf"], Selector::Only),
            Ok("a.gguf".into())
        );
        let err = pick(&["a.gguf", "b.gguf"], Selector::Only).unwrap_err();
        assert!(err.contains("a.gguf, b.gguf"), "{err}");
        assert_eq!(
            pick(&["d/b.gguf"], Selector::File("d/b.gguf".into())),
            Ok("d/b.gguf".into())
        );
        let err = pick(&["a.gguf"], Selector::File("b.gguf".into())).unwrap_err();
        assert!(
            err.contains("no file `b.gguf`") && err.contains("a.gguf"),
            "{err}"
        );
        assert!(pick(&["README.md"], Selector::Only)
            .unwrap_err()
            .contains("no GGUF file"));
    }

    #[test]
    fn split_ggufs_are_refused_by_name() {
        let repo = [
            "m-Q8_0-00001-of-00002.gguf",
            "m-Q8_0-00002-of-00002.gguf",
            "m-Q4_0.gguf",
        ];
        let err = pick(&repo, Selector::Quant("Q8_0".into())).unwrap_err();
        assert!(err.contains("split GGUF"), "{err}");
        assert_eq!(
            pick(&repo, Selector::Quant("Q4_0".into())),
            Ok("m-Q4_0.gguf".into())
        );
    }
}
