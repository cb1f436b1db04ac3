//! The JSON that crosses the wire, kept apart from the logic that uses it.
//!
//! Requests borrow from the [`ChatRequest`] so a long conversation is not copied per turn.
//! Responses are parsed leniently: every field is optional, because llama-server, vLLM,
//! Ollama and cloud APIs each leave out different ones, and an absent field must never turn
//! a good answer into an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{ChatRequest, Message, Role};
use crate::stats::TurnStats;

/// The body of `POST /chat/completions`.
#[derive(Serialize)]
pub(super) struct Request<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    temperature: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u32>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
}

impl<'a> Request<'a> {
    pub(super) fn new(model: &'a str, request: &'a ChatRequest) -> Self {
        Self {
            model,
            messages: request.messages.iter().map(WireMessage::from).collect(),
            stream: true,
            // Without it, streamed answers carry no token counts at all.
            stream_options: StreamOptions {
                include_usage: true,
            },
            tools: request
                .tools
                .iter()
                .map(|spec| Tool {
                    kind: "function",
                    function: Function {
                        name: spec.name,
                        description: spec.description,
                        parameters: &spec.parameters,
                    },
                })
                .collect(),
            temperature: request.temperature,
            seed: request.seed,
            max_tokens: request.max_tokens,
            tool_choice: (request.answer_now && !request.tools.is_empty()).then_some("none"),
            // `answer_schema` is not sent: servers differ too much in whether and how they
            // combine `tools` with `response_format`; the caller checks the answer instead.
        }
    }
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: Role,
    /// `null` only for an assistant turn that is nothing but tool calls, as the API expects.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(message: &'a Message) -> Self {
        let only_calls = message.content.is_empty() && !message.tool_calls.is_empty();
        Self {
            role: message.role,
            content: (!only_calls).then_some(message.content.as_str()),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: &call.id,
                    kind: "function",
                    function: FunctionCall {
                        name: &call.name,
                        // Servers that parse the arguments to re-render the chat template
                        // reject an empty string; an empty object means the same.
                        arguments: if call.arguments.trim().is_empty() {
                            "{}"
                        } else {
                            &call.arguments
                        },
                    },
                })
                .collect(),
            tool_call_id: match message.role {
                Role::Tool => message.tool_call_id.as_deref(),
                _ => None,
            },
        }
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// One `data:` event of a streamed answer.
#[derive(Deserialize)]
pub(super) struct Chunk {
    /// Empty or absent on the final usage-only chunk.
    pub choices: Option<Vec<Choice>>,
    pub usage: Option<Usage>,
    /// llama-server's own measurements.
    pub timings: Option<Timings>,
    /// Set by servers that report a failure inside a started stream.
    pub error: Option<Value>,
    /// vLLM marks an in-stream error with `"object": "error"` instead.
    pub object: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Choice {
    pub delta: Option<Delta>,
    pub finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
pub(super) struct Delta {
    pub content: Option<String>,
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
pub(super) struct ToolCallDelta {
    pub index: Option<u32>,
    pub id: Option<String>,
    pub function: Option<FunctionDelta>,
}

impl ToolCallDelta {
    pub(super) fn starts_a_call(&self) -> bool {
        self.function
            .as_ref()
            .and_then(|f| f.name.as_deref())
            .is_some_and(|name| !name.is_empty())
    }
}

#[derive(Deserialize)]
pub(super) struct FunctionDelta {
    pub name: Option<String>,
    /// JSON text in pieces; kept as a value because a few servers send an object.
    pub arguments: Option<Value>,
}

#[derive(Clone, Deserialize)]
pub(super) struct Usage {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Clone, Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u32>,
}

impl Usage {
    /// The server's token counts win over lode's estimate from counting chunks.
    pub(super) fn apply(&self, stats: &mut TurnStats) {
        if let Some(n) = self.prompt_tokens {
            stats.prompt_tokens = n;
        }
        if let Some(n) = self.completion_tokens {
            stats.decode_tokens = n;
        }
        if let Some(n) = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
        {
            stats.cached_tokens = n;
        }
    }
}

/// llama-server's `timings`: `prompt_n` tokens computed in `prompt_ms`, `cache_n` reused,
/// `predicted_n` generated in `predicted_ms`.
#[derive(Clone, Deserialize)]
pub(super) struct Timings {
    prompt_n: Option<u32>,
    prompt_ms: Option<f64>,
    predicted_n: Option<u32>,
    predicted_ms: Option<f64>,
    cache_n: Option<u32>,
}

impl Timings {
    /// The server's clock beats lode's wall clock, which includes the network. Apply before
    /// [`Usage::apply`], whose counts are the API's own.
    pub(super) fn apply(&self, stats: &mut TurnStats) {
        if let Some(ms) = self.prompt_ms {
            stats.prefill_ms = ms;
        }
        if let Some(ms) = self.predicted_ms {
            stats.decode_ms = ms;
        }
        if let Some(n) = self.cache_n {
            stats.cached_tokens = n;
        }
        if let Some(n) = self.prompt_n {
            stats.prompt_tokens = n.saturating_add(self.cache_n.unwrap_or(0));
        }
        if let Some(n) = self.predicted_n {
            stats.decode_tokens = n;
        }
    }
}
