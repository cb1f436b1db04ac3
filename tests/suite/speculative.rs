//! Draft-model speculation on synthetic models: the output is token for token what plain
//! decoding gives (greedy, seeded sampling, grammars, after a cached prefix), a draft equal to
//! the target has every proposal accepted, and pairs that cannot speculate say why.

use pretty_assertions::assert_eq;

use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    DraftLength, Engine, EngineConfig, EngineError, GenerateRequest, Grammar, Prompt,
    SamplingParams, Speculation,
};

use super::common::{complete, llama_lock, tiny, tiny_options};

fn engine(target: (Arch, u64), draft: Option<(Arch, u64)>) -> Result<Engine, EngineError> {
    let engine = Engine::spawn(EngineConfig::default())?;
    let mut options = tiny_options(&tiny(target.0, Weights::Random, target.1));
    options.draft = draft.map(|(arch, seed)| tiny(arch, Weights::Random, seed));
    engine.blocking_load(options)?;
    Ok(engine)
}

fn request(prompt: &str, sampling: SamplingParams, n_draft: Option<u32>) -> GenerateRequest {
    let mut request = GenerateRequest::text(prompt, 48);
    request.sampling = sampling;
    request.disk_cache = false;
    request.speculation = match n_draft {
        Some(n) => Speculation::Draft {
            length: DraftLength::Fixed { n },
        },
        None => Speculation::Off,
    };
    request
}

fn seeded(seed: u32) -> SamplingParams {
    SamplingParams {
        temperature: 0.9,
        seed,
        ..SamplingParams::default()
    }
}

#[test]
fn greedy_speculation_gives_the_plain_output_whatever_the_draft() {
    let _guard = llama_lock();
    let plain = complete(
        &engine((Arch::Qwen2, 1), None).unwrap(),
        request("hello world", SamplingParams::greedy(), None),
    );
    for draft_seed in [1, 2, 5] {
        let spec = engine((Arch::Qwen2, 1), Some((Arch::Qwen2, draft_seed))).unwrap();
        for n_draft in [1, 3, 8] {
            let done = complete(
                &spec,
                request("hello world", SamplingParams::greedy(), Some(n_draft)),
            );
            assert_eq!(
                done.tokens, plain.tokens,
                "draft seed {draft_seed}, k {n_draft}"
            );
            assert_eq!(done.text, plain.text);
            assert!(
                done.stats.spec_mode.starts_with("draft fixed"),
                "{}",
                done.stats.spec_mode
            );
            assert!(done.stats.draft_proposed > 0);
            if draft_seed == 1 {
                // The draft is the target: every proposal is what the target would say.
                assert_eq!(done.stats.draft_accepted, done.stats.draft_proposed);
            }
        }
    }
}

/// Sampled speculation is not bit-identical to plain sampling (a verify batch rounds its
/// logits differently), but it is reproducible: the same seed draws the same tokens.
#[test]
fn seeded_sampling_with_a_draft_is_reproducible() {
    let _guard = llama_lock();
    let spec = engine((Arch::Qwen2, 1), Some((Arch::Qwen2, 1))).unwrap();
    let again = engine((Arch::Qwen2, 1), Some((Arch::Qwen2, 1))).unwrap();
    for seed in 0..4 {
        let a = complete(&spec, request("once upon", seeded(seed), Some(4)));
        let b = complete(&again, request("once upon", seeded(seed), Some(4)));
        assert_eq!(a.tokens, b.tokens, "seed {seed}");
        assert!(a.stats.draft_proposed > 0);
    }
}

#[test]
fn grammar_constrained_speculation_stays_valid_and_equal() {
    let _guard = llama_lock();
    let plain = engine((Arch::Qwen2, 3), None).unwrap();
    let spec = engine((Arch::Qwen2, 3), Some((Arch::Qwen2, 4))).unwrap();
    let schema = serde_json::json!({"type": "object", "properties": {
        "ok": {"type": "boolean"}, "n": {"type": "integer"}}, "required": ["ok", "n"],
        "additionalProperties": false});
    let mut finished = 0;
    for n in 0..50 {
        let mut a = request(&format!("answer {n}:"), SamplingParams::greedy(), None);
        a.grammar = Some(Grammar::JsonSchema {
            schema: schema.clone(),
        });
        a.max_tokens = 64;
        let mut b = a.clone();
        b.speculation = Speculation::Draft {
            length: DraftLength::Fixed { n: 4 },
        };
        let (a, b) = (complete(&plain, a), complete(&spec, b));
        assert_eq!(a.tokens, b.tokens, "prompt {n}");
        if b.finish == lode::engine::FinishReason::Eog {
            let value: serde_json::Value = serde_json::from_str(&b.text)
                .unwrap_or_else(|e| panic!("prompt {n}: {e}: {:?}", b.text));
            assert!(value["ok"].is_boolean() && value["n"].is_i64(), "{value}");
            finished += 1;
        }
    }
    assert!(finished > 10, "only {finished} of 50 finished");
}

