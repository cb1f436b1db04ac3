//! Model files that lied about themselves: metadata llama.cpp asserts on (exit 134 with a
//! backtrace) or that made lode panic. Each mutant is a real or synthetic model with one
//! value changed, run through the real binary: it must end with a one-line error that names
//! the key, never a signal or a panic, and under the pre-commit hook the commit goes through
//! with a "not reviewed" notice.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use lode::engine::synth::{synthesize, Arch, Shape, SynthSpec, Weights};
use lode::gguf::{self, GgufFile, GgufWriter, TensorSpec, Value};

use super::super::common::{llama_lock, lode, output};
use super::super::real_models::real_model;
use super::super::review::Repo;

/// One way to break a model file: `edit` changes its header, `key` must be named by the
/// error lode prints.
struct Mutant {
    name: &'static str,
    key: &'static str,
    edit: fn(&mut GgufFile),
}

fn arch(f: &GgufFile) -> String {
    f.architecture().unwrap_or_default().to_string()
}

/// Replaces the value of `key` (keeping its place), or appends it.
fn set(f: &mut GgufFile, key: &str, value: Value) {
    match f.metadata.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => f.metadata.push((key.to_string(), value)),
    }
}

fn set_arch(f: &mut GgufFile, suffix: &str, value: Value) {
    let key = format!("{}.{suffix}", arch(f));
    set(f, &key, value);
}

/// The value's integer type kept, its number changed (llama.cpp checks types strictly).
fn int_like(old: Option<&Value>, n: u64) -> Value {
    match old {
        Some(Value::U64(_)) => Value::U64(n),
        Some(Value::I32(_)) => Value::I32(n as i32),
        _ => Value::U32(n as u32),
    }
}

fn set_arch_int(f: &mut GgufFile, suffix: &str, n: u64) {
    let key = format!("{}.{suffix}", arch(f));
    let value = int_like(f.get(&key), n);
    set(f, &key, value);
}

fn set_rms_eps(f: &mut GgufFile, eps: f32) {
    set_arch(f, "attention.layer_norm_rms_epsilon", Value::F32(eps));
}

fn tokens(f: &mut GgufFile) -> &mut Vec<Value> {
    match f
        .metadata
        .iter_mut()
        .find(|(k, _)| k == "tokenizer.ggml.tokens")
    {
        Some((_, Value::Array(items))) => items,
        _ => panic!("the model has no token list"),
    }
}

