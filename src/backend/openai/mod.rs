//! The OpenAI-compatible chat backend: cloud APIs, or a llama-server / vLLM / Ollama box.
//!
//! One turn is one streamed `POST {base_url}/chat/completions`. Text deltas go out as
//! [`ModelEvent::Token`] the moment they arrive; tool-call fragments are stitched together by
//! index; usage (and llama-server's `timings`) become `TurnStats`. Failures are sorted into
//! [`BackendError`] variants so the fallback layer can tell an outage (try the local engine)
//! from bad credentials (tell the user). Byte-level event parsing lives in [`super::sse`],
//! the folding of events into a turn in `stream`, the JSON shapes in `wire`.

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

/// How an OpenAI-compatible server differs from others over HTTP.
fn wire() -> Wire {
    Wire {
        example_url: "http://127.0.0.1:8080/v1",
        key_header: None,
        headers: &[],
        stall_hint: "the server may be overloaded or still processing the prompt (raise \
                     [remote] timeout_s if it is slow)",
        request_id_header: None,
        path_style: PathStyle::VersionInBase,
        model_list: "an OpenAI model list",
    }
}

/// Where and how to reach the server.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// API root including the version, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Sent as `model`; llama-server ignores it, Ollama and cloud APIs route on it.
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers usually need none.
    pub api_key: Option<String>,
    /// Longest silence tolerated, in seconds: connecting, waiting for the first byte (prompt
    /// processing on a slow server) and between streamed chunks. A long answer that keeps
    /// streaming is never cut.
    pub timeout_s: u64,
    /// `[remote] context_length`: the context window the user configured, which the server's
    /// own figure may cap (see [`OpenAiBackend::discover_context`]).
    pub context_length: Option<u32>,
}

impl fmt::Debug for OpenAiConfig {
    // Hand-written so the key never reaches a log line or a panic message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_s", &self.timeout_s)
            .field("context_length", &self.context_length)
            .finish()
    }
}

/// A model behind an OpenAI-compatible HTTP API.
pub struct OpenAiBackend {
    config: OpenAiConfig,
    http: Http,
    window: ContextWindow,
}

impl OpenAiBackend {
    /// Checks the URL and builds the HTTP client; no request is made (see [`Self::probe`]).
    pub fn new(mut config: OpenAiConfig) -> Result<Self, BackendError> {
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

    pub fn config(&self) -> &OpenAiConfig {
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
        let url = self.http.url("chat/completions");
        let body = wire::Request::new(&self.config.model, &request);
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
        // Some servers close right after the last chunk without `[DONE]`; the turn is whole
        // when a finish_reason arrived and nothing was left half-sent.
        if turn.has_finish_reason() && !parser.has_partial_event() {
            return Ok(turn.finish(&self.config.model));
        }
        Err(turn.cut_off(&url, ""))
    }

    /// What a 404 suggests checking.
    fn not_found(&self) -> String {
        format!(
            "check [remote] base_url (usually ending in /v1) and that the server has the model `{}`",
            self.config.model
        )
    }
}

impl ModelBackend for OpenAiBackend {
    fn kind(&self) -> &'static str {
        "openai"
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
