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

/// Error bodies beyond this are cut: the first lines say what went wrong.
const MAX_ERROR_BODY: usize = 64 * 1024;

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
    /// The server's context window, when the user configured it.
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
    client: reqwest::Client,
    timeout: Duration,
}

impl OpenAiBackend {
    /// Checks the URL and builds the HTTP client; no request is made (see [`Self::probe`]).
    pub fn new(mut config: OpenAiConfig) -> Result<Self, BackendError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            BackendError::Unavailable(format!(
                "remote base_url `{base}` is not a URL ({e}); write it like http://127.0.0.1:8080/v1"
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
        // reqwest is built without a default crypto provider so that aws-lc-rs (a long C
        // build) stays out; `ring` must then be the process default before any client is
        // built. An error only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(config.timeout_s.max(1));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("lode/", env!("CARGO_PKG_VERSION")));
        // A corporate HTTP_PROXY must not swallow requests to a server on this machine.
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

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// Asks `GET {base_url}/models` whether the server is up and speaks the API; used for
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
                "GET {url} answered, but not with an OpenAI model list ({}); check that \
                 [remote] base_url ends with the API version, like /v1",
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
        let url = self.url("chat/completions");
        let body = wire::Request::new(&self.config.model, &request);
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
        // Some servers close right after the last chunk without `[DONE]`; the turn is whole
        // when a finish_reason arrived and nothing was left half-sent.
        if turn.has_finish_reason() && !parser.has_partial_event() {
            return Ok(turn.finish(&self.config.model));
        }
        Err(turn.cut_off(&url, ""))
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.config.base_url)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key),
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
            "{url} sent nothing for {} s while lode waited for {awaited}; the server may be \
             overloaded or still processing the prompt (raise [remote] timeout_s if it is slow)",
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
        let retry_after_s = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
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
                    "{message} (at {url}); check [remote] base_url (usually ending in /v1) and \
                     that the server has the model `{}`",
                    self.config.model
                ),
            },
            _ => BackendError::Server {
                status: code,
                message: format!("{message} (at {url})"),
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

impl ModelBackend for OpenAiBackend {
    fn kind(&self) -> &'static str {
        "openai"
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
