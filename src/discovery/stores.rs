//! The on-disk layouts of the model stores users already have, turned into named candidates.
//!
//! - model dir: any `*.gguf` below it; named by the path relative to the dir.
//! - Ollama: `manifests/<host>/<namespace>/<model>/<tag>` JSON manifests whose
//!   `application/vnd.ollama.image.model` layer digest `sha256:<hex>` is the GGUF at
//!   `blobs/sha256-<hex>`; named `model:tag` like `ollama list` does.
//! - LM Studio: `<publisher>/<repo>/*.gguf`; named by the relative path.
//! - Hugging Face hub cache: `models--<org>--<name>/snapshots/<revision>/**.gguf`, symlinks
//!   into `blobs/`; named `org/name/file`, one revision per file (the one `refs/main` names).
//!
//! Nothing here reads GGUF headers; `entry.rs` does that for whatever these walks return.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::entry::{Candidate, Source};
use super::walk::{gguf_files, group_splits, relative_name, FileGroup};

/// Ollama's default registry and namespace, left out of names exactly as `ollama list` does.
const OLLAMA_REGISTRY: &str = "registry.ollama.ai";
const OLLAMA_NAMESPACE: &str = "library";
const OLLAMA_MODEL_LAYER: &str = "application/vnd.ollama.image.model";
const OLLAMA_PROJECTOR_LAYER: &str = "application/vnd.ollama.image.projector";

fn candidates_from_groups(
    source: Source,
    groups: Vec<FileGroup>,
    name_of: impl Fn(&Path) -> String,
) -> Vec<Candidate> {
    groups
        .into_iter()
        .filter_map(|group| {
            let name = name_of(group.parts.first()?);
            Some(Candidate {
                name,
                source,
                parts: group.parts,
                problem: group.problem,
            })
        })
        .collect()
}

/// `*.gguf` anywhere below a plain directory (the model dir, or an LM Studio models dir).
pub(crate) fn tree(root: &Path, source: Source) -> Vec<Candidate> {
    let groups = group_splits(gguf_files(root));
    candidates_from_groups(source, groups, |p| relative_name(root, p))
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

/// Every model (and multimodal projector) an Ollama store holds.
pub(crate) fn ollama(root: &Path) -> Vec<Candidate> {
    let manifests = root.join("manifests");
    let mut out = Vec::new();
    for host in subdirs(&manifests) {
        for namespace in subdirs(&host) {
            for model in subdirs(&namespace) {
                for tag in files(&model) {
                    let name = ollama_name(&host, &namespace, &model, &tag);
                    out.extend(ollama_manifest(root, &tag, &name));
                }
            }
        }
    }
    out
}

fn ollama_name(host: &Path, namespace: &Path, model: &Path, tag: &Path) -> String {
    let part = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (host, namespace) = (part(host), part(namespace));
    let prefix = match (host.as_str(), namespace.as_str()) {
        (OLLAMA_REGISTRY, OLLAMA_NAMESPACE) => String::new(),
        (OLLAMA_REGISTRY, _) => format!("{namespace}/"),
        _ => format!("{host}/{namespace}/"),
    };
    format!("{prefix}{}:{}", part(model), part(tag))
}

fn ollama_manifest(root: &Path, manifest_path: &Path, name: &str) -> Vec<Candidate> {
    let problem = |what: String| {
        vec![Candidate {
            name: name.to_owned(),
            source: Source::Ollama,
            parts: vec![manifest_path.to_path_buf()],
            problem: Some(format!(
                "Ollama manifest `{}` {what}; run `ollama pull {name}` to repair it",
                manifest_path.display()
            )),
        }]
    };
    let text = match std::fs::read_to_string(manifest_path) {
        Ok(text) => text,
        Err(err) => return problem(format!("cannot be read: {err}")),
    };
    let manifest: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(err) => return problem(format!("is not valid JSON: {err}")),
    };
    let mut out = Vec::new();
    for layer in &manifest.layers {
        let shown = match layer.media_type.as_str() {
            OLLAMA_MODEL_LAYER => name.to_owned(),
            OLLAMA_PROJECTOR_LAYER => format!("{name} (mmproj)"),
            _ => continue,
        };
        let Some(blob) = ollama_blob(root, &layer.digest) else {
            return problem(format!("has a malformed layer digest `{}`", layer.digest));
        };
        let missing = !blob.is_file();
        out.push(Candidate {
            name: shown,
            source: Source::Ollama,
            problem: missing.then(|| {
                format!(
                    "Ollama blob `{}` is missing; run `ollama pull {name}` to download it again",
                    blob.display()
                )
            }),
            parts: vec![blob],
        });
    }
    out
}

/// `sha256:<hex>` → `<root>/blobs/sha256-<hex>`. The digest comes from a file on disk, so it
/// is checked to be hex before it becomes part of a path.
fn ollama_blob(root: &Path, digest: &str) -> Option<PathBuf> {
    let (algo, hex) = digest.split_once(':')?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (valid(algo) && valid(hex)).then(|| root.join("blobs").join(format!("{algo}-{hex}")))
}

/// Every GGUF in a Hugging Face hub cache, one revision per file.
pub(crate) fn huggingface(root: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    for repo_dir in subdirs(root) {
        let Some(repo) = repo_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("models--"))
            .map(|n| n.replacen("--", "/", 1))
        else {
            continue;
        };
        out.extend(hf_repo(&repo_dir, &repo));
    }
    out
}

fn hf_repo(repo_dir: &Path, repo: &str) -> Vec<Candidate> {
    let main = std::fs::read_to_string(repo_dir.join("refs").join("main"))
        .ok()
        .map(|s| s.trim().to_owned());
    // For each file path inside a snapshot, the revisions that hold it.
    let mut by_file: BTreeMap<String, Vec<(Preference, PathBuf)>> = BTreeMap::new();
    for snapshot in subdirs(&repo_dir.join("snapshots")) {
        let revision = snapshot
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let preference = Preference {
            is_main: main.as_deref() == Some(revision.as_str()),
            modified: std::fs::metadata(&snapshot)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH),
            revision,
        };
        for file in gguf_files(&snapshot) {
            by_file
                .entry(relative_name(&snapshot, &file))
                .or_default()
                .push((preference.clone(), file));
        }
    }
    let chosen: Vec<PathBuf> = by_file
        .into_values()
        .filter_map(|revs| revs.into_iter().max_by(|a, b| a.0.cmp(&b.0)).map(|r| r.1))
        .collect();
    let groups = group_splits(chosen);
    // Names come from the path inside the snapshot, whatever revision it was taken from.
    let snapshots = repo_dir.join("snapshots");
    candidates_from_groups(Source::HuggingFace, groups, |p| {
        let inside = relative_name(&snapshots, p);
        let file = inside.split_once('/').map_or(inside.as_str(), |(_, f)| f);
        format!("{repo}/{file}")
    })
}

/// Which snapshot wins when several hold the same file: the one `refs/main` names, else the
/// most recently written, else the greatest revision id (so the choice is deterministic).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Preference {
    is_main: bool,
    modified: SystemTime,
    revision: String,
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    children(dir, |m| m.is_dir())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    children(dir, |m| m.is_file())
}

/// Non-hidden children of `dir` matching `keep` (symlinks followed), sorted; none if `dir`
/// is missing or unreadable.
fn children(dir: &Path, keep: impl Fn(&std::fs::Metadata) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| keep(&m)))
        .collect();
    out.sort();
    out
}
