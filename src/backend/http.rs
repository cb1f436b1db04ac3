//! What the HTTP backends (OpenAI-compatible, Anthropic) share: waiting on the cancel flag,
//! naming what failed on the way to a server, and quoting what it answered.

use std::time::Duration;

mod base_url;
mod client;
pub(crate) mod context;
pub(crate) use base_url::PathStyle;
pub(crate) use client::{Http, Wire};

use serde_json::Value;

use crate::backend::BackendError;
use crate::cancel::CancelFlag;

/// How often a wait checks the cancel flag, which is a plain atomic without a waker.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// How much received text an error quotes.
pub(crate) const QUOTE_CHARS: usize = 200;

pub(crate) async fn cancelled(cancel: &CancelFlag) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A failure before any status arrived: nothing answered at `url`.
pub(crate) fn transport_error(error: &reqwest::Error, url: &str) -> BackendError {
    let what = if error.is_connect() {
        "cannot connect to"
    } else if error.is_timeout() {
        "timed out connecting to"
    } else {
        "request failed to"
    };
    BackendError::Unavailable(format!(
        "{what} {url}: {}; is the server running, and is [remote] base_url right?",
        error_chain(error)
    ))
}

/// The causes under a reqwest error, which itself only says "error sending request".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper-util's wrapper ("client error (Connect)") repeats what its cause says.
        if !text.starts_with("client error (") {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// The human part of an error body: `{"error": {"message"}}` (OpenAI, llama-server),
/// `{"error": "..."}` (Ollama), `{"message"}` (vLLM), `{"detail"}` (FastAPI), or the text.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(json) => Some(json_error_message(&json)),
        Err(_) => Some(quote(trimmed)),
    }
}

pub(crate) fn json_error_message(json: &Value) -> String {
    let error = json.get("error").unwrap_or(json);
    [error.get("message"), error.get("detail"), Some(error)]
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map_or_else(|| quote(&error.to_string()), quote)
}

/// At most [`QUOTE_CHARS`] characters of `text`, marked when cut.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