#[test]
fn a_cached_prefix_then_speculation_equals_a_cold_plain_run() {
    let _guard = llama_lock();
    let spec = engine((Arch::Qwen2, 1), Some((Arch::Qwen2, 2))).unwrap();
    let first = "the quick brown fox jumps over the lazy dog and then";
    let second = format!("{first} it runs far away into the night");
    complete(&spec, request(first, SamplingParams::greedy(), Some(4)));
    let warm = complete(&spec, request(&second, SamplingParams::greedy(), Some(4)));
    assert!(warm.stats.cached_tokens > 0, "{:?}", warm.stats);
    let cold = complete(
        &engine((Arch::Qwen2, 1), None).unwrap(),
        request(&second, SamplingParams::greedy(), None),
    );
    assert_eq!(warm.tokens, cold.tokens);
}

/// Qwen3.5's recurrent state keeps snapshots of the last few tokens, so a hybrid target can
/// drop rejected drafts and speculate like any other.
#[test]
fn a_hybrid_target_rolls_back_rejected_drafts() {
    let _guard = llama_lock();
    let plain = complete(
        &engine((Arch::Qwen35, 1), None).unwrap(),
        request("hello world", SamplingParams::greedy(), None),
    );
    for draft_seed in [1, 2] {
        let spec = engine((Arch::Qwen35, 1), Some((Arch::Qwen2, draft_seed))).unwrap();
        for n in [1, 4, 8] {
            let done = complete(
                &spec,
                request("hello world", SamplingParams::greedy(), Some(n)),
            );
            assert_eq!(done.tokens, plain.tokens, "draft seed {draft_seed}, k {n}");
            assert!(done.stats.draft_proposed > 0, "{:?}", done.stats.spec_mode);
        }
    }
}

#[test]
fn pairs_that_cannot_speculate_say_why() {
    let _guard = llama_lock();
    // Different vocabularies: refused at load, naming both models.
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 1));
    let other_vocab = tempfile::tempdir().unwrap();
    let draft = other_vocab.path().join("v.gguf");
    lode::engine::synth::synthesize(
        &lode::engine::synth::SynthSpec {
            arch: Arch::Qwen2,
            shape: lode::engine::synth::Shape::Tiny,
            weights: Weights::Random,
            seed: 1,
            quant: None,
            mtp: false,
            n_vocab: Some(600),
            n_ctx: None,
        },
        &draft,
    )
    .unwrap();
    options.draft = Some(draft);
    let err = engine.blocking_load(options).unwrap_err();
    assert!(
        err.to_string()
            .contains("its vocabulary has 600 tokens, the target's 530"),
        "{err}"
    );

    // A hybrid draft cannot drop a round of rejected guesses: plain decoding, with the reason.
    let hybrid_draft = self::engine((Arch::Qwen2, 1), Some((Arch::Qwen35, 1))).unwrap();
    let plain = self::engine((Arch::Qwen2, 1), None).unwrap();
    let done = complete(
        &hybrid_draft,
        request("hello", SamplingParams::greedy(), Some(4)),
    );
    assert!(
        done.stats.spec_mode.starts_with("off: the draft"),
        "{:?}",
        done.stats.spec_mode
    );
    assert_eq!(done.stats.draft_proposed, 0);
    assert_eq!(
        done.tokens,
        complete(&plain, request("hello", SamplingParams::greedy(), None)).tokens
    );

    // Asking for speculation without a draft model is a clear error.
    let Err(err) = plain
        .generate(request("hello", SamplingParams::greedy(), Some(4)))
        .unwrap()
        .blocking_complete(|_| {})
    else {
        panic!("speculation without a draft model must fail");
    };
    assert!(err.to_string().contains("--draft-model"), "{err}");
}

#[test]
fn tokens_prompts_speculate_too() {
    let _guard = llama_lock();
    let spec = engine((Arch::Qwen2, 1), Some((Arch::Qwen2, 1))).unwrap();
    let mut r = request("", SamplingParams::greedy(), Some(4));
    r.prompt = Prompt::Tokens(vec![10, 20, 30, 40]);
    r.stop_at_eog = false;
    r.max_tokens = 30;
    let done = complete(&spec, r);
    assert_eq!(done.tokens.len(), 30, "a fixed count is met exactly");
}
