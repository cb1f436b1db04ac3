//! Answers held to a JSON schema on llama.cpp itself: under the local backend's grammar a
//! turn is either well-formed tool calls or an answer that validates against the schema.
//!
//! As in `toolcall_grammar`, a random-weight model sampled at temperature is the adversary:
//! whatever it writes must be one or the other. It closes a free string only when it happens
//! to draw a quote, so some turns run out of tokens first; those must still be heading for a
//! call or the answer, and enough turns must finish for the test to mean something.

use serde_json::json;
use tokio::sync::mpsc::unbounded_channel;

use lode::backend::local::LocalBackend;
use lode::backend::toolcall::{answer_grammar, parse, CallFormat};
use lode::backend::{BackendError, ChatRequest, Completion, Message, ModelBackend, StopReason};
use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    json_schema_gbnf, CancelFlag, Engine, EngineConfig, EngineError, FinishReason, GenerateRequest,
    SamplingParams,
};
use lode::tools::ToolSpec;

use super::common::{llama_lock, tiny, tiny_options};

const N_CTX: u32 = 4096;
const MAX_TOKENS: u32 = 400;

fn findings_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"findings": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "enum": ["src/a.rs", "b c.py"]},
            "line": {"type": "integer", "minimum": 0},
            "severity": {"type": "string", "enum": ["error", "warning", "note"]},
            "title": {"type": "string"},
            "detail": {"type": "string"}
        },
        "required": ["path", "line", "severity", "title", "detail"],
        "additionalProperties": false
    }}}, "required": ["findings"], "additionalProperties": false})
}

/// The reviewer's read-only tools.
fn tools() -> Vec<ToolSpec> {
    lode::tools::all()
        .iter()
        .map(|tool| tool.spec())
        .filter(|spec| ["read_file", "search", "outline"].contains(&spec.name))
        .collect()
}

fn backend() -> LocalBackend {
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 7));
    options.context.n_ctx = Some(N_CTX);
    let info = engine.blocking_load(options).unwrap();
    let backend = LocalBackend::new(engine, info);
    assert_eq!(backend.call_format(), CallFormat::Hermes);
    backend
}

fn request(tools: &[ToolSpec], schema: serde_json::Value, seed: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("Review the change and report findings."),
            Message::user("review the diff"),
        ],
        tools: tools.to_vec(),
        temperature: 1.0,
        seed: Some(seed),
        max_tokens: MAX_TOKENS,
        stable_prefix_messages: 0,
        answer_schema: Some(schema),
        answer_now: false,
        task_turn: 0,
    }
}

fn complete(backend: &LocalBackend, request: ChatRequest) -> Result<Completion, BackendError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (events, _rx) = unbounded_channel();
    runtime.block_on(backend.complete(request, events, CancelFlag::default()))
}

/// How a batch of turns ended.
#[derive(Debug, Default)]
struct Tally {
    /// Turns that ended in tool calls.
    calls: usize,
    /// Turns that ended in an answer.
    answers: usize,
    /// Findings in those answers, all told.
    findings: usize,
    /// Turns the token budget ended.
    cut_off: usize,
}

/// Runs `seeds` turns under `schema` and checks each: a finished turn is calls or a valid
/// answer; one the budget cut off is still on its way to one of them.
fn run_turns(schema: &serde_json::Value, seeds: std::ops::Range<u32>, answer_now: bool) -> Tally {
    let backend = backend();
    let tools = tools();
    let validator = jsonschema::validator_for(schema).unwrap();
    let mut tally = Tally::default();
    for seed in seeds {
        let mut request = request(&tools, schema.clone(), seed);
        request.answer_now = answer_now;
        let done = complete(&backend, request).unwrap();
        if done.stop == StopReason::Length {
            tally.cut_off += 1;
            // A cut-off call may read as prose besides: a random model writes `</tool_call>`
            // inside argument strings now and then.
            assert!(
                done.text.starts_with('{')
                    || !done.tool_calls.is_empty()
                    || !done.malformed.is_empty(),
                "seed {seed}: {done:?}"
            );
            continue;
        }
        assert_eq!(done.stop, StopReason::Stop, "seed {seed}");
        assert!(done.malformed.is_empty(), "seed {seed}: {done:?}");
        if done.tool_calls.is_empty() {
            let answer: serde_json::Value = serde_json::from_str(&done.text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}: {:?}", done.text));
            assert!(validator.is_valid(&answer), "seed {seed}: {answer}");
            tally.answers += 1;
            tally.findings += answer["findings"].as_array().map_or(0, Vec::len);
        } else {
            assert_eq!(done.text, "", "seed {seed}: {done:?}");
            for call in &done.tool_calls {
                assert!(tools.iter().any(|t| t.name == call.name), "seed {seed}");
                let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
                assert!(arguments.is_object(), "seed {seed}: {call:?}");
            }
            tally.calls += 1;
        }
    }
    tally
}