fn n_tokens(f: &GgufFile) -> u64 {
    f.get("tokenizer.ggml.tokens")
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

fn truncate_array(f: &mut GgufFile, key: &str) {
    if let Some((_, Value::Array(items))) = f.metadata.iter_mut().find(|(k, _)| k == key) {
        items.pop();
    }
}

/// Fatal only where the architecture's graph asserts full rotary embeddings.
const PARTIAL_ROTARY: &str = "rotary dimensions half the head";

/// What every model file here must refuse. The ones marked in comments aborted llama.cpp
/// (SIGABRT) or panicked lode before the check existed; the others failed later with a
/// message that did not say what was wrong.
const MUTANTS: &[Mutant] = &[
    Mutant {
        name: "negative rms epsilon",
        key: "layer_norm_rms_epsilon",
        edit: |f| set_rms_eps(f, -1.0),
    },
    Mutant {
        name: "NaN rms epsilon",
        key: "layer_norm_rms_epsilon",
        edit: |f| set_rms_eps(f, f32::NAN),
    },
    Mutant {
        name: "zero rms epsilon",
        key: "layer_norm_rms_epsilon",
        edit: |f| set_rms_eps(f, 0.0),
    },
    Mutant {
        name: "infinite rms epsilon",
        key: "layer_norm_rms_epsilon",
        edit: |f| set_rms_eps(f, f32::INFINITY),
    },
    Mutant {
        name: "no blocks",
        key: "block_count",
        edit: |f| set_arch_int(f, "block_count", 0),
    },
    Mutant {
        name: "2^31 blocks",
        key: "block_count",
        edit: |f| set_arch_int(f, "block_count", 1 << 31),
    },
    Mutant {
        name: "one block more than the file has",
        key: "block_count",
        edit: |f| {
            let n = f.arch_u64("block_count").unwrap_or(0);
            set_arch_int(f, "block_count", n + 1);
        },
    },
    Mutant {
        name: "zero context length",
        key: "context_length",
        edit: |f| set_arch_int(f, "context_length", 0),
    },
    Mutant {
        name: "absurd context length",
        key: "context_length",
        edit: |f| set_arch_int(f, "context_length", u64::from(u32::MAX)),
    },
    Mutant {
        name: "zero embedding length",
        key: "embedding_length",
        edit: |f| set_arch_int(f, "embedding_length", 0),
    },
    Mutant {
        name: "zero heads",
        key: "head_count",
        edit: |f| set_arch_int(f, "attention.head_count", 0),
    },
    Mutant {
        name: "zero kv heads",
        key: "head_count_kv",
        edit: |f| set_arch_int(f, "attention.head_count_kv", 0),
    },
    Mutant {
        name: "kv heads that do not divide the heads",
        key: "head_count_kv",
        edit: |f| {
            let heads = f.arch_u64("attention.head_count").unwrap_or(2);
            set_arch_int(f, "attention.head_count_kv", heads + 1);
        },
    },
    Mutant {
        name: "experts used without experts",
        key: "expert_used_count",
        edit: |f| set_arch_int(f, "expert_used_count", 2),
    },
    Mutant {
        name: "more MTP layers than blocks",
        key: "nextn_predict_layers",
        edit: |f| {
            let n = f.arch_u64("block_count").unwrap_or(0);
            set_arch_int(f, "nextn_predict_layers", n + 1);
        },
    },
    Mutant {
        name: "unknown rope scaling type",
        key: "rope.scaling.type",
        edit: |f| set_arch(f, "rope.scaling.type", Value::Str("sideways".into())),
    },
    Mutant {
        name: PARTIAL_ROTARY,
        key: "rope.dimension_count",
        edit: |f| {
            let width = f.arch_u64("embedding_length").unwrap_or(64);
            let heads = f.arch_u64("attention.head_count").unwrap_or(1).max(1);
            let head = f.arch_u64("attention.key_length").unwrap_or(width / heads);
            set_arch_int(f, "rope.dimension_count", head / 2);
        },
    },
    Mutant {
        name: "full attention on every 0th layer",
        key: "full_attention_interval",
        edit: |f| set_arch_int(f, "full_attention_interval", 0),
    },
    Mutant {
        name: "a duplicated vocabulary token",
        key: "tokenizer.ggml.tokens",
        edit: |f| {
            let t = tokens(f);
            t[1] = t[0].clone();
        },
    },
    Mutant {
        name: "a token more than the embedding has rows",
        key: "tokenizer.ggml.tokens",
        edit: |f| {
            tokens(f).push(Value::Str("<|lode-extra|>".into()));
            for key in ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
                if let Some((_, Value::Array(items))) =
                    f.metadata.iter_mut().find(|(k, _)| k == key)
                {
                    let last = items.last().cloned().unwrap_or(Value::I32(1));
                    items.push(last);
                }
            }
        },
    },
    Mutant {
        name: "a token type short",
        key: "tokenizer.ggml.token_type",
        edit: |f| truncate_array(f, "tokenizer.ggml.token_type"),
    },
    Mutant {
        name: "a score short",
        key: "tokenizer.ggml.scores",
        edit: |f| {
            if f.get("tokenizer.ggml.scores").is_none() {
                let n = n_tokens(f) as usize;
                set(
                    f,
                    "tokenizer.ggml.scores",
                    Value::Array(vec![Value::F32(0.0); n]),
                );
            }
            truncate_array(f, "tokenizer.ggml.scores");
        },
    },
    Mutant {
        name: "bos beyond the vocabulary",
        key: "tokenizer.ggml.bos_token_id",
        edit: |f| {
            let n = n_tokens(f);
            set(f, "tokenizer.ggml.bos_token_id", Value::U32(n as u32));
            set(f, "tokenizer.ggml.add_bos_token", Value::Bool(true));
        },
    },
    Mutant {
        name: "eos beyond the vocabulary",
        key: "tokenizer.ggml.eos_token_id",
        edit: |f| {
            let n = n_tokens(f);
            set(f, "tokenizer.ggml.eos_token_id", Value::U32(n as u32 + 7));
        },
    },
];

/// Writes `src` with `edit` applied to its header to `dst`; tensor data is copied from the
/// source by name, so an edit may drop or reorder tensors.
fn write_mutant(src: &Path, dst: &Path, edit: fn(&mut GgufFile)) {
    let original = gguf::read(src).unwrap();
    let mut mutant = original.clone();
    edit(&mut mutant);
    let specs: Vec<TensorSpec> = mutant
        .tensors
        .iter()
        .map(|t| TensorSpec::new(t.name.clone(), &t.dims, t.ty().unwrap()))
        .collect();
    let mut w = GgufWriter::create(dst, &mutant.metadata, &specs).unwrap();
    let mut data = BufReader::new(File::open(src).unwrap());
    for t in &mutant.tensors {
        let from = original.tensors.iter().find(|o| o.name == t.name).unwrap();
        data.seek(SeekFrom::Start(original.data_offset + from.offset))
            .unwrap();
        let mut bytes = vec![0u8; t.n_bytes().unwrap() as usize];
        data.read_exact(&mut bytes).unwrap();
        w.write_data(&bytes).unwrap();
    }
    w.finish().unwrap();
}

/// A tiny synthetic model of `arch` in `dir`.
fn synthetic(dir: &Path, arch: Arch) -> PathBuf {
    let path = dir.join(format!("{arch:?}.gguf").to_lowercase());
    let spec = SynthSpec {
        arch,
        shape: Shape::Tiny,
        weights: Weights::Random,
        seed: 3,
        quant: None,
        mtp: false,
        n_vocab: None,
        n_ctx: None,
    };
    synthesize(&spec, &path).unwrap();
    path
}

