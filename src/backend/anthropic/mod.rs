//! The Anthropic Messages API backend: Claude models, or any server speaking the same API.
//!
//! One turn is one streamed `POST {base_url}/messages`. Text deltas go out as
//! [`ModelEvent::Token`] the moment they arrive; `tool_use` blocks are assembled from their
//! JSON pieces; usage becomes `TurnStats`. Failures are sorted into [`BackendError`] variants
//! the same way as for the OpenAI-compatible backend, so the fallback layer can tell an
//! outage (try the local engine) from bad credentials (tell the user). Byte-level event
//! parsing lives in [`super::sse`], the folding of events into a turn in `stream`, the JSON
//! shapes and the mapping of lode's conversation onto the API's rules in `wire`.

mod stream;
mod wire;

use std::fmt;

use tokio::sync::mpsc::UnboundedSender;

use self::stream::{Flow, Turn};
use super::sse::SseParser;
use super::{BackendError, BackendFuture, ChatRequest, Completion, ModelBackend, ModelEvent};
use crate::backend::http::context::{self, ContextWindow};
use crate::backend::http::{error_chain, Http, PathStyle, Wire};
use crate::cancel::CancelFlag;

/// The API version lode's requests and event parsing are written against.
const API_VERSION: &str = "2023-06-01";

/// How the Anthropic API differs from others over HTTP.
fn wire() -> Wire {
    Wire {
        example_url: "https://api.anthropic.com/v1",
        key_header: Some("x-api-key"),
        headers: &[("anthropic-version", API_VERSION)],
        stall_hint: "the stream stalled (the API may be overloaded; raise [remote] timeout_s \
                     if answers start slowly)",
        request_id_header: Some("request-id"),
        path_style: PathStyle::VersionAdded,
        model_list: "a model list",
    }
}

/// Where and how to reach the API.
#[derive(Clone, PartialEq, Eq)]
pub struct AnthropicConfig {
    /// API root including the version, e.g. `https://api.anthropic.com/v1`.
    pub base_url: String,
    /// Sent as `model`, e.g. `claude-sonnet-4-5`.
    pub model: String,
    /// Sent as `x-api-key`; a proxy that adds its own may need none.
    pub api_key: Option<String>,
    /// Longest silence tolerated, in seconds: connecting, waiting for the first byte and
    /// between streamed events. A long answer that keeps streaming is never cut.
    pub timeout_s: u64,
    /// `max_tokens` for a request that sets none; the API requires a value.
    pub max_tokens_default: u32,
    /// `[remote] context_length`: the context window the user configured, which the server's
    /// own figure may cap (see [`AnthropicBackend::discover_context`]).
    pub context_length: Option<u32>,
}

impl fmt::Debug for AnthropicConfig {
    // Hand-written so the key never reaches a log line or a panic message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_s", &self.timeout_s)
            .field("max_tokens_default", &self.max_tokens_default)
            .field("context_length", &self.context_length)
            .finish()
    }
}

/// A model behind the Anthropic Messages API.
pub struct AnthropicBackend {
    config: AnthropicConfig,
    http: Http,
    window: ContextWindow,
}

impl AnthropicBackend {
    /// Checks the URL and builds the HTTP client; no request is made (see [`Self::probe`]).
    pub fn new(mut config: AnthropicConfig) -> Result<Self, BackendError> {
        let http = Http::new(
            &config.base_url,
            config.api_key.clone(),
            config.timeout_s,
            wire(),
        )?;
        config.base_url = http.base_url().to_owned();
        config.api_key = http.api_key().map(str::to_owned);
        let window = ContextWindow::configured(config.context_length);
        Ok(Self {
            config,
            http,
            window,
        })
    }

    /// Asks the server how large its context is (at most 3 s, `context::BUDGET`), settled
    /// against the configured length; nothing changes until [`Self::set_context_window`].
    pub async fn discover_context(&self) -> ContextWindow {
        context::window(&self.http, &self.config.model, self.config.context_length).await
    }

    /// The context length in use and where it came from.
    pub fn context_window(&self) -> &ContextWindow {
        &self.window
    }

    /// The context length the backend reports from now on.
    pub fn set_context_window(&mut self, window: ContextWindow) {
        self.window = window;
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// Asks `GET {base_url}/models` whether the server is up and takes the key; used for
    /// health checks before and after falling back to the local engine.
    pub async fn probe(&self) -> Result<(), BackendError> {
        self.http.probe(&self.not_found()).await
    }

    async fn run(
        &self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> Result<Completion, BackendError> {
        let url = self.http.url("messages");
        let body = wire::Request::new(&self.config.model, &request, self.config.max_tokens_default);
        let started = std::time::Instant::now();
        let mut response = self
            .http
            .send(
                |c| c.post(&url).json(&body),
                &url,
                &cancel,
                &self.not_found(),
            )
            .await?;
        let mut parser = SseParser::new();
        let mut turn = Turn::new(started);
        loop {
            if cancel.is_cancelled() {
                return Err(BackendError::Cancelled);
            }
            let next = self
                .http
                .guard(response.chunk(), &cancel, || {
                    self.http.silent(&url, "the rest of the answer")
                })
                .await?;
            let chunk = match next {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(turn.cut_off(&url, &format!(": {}", error_chain(&e)))),
            };
            let parsed = parser
                .push(&chunk)
                .map_err(|e| BackendError::Protocol(format!("{url}: {e}; {}", turn.received())))?;
            for event in parsed {
                if turn.handle(event, &events, &url)? == Flow::Done {
                    return Ok(turn.finish(&self.config.model));
                }
            }
        }
        // Unlike some OpenAI-compatible servers, the API always ends with `message_stop`:
        // without it the answer may be missing its end even when a stop reason arrived.
        Err(turn.cut_off(&url, ""))
    }

    /// What a 404 suggests checking.
    fn not_found(&self) -> String {
        format!(
            "check [remote] base_url (usually https://api.anthropic.com/v1) and the model name `{}`",
            self.config.model
        )
    }
}

impl ModelBackend for AnthropicBackend {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn model_name(&self) -> String {
        self.config.model.clone()
    }

    fn context_length(&self) -> Option<u32> {
        self.window.tokens
    }

    fn context_note(&self) -> Option<String> {
        Some(self.window.describe())
    }

    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(self.run(request, events, cancel))
    }
}

// The helpers below repeat the OpenAI backend's private ones; a shared HTTP module could
// hold the one copy both backends use.
