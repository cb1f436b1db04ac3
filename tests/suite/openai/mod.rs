//! The OpenAI-compatible backend against a real HTTP server on loopback: what lode sends,
//! how it reassembles streamed answers (`streaming`), and how each kind of failure is
//! reported (`failures`). The helpers here build configs, requests and canned chunks.

mod agent;
mod failures;
pub mod server;
mod streaming;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode::backend::openai::{OpenAiBackend, OpenAiConfig};
use lode::backend::{
    BackendError, ChatRequest, Completion, Message, ModelBackend, ModelEvent, StopReason, ToolCall,
};
use lode::cancel::CancelFlag;
use lode::stats::TurnStats;
use lode::tools::{Permission, ToolSpec};
use serde_json::{json, Value};
use tokio::sync::mpsc::unbounded_channel;

use server::{event, Framing, Part, Reply, Server};

const KEY: &str = "sk-test-secret-0123";

fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig {
        base_url,
        model: "test-model".into(),
        api_key: Some(KEY.into()),
        timeout_s: 5,
        context_length: Some(8192),
    }
}

fn backend(server: &Server) -> OpenAiBackend {
    OpenAiBackend::new(config(server.base_url())).unwrap()
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        messages,
        tools: Vec::new(),
        temperature: 0.0,
        seed: None,
        max_tokens: 256,
        stable_prefix_messages: 1,
        answer_schema: None,
        answer_now: false,
        task_turn: 0,
    }
}

fn hello() -> ChatRequest {
    request(vec![Message::system("Be brief."), Message::user("hi")])
}

/// Runs one turn to the end; returns its result and every event streamed.
async fn turn(
    backend: &OpenAiBackend,
    request: ChatRequest,
) -> (Result<Completion, BackendError>, Vec<ModelEvent>) {
    let (tx, mut rx) = unbounded_channel();
    let result = backend.complete(request, tx, CancelFlag::new()).await;
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (result, events)
}

pub fn text_chunk(text: &str) -> Value {
    json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
}

pub fn finish_chunk(reason: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn tokens(texts: &[&str]) -> Vec<ModelEvent> {
    texts
        .iter()
        .map(|t| ModelEvent::Token {
            text: (*t).to_owned(),
        })
        .collect()
}

/// The stats with wall-clock timings zeroed, for whole-value comparison.
fn untimed(mut stats: TurnStats) -> TurnStats {
    assert!(
        stats.prefill_ms >= 0.0 && stats.decode_ms >= 0.0,
        "{stats:?}"
    );
    stats.prefill_ms = 0.0;
    stats.decode_ms = 0.0;
    stats
}

fn stats(prompt: u32, cached: u32, decode: u32) -> TurnStats {
    TurnStats {
        prompt_tokens: prompt,
        cached_tokens: cached,
        decode_tokens: decode,
        backend: "openai".into(),
        model: "test-model".into(),
        ..TurnStats::default()
    }
}

fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file",
        description: "Read a file.",
        short_description: "Read a file",
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        permission: Permission::Read,
    }
}
