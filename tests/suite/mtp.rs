//! MTP speculation on synthetic qwen35 models with a NextN block: the output is what plain
//! decoding gives (random heads: the reject path; bigram weights: the head agrees with the
//! trunk), after cached prefixes too, grammars hold, and the adaptive policy turns itself
//! off when drafts never hold.

use pretty_assertions::assert_eq;

use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    DiskCacheConfig, DraftLength, Engine, EngineConfig, FinishReason, GenerateRequest, Grammar,
    Persist, SamplingParams, Speculation,
};

use super::common::{complete, llama_lock, lode, output, tiny, tiny_mtp, tiny_options};

fn engine_on(path: &std::path::Path, config: EngineConfig) -> Engine {
    let engine = Engine::spawn(config).unwrap();
    engine.blocking_load(tiny_options(path)).unwrap();
    engine
}

fn request(prompt: &str, speculation: Speculation) -> GenerateRequest {
    let mut request = GenerateRequest::text(prompt, 64);
    request.disk_cache = false;
    request.stop_at_eog = false;
    request.speculation = speculation;
    request
}

fn mtp(n: u32) -> Speculation {
    Speculation::Mtp {
        length: DraftLength::Fixed { n },
    }
}

#[test]
fn mtp_greedy_output_is_the_plain_output() {
    let _guard = llama_lock();
    let engine = engine_on(&tiny_mtp(Weights::Random, 1), EngineConfig::default());
    let plain = complete(&engine, request("fn main() {", Speculation::Off));
    let adaptive = Speculation::Mtp {
        length: DraftLength::Adaptive { max: 4 },
    };
    for speculation in [mtp(1), mtp(3), mtp(8), adaptive] {
        let done = complete(&engine, request("fn main() {", speculation));
        assert_eq!(done.tokens, plain.tokens, "{speculation:?}");
        assert!(
            done.stats.spec_mode.starts_with("mtp "),
            "{}",
            done.stats.spec_mode
        );
        assert!(done.stats.draft_proposed > 0, "{speculation:?}");
    }
}

#[test]
fn a_bigram_mtp_head_agrees_with_the_trunk() {
    let _guard = llama_lock();
    let engine = engine_on(&tiny_mtp(Weights::Bigram, 1), EngineConfig::default());
    let plain = complete(&engine, request("let x = 1;", Speculation::Off));
    let done = complete(&engine, request("let x = 1;", mtp(3)));
    assert_eq!(done.tokens, plain.tokens);
    let (proposed, accepted) = (done.stats.draft_proposed, done.stats.draft_accepted);
    assert!(proposed >= 30, "{proposed} proposed");
    assert!(
        f64::from(accepted) >= 0.9 * f64::from(proposed),
        "{accepted} of {proposed} accepted"
    );
}

#[test]
fn cached_prefixes_then_mtp_equal_a_cold_plain_run() {
    let _guard = llama_lock();
    let path = tiny_mtp(Weights::Random, 2);
    let first = "the quick brown fox jumps over the lazy dog and then";
    let second = format!("{first} it runs far away into the night");
    let cold = complete(
        &engine_on(&path, EngineConfig::default()),
        request(&second, Speculation::Off),
    );

    // In memory: the session still holds the first prompt.
    let engine = engine_on(&path, EngineConfig::default());
    complete(&engine, request(first, mtp(3)));
    let warm = complete(&engine, request(&second, mtp(3)));
    assert!(warm.stats.cached_tokens > 0, "{:?}", warm.stats);
    assert_eq!(warm.tokens, cold.tokens);

    // From disk, in a fresh engine: the MTP context starts without the prefix.
    let dir = tempfile::tempdir().unwrap();
    let disk = || EngineConfig {
        disk_cache: Some(DiskCacheConfig {
            dir: dir.path().to_path_buf(),
            max_bytes: u64::MAX,
        }),
        max_sessions: None,
    };
    let mut save = request(first, mtp(3));
    save.disk_cache = true;
    save.persist = Persist::Prompt;
    complete(&engine_on(&path, disk()), save);
    let mut restored = request(&second, mtp(3));
    restored.disk_cache = true;
    let restored = complete(&engine_on(&path, disk()), restored);
    assert!(
        restored.stats.disk_cached_tokens > 0,
        "{:?}",
        restored.stats
    );
    assert_eq!(restored.tokens, cold.tokens);
}

