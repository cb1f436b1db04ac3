//! Fake stores in temp dirs, built from tiny GGUF files, scanned end to end.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use super::testutil::{write_model, FakeModel};
use super::*;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn only_model_dir(dir: &Path) -> ScanRoots {
    ScanRoots {
        model_dirs: vec![dir.to_path_buf()],
        ..ScanRoots::default()
    }
}

/// Writes an Ollama manifest for `name` (`host/namespace/model/tag`) with the given layers.
fn ollama_manifest(root: &Path, name: &str, layers: &[(&str, &str)]) {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(media, digest)| serde_json::json!({"mediaType": media, "digest": digest, "size": 1}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:00",
        },
        "layers": layers,
    });
    let path = root.join("manifests").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, manifest.to_string()).unwrap();
}

const MODEL: &str = "application/vnd.ollama.image.model";

#[test]
fn model_dir_entry_has_full_description() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("coder")
        .join("qwen2.5-coder-7b-q4_k_m.gguf");
    write_model(&path, &FakeModel::new("qwen2").ctx(32768).ftype(15));
    assert_eq!(
        scan(&only_model_dir(dir.path())),
        vec![ModelEntry {
            name: "coder/qwen2.5-coder-7b-q4_k_m.gguf".into(),
            source: Source::ModelDir,
            path: path.clone(),
            architecture: Some("qwen2".into()),
            n_params: Some(FakeModel::N_PARAMS),
            quantization: Some("Q4_K_M".into()),
            size_bytes: size(&path),
            context_length: Some(32768),
            mtp: false,
            error: None,
        }]
    );
}

#[test]
fn ollama_store_names_models_like_ollama_list() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let blob = |hex: &str| root.join("blobs").join(format!("sha256-{hex}"));
    write_model(&blob("aa11"), &FakeModel::new("qwen2").ctx(32768).ftype(15));
    write_model(
        &blob("bb22"),
        &FakeModel::new("glm4moe").ctx(131072).nextn_layers(1),
    );
    write_model(&blob("cc33"), &FakeModel::new("llama").ftype(7));
    write_model(&blob("dd44"), &FakeModel::new("clip").ftype(1));
    let reg = "registry.ollama.ai";
    ollama_manifest(
        root,
        &format!("{reg}/library/qwen2.5-coder/7b"),
        &[(MODEL, "sha256:aa11")],
    );
    // A second tag of the same blob is one file: listed once, under the first name.
    ollama_manifest(
        root,
        &format!("{reg}/library/qwen2.5-coder/latest"),
        &[(MODEL, "sha256:aa11")],
    );
    ollama_manifest(
        root,
        &format!("{reg}/someone/glm/air"),
        &[(MODEL, "sha256:bb22")],
    );
    ollama_manifest(
        root,
        "hf.co/bartowski/Llama-GGUF/Q8_0",
        &[
            ("application/vnd.ollama.image.template", "sha256:ee55"),
            (MODEL, "sha256:cc33"),
            ("application/vnd.ollama.image.projector", "sha256:dd44"),
        ],
    );
    let roots = ScanRoots {
        ollama: Some(root.to_path_buf()),
        ..ScanRoots::default()
    };
    let got: Vec<_> = scan(&roots)
        .into_iter()
        .map(|e| {
            (
                e.name,
                e.path,
                e.architecture.unwrap_or_default(),
                e.quantization.unwrap_or_default(),
                e.context_length,
                e.mtp,
                e.error,
            )
        })
        .collect();
    let row = |name: &str, hex: &str, arch: &str, quant: &str, ctx, mtp| {
        let (name, arch, quant) = (name.to_owned(), arch.to_owned(), quant.to_owned());
        (name, blob(hex), arch, quant, ctx, mtp, None)
    };
    assert_eq!(
        got,
        vec![
            row(
                "hf.co/bartowski/Llama-GGUF:Q8_0",
                "cc33",
                "llama",
                "Q8_0",
                None,
                false
            ),
            row(
                "hf.co/bartowski/Llama-GGUF:Q8_0 (mmproj)",
                "dd44",
                "clip",
                "F16",
                None,
                false
            ),
            row(
                "qwen2.5-coder:7b",
                "aa11",
                "qwen2",
                "Q4_K_M",
                Some(32768),
                false
            ),
            row(
                "someone/glm:air",
                "bb22",
                "glm4moe",
                "Q8_0",
                Some(131072),
                true
            ),
        ]
    );
}

