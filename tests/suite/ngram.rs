//! N-gram (prompt-lookup) speculation on the real models and on synthetic ones: greedy output
//! is token for token plain decoding's — cold, after a cached prefix, after a prefix restored
//! from disk, under a grammar — a copy is drafted and accepted, and text that never repeats
//! turns the policy off.

use pretty_assertions::assert_eq;

use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    DraftLength, Engine, EngineConfig, FinishReason, GenerateRequest, Grammar, OnLoop, Persist,
    Prompt, Speculation,
};

use super::common::{complete, llama_lock, tiny, tiny_options};
use super::real_models::{greedy, load, GEMMA, SMOLLM2};

/// Code the prompt shows once and then starts again: what follows is a copy.
const SOURCE: &str = "pub fn clamp(value: i64, low: i64, high: i64) -> i64 {\n    if value < low {\n        low\n    } else if value > high {\n        high\n    } else {\n        value\n    }\n}\n\npub fn lerp(a: f64, b: f64, t: f64) -> f64 {\n    a + (b - a) * t\n}\n";

fn copy_prompt() -> String {
    format!(
        "// math.rs\n{SOURCE}\n// math.rs, unchanged:\n{}",
        &SOURCE[..24]
    )
}

fn ngram(mut request: GenerateRequest, length: DraftLength) -> GenerateRequest {
    request.speculation = Speculation::Ngram { length };
    request
}

const ADAPTIVE: DraftLength = DraftLength::Adaptive { max: 16 };
const FIXED: DraftLength = DraftLength::Fixed { n: 16 };

#[test]
fn ngram_speculation_is_plain_decoding_on_the_real_models() {
    let _guard = llama_lock();
    for file in [SMOLLM2, GEMMA] {
        let prompt = copy_prompt();
        let (engine, _) = load(file, 512, None);
        let plain = complete(&engine, greedy(&prompt, "plain", 64));
        for (i, length) in [FIXED, ADAPTIVE].into_iter().enumerate() {
            let spec = complete(
                &engine,
                ngram(greedy(&prompt, &format!("s{i}"), 64), length),
            );
            assert_eq!(
                spec.tokens, plain.tokens,
                "{file} {length:?}: ngram != plain"
            );
            // A fixed length always drafts the copy; the adaptive policy drafts what this
            // machine's timings say pays, which varies from run to run.
            let least = if length == FIXED { 8 } else { 0 };
            assert!(
                spec.stats.draft_accepted > least,
                "{file} {length:?}: the copy was not drafted: {:?}",
                spec.stats
            );
            assert!(
                spec.stats.spec_mode.starts_with("ngram"),
                "{:?}",
                spec.stats
            );
        }
        // The same session again: the prompt comes from the KV cache, the index stays.
        let again = complete(&engine, ngram(greedy(&prompt, "s1", 64), ADAPTIVE));
        assert!(again.stats.cached_tokens > 0, "{file}");
        assert_eq!(again.tokens, plain.tokens, "{file}: cached ngram != plain");
    }
}

#[test]
fn auto_speculation_drafts_by_ngram_for_a_model_with_neither_mtp_nor_a_draft() {
    let _guard = llama_lock();
    let (_engine, info) = load(SMOLLM2, 256, None);
    let plan = lode::config::SpeculationSettings::default().plan_for(&info.path);
    assert_eq!(
        plan.speculation(&info),
        Speculation::Ngram {
            length: DraftLength::Adaptive { max: 32 }
        }
    );
}

#[test]
fn ngram_after_a_disk_restored_prefix_is_plain_decoding() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    for file in [SMOLLM2, GEMMA] {
        let mut request = greedy(&copy_prompt(), "a", 48);
        request.disk_cache = true;
        request.persist = Persist::Prompt;
        let (engine, _) = load(file, 512, Some(cache.path()));
        let cold = complete(&engine, request.clone());
        drop(engine);
        let (engine, _) = load(file, 512, Some(cache.path()));
        let restored = complete(&engine, ngram(request, ADAPTIVE));
        assert!(
            restored.stats.disk_cached_tokens > 0,
            "{file}: {:?}",
            restored.stats
        );
        assert_eq!(
            restored.tokens, cold.tokens,
            "{file}: disk + ngram != cold plain"
        );
        assert!(
            restored.stats.draft_accepted > 0,
            "{file}: {:?}",
            restored.stats
        );
    }
}

