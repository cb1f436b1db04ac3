//! Context assembly on the local backend: over five turns of a growing conversation, each
//! rendered prompt starts byte for byte with the previous one, and the engine's
//! `cached_tokens` covers the whole previous prompt.

use std::sync::Arc;

use lode::agent::context;
use lode::agent::PermissionMode;
use lode::backend::local::LocalBackend;
use lode::backend::{ChatRequest, Message, ModelBackend, ToolCall};
use lode::engine::synth::{Arch, Weights};
use lode::engine::template::{ChatTemplate, RenderOptions, SpecialTokens};
use lode::engine::{CancelFlag, Engine, EngineConfig};
use lode::tools::Workspace;

use super::common::{llama_lock, tiny, tiny_options};

#[test]
fn prefix_is_byte_stable_and_cached_across_five_turns() {
    let _guard = llama_lock();
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("AGENTS.md"),
        "Run the tests before you finish.\n",
    )
    .unwrap();
    std::fs::write(
        repo.path().join("lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 { a - b }\n",
    )
    .unwrap();
    let workspace = Workspace::new(repo.path()).unwrap();

    let engine = Engine::spawn(EngineConfig::default()).unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 21));
    options.context.n_ctx = Some(4096);
    let info = engine.blocking_load(options).unwrap();
    let template = ChatTemplate::new(
        info.chat_template.as_deref().unwrap(),
        SpecialTokens::default(),
    )
    .unwrap();
    let backend = Arc::new(LocalBackend::new(engine, info));
    // The synthetic template speaks Hermes/Qwen tool calls, so the lazy call grammar is on.
    assert_eq!(
        backend.call_format(),
        lode::backend::toolcall::CallFormat::Hermes
    );

    let tools = lode::tools::all();
    let offered =
        context::offered_tools(&tools, PermissionMode::AutoEdit, backend.context_length());
    let system = context::system_message(
        &workspace,
        repo.path(),
        None,
        Some("cargo test"),
        backend.context_length(),
    );
    assert_eq!(
        system,
        context::system_message(
            &workspace,
            repo.path(),
            None,
            Some("cargo test"),
            backend.context_length()
        )
    );
    let mut messages = vec![
        Message::system(system),
        Message::user("fix the failing test"),
    ];

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut previous: Option<(String, u32)> = None;
    for turn in 0..5 {
        let request = ChatRequest {
            messages: messages.clone(),
            tools: offered.clone(),
            temperature: 0.0,
            seed: None,
            max_tokens: 12,
            stable_prefix_messages: 1,
            answer_schema: None,
            answer_now: false,
            task_turn: 0,
        };
        let rendered = template
            .render_json(
                &backend.template_messages(&messages, &offered),
                &RenderOptions {
                    add_generation_prompt: true,
                    tools: lode::backend::local::tool_schemas(&offered),
                    ..RenderOptions::default()
                },
            )
            .unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let done = runtime
            .block_on(backend.complete(request, tx, CancelFlag::new()))
            .unwrap();
        assert!(
            rendered.contains("<tools>\n{\"type\": \"function\""),
            "{rendered}"
        );
        if turn > 0 {
            assert!(rendered.contains("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"lib.rs\"}}\n</tool_call>"), "{rendered}");
            assert!(
                rendered.contains("<tool_response>\n   1│pub fn add"),
                "{rendered}"
            );
        }
        if let Some((text, tokens)) = &previous {
            assert!(
                rendered.starts_with(text.as_str()),
                "turn {turn}: the prompt prefix changed"
            );
            assert!(
                done.stats.cached_tokens >= *tokens,
                "turn {turn}: cached {} of the previous prompt's {tokens} tokens",
                done.stats.cached_tokens
            );
        }
        previous = Some((rendered, done.stats.prompt_tokens));
        // Append-only history: the model's answer and a tool result, as the loop does.
        let call = ToolCall {
            id: format!("call_{turn}"),
            name: "read_file".into(),
            arguments: r#"{"path":"lib.rs"}"#.into(),
        };
        let mut answer = Message::assistant(done.text.clone());
        answer.tool_calls = vec![call.clone()];
        messages.push(answer);
        messages.push(Message::tool(
            &call,
            format!("   1│pub fn add(a: i32, b: i32) -> i32 {{ a - b }} // turn {turn}"),
        ));
    }
}