#[test]
fn ollama_missing_blob_and_broken_manifest_are_listed_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let reg = "registry.ollama.ai/library";
    ollama_manifest(
        root,
        &format!("{reg}/gone/latest"),
        &[(MODEL, "sha256:ff66")],
    );
    ollama_manifest(
        root,
        &format!("{reg}/evil/latest"),
        &[(MODEL, "sha256:../../etc")],
    );
    let bad = root.join("manifests").join(reg).join("junk").join("1b");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "{ not json").unwrap();
    let roots = ScanRoots {
        ollama: Some(root.to_path_buf()),
        ..ScanRoots::default()
    };
    let entries = scan(&roots);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["evil:latest", "gone:latest", "junk:1b"]);
    let errors: Vec<String> = entries
        .iter()
        .map(|e| e.error.clone().unwrap_or_default())
        .collect();
    assert!(
        errors[0].contains("malformed layer digest"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("blob") && errors[1].contains("ollama pull gone:latest"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("not valid JSON") && errors[2].contains("ollama pull junk:1b"),
        "{}",
        errors[2]
    );
}

#[test]
fn lmstudio_store_names_publisher_repo_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("lmstudio-community/Qwen3-8B-GGUF/Qwen3-8B-Q6_K.gguf");
    write_model(&path, &FakeModel::new("qwen3").ctx(40960).ftype(18));
    let roots = ScanRoots {
        lmstudio: vec![dir.path().join("missing"), dir.path().to_path_buf()],
        ..ScanRoots::default()
    };
    let entries = scan(&roots);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (
            e.name.as_str(),
            e.source,
            e.architecture.as_deref(),
            e.quantization.as_deref(),
            e.context_length
        ),
        (
            "lmstudio-community/Qwen3-8B-GGUF/Qwen3-8B-Q6_K.gguf",
            Source::LmStudio,
            Some("qwen3"),
            Some("Q6_K"),
            Some(40960)
        )
    );
}

/// Lays out an HF cache repo with two snapshots of one file (different blobs), `main` → `rev`.
#[cfg(unix)]
fn hf_repo(hub: &Path, main_rev: &str) -> (PathBuf, PathBuf) {
    let repo = hub.join("models--Qwen--Qwen2.5-0.5B-Instruct-GGUF");
    let file = "qwen2.5-0.5b-instruct-q4_k_m.gguf";
    let old_blob = repo.join("blobs").join("0ld");
    let new_blob = repo.join("blobs").join("n3w");
    write_model(&old_blob, &FakeModel::new("qwen2").ctx(4096));
    write_model(&new_blob, &FakeModel::new("qwen2").ctx(32768).ftype(15));
    for (rev, blob) in [("aaaa", "0ld"), ("bbbb", "n3w")] {
        let snap = repo.join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(blob), snap.join(file)).unwrap();
    }
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), main_rev).unwrap();
    (old_blob, new_blob)
}

#[cfg(unix)]
#[test]
fn huggingface_cache_prefers_the_revision_main_points_at() {
    let dir = tempfile::tempdir().unwrap();
    let (old_blob, _) = hf_repo(dir.path(), "aaaa");
    std::fs::create_dir_all(dir.path().join("datasets--x--y/snapshots/r")).unwrap();
    let roots = ScanRoots {
        hf_hub: Some(dir.path().to_path_buf()),
        ..ScanRoots::default()
    };
    let entries = scan(&roots);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(
        e.name,
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf"
    );
    assert_eq!(e.source, Source::HuggingFace);
    assert_eq!(e.context_length, Some(4096));
    assert_eq!(
        e.path.canonicalize().unwrap(),
        old_blob.canonicalize().unwrap()
    );
}