#[test]
fn ngram_under_a_grammar_copies_valid_json_as_plain_decoding_does() {
    let _guard = llama_lock();
    let schema = serde_json::json!({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 40},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4}},
        "required": ["name", "tags"], "additionalProperties": false});
    let record = r#"{"name": "lode speculative decoding", "tags": ["engine", "ngram", "cpu"]}"#;
    let prompt = format!("Record: {record}\nThe same record again: ");
    for file in [SMOLLM2, GEMMA] {
        let (engine, _) = load(file, 512, None);
        let mut plain = greedy(&prompt, "plain", 96);
        plain.grammar = Some(Grammar::JsonSchema {
            schema: schema.clone(),
        });
        let spec = ngram(plain.clone(), ADAPTIVE);
        let spec_request = GenerateRequest {
            session: "spec".into(),
            ..spec
        };
        let (plain, spec) = (complete(&engine, plain), complete(&engine, spec_request));
        assert_eq!(
            spec.tokens, plain.tokens,
            "{file}: ngram != plain under a grammar"
        );
        let value: serde_json::Value = serde_json::from_str(&spec.text)
            .unwrap_or_else(|e| panic!("{file}: {e}: {:?}", spec.text));
        assert!(
            value["name"].is_string() && value["tags"].is_array(),
            "{value}"
        );
    }
}

/// Random weights do not continue a copy: the index proposes little (only where the model's
/// own output repeats), and greedy output is still plain decoding's. That the policy turns
/// itself off when proposals keep failing is `spec_policy`'s unit test (timings on a tiny
/// model are noise, so this one cannot judge it).
#[test]
fn random_text_is_rarely_drafted_and_still_plain_decoding() {
    let _guard = llama_lock();
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    engine
        .blocking_load(tiny_options(&tiny(Arch::Llama, Weights::Random, 7)))
        .unwrap();
    // The prompt repeats itself, so the index has something to look in.
    let prompt: Vec<i32> = (0..40).map(|i| 5 + (i % 10)).collect();
    let request = |session: &str| {
        let mut request = GenerateRequest::text("", 160);
        request.prompt = Prompt::Tokens(prompt.clone());
        request.session = session.to_string();
        request.disk_cache = false;
        request
    };
    let plain = complete(&engine, request("plain"));
    let spec = complete(&engine, ngram(request("spec"), ADAPTIVE));
    assert_eq!(spec.tokens, plain.tokens);
    assert!(
        spec.stats.spec_mode.starts_with("ngram"),
        "{:?}",
        spec.stats
    );
    assert!(spec.stats.draft_proposed < 40, "{:?}", spec.stats);
}

/// A held answer caught in a loop is closed the grammar's shortest way, under speculation
/// exactly as plainly: a loop is what n-gram lookup drafts best, so the looping token
/// arrives inside a verified round.
#[test]
fn a_looping_held_answer_closes_the_same_under_ngram_speculation() {
    let _guard = llama_lock();
    let (engine, _) = load(SMOLLM2, 1024, None);
    let schema = serde_json::json!({"type": "object", "properties": {
        "note": {"type": "string", "maxLength": 1000}},
        "required": ["note"], "additionalProperties": false});
    let mut closed = 0;
    for word in ["ha", "test", "ok"] {
        let record = format!("{{\"note\": \"{}\"}}", format!("{word} ").repeat(120));
        let prompt = format!("Record: {record}\nThe same record: ");
        let mut plain = GenerateRequest::text(prompt, 400);
        plain.disk_cache = false;
        plain.session = "plain".into();
        plain.grammar = Some(Grammar::JsonSchema {
            schema: schema.clone(),
        });
        plain.on_loop = OnLoop::Close;
        let spec = GenerateRequest {
            session: "spec".into(),
            ..ngram(plain.clone(), ADAPTIVE)
        };
        let stopped = GenerateRequest {
            on_loop: OnLoop::Stop,
            session: "stopped".into(),
            ..plain.clone()
        };
        let looped = complete(&engine, stopped).finish == FinishReason::Repetition;
        let (plain, spec) = (complete(&engine, plain), complete(&engine, spec));
        assert_eq!(spec.tokens, plain.tokens, "{word}");
        assert_eq!(spec.finish, plain.finish, "{word}");
        if looped {
            let value: serde_json::Value = serde_json::from_str(&spec.text)
                .unwrap_or_else(|e| panic!("{word}: {e}: {:?}", spec.text));
            assert!(value["note"].is_string(), "{value}");
            closed += 1;
        }
    }
    assert!(closed > 0, "no answer looped, so nothing was closed");
}