#[test]
fn local_turns_are_tool_calls_or_an_answer_that_matches_the_schema() {
    let _guard = llama_lock();
    let tally = run_turns(&findings_schema(), 20..40, false);
    assert!(
        tally.answers >= 3 && tally.calls >= 1,
        "{tally:?}; pick other seeds"
    );
}

/// Free strings rarely end in a random model, so every answer above is an empty list; with
/// short strings and at least one finding required, the findings themselves are tested.
///
/// The strings are bounded by a pattern of ASCII letters rather than by `maxLength`: llama.cpp's
/// grammar decodes UTF-8 without checking every byte (a lead byte 0xF8–0xFF opens a four-byte
/// "character"; continuation bytes inside one token go unchecked), and the engine shows such
/// bytes as several replacement characters, so a random byte-level model can overrun a
/// `maxLength` as Rust counts it.
#[test]
fn local_answers_hold_findings_to_their_enums_and_bounds() {
    let _guard = llama_lock();
    let mut schema = findings_schema();
    schema["properties"]["findings"]["minItems"] = json!(1);
    let item = &mut schema["properties"]["findings"]["items"]["properties"];
    item["title"]["pattern"] = json!("^[a-z ]{1,8}$");
    item["detail"]["pattern"] = json!("^[a-z ]{1,8}$");
    let tally = run_turns(&schema, 20..40, false);
    assert!(tally.findings >= 3, "{tally:?}; pick other seeds");
}

/// The last turn of a budget must answer: the tools stay in the prompt (its cached prefix
/// does not change), but the grammar offers only the answer.
#[test]
fn a_turn_that_must_answer_never_calls_a_tool() {
    let _guard = llama_lock();
    let tally = run_turns(&findings_schema(), 20..40, true);
    assert_eq!(tally.calls, 0, "{tally:?}");
    assert!(tally.answers >= 3, "{tally:?}; pick other seeds");
}

#[test]
fn a_schema_the_converter_rejects_is_an_error_not_an_abort() {
    let _guard = llama_lock();
    let backend = backend();
    let schema = json!({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}});
    let err = complete(&backend, request(&tools(), schema, 0)).unwrap_err();
    assert!(
        matches!(err, BackendError::Engine(EngineError::Grammar(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("JSON schema"), "{err}");
}

/// Every format's grammar is accepted by llama.cpp, and what it lets through reads back as
/// calls or as the answer.
#[test]
fn answer_grammars_of_every_format_are_accepted_by_llama_cpp() {
    let _guard = llama_lock();
    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 7));
    options.context.n_ctx = Some(N_CTX);
    engine.blocking_load(options).unwrap();
    let tools = tools();
    let schema = findings_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let answer = json_schema_gbnf(&schema).unwrap();
    for format in [
        CallFormat::Hermes,
        CallFormat::Mistral,
        CallFormat::Llama3,
        CallFormat::Generic,
    ] {
        let (mut calls, mut answers) = (0, 0);
        for seed in 0..4 {
            let mut request = GenerateRequest::text("<|im_start|>assistant\n", MAX_TOKENS);
            request.sampling = SamplingParams {
                temperature: 1.0,
                seed,
                ..SamplingParams::default()
            };
            request.grammar = Some(answer_grammar(format, &tools, &answer));
            let done = engine
                .generate(request)
                .unwrap()
                .blocking_complete(|_| {})
                .unwrap();
            assert!(!done.tokens.is_empty(), "{format:?}");
            if done.finish != FinishReason::Eog {
                continue;
            }
            let parsed = parse(format, &done.text);
            assert!(
                parsed.errors.is_empty(),
                "{format:?} seed {seed}: {parsed:?}"
            );
            if !parsed.calls.is_empty() {
                calls += 1;
            } else {
                answers += 1;
                let value: serde_json::Value = serde_json::from_str(&done.text)
                    .unwrap_or_else(|e| panic!("{format:?} seed {seed}: {e}: {:?}", done.text));
                assert!(
                    validator.is_valid(&value),
                    "{format:?} seed {seed}: {value}"
                );
            }
        }
        // Generic has no envelope: its turns are answers only.
        let want_calls = usize::from(format != CallFormat::Generic);
        assert!(
            answers >= 1 && calls >= want_calls,
            "{format:?}: {calls} call turns, {answers} answers; pick other seeds"
        );
    }
}