#[cfg(unix)]
#[test]
fn file_reachable_from_model_dir_and_hf_snapshot_is_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub");
    let (_, new_blob) = hf_repo(&hub, "bbbb");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(&new_blob, models.join("qwen-small.gguf")).unwrap();
    let roots = ScanRoots {
        model_dirs: vec![models.clone()],
        hf_hub: Some(hub),
        ..ScanRoots::default()
    };
    let names: Vec<(String, Source)> = scan(&roots)
        .into_iter()
        .map(|e| (e.name, e.source))
        .collect();
    // The old revision's blob is a different file but loses to `main`; the new one is the
    // model dir's symlink, listed under the user's own name.
    assert_eq!(
        names,
        vec![("qwen-small.gguf".to_owned(), Source::ModelDir)]
    );
}

#[test]
fn split_model_is_one_entry_with_summed_size_and_params() {
    let dir = tempfile::tempdir().unwrap();
    let part = |i: u32| dir.path().join(format!("big-q4_k_m-{i:05}-of-00002.gguf"));
    write_model(&part(1), &FakeModel::new("llama").ctx(8192).ftype(15));
    write_model(&part(2), &FakeModel::new("llama"));
    let entries = scan(&only_model_dir(dir.path()));
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(e.name, "big-q4_k_m-00001-of-00002.gguf");
    assert_eq!(e.path, part(1));
    assert_eq!(e.size_bytes, size(&part(1)) + size(&part(2)));
    assert_eq!(e.n_params, Some(2 * FakeModel::N_PARAMS));
    assert_eq!(e.error, None);
}

#[test]
fn split_model_with_a_truncated_part_keeps_its_metadata_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let part = |i: u32| dir.path().join(format!("big-{i:05}-of-00002.gguf"));
    write_model(&part(1), &FakeModel::new("llama").ctx(8192));
    write_model(&part(2), &FakeModel::new("llama"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(part(2))
        .unwrap();
    file.set_len(size(&part(2)) - 100).unwrap();
    let entries = scan(&only_model_dir(dir.path()));
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(
        (e.architecture.as_deref(), e.context_length),
        (Some("llama"), Some(8192))
    );
    let error = e.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("truncated") && error.contains("00002-of-00002"),
        "{error}"
    );
}

#[test]
fn corrupt_file_is_listed_with_an_error_next_to_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.gguf"), b"GGML but not really").unwrap();
    write_model(&dir.path().join("good.gguf"), &FakeModel::new("llama"));
    let entries = scan(&only_model_dir(dir.path()));
    let summary: Vec<(&str, bool, bool)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.architecture.is_some(), e.error.is_some()))
        .collect();
    assert_eq!(
        summary,
        [("bad.gguf", false, true), ("good.gguf", true, false)]
    );
    let error = entries[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("bad magic") && error.contains("bad.gguf"),
        "{error}"
    );
}

#[test]
fn missing_roots_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    let roots = ScanRoots {
        model_dirs: vec![gone.join("models")],
        ollama: Some(gone.join("ollama")),
        lmstudio: vec![gone.join("lmstudio")],
        hf_hub: Some(gone.join("hub")),
    };
    assert_eq!(scan(&roots), vec![]);
}

#[test]
fn entries_are_sorted_by_source_then_name() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let lms = dir.path().join("lms");
    write_model(&models.join("z.gguf"), &FakeModel::new("llama"));
    write_model(&models.join("a.gguf"), &FakeModel::new("llama"));
    write_model(&lms.join("pub/repo/m.gguf"), &FakeModel::new("llama"));
    let roots = ScanRoots {
        model_dirs: vec![models],
        lmstudio: vec![lms],
        ..ScanRoots::default()
    };
    let names: Vec<String> = scan(&roots).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a.gguf", "z.gguf", "pub/repo/m.gguf"]);
}

#[test]
fn nothing_found_message_names_the_roots() {
    let dir = tempfile::tempdir().unwrap();
    let env = StoreEnv {
        home: Some(PathBuf::from("/nonexistent-home")),
        ..StoreEnv::default()
    };
    let roots = ScanRoots::discover_in(vec![dir.path().join("models")], &env);
    let entries = scan(&roots);
    assert_eq!(entries, vec![]);
    let text = render_empty(&roots);
    assert!(
        text.contains("/nonexistent-home/.ollama/models  (not present)"),
        "{text}"
    );
    assert!(
        text.contains("/nonexistent-home/.cache/huggingface/hub"),
        "{text}"
    );
}