#[test]
fn grammar_constrained_mtp_output_is_valid_for_50_seeds() {
    let _guard = llama_lock();
    let engine = engine_on(&tiny_mtp(Weights::Random, 3), EngineConfig::default());
    let schema = serde_json::json!({"type": "object", "properties": {
        "ok": {"type": "boolean"}, "n": {"type": "integer"}}, "required": ["ok", "n"],
        "additionalProperties": false});
    let mut finished = 0;
    for seed in 0..50 {
        let mut r = request("answer:", mtp(3));
        r.stop_at_eog = true;
        r.sampling = SamplingParams {
            temperature: 0.9,
            seed,
            ..SamplingParams::default()
        };
        r.grammar = Some(Grammar::JsonSchema {
            schema: schema.clone(),
        });
        let done = complete(&engine, r);
        assert!(done.stats.draft_proposed > 0, "seed {seed}");
        if done.finish == FinishReason::Eog {
            let value: serde_json::Value = serde_json::from_str(&done.text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}: {:?}", done.text));
            assert!(value["ok"].is_boolean() && value["n"].is_i64(), "{value}");
            finished += 1;
        } else {
            // Cut by the token limit: still a prefix of valid JSON.
            assert!(done.text.starts_with('{'), "seed {seed}: {:?}", done.text);
        }
    }
    assert!(finished > 10, "only {finished} of 50 finished");
}

#[test]
fn adaptive_speculation_turns_itself_off_when_drafts_never_hold() {
    let _guard = llama_lock();
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 1));
    options.draft = Some(tiny(Arch::Qwen2, Weights::Random, 5));
    engine.blocking_load(options).unwrap();
    let adaptive = Speculation::Draft {
        length: DraftLength::Adaptive { max: 4 },
    };
    let mut long = request("once upon a time", adaptive);
    long.max_tokens = 300;
    let done = complete(&engine, long);
    let mut plain = request("once upon a time", Speculation::Off);
    plain.max_tokens = 300;
    assert_eq!(done.tokens, complete(&engine, plain).tokens);
    assert!(
        done.stats.spec_mode.starts_with("draft off: "),
        "{}",
        done.stats.spec_mode
    );
    // Probes only: a handful of proposals over 300 tokens.
    assert!(done.stats.draft_proposed < 30, "{:?}", done.stats);
}

#[test]
fn mtp_on_a_model_without_mtp_layers_decodes_plainly_and_says_why() {
    let _guard = llama_lock();
    let engine = engine_on(
        &tiny(Arch::Qwen2, Weights::Random, 1),
        EngineConfig::default(),
    );
    let done = complete(&engine, request("hello", mtp(3)));
    assert_eq!(done.stats.draft_proposed, 0);
    assert!(
        done.stats.spec_mode.starts_with("off: ") && done.stats.spec_mode.contains("MTP"),
        "{}",
        done.stats.spec_mode
    );
}

/// The acceptance check as a user runs it: the same text with `--spec mtp` and `--spec off`.
#[test]
fn lode_gen_spec_mtp_prints_the_plain_text_with_drafts() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let model = home.path().join("m.gguf");
    let (code, _, err) = output(
        lode(home.path())
            .args(["synth", "--arch", "qwen35", "--mtp", "--shape", "tiny"])
            .arg(&model),
    );
    assert_eq!(code, 0, "{err}");
    let run = |spec: &str| -> serde_json::Value {
        let (code, out, err) = output(
            lode(home.path())
                .args(["gen", "--model"])
                .arg(&model)
                .args(["--spec", spec, "--seed", "1", "--json", "hi"]),
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let (with, without) = (run("mtp"), run("off"));
    assert_eq!(with["text"], without["text"]);
    assert!(with["draft_proposed"].as_u64().unwrap() > 0, "{with}");
    assert_eq!(without["draft_proposed"], 0);
}
