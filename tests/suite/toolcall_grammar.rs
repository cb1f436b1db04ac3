//! The tool-call grammars on llama.cpp itself: their GBNF and trigger patterns are accepted,
//! and output sampled under them always reads back as well-formed calls.
//!
//! A random-weight model is the adversary here: at temperature 1.0 it writes anything the
//! grammar allows, so whatever it produces must parse. Argument values are left free by the
//! grammar, and a random model closes a string only when it happens to draw a quote, so the
//! context is large enough for every output to finish.

use pretty_assertions::assert_eq;
use serde_json::json;

use lode::backend::toolcall::{call_grammar, envelope_gbnf, parse, CallFormat};
use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    Engine, EngineConfig, FinishReason, GenerateRequest, GenerationResult, Grammar, SamplingParams,
};
use lode::tools::{Permission, ToolSpec};

use super::common::{llama_lock, tiny, tiny_options};

const FORMATS: [CallFormat; 4] = [
    CallFormat::Hermes,
    CallFormat::Mistral,
    CallFormat::Llama3,
    CallFormat::Generic,
];
const N_CTX: u32 = 4096;

fn tools() -> Vec<ToolSpec> {
    let tool = |name, parameters| ToolSpec {
        name,
        description: "",
        short_description: "",
        parameters,
        permission: Permission::Read,
    };
    vec![
        tool(
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        ),
        tool(
            "edit_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "new": {"type": "string"}}}),
        ),
        tool("list_files", json!({"type": "object", "properties": {}})),
    ]
}

fn engine() -> Engine {
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 7));
    options.context.n_ctx = Some(N_CTX);
    engine.blocking_load(options).unwrap();
    engine
}

/// Plain temperature-1.0 sampling over every token the grammar allows.
fn generate(engine: &Engine, seed: u32, max_tokens: u32, grammar: Grammar) -> GenerationResult {
    let mut request = GenerateRequest::text(
        "<|im_start|>user\nlist the files<|im_end|>\n<|im_start|>assistant\n",
        max_tokens,
    );
    request.sampling = SamplingParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed,
        ..SamplingParams::default()
    };
    request.grammar = Some(grammar);
    engine
        .generate(request)
        .unwrap()
        .blocking_complete(|_| {})
        .unwrap()
}

/// Every call in `text` names one of `tools` and carries a JSON object; returns the calls and
/// the errors.
fn read_calls(format: CallFormat, text: &str, tools: &[ToolSpec]) -> (usize, Vec<String>) {
    let parsed = parse(format, text);
    for call in &parsed.calls {
        assert!(
            tools.iter().any(|t| t.name == call.name),
            "{format:?}: unknown tool {:?} in {text:?}",
            call.name
        );
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        assert!(arguments.is_object(), "{format:?}: {text:?}");
    }
    (parsed.calls.len(), parsed.errors)
}

#[test]
fn envelope_grammar_output_always_parses_into_one_call() {
    let _guard = llama_lock();
    let engine = engine();
    let tools = tools();
    for format in FORMATS {
        for seed in 0..20 {
            let grammar = Grammar::Gbnf {
                text: envelope_gbnf(format, &tools),
                root: "root".to_string(),
            };
            let done = generate(&engine, seed, N_CTX - 64, grammar);
            assert_eq!(
                done.finish,
                FinishReason::Eog,
                "{format:?} seed {seed}: {:?}",
                done.text
            );
            let (calls, errors) = read_calls(format, &done.text, &tools);
            assert_eq!(errors, Vec::<String>::new(), "{format:?} seed {seed}");
            assert_eq!(calls, 1, "{format:?} seed {seed}: {:?}", done.text);
            assert_eq!(
                parse(format, &done.text).content,
                "",
                "{format:?} seed {seed}"
            );
        }
    }
}

#[test]
fn lazy_call_grammars_are_accepted_by_llama_cpp() {
    let _guard = llama_lock();
    let engine = engine();
    let tools = tools();
    for format in [CallFormat::Hermes, CallFormat::Mistral, CallFormat::Llama3] {
        let grammar = call_grammar(format, &tools).unwrap();
        let done = generate(&engine, 1, 16, grammar);
        assert!(!done.tokens.is_empty(), "{format:?}");
    }
}

/// Prose stays free until the model writes `<tool_call>` (a single token in Qwen vocabularies,
/// and in the synthetic one); from there on the output is a well-formed call. A trigger late in
/// a long random output can leave the call cut off by the token budget: that must read as a
/// cut-off call, never as a wrong one.
#[test]
fn lazy_hermes_grammar_constrains_everything_after_the_tag() {
    let _guard = llama_lock();
    let engine = engine();
    let tools = tools();
    let mut finished = 0;
    for seed in 0..128 {
        let grammar = call_grammar(CallFormat::Hermes, &tools).unwrap();
        let done = generate(&engine, seed, N_CTX - 64, grammar);
        let Some(at) = done.text.find("<tool_call>") else {
            continue;
        };
        // Only the constrained part: random prose before it may hold `<think>` tags.
        let tail = &done.text[at..];
        let (calls, errors) = read_calls(CallFormat::Hermes, tail, &tools);
        if done.finish == FinishReason::Eog {
            finished += 1;
            assert_eq!(errors, Vec::<String>::new(), "seed {seed}");
            assert!(calls >= 1, "seed {seed}: {tail:?}");
        } else {
            assert_eq!(errors.len(), 1, "seed {seed}: {errors:?}");
            assert!(errors[0].contains("cut off"), "seed {seed}: {errors:?}");
        }
    }
    assert!(
        finished >= 6,
        "only {finished} outputs completed a call; pick other seeds"
    );
}
