//! Shared test helpers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use lode::engine::synth::{synthesize, Arch, Shape, SynthSpec, Weights};
use lode::engine::{ContextOptions, Engine, GenerateRequest, GenerationResult, LoadOptions};

static LLAMA: Mutex<()> = Mutex::new(());

/// Serialises tests that run llama.cpp: its OpenMP threads oversubscribe the cores when
/// several contexts compute at once, turning a 5 ms test into 600 ms.
pub fn llama_lock() -> MutexGuard<'static, ()> {
    LLAMA
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A tiny synthetic model, written once per test process.
pub fn tiny(arch: Arch, weights: Weights, seed: u64) -> PathBuf {
    tiny_with(arch, weights, seed, false)
}

/// A tiny qwen35 model with an MTP (NextN) block, written once per test process.
pub fn tiny_mtp(weights: Weights, seed: u64) -> PathBuf {
    tiny_with(Arch::Qwen35, weights, seed, true)
}

fn tiny_with(arch: Arch, weights: Weights, seed: u64, mtp: bool) -> PathBuf {
    static MADE: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let key = format!("{arch:?}-{weights:?}-{seed}-{mtp}").to_lowercase();
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let made = made.get_or_insert_with(HashMap::new);
    if let Some(path) = made.get(&key) {
        return path.clone();
    }
    let path = model_dir().join(format!("{key}.gguf"));
    synthesize(
        &SynthSpec {
            arch,
            shape: Shape::Tiny,
            weights,
            seed,
            quant: None,
            mtp,
            n_vocab: None,
            n_ctx: None,
        },
        &path,
    )
    .unwrap();
    made.insert(key, path.clone());
    path
}

/// Runs `request` to its end on `engine`, text discarded.
pub fn complete(engine: &Engine, request: GenerateRequest) -> GenerationResult {
    engine
        .generate(request)
        .unwrap()
        .blocking_complete(|_| {})
        .unwrap()
}

/// Load options for tiny models in tests: small context, one thread.
pub fn tiny_options(path: &Path) -> LoadOptions {
    LoadOptions {
        context: ContextOptions {
            n_ctx: Some(1024),
            threads: 1,
            threads_batch: 1,
            ..ContextOptions::default()
        },
        ..LoadOptions::new(path)
    }
}

/// The `lode` binary with its directories sandboxed under `home`.
pub fn lode(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lode"));
    cmd.env("LODE_CONFIG_DIR", home.join("config"))
        .env("LODE_CACHE_DIR", home.join("cache"))
        .env("LODE_DATA_DIR", home.join("data"))
        .env("LODE_THREADS", "1")
        .env_remove("LODE_MODEL")
        // The official clients' variables would point lode at a real server.
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .current_dir(home);
    cmd
}

/// Runs a command and returns (status code, stdout, stderr).
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct FakeEnv(HashMap<&'static str, String>);

impl lode::config::Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The configuration lode loads with its config, cache and data directories under `home`
/// and no other variable set.
pub fn config_in(home: &Path) -> lode::config::Config {
    let mut vars = HashMap::new();
    vars.insert("LODE_CONFIG_DIR", home.join("config").display().to_string());
    vars.insert("LODE_CACHE_DIR", home.join("cache").display().to_string());
    vars.insert("LODE_DATA_DIR", home.join("data").display().to_string());
    lode::config::Config::load(home, &FakeEnv(vars)).unwrap()
}

/// `lode run --json` in `repo` against the remote at `url` (off the async runtime), with
/// `extra` flags and `task`: the exit code, the events and stderr.
pub async fn run_json_remote(
    home: &Path,
    repo: &Path,
    url: String,
    extra: &[&str],
    task: &str,
) -> (i32, Vec<serde_json::Value>, String) {
    let (home, repo) = (home.to_path_buf(), repo.to_path_buf());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let task = task.to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        output(
            lode(&home)
                .env("LODE_REMOTE_URL", url)
                .args(["run", "--json", "--cwd"])
                .arg(&repo)
                .args(&extra)
                .arg(task),
        )
    })
    .await
    .unwrap();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (code, events, stderr)
}

/// The events of one type, in order.
pub fn of_type<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}
