//! With no model configured, `lode run` uses the best model it finds and says why; `lode
//! models use` makes a choice permanent. Real binary, real synthetic GGUF files.

use std::path::{Path, PathBuf};
use std::process::Command;

use pretty_assertions::assert_eq;

use lode::engine::synth::{synthesize, Arch, Shape, SynthSpec, Weights};

use super::common::{llama_lock, lode, output};

/// A tiny model declaring `ctx` tokens of context, named `name` in `dir`.
fn model(dir: &Path, name: &str, ctx: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    synthesize(
        &SynthSpec {
            arch: Arch::Qwen2,
            shape: Shape::Tiny,
            weights: Weights::Random,
            seed: 5,
            quant: None,
            mtp: false,
            n_vocab: None,
            n_ctx: Some(ctx),
        },
        &path,
    )
    .unwrap();
    path
}

/// `lode` that sees only `home`'s model dir: no Ollama, LM Studio or HF cache of this machine.
fn isolated(home: &Path) -> Command {
    let mut cmd = lode(home);
    cmd.env("HOME", home)
        .env("LODE_MODEL_DIR", home.join("models"))
        .env("OLLAMA_MODELS", home.join("no-ollama"))
        .env("HF_HUB_CACHE", home.join("no-hf"))
        .env_remove("LODE_BACKEND");
    cmd
}

#[test]
fn lode_run_without_a_model_uses_the_instruct_coder_found_and_says_how_to_keep_it() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    model(&models, "tiny-base.gguf", 16384);
    model(&models, "tiny-chat-short.gguf", 4096);
    let chosen = model(&models, "tiny-coder-instruct.gguf", 16384);
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    let (code, _, stderr) = output(
        isolated(home.path())
            .env("LODE_CTX_SIZE", "2048")
            .args(["run", "--max-turns", "1", "--cwd"])
            .arg(&work)
            .arg("say hello"),
    );
    assert!(
        code == 0 || code == 1,
        "the run should have had a model: {code}\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().take(2).collect();
    let picked = "lode: no model configured; using tiny-coder-instruct.gguf: an instruct-tuned coding model, ";
    assert!(
        lines[0].starts_with(picked)
            && lines[0].contains(" fits in ")
            && lines[0].ends_with(" available, 16K context"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        format!("lode: to keep it: lode models use {}", chosen.display())
    );
}

#[test]
fn with_nothing_usable_lode_run_says_what_to_pull_and_exits_3() {
    let home = tempfile::tempdir().unwrap();
    model(&home.path().join("models"), "tiny-chat-short.gguf", 4096);
    let (code, _, stderr) = output(isolated(home.path()).args(["run", "say hello"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("none of the 1 GGUF files found here")
            && stderr.contains("`lode models pull hf:"),
        "{stderr}"
    );
}

#[test]
fn models_use_writes_the_large_model_and_keeps_the_rest_of_the_config() {
    let home = tempfile::tempdir().unwrap();
    let chosen = model(
        &home.path().join("models"),
        "tiny-coder-instruct.gguf",
        16384,
    );
    let config = home.path().join("config").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "# my settings\n[engine]\nthreads = 1\n").unwrap();

    let (code, stdout, stderr) =
        output(isolated(home.path()).args(["models", "use", "coder-instruct.gguf"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("lode now uses {}", chosen.display())),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.starts_with("# my settings\n[engine]\nthreads = 1\n"),
        "{written}"
    );
    let table: toml::Table = toml::from_str(&written).unwrap();
    assert_eq!(
        table["models"]["large"]["path"].as_str(),
        Some(chosen.to_str().unwrap())
    );

    let (code, _, stderr) =
        output(isolated(home.path()).args(["models", "use", "nothing-like-it"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is neither a file nor a model `lode models` lists"),
        "{stderr}"
    );
}
