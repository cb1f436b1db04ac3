//! The `lode` binary as users run it: fresh processes, real files, exit codes.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::Value;

use lode::engine::synth::{Arch, Weights};

use super::common::{llama_lock, lode, output, tiny};

fn gen_json(home: &Path, model: &Path, prompt: &str) -> Value {
    let (code, stdout, stderr) = output(lode(home).args(["gen", "--model"]).arg(model).args([
        "--seed",
        "1",
        "--max-tokens",
        "32",
        "--ctx-size",
        "2048",
        "--json",
        prompt,
    ]));
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn cache_entries(home: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = home.join("cache").join("prompts");
    for ns in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
            found.push(file.path());
        }
    }
    found
}

#[test]
fn gen_is_identical_across_two_processes_and_reports_stats() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let model = tiny(Arch::Qwen2, Weights::Random, 7);
    let first = gen_json(home.path(), &model, "hello");
    let second = gen_json(home.path(), &model, "hello");
    assert_eq!(first["text"], second["text"]);
    for key in [
        "prompt_tokens",
        "cached_tokens",
        "prefill_ms",
        "decode_tokens",
        "decode_ms",
    ] {
        assert!(first[key].is_number(), "missing {key}: {first}");
    }
    assert_eq!(first["seed"], 1);
    assert_eq!(first["cached_tokens"], 0);
}

#[test]
fn disk_cache_round_trip_in_fresh_processes_and_damaged_entries_are_misses() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let model = tiny(Arch::Qwen2, Weights::Random, 7);
    // Long enough that `lode gen` stores its prefix.
    let prompt =
        "fn main() { println!(\"hello\"); } // a long and stable prompt prefix\n".repeat(40);
    let cold = gen_json(home.path(), &model, &prompt);
    assert_eq!(cold["cached_tokens"], 0);
    assert_eq!(cache_entries(home.path()).len(), 1);

    let warm = gen_json(home.path(), &model, &prompt);
    assert_eq!(warm["text"], cold["text"]);
    let prompt_tokens = warm["prompt_tokens"].as_u64().unwrap();
    assert_eq!(warm["cached_tokens"].as_u64().unwrap(), prompt_tokens - 1);
    assert_eq!(
        warm["disk_cached_tokens"].as_u64().unwrap(),
        prompt_tokens - 1
    );

    // Flip one byte in the middle: a miss, the same answer, and the entry is replaced.
    let entry = cache_entries(home.path()).pop().unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&entry, &bytes).unwrap();
    let corrupted = gen_json(home.path(), &model, &prompt);
    assert_eq!(corrupted["text"], cold["text"]);
    assert_eq!(corrupted["cached_tokens"], 0);

    // Cut the file short: the same.
    let entry = cache_entries(home.path()).pop().unwrap();
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 3]).unwrap();
    let truncated = gen_json(home.path(), &model, &prompt);
    assert_eq!(truncated["text"], cold["text"]);
    assert_eq!(truncated["cached_tokens"], 0);

    // And the rewritten entry works again.
    let healed = gen_json(home.path(), &model, &prompt);
    assert_eq!(healed["text"], cold["text"]);
    assert_eq!(healed["cached_tokens"].as_u64().unwrap(), prompt_tokens - 1);
}

#[test]
fn disk_cache_is_not_shared_between_different_models() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let prompt = "the same long prompt for two different models; ".repeat(50);
    gen_json(home.path(), &tiny(Arch::Qwen2, Weights::Random, 7), &prompt);
    let other = gen_json(home.path(), &tiny(Arch::Qwen2, Weights::Random, 8), &prompt);
    assert_eq!(other["cached_tokens"], 0);
    assert_eq!(cache_entries(home.path()).len(), 2);
}

