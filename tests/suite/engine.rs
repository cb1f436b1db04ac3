//! Engine behaviour on synthetic models: determinism, prefix reuse, grammars, cancellation.

use pretty_assertions::assert_eq;

use lode::engine::generate::{generate, Speculator, DEFAULT_SESSION};
use lode::engine::kv_session::KvSession;
use lode::engine::model;
use lode::engine::synth::{Arch, Weights};
use lode::engine::textstream::TextStream;
use lode::engine::{
    CancelFlag, Engine, EngineConfig, FinishReason, GenerateRequest, Grammar, MemoryKind, Prompt,
    SamplingParams,
};

use super::common::{complete, llama_lock, tiny, tiny_options};

fn engine_with(arch: Arch, weights: Weights, seed: u64) -> Engine {
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    engine
        .blocking_load(tiny_options(&tiny(arch, weights, seed)))
        .unwrap();
    engine
}

fn tokens_request(session: &str, tokens: Vec<i32>, max_tokens: u32) -> GenerateRequest {
    let mut request = GenerateRequest::text("", max_tokens);
    request.prompt = Prompt::Tokens(tokens);
    request.session = session.to_string();
    request
}

#[test]
fn greedy_output_is_identical_across_runs_and_engines() {
    let _guard = llama_lock();
    let first = complete(
        &engine_with(Arch::Qwen2, Weights::Random, 3),
        GenerateRequest::text("hello world", 24),
    );
    let second = complete(
        &engine_with(Arch::Qwen2, Weights::Random, 3),
        GenerateRequest::text("hello world", 24),
    );
    assert_eq!(first.tokens.len(), first.stats.decode_tokens as usize);
    assert!(!first.tokens.is_empty());
    assert_eq!(first.tokens, second.tokens);
    assert_eq!(first.text, second.text);
}

/// Turn 1 is a prompt; turn 2 extends it (as a conversation does) but not with what was
/// generated; turn 3 rewrites the tail after the same prefix. Each continuation must equal a
/// cold run token for token, and `cached_tokens` must be the shared prefix.
fn check_prefix_reuse(arch: Arch) {
    let engine = engine_with(arch, Weights::Random, 11);
    let prefix = engine
        .blocking_tokenize("<|im_start|>system\nYou are a careful coding agent. Read before you edit.<|im_end|>\n<|im_start|>user\nfix the test")
        .unwrap();
    let tail_a = engine.blocking_tokenize(" in src/lib.rs please").unwrap();
    let tail_b = engine.blocking_tokenize(" that fails on CI now").unwrap();
    assert_ne!(
        tail_a[0], tail_b[0],
        "tails must diverge at their first token"
    );

    let first = complete(&engine, tokens_request("s", prefix.clone(), 8));
    assert_eq!(first.stats.cached_tokens, 0);
    assert_ne!(
        first.tokens[0], tail_a[0],
        "generation must differ from the next turn"
    );
    for tail in [tail_a, tail_b] {
        let prompt = [prefix.clone(), tail].concat();
        let warm = complete(&engine, tokens_request("s", prompt.clone(), 16));
        engine.blocking_drop_session("cold").unwrap();
        let cold = complete(&engine, tokens_request("cold", prompt.clone(), 16));
        assert_eq!(warm.tokens, cold.tokens);
        assert_eq!(cold.stats.cached_tokens, 0);
        assert_eq!(warm.stats.prompt_tokens as usize, prompt.len());
        assert_eq!(warm.stats.cached_tokens as usize, prefix.len());
    }

    // The same prompt again: all but the last token (whose logits are recomputed) is reused.
    let prompt = [
        prefix.clone(),
        engine.blocking_tokenize(" that fails on CI now").unwrap(),
    ]
    .concat();
    let again = complete(&engine, tokens_request("s", prompt.clone(), 16));
    let cold = complete(&engine, tokens_request("cold", prompt.clone(), 16));
    assert_eq!(again.tokens, cold.tokens);
    assert_eq!(again.stats.cached_tokens as usize, prompt.len() - 1);
}

#[test]
fn cached_prefix_continuation_equals_cold_on_attention_model() {
    let _guard = llama_lock();
    check_prefix_reuse(Arch::Qwen2);
}

#[test]
fn cached_prefix_continuation_equals_cold_on_hybrid_model() {
    let _guard = llama_lock();
    check_prefix_reuse(Arch::Qwen35);
}

