//! One listed model: what `lode models` shows for a GGUF file, and how it is read.
//!
//! The stores (`stores.rs`) only decide *which* files exist and what to call them; this module
//! turns such a [`Candidate`] into a [`ModelEntry`] by reading the GGUF header of every part in
//! pure Rust (no llama.cpp load), so listing a store of 70B models costs a few header reads.
//! A file that cannot be read becomes an entry with `error` set, never a failed listing.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::gguf::{self, GgmlType, GgufError, GgufFile};

/// Where a model was found. The order of the variants is the order of the listing, and also
/// which name wins when one file is reachable from two places (the user's own model dir first).
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A directory lode is configured to read models from (`*.gguf`, searched recursively).
    #[serde(rename = "model_dir")]
    ModelDir,
    /// Ollama's content-addressed store (`manifests/` + `blobs/`).
    #[serde(rename = "ollama")]
    Ollama,
    /// LM Studio's `<publisher>/<repo>/*.gguf` tree.
    #[serde(rename = "lmstudio")]
    LmStudio,
    /// The Hugging Face hub cache (`models--org--name/snapshots/<rev>/`).
    #[serde(rename = "huggingface")]
    HuggingFace,
}

impl Source {
    /// The lower-case label used in the table and in JSON.
    pub fn label(self) -> &'static str {
        match self {
            Source::ModelDir => "model_dir",
            Source::Ollama => "ollama",
            Source::LmStudio => "lmstudio",
            Source::HuggingFace => "huggingface",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A GGUF model found on disk, described from its header.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ModelEntry {
    /// Human name, unique within its source: Ollama `qwen2.5-coder:7b`, Hugging Face
    /// `Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf`, LM Studio
    /// `publisher/repo/file.gguf`, model dir: the path relative to that dir.
    pub name: String,
    /// The store the file was found in.
    pub source: Source,
    /// The file to load (for split models, the first part; llama.cpp finds the rest).
    pub path: PathBuf,
    /// `general.architecture` (`qwen2`, `llama`, `clip` for multimodal projectors, ...).
    pub architecture: Option<String>,
    /// Number of weights, summed over the tensors of every part.
    pub n_params: Option<u64>,
    /// llama.cpp file type name from `general.file_type` (`Q4_K_M`, `Q8_0`, `F16`, ...), else
    /// the ggml type holding most of the bytes of the 2-D+ tensors.
    pub quantization: Option<String>,
    /// Bytes on disk, summed over every part of a split model.
    pub size_bytes: u64,
    /// `<arch>.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    /// The file has multi-token-prediction (NextN) layers usable for speculative decoding.
    pub mtp: bool,
    /// Why the file cannot be used (unreadable, not GGUF, missing split part, missing blob).
    /// Such entries are still listed so the user sees the problem.
    pub error: Option<String>,
}

/// A model file a store walk found, before its header is read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Candidate {
    pub name: String,
    pub source: Source,
    /// Every part on disk, first part first (one element for an unsplit model).
    pub parts: Vec<PathBuf>,
    /// A problem the store walk already knows about (missing blob, missing split part).
    pub problem: Option<String>,
}

#[cfg(test)]
impl Candidate {
    pub fn new(name: String, source: Source, path: PathBuf) -> Self {
        Candidate {
            name,
            source,
            parts: vec![path],
            problem: None,
        }
    }
}

/// Read every part's header and describe the model. Never fails: problems go to `error`.
pub(crate) fn describe(candidate: &Candidate) -> ModelEntry {
    let Candidate {
        name,
        source,
        parts,
        problem,
    } = candidate;
    let path = parts.first().cloned().unwrap_or_default();
    let size_bytes = parts
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut entry = ModelEntry {
        name: name.clone(),
        source: *source,
        path,
        architecture: None,
        n_params: None,
        quantization: None,
        size_bytes,
        context_length: None,
        mtp: false,
        error: problem.clone(),
    };
    let mut files = Vec::with_capacity(parts.len());
    let mut first_readable = false;
    for (i, part) in parts.iter().enumerate() {
        match gguf::read(part) {
            Ok(file) => {
                first_readable |= i == 0;
                files.push(file);
            }
            Err(err) if entry.error.is_none() => entry.error = Some(listing_error(err)),
            Err(_) => {}
        }
    }
    // Metadata lives in the first part: without it there is nothing to describe. With it, a
    // bad later part still leaves the model recognisable next to its error.
    if first_readable {
        fill_from_headers(&mut entry, &files);
    }
    entry
}

/// The reader's messages name the file and say what to do, except that "pass a .gguf file"
/// is no help for a file already named `.gguf` in a store.
fn listing_error(err: GgufError) -> String {
    match err {
        GgufError::NotGguf { path } => format!(
            "`{}` is not a GGUF model file (bad magic); delete it or download it again",
            path.display()
        ),
        other => other.to_string(),
    }
}

fn fill_from_headers(entry: &mut ModelEntry, files: &[GgufFile]) {
    let Some(first) = files.first() else {
        return;
    };
    let tensors = || files.iter().flat_map(|f| f.tensors.iter());
    entry.context_length = first.arch_u64("context_length");
    let nextn_layers = first.arch_u64("nextn_predict_layers").unwrap_or(0);
    entry.mtp = nextn_layers > 0 || tensors().any(|t| t.name.contains(".nextn."));
    entry.n_params = Some(
        files
            .iter()
            .fold(0u64, |n, f| n.saturating_add(f.n_params())),
    );
    // The "guessed" bit (1024) of a llama_ftype is masked: the file still says what it holds.
    entry.quantization = first
        .get_u64("general.file_type")
        .and_then(|ftype| gguf::file_type_name(ftype & !1024))
        .map(str::to_owned)
        .or_else(|| dominant_type(tensors().map(|t| (t.ggml_type, t.dims.len(), t.n_bytes()))));
    entry.architecture = first.architecture().map(str::to_owned);
}

/// The ggml type that holds the most bytes, counting only matrices (1-D tensors such as norms
/// stay F32 in every quantization and would otherwise win on small models).
fn dominant_type(tensors: impl Iterator<Item = (u32, usize, Option<u64>)>) -> Option<String> {
    let mut all: HashMap<u32, u64> = HashMap::new();
    let mut matrices: HashMap<u32, u64> = HashMap::new();
    for (ty, n_dims, bytes) in tensors {
        // A type newer than this build has no known size; it still counts by presence.
        let bytes = bytes.unwrap_or(1);
        *all.entry(ty).or_default() += bytes;
        if n_dims >= 2 {
            *matrices.entry(ty).or_default() += bytes;
        }
    }
    let totals = if matrices.is_empty() { all } else { matrices };
    // Ties broken by the type id so the answer does not depend on hash order.
    let (ty, _) = totals
        .into_iter()
        .max_by_key(|&(ty, bytes)| (bytes, std::cmp::Reverse(ty)))?;
    Some(match GgmlType::from_u32(ty) {
        Some(t) => t.name().to_owned(),
        None => format!("type {ty}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::testutil::{write_model, FakeModel};
    use pretty_assertions::assert_eq;
    use std::path::Path;

    #[test]
    fn describes_a_model_from_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        write_model(&path, &FakeModel::new("qwen2").ctx(32768).ftype(15));
        let entry = describe(&Candidate::new(
            "m.gguf".into(),
            Source::ModelDir,
            path.clone(),
        ));
        assert_eq!(
            entry,
            ModelEntry {
                name: "m.gguf".into(),
                source: Source::ModelDir,
                path: path.clone(),
                architecture: Some("qwen2".into()),
                n_params: Some(FakeModel::N_PARAMS),
                quantization: Some("Q4_K_M".into()),
                size_bytes: std::fs::metadata(&path).unwrap().len(),
                context_length: Some(32768),
                mtp: false,
                error: None,
            }
        );
    }

    #[test]
    fn mtp_from_nextn_key_or_nextn_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let by_key = dir.path().join("key.gguf");
        write_model(&by_key, &FakeModel::new("glm4moe").nextn_layers(1));
        let by_tensor = dir.path().join("tensor.gguf");
        write_model(&by_tensor, &FakeModel::new("glm4moe").nextn_tensor());
        let zero_layers = dir.path().join("zero.gguf");
        write_model(&zero_layers, &FakeModel::new("glm4moe").nextn_layers(0));
        let mtp = |p: &Path| describe(&Candidate::new("x".into(), Source::ModelDir, p.into())).mtp;
        assert_eq!(
            (mtp(&by_key), mtp(&by_tensor), mtp(&zero_layers)),
            (true, true, false)
        );
    }

    #[test]
    fn quantization_falls_back_to_dominant_matrix_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        write_model(&path, &FakeModel::new("llama"));
        let entry = describe(&Candidate::new("m".into(), Source::ModelDir, path));
        // The fake model's matrix is Q8_0 and its norm F32: the matrix decides.
        assert_eq!(entry.quantization.as_deref(), Some("Q8_0"));
    }

    #[test]
    fn guessed_ftype_bit_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        write_model(&path, &FakeModel::new("llama").ftype(1024 + 32));
        let entry = describe(&Candidate::new("m".into(), Source::ModelDir, path));
        assert_eq!(entry.quantization.as_deref(), Some("BF16"));
    }

    #[test]
    fn corrupt_file_is_listed_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gguf");
        std::fs::write(&path, b"NOPE this is not a gguf file at all").unwrap();
        let entry = describe(&Candidate::new("bad.gguf".into(), Source::ModelDir, path));
        assert_eq!(entry.architecture, None);
        assert_eq!(entry.size_bytes, 35);
        let error = entry.error.unwrap_or_default();
        assert_eq!(
            error,
            format!(
                "`{}` is not a GGUF model file (bad magic); delete it or download it again",
                dir.path().join("bad.gguf").display()
            )
        );
    }
}