fn gen_error(home: &Path, model: &Path, extra: &[&str]) -> String {
    let (code, stdout, stderr) = output(
        lode(home)
            .args(["gen", "--model"])
            .arg(model)
            .args(extra)
            .arg("hi"),
    );
    assert_eq!(code, 1, "stdout: {stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    lines[0].to_string()
}

#[test]
fn each_model_file_error_has_its_own_message() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();

    let missing = gen_error(dir, &dir.join("absent.gguf"), &[]);
    assert!(
        missing.contains("absent.gguf") && missing.contains("does not exist"),
        "{missing}"
    );

    let readme = dir.join("README.md");
    std::fs::write(&readme, "# not a model\n").unwrap();
    let not_gguf = gen_error(dir, &readme, &[]);
    assert!(
        not_gguf.contains("README.md") && not_gguf.contains("not a GGUF model"),
        "{not_gguf}"
    );

    let truncated = dir.join("cut.gguf");
    let bytes = std::fs::read(tiny(Arch::Qwen2, Weights::Random, 7)).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let cut = gen_error(dir, &truncated, &[]);
    assert!(
        cut.contains("cut.gguf") && cut.contains("truncated"),
        "{cut}"
    );

    let alien = dir.join("alien.gguf");
    lode::gguf::write_file(
        &alien,
        &[(
            "general.architecture".to_string(),
            lode::gguf::Value::Str("frobnicator".to_string()),
        )],
        &[],
    )
    .unwrap();
    let unknown = gen_error(dir, &alien, &[]);
    assert!(
        unknown.contains("alien.gguf") && unknown.contains("`frobnicator`"),
        "{unknown}"
    );

    let model = tiny(Arch::Qwen2, Weights::Random, 7);
    let too_long = gen_error(dir, &model, &["--ctx-size", "1000000"]);
    assert!(
        too_long.contains("1000000") && too_long.contains("--ctx-size"),
        "{too_long}"
    );

    let messages = [missing, not_gguf, cut, unknown, too_long];
    for (i, a) in messages.iter().enumerate() {
        for b in &messages[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn no_model_anywhere_says_how_to_give_one() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(lode(home.path()).args(["gen", "hi"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--model") && stderr.contains("LODE_MODEL"),
        "{stderr}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, _) = output(lode(home.path()).args(["gen", "--temp", "warm"]));
    assert_eq!(code, 2);
}

#[test]
fn synth_writes_a_model_gen_can_run() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("t.gguf");
    let (code, stdout, stderr) = output(
        lode(home.path())
            .args([
                "synth", "--arch", "qwen2", "--shape", "tiny", "--seed", "7", "--json",
            ])
            .arg(&path),
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(report["bytes"].as_u64().unwrap() < 2 * 1024 * 1024);
    let done = gen_json(home.path(), &path, "hello");
    assert!(done["decode_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn doctor_reports_devices_and_dirs_as_json() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = output(lode(home.path()).args(["doctor", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["kind"] == "cpu"));
    assert_eq!(
        report["config"]["dirs"]["cache"].as_str().unwrap(),
        home.path().join("cache").to_str().unwrap()
    );
}

#[test]
fn models_lists_a_synthetic_model_inside_a_fake_ollama_store() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join("ollama");
    let model = tiny(Arch::Qwen35, Weights::Random, 3);
    let digest = "ab".repeat(32);
    std::fs::create_dir_all(store.join("blobs")).unwrap();
    std::fs::copy(&model, store.join("blobs").join(format!("sha256-{digest}"))).unwrap();
    let manifest_dir = store.join("manifests/registry.ollama.ai/library/tinyqwen");
    std::fs::create_dir_all(&manifest_dir).unwrap();
    std::fs::write(
        manifest_dir.join("latest"),
        serde_json::json!({
            "schemaVersion": 2,
            "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{digest}"), "size": 1}]
        })
        .to_string(),
    )
    .unwrap();
    let (code, stdout, stderr) = output(
        lode(home.path())
            .env("OLLAMA_MODELS", &store)
            .env("HF_HUB_CACHE", home.path().join("no-hf"))
            .args(["models", "--json"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let entries: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let entry = entries.iter().find(|e| e["source"] == "ollama").unwrap();
    assert_eq!(entry["name"], "tinyqwen:latest");
    assert_eq!(entry["architecture"], "qwen35");
    assert!(entry["n_params"].as_u64().unwrap() > 0);
    assert!(entry["error"].is_null());
}

#[test]
fn the_session_without_a_terminal_points_to_lode_run() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(lode(home.path()).stdin(std::process::Stdio::null()));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("lode run"), "{stderr}");
}
