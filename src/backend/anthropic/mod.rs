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
use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use self::stream::{Flow, Turn};
use super::sse::SseParser;
use super::{BackendError, BackendFuture, ChatRequest, Completion, ModelBackend, ModelEvent};
use crate::backend::http::{
    cancelled, error_chain, error_message, is_loopback, quote, transport_error,
};
use crate::engine::CancelFlag;

/// The API version lode's requests and event parsing are written against.
const API_VERSION: &str = "2023-06-01";
/// Error bodies beyond this are cut: the first lines say what went wrong.
const MAX_ERROR_BODY: usize = 64 * 1024;

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
    /// The model's context window, when the user configured it.
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
    client: reqwest::Client,
    timeout: Duration,
}

impl AnthropicBackend {
    /// Checks the URL and builds the HTTP client; no request is made (see [`Self::probe`]).
    pub fn new(mut config: AnthropicConfig) -> Result<Self, BackendError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            BackendError::Unavailable(format!(
                "remote base_url `{base}` is not a URL ({e}); write it like \
                 https://api.anthropic.com/v1"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BackendError::Unavailable(format!(
                "remote base_url `{base}` must start with http:// or https://"
            )));
        }
        config.base_url = base;
        if config
            .api_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            config.api_key = None;
        }
        // reqwest is built without a default crypto provider (see the OpenAI backend);
        // an error only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(config.timeout_s.max(1));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("lode/", env!("CARGO_PKG_VERSION")));
        // A corporate HTTP_PROXY must not swallow requests to a proxy on this machine.
        if is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| {
            BackendError::Unavailable(format!(
                "cannot set up an HTTP client for {}: {}",
                config.base_url,
                error_chain(&e)
            ))
        })?;
        Ok(Self {
            config,
            client,
            timeout,
        })
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// Asks `GET {base_url}/models` whether the API is up and takes the key; used for
    /// health checks before and after falling back to the local engine.
    pub async fn probe(&self) -> Result<(), BackendError> {
        let url = self.url("models");
        let never = CancelFlag::new();
        let request = self.authorized(self.client.get(&url)).send();
        let response = self
            .guard(request, &never, || self.silent(&url, "an answer"))
            .await?
            .map_err(|e| transport_error(&e, &url))?;
        let mut response = self.check_status(response, &url, &never).await?;
        let body = self.read_capped(&mut response, &never, &url).await?;
        let listed = serde_json::from_slice::<Value>(&body)
            .ok()
            .is_some_and(|v| v.get("data").is_some_and(Value::is_array));
        if !listed {
            return Err(BackendError::Protocol(format!(
                "GET {url} answered, but not with a model list ({}); check that [remote] \
                 base_url ends with the API version, like /v1",
                quote(&String::from_utf8_lossy(&body))
            )));
        }
        Ok(())
    }

    async fn run(
        &self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> Result<Completion, BackendError> {
        let url = self.url("messages");
        let body = wire::Request::new(&self.config.model, &request, self.config.max_tokens_default);
        let started = std::time::Instant::now();
        let send = self.authorized(self.client.post(&url)).json(&body).send();
        let response = self
            .guard(send, &cancel, || self.silent(&url, "an answer"))
            .await?
            .map_err(|e| transport_error(&e, &url))?;
        let mut response = self.check_status(response, &url, &cancel).await?;
        let mut parser = SseParser::new();
        let mut turn = Turn::new(started);
        loop {
            if cancel.is_cancelled() {
                return Err(BackendError::Cancelled);
            }
            let next = self
                .guard(response.chunk(), &cancel, || {
                    self.silent(&url, "the rest of the answer")
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

    fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.config.base_url)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header("anthropic-version", API_VERSION);
        match &self.config.api_key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    }

    /// Runs `fut` unless the turn is cancelled or the server stays silent past the timeout.
    async fn guard<T>(
        &self,
        fut: impl Future<Output = T>,
        cancel: &CancelFlag,
        stalled: impl FnOnce() -> BackendError,
    ) -> Result<T, BackendError> {
        tokio::select! {
            biased;
            () = cancelled(cancel) => Err(BackendError::Cancelled),
            out = tokio::time::timeout(self.timeout, fut) => out.map_err(|_| stalled()),
        }
    }

    fn silent(&self, url: &str, awaited: &str) -> BackendError {
        BackendError::Unavailable(format!(
            "{url} sent nothing for {} s while lode waited for {awaited}; the stream stalled \
             (the API may be overloaded; raise [remote] timeout_s if answers start slowly)",
            self.timeout.as_secs()
        ))
    }

    /// Turns an error status into the matching [`BackendError`], quoting the server's reason.
    async fn check_status(
        &self,
        mut response: reqwest::Response,
        url: &str,
        cancel: &CancelFlag,
    ) -> Result<reqwest::Response, BackendError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        };
        let retry_after_s = header("retry-after").and_then(|v| v.parse::<u64>().ok());
        // Anthropic's support asks for it; it costs one parenthesis.
        let request_id = header("request-id")
            .map(|id| format!(", request id {id}"))
            .unwrap_or_default();
        // The reason is a nicety: a body that fails to arrive must not hide the status.
        let body = self
            .read_capped(&mut response, cancel, url)
            .await
            .unwrap_or_default();
        let mut message = error_message(&String::from_utf8_lossy(&body)).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
        if let Some(key) = &self.config.api_key {
            message = message.replace(key.as_str(), "<api key>");
        }
        let code = status.as_u16();
        Err(match code {
            401 | 403 => BackendError::Auth {
                status: code,
                message,
            },
            429 => BackendError::RateLimited {
                retry_after_s,
                message,
            },
            404 => BackendError::Server {
                status: code,
                message: format!(
                    "{message} (at {url}{request_id}); check [remote] base_url (usually \
                     https://api.anthropic.com/v1) and the model name `{}`",
                    self.config.model
                ),
            },
            // 400, 413, 529 (overloaded), 5xx: the fallback layer decides by status.
            _ => BackendError::Server {
                status: code,
                message: format!("{message} (at {url}{request_id})"),
            },
        })
    }

    async fn read_capped(
        &self,
        response: &mut reqwest::Response,
        cancel: &CancelFlag,
        url: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            let next = self
                .guard(response.chunk(), cancel, || self.silent(url, "the body"))
                .await?
                .map_err(|e| transport_error(&e, url))?;
            match next {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        Ok(body)
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
        self.config.context_length
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