/// `lode gen` on `model`: (status, stderr), the status -1 for a signal.
fn generate(home: &Path, model: &Path) -> (i32, String) {
    let mut cmd = lode(home);
    cmd.args(["gen", "--seed", "1", "--max-tokens", "2", "--model"])
        .arg(model)
        .arg("hello");
    let (code, _, err) = output(&mut cmd);
    (code, err)
}

/// Runs every mutant of `model` and collects what went wrong, so one run shows them all.
fn refuses_every_mutant(model: &Path, skip: &[&str]) {
    let _llama = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let (code, err) = generate(home.path(), model);
    assert_eq!(code, 0, "the unmutated model must work: {err}");
    let mut failures = Vec::new();
    for m in MUTANTS.iter().filter(|m| !skip.contains(&m.name)) {
        let path = home.path().join("mutant.gguf");
        write_mutant(model, &path, m.edit);
        let (code, err) = generate(home.path(), &path);
        let one_line = err.trim().lines().count() == 1;
        let clean = code == 1 && one_line && err.contains("unusable") && err.contains(m.key);
        if !clean {
            let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            failures.push(format!("{}: exit {code}: {tail}", m.name));
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of the mutants of {} were not refused cleanly:\n{}",
        failures.len(),
        model.display(),
        failures.join("\n")
    );
}

#[test]
fn mutants_of_a_real_llama_model_are_refused_with_the_key() {
    refuses_every_mutant(&real_model("SmolLM2-135M-Instruct.Q4_1.gguf"), &[]);
}

#[test]
fn mutants_of_a_real_gemma_model_are_refused_with_the_key() {
    // gemma3 rotates part of each head by design.
    refuses_every_mutant(&real_model("gemma-3-270m-Q4_K_M.gguf"), &[PARTIAL_ROTARY]);
}

#[test]
fn mutants_of_synthetic_models_are_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, skip) in [
        (Arch::Llama, &[][..]),
        (Arch::Qwen2, &[]),
        // qwen35 rotates part of each head by design.
        (Arch::Qwen35, &[PARTIAL_ROTARY]),
    ] {
        refuses_every_mutant(&synthetic(dir.path(), arch), skip);
    }
}

#[test]
fn a_commit_through_the_hook_with_a_broken_model_goes_through_not_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.gguf");
    write_mutant(&synthetic(dir.path(), Arch::Qwen2), &model, |f| {
        set_rms_eps(f, -1.0)
    });
    let repo = Repo::new();
    repo.install_hook();
    repo.stage_change();
    let _llama = llama_lock();
    let (code, _, err) = output(
        repo.commit(&["-m", "broken model"])
            .env("LODE_MODEL", &model),
    );
    assert_eq!(code, 0, "the commit must go through: {err}");
    assert!(err.contains("not reviewed"), "{err}");
    assert!(err.contains("layer_norm_rms_epsilon"), "{err}");
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "2");
}

/// The review child of the hook, found by its marker and the test's own config dir.
fn review_child(home: &std::path::Path) -> Option<i32> {
    let config = format!("LODE_CONFIG_DIR={}", home.join("config").display());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            let has = |v: &str| vars.contains(&v.as_bytes());
            (has("LODE_REVIEW_CHILD=1") && has(&config)).then_some(pid)
        })
}

#[test]
fn a_reviewer_that_aborts_does_not_take_the_commit_with_it() {
    let repo = Repo::new();
    repo.install_hook();
    repo.stage_change();
    // A reviewer that takes its time, so it can be killed the way a GGML_ASSERT kills it.
    let script = repo.home().join("reviewer.json");
    std::fs::write(
        &script,
        r#"{"pace_ms": 60000, "turns": [{"say": "{\"findings\": [] }"}]}"#,
    )
    .unwrap();
    let commit = || {
        let mut cmd = repo.commit(&["-q", "-m", "aborted review"]);
        cmd.env("LODE_BACKEND", format!("scripted:{}", script.display()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let start = std::time::Instant::now();
        let pid = loop {
            if let Some(pid) = review_child(repo.home()) {
                break pid;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "no review child"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        // SAFETY: signalling the test's own grandchild.
        unsafe { libc::kill(pid, libc::SIGABRT) };
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::create_dir_all(repo.home().join("config")).unwrap();
    std::fs::write(
        repo.home().join("config/config.toml"),
        "[review]\nstrict = true\n",
    )
    .unwrap();
    let (code, err) = commit();
    assert_ne!(code, 0, "--strict refuses an unreviewed commit: {err}");
    assert!(
        err.contains("not reviewed: the reviewer was killed by signal 6"),
        "{err}"
    );
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "1");

    std::fs::remove_file(repo.home().join("config/config.toml")).unwrap();
    let (code, err) = commit();
    assert_eq!(code, 0, "the commit goes through: {err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("not reviewed")).count(),
        1,
        "{err}"
    );
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "2");
}
