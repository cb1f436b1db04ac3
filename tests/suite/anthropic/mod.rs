//! The Anthropic Messages API backend against a real HTTP server on loopback (the OpenAI
//! tests' scripted server): the request lode sends and answers replayed from recorded event
//! streams however the network splits them (`streaming`), and how each kind of failure is
//! reported (`failures`). The recorded streams and helpers are here.

mod failures;
mod streaming;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode::backend::anthropic::{AnthropicBackend, AnthropicConfig};
use lode::backend::{
    BackendError, ChatRequest, Completion, Message, ModelBackend, ModelEvent, StopReason, ToolCall,
};
use lode::cancel::CancelFlag;
use lode::stats::TurnStats;
use lode::tools::{Permission, ToolSpec};
use serde_json::json;
use tokio::sync::mpsc::unbounded_channel;

use super::openai::server::{Framing, Part, Reply, Server};

const KEY: &str = "sk-ant-test-0123";

/// A text answer as api.anthropic.com streams it, `ping` and all.
const TEXT_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo, "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}

event: message_stop
data: {"type":"message_stop"}

"#;

/// Text, then two tool calls whose input streams in pieces (the second has no parameters).
const TOOL_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me read it."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"read_file","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"src/ma"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"in.rs\", \"note\": \"say \\\"hi\\\"\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01Ab","name":"git_status","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

/// The events of a recorded stream, one network write each.
fn events(recorded: &str) -> Vec<Part> {
    recorded
        .split_inclusive("\n\n")
        .map(|event| Part::Bytes(event.as_bytes().to_vec()))
        .collect()
}

/// One event built from `data`, named by its `type` as the API does.
fn event(data: serde_json::Value) -> Part {
    let name = data["type"].as_str().unwrap().to_owned();
    Part::Bytes(format!("event: {name}\ndata: {data}\n\n").into_bytes())
}

fn config(base_url: String) -> AnthropicConfig {
    AnthropicConfig {
        base_url,
        model: "claude-test".into(),
        api_key: Some(KEY.into()),
        timeout_s: 5,
        max_tokens_default: 4096,
        context_length: Some(200_000),
    }
}

fn backend(server: &Server) -> AnthropicBackend {
    AnthropicBackend::new(config(server.base_url())).unwrap()
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

fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file",
        description: "Read a file.",
        short_description: "Read a file",
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        permission: Permission::Read,
    }
}

/// Runs one turn to the end; returns its result and every event streamed.
async fn turn(
    backend: &AnthropicBackend,
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

fn tokens(texts: &[&str]) -> Vec<ModelEvent> {
    texts
        .iter()
        .map(|t| ModelEvent::Token {
            text: (*t).to_owned(),
        })
        .collect()
}

fn protocol_message(error: BackendError) -> String {
    match error {
        BackendError::Protocol(message) => message,
        other => panic!("expected Protocol, got {other:?}"),
    }
}