#[test]
fn hybrid_model_rewinds_to_a_checkpoint_and_never_answers_wrong() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Qwen35, Weights::Random, 5);
    let system = engine
        .blocking_tokenize("<|im_start|>system\nrules of the house<|im_end|>\n")
        .unwrap();
    let user1 = engine
        .blocking_tokenize("<|im_start|>user\nfirst question<|im_end|>\n")
        .unwrap();
    let user2 = engine
        .blocking_tokenize("<|im_start|>user\nsecond one<|im_end|>\n")
        .unwrap();
    let edited = engine
        .blocking_tokenize("<|im_start|>user\nfirst, edited<|im_end|>\n")
        .unwrap();
    // Turn 1 checkpoints at its end; turn 2 appends to it; turn 3 edits turn 1's user message,
    // so the recurrent state must come from a checkpoint at or before the divergence.
    let t1 = [system.clone(), user1.clone()].concat();
    complete(&engine, tokens_request("s", t1.clone(), 4));
    let t2 = [t1.clone(), user2.clone()].concat();
    let turn2 = complete(&engine, tokens_request("s", t2.clone(), 4));
    assert_eq!(turn2.stats.cached_tokens as usize, t1.len());
    let t3 = [system.clone(), edited].concat();
    let turn3 = complete(&engine, tokens_request("s", t3.clone(), 12));
    let cold = complete(&engine, tokens_request("cold", t3.clone(), 12));
    assert_eq!(turn3.tokens, cold.tokens);
    let divergence = t1.iter().zip(&t3).take_while(|(a, b)| a == b).count();
    assert!(turn3.stats.cached_tokens as usize <= divergence);
}

#[test]
fn hybrid_model_reports_its_memory_kind() {
    let _guard = llama_lock();
    let loaded = model::load(tiny_options(&tiny(Arch::Qwen35, Weights::Random, 5))).unwrap();
    assert_eq!(loaded.info.memory, MemoryKind::Hybrid);
    let loaded = model::load(tiny_options(&tiny(Arch::Qwen2, Weights::Random, 5))).unwrap();
    assert_eq!(loaded.info.memory, MemoryKind::Attention);
}

#[test]
fn json_schema_output_parses_and_validates_for_50_seeds() {
    let _guard = llama_lock();
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z ]{1,8}$"},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "tags": {"type": "array", "items": {"enum": ["bug", "fix", "test"]}, "maxItems": 3}
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": false
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let engine = engine_with(Arch::Qwen2, Weights::Random, 9);
    for seed in 0..50 {
        let mut request = GenerateRequest::text("a person as JSON: ", 400);
        request.session = DEFAULT_SESSION.to_string();
        request.sampling = SamplingParams {
            temperature: 1.0,
            seed,
            ..SamplingParams::default()
        };
        request.grammar = Some(Grammar::JsonSchema {
            schema: schema.clone(),
        });
        let done = complete(&engine, request);
        assert_eq!(
            done.finish,
            FinishReason::Eog,
            "seed {seed}: {:?}",
            done.text
        );
        let value: serde_json::Value = serde_json::from_str(&done.text)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}: {:?}", done.text));
        assert!(validator.is_valid(&value), "seed {seed}: {value}");
    }
}

#[test]
fn gbnf_grammar_constrains_every_token() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Llama, Weights::Random, 2);
    for seed in 0..10 {
        let mut request = GenerateRequest::text("answer: ", 64);
        request.sampling = SamplingParams {
            temperature: 1.5,
            seed,
            ..SamplingParams::default()
        };
        request.grammar = Some(Grammar::Gbnf {
            text: r#"root ::= ("yes" | "no") " because " [a-z]{1,12}"#.to_string(),
            root: "root".to_string(),
        });
        let done = complete(&engine, request);
        let (verdict, reason) = done.text.split_once(" because ").unwrap();
        assert!(verdict == "yes" || verdict == "no", "{:?}", done.text);
        assert!((1..=12).contains(&reason.len()) && reason.chars().all(|c| c.is_ascii_lowercase()));
    }
}

