//! The model wire: one trait, several implementations. The agent talks to models only
//! through [`ModelBackend`]; the in-process engine, an OpenAI-compatible server and the
//! scripted replayer all look the same from there.

pub mod anthropic;
pub mod fallback;
pub(crate) mod http;
pub use http::context::{ContextSource, ContextWindow};
pub mod openai;
pub mod overflow;
pub mod sse;

pub mod local;
pub mod scripted;
pub mod toolcall;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::cancel::CancelFlag;
use crate::stats::TurnStats;
use crate::tools::ToolSpec;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call requested by the model. Arguments stay the raw JSON text the model wrote, so
/// a malformed call can be reported back to the model instead of being lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Identifier pairing the call with its result (`call_0`, or the server's id).
    pub id: String,
    pub name: String,
    /// The arguments object as JSON text, exactly as produced.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a tool message: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, content)
    }
    /// The result of tool call `call`.
    pub fn tool(call: &ToolCall, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
            name: Some(call.name.clone()),
        }
    }
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

/// One request to a model.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Tools offered, in a fixed order (the order is part of the cached prefix).
    pub tools: Vec<ToolSpec>,
    /// 0 = greedy.
    pub temperature: f32,
    pub seed: Option<u32>,
    pub max_tokens: u32,
    /// How many leading messages stay the same across turns (the system prompt with tool
    /// schemas and project instructions): local backends store their KV state in the disk
    /// prompt cache and checkpoint hybrid models there.
    pub stable_prefix_messages: usize,
    /// JSON schema a final answer (one without tool calls) must match; local models are held
    /// to it by grammar, others are told in the prompt by the caller and checked afterwards.
    pub answer_schema: Option<serde_json::Value>,
    /// This turn must be the final answer, without tool calls (the last turn of a budget):
    /// local models are held to the answer schema alone, servers get `tool_choice: none`.
    pub answer_now: bool,
    /// Which turn of the current task this is, from 1 (0: not part of a task). Held turns on
    /// small local models must call a tool on a task's first turn: look before answering.
    pub task_turn: u32,
}

/// Streamed output of a model turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelEvent {
    /// Visible text, final (never retracted) — unless a `Switched` follows within the same
    /// turn, which discards the turn's text so far: it is regenerated on the other backend.
    Token { text: String },
    /// The turn moved to another backend (an outage, or the primary back).
    Switched {
        from: String,
        to: String,
        reason: String,
    },
}

/// Why a model turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its answer (possibly with tool calls).
    Stop,
    /// The token budget ran out.
    Length,
    /// The model fell into a loop (the same text over and over) and was stopped.
    Repetition,
    /// The caller cancelled.
    Cancelled,
}

/// A finished model turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Completion {
    /// Text outside tool calls.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// Call-looking text that could not be parsed as a call, each with what was wrong: the
    /// agent reports these back to the model so it can retry.
    pub malformed: Vec<String>,
    pub stop: StopReason,
    pub stats: TurnStats,
}

/// Why a backend could not produce a turn.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Nothing to talk to: no model file, server unreachable, script exhausted early.
    #[error("model unavailable: {0}")]
    Unavailable(String),
    #[error("the server refused the credentials (HTTP {status}): {message}; check the API key variable named in [remote] api_key_env")]
    Auth { status: u16, message: String },
    #[error("rate limited by the server{}: {message}", retry_after_s.map(|s| format!(" (retry after {s} s)")).unwrap_or_default())]
    RateLimited {
        retry_after_s: Option<u64>,
        message: String,
    },
    #[error("server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The server's answer could not be understood (malformed SSE or JSON, stream cut off).
    #[error("bad response from the server: {0}")]
    Protocol(String),
    /// The prompt (with the output asked for) does not fit in the model's context. Never an
    /// outage: another backend's context is no larger, so the agent compacts and retries.
    #[error("the model's context is full: {0}")]
    ContextOverflow(overflow::Overflow),
    #[error(transparent)]
    Engine(crate::engine::EngineError),
    #[error("cancelled")]
    Cancelled,
}

impl BackendError {
    /// Whether a different backend (the local fallback) could serve the same request.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::Server { .. }
                | Self::Protocol(_)
                | Self::RateLimited { .. }
        )
    }
}

impl From<crate::engine::EngineError> for BackendError {
    /// The engine's refusal of a too-long prompt is the same overflow a server reports.
    fn from(error: crate::engine::EngineError) -> Self {
        match error {
            crate::engine::EngineError::PromptTooLong { prompt, n_ctx } => {
                Self::ContextOverflow(overflow::from_engine(prompt, n_ctx))
            }
            other => Self::Engine(other),
        }
    }
}

/// A boxed future so backends can be trait objects.
pub type BackendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Completion, BackendError>> + Send + 'a>>;

/// A model the agent can talk to.
pub trait ModelBackend: Send + Sync {
    /// `local`, `openai` or `scripted`.
    fn kind(&self) -> &'static str;
    /// The model's display name.
    fn model_name(&self) -> String;
    /// Context length in tokens, when known (prompt size and tool descriptions adapt to it).
    fn context_length(&self) -> Option<u32>;
    /// How the model's turns are constrained, for the user (local models: held or free).
    fn turn_mode(&self) -> Option<String> {
        None
    }
    /// How large the context is and where that figure came from, for the user (remotes:
    /// `8192 tokens (server /props)`).
    fn context_note(&self) -> Option<String> {
        None
    }
    /// Runs one turn, streaming visible text to `events`.
    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a>;
}