#[test]
fn lazy_grammar_applies_only_after_its_trigger() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Qwen2, Weights::Random, 4);
    let mut triggered = 0;
    for seed in 0..60 {
        let mut request = GenerateRequest::text("go", 120);
        request.sampling = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed,
            ..SamplingParams::default()
        };
        request.grammar = Some(Grammar::Lazy {
            text: r#"root ::= "{" [0-9]{1,3} "}""#.to_string(),
            root: "root".to_string(),
            triggers: vec![r"[\s\S]*?(\{)[\s\S]*".to_string()],
        });
        let done = complete(&engine, request);
        if let Some(at) = done.text.find('{') {
            triggered += 1;
            // From the trigger on, the output follows the grammar; it is complete unless the
            // token budget ran out first.
            let tail = &done.text[at + 1..];
            let digits = tail.trim_end_matches('}');
            assert!(
                digits.len() <= 3 && digits.chars().all(|c| c.is_ascii_digit()),
                "seed {seed}: {tail:?}"
            );
            if done.finish == FinishReason::Eog {
                assert!(
                    tail.ends_with('}') && !digits.is_empty(),
                    "seed {seed}: {tail:?}"
                );
            } else {
                assert_eq!(done.tokens.len(), 120, "seed {seed}");
            }
        }
    }
    assert!(
        triggered > 0,
        "no output reached the trigger; pick other seeds"
    );
}

#[test]
fn bad_grammar_is_an_error_not_an_abort() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Qwen2, Weights::Random, 1);
    let mut request = GenerateRequest::text("x", 4);
    request.grammar = Some(Grammar::Gbnf {
        text: "root ::= (unclosed".to_string(),
        root: "root".to_string(),
    });
    let err = engine
        .generate(request)
        .unwrap()
        .blocking_complete(|_| {})
        .unwrap_err();
    assert!(err.to_string().starts_with("invalid grammar"), "{err}");
    // The engine is still alive afterwards.
    assert!(!complete(&engine, GenerateRequest::text("x", 2))
        .tokens
        .is_empty());
}

#[test]
fn stop_strings_end_generation_and_are_not_returned() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Qwen2, Weights::Perm, 1);
    let full = complete(&engine, GenerateRequest::text("abc", 40));
    let cut = full.text.char_indices().nth(10).map(|(i, _)| i).unwrap();
    let stop = full.text[cut..].chars().take(3).collect::<String>();
    let mut request = GenerateRequest::text("abc", 40);
    request.stop = vec![stop.clone()];
    let stopped = complete(&engine, request);
    assert_eq!(stopped.finish, FinishReason::StopString);
    assert_eq!(stopped.text, full.text[..full.text.find(&stop).unwrap()]);
}

#[test]
fn cancellation_stops_within_one_token() {
    let _guard = llama_lock();
    let loaded = model::load(tiny_options(&tiny(Arch::Qwen2, Weights::Perm, 1))).unwrap();
    let request = GenerateRequest::text("start", 200);
    let uncancelled = {
        let mut session = KvSession::new(&loaded).unwrap();
        generate(
            &loaded,
            &mut session,
            &request,
            None,
            Speculator::Off { reason: None },
            &CancelFlag::new(),
            &mut |_| {},
        )
        .unwrap()
    };
    assert_eq!(uncancelled.tokens.len(), 200);
    // The token whose text first reaches the caller: the cancel lands while handling it.
    let vocab = loaded.model.vocab();
    let mut stream = TextStream::new(&[]);
    let first_visible = uncancelled
        .tokens
        .iter()
        .position(|&t| {
            let piece = vocab.token_to_piece(llama_cpp_2::token::LlamaToken::new(t), false, None);
            !stream.push(&piece).delta.is_empty()
        })
        .unwrap();
    let cancel = CancelFlag::new();
    let mut session = KvSession::new(&loaded).unwrap();
    let flag = cancel.clone();
    let cancelled = generate(
        &loaded,
        &mut session,
        &request,
        None,
        Speculator::Off { reason: None },
        &cancel,
        &mut |_| flag.cancel(),
    )
    .unwrap();
    assert_eq!(cancelled.finish, FinishReason::Cancelled);
    assert_eq!(
        cancelled.tokens,
        uncancelled.tokens[..=first_visible].to_vec()
    );

    // Through the engine thread: a cancel from another thread stops it long before the end.
    let engine = engine_with(Arch::Qwen2, Weights::Perm, 1);
    let generation = engine
        .generate(GenerateRequest::text("start", 100_000))
        .unwrap();
    generation.cancel();
    let done = generation.blocking_complete(|_| {}).unwrap();
    // The context (1024) bounds the budget: finishing by cancel means it stopped early.
    assert_eq!(done.finish, FinishReason::Cancelled);
}

#[test]
fn out_of_vocabulary_token_is_an_error_not_an_abort() {
    let _guard = llama_lock();
    let engine = engine_with(Arch::Qwen2, Weights::Random, 1);
    let err = engine
        .generate(tokens_request("s", vec![1, 2, 1_000_000], 2))
        .unwrap()
        .blocking_complete(|_| {})
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the model's vocabulary"),
        "{err}"
    );
}
