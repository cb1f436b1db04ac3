//! How large a remote's context is, asked of the server once when the backend opens.
//!
//! lode plans prompts and compaction by the context length; a configured number the server
//! does not match means a conversation that overflows (the server's is smaller) or that is
//! compacted for nothing (larger). Servers that say so are asked: llama-server's `/props`
//! (the `-c` it runs with), Ollama's `/api/ps` (the window of the loaded model) and
//! `/api/show` (a `num_ctx` the model sets), vLLM's `max_model_len` in `/v1/models`. The
//! whole probe has [`BUDGET`]; whatever fails falls back to `[remote] context_length`.
//!
//! An explicit `[remote] context_length` wins, except where the server's window is smaller:
//! a prompt planned for more than the server holds would fail, so the server's figure caps
//! it, with a notice.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::Http;

/// The most the probe may add to opening a remote, all requests together.
pub(crate) const BUDGET: Duration = Duration::from_secs(3);

/// Hosts whose APIs report no context length: asking them only costs round trips.
const SILENT_HOSTS: &[&str] = &["api.openai.com", "api.anthropic.com"];

/// Where the context length in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextSource {
    /// llama-server's `GET /props`: `default_generation_settings.n_ctx`.
    ServerProps,
    /// `GET {base_url}/models`: vLLM's `max_model_len`.
    ServerModels,
    /// Ollama's `GET /api/ps`: the window the loaded model runs with.
    OllamaPs,
    /// Ollama's `POST /api/show`: the model's own `num_ctx` parameter.
    OllamaShow,
    /// `[remote] context_length`.
    Config,
    /// Neither the server nor the configuration says.
    Unknown,
}

impl fmt::Display for ContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerProps => "server /props",
            Self::ServerModels => "server /v1/models",
            Self::OllamaPs => "ollama /api/ps",
            Self::OllamaShow => "ollama /api/show",
            Self::Config => "config",
            Self::Unknown => "unknown",
        })
    }
}

/// The context length a remote backend plans with, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextWindow {
    /// Tokens, when known.
    pub tokens: Option<u32>,
    pub source: ContextSource,
    /// What the user should know: a configured length the server caps, or what to set
    /// when nothing could be learned.
    pub note: Option<String>,
}

impl ContextWindow {
    /// The configured length, or none, without asking the server.
    pub fn configured(tokens: Option<u32>) -> Self {
        Self {
            tokens,
            source: if tokens.is_some() {
                ContextSource::Config
            } else {
                ContextSource::Unknown
            },
            note: None,
        }
    }

    /// One line for a person: `8192 tokens (server /props)`.
    pub fn describe(&self) -> String {
        let mut text = match self.tokens {
            Some(n) => format!("{n} tokens ({})", self.source),
            None => "unknown (set [remote] context_length)".to_string(),
        };
        if let Some(note) = &self.note {
            text.push_str("; ");
            text.push_str(note);
        }
        text
    }
}

/// What the server said about its context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Discovery {
    /// The window and which endpoint stated it.
    pub found: Option<(u32, ContextSource)>,
    /// Why nothing was found, when the server said something useful anyway.
    pub hint: Option<String>,
}

impl Discovery {
    fn none() -> Self {
        Self {
            found: None,
            hint: None,
        }
    }
}

/// Asks the server (within `BUDGET`, 3 s) and settles it against `configured`.
pub(crate) async fn window(http: &Http, model: &str, configured: Option<u32>) -> ContextWindow {
    let discovery = if is_silent_host(http.base_url()) {
        Discovery::none()
    } else {
        tokio::time::timeout(BUDGET, discover(http, model))
            .await
            .unwrap_or_else(|_| Discovery::none())
    };
    settle(configured, discovery)
}

fn is_silent_host(base_url: &str) -> bool {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| SILENT_HOSTS.contains(&host.as_str()))
}

/// The configured length against what the server said.
pub(crate) fn settle(configured: Option<u32>, discovery: Discovery) -> ContextWindow {
    match (configured, discovery.found) {
        (Some(set), Some((served, source))) if served < set => ContextWindow {
            tokens: Some(served),
            source,
            note: Some(format!(
                "[remote] context_length = {set} is more than the server's {served}; using {served}"
            )),
        },
        (Some(set), _) => ContextWindow::configured(Some(set)),
        (None, Some((served, source))) => ContextWindow {
            tokens: Some(served),
            source,
            note: None,
        },
        (None, None) => ContextWindow {
            note: discovery.hint,
            ..ContextWindow::configured(None)
        },
    }
}

/// Each server's own way of saying it, tried in an order that costs a server that is none
/// of them three quick 404s.
async fn discover(http: &Http, model: &str) -> Discovery {
    let limit = BUDGET;
    if let Some(props) = http
        .ask_json(|c| c.get(http.server_url("props")), limit)
        .await
    {
        if let Some(n) = props_n_ctx(&props) {
            return found(n, ContextSource::ServerProps);
        }
    }
    if let Some(version) = http
        .ask_json(|c| c.get(http.server_url("api/version")), limit)
        .await
    {
        if version.get("version").is_some_and(Value::is_string) {
            return ollama(http, model).await;
        }
    }
    if let Some(version) = http
        .ask_json(|c| c.get(http.server_url("version")), limit)
        .await
    {
        if version.get("version").is_some_and(Value::is_string) {
            if let Some(list) = http.ask_json(|c| c.get(http.url("models")), limit).await {
                if let Some(n) = max_model_len(&list, model) {
                    return found(n, ContextSource::ServerModels);
                }
            }
        }
    }
    Discovery::none()
}

fn found(tokens: u32, source: ContextSource) -> Discovery {
    Discovery {
        found: Some((tokens, source)),
        hint: None,
    }
}

/// Ollama runs a model with `num_ctx` when the model sets one, else with the server's
/// `OLLAMA_CONTEXT_LENGTH`, which no endpoint reports until the model is loaded; its
/// OpenAI-compatible endpoint ignores a `num_ctx` sent with the request.
async fn ollama(http: &Http, model: &str) -> Discovery {
    if let Some(ps) = http
        .ask_json(|c| c.get(http.server_url("api/ps")), BUDGET)
        .await
    {
        if let Some(n) = ollama_loaded_context(&ps, model) {
            return found(n, ContextSource::OllamaPs);
        }
    }
    let show = http
        .ask_json(
            |c| {
                c.post(http.server_url("api/show"))
                    .json(&json!({"model": model}))
            },
            BUDGET,
        )
        .await;
    if let Some(n) = show.as_ref().and_then(ollama_num_ctx) {
        return found(n, ContextSource::OllamaShow);
    }
    let trained = show
        .as_ref()
        .and_then(ollama_trained_context)
        .map(|n| format!(" (the model allows {n})"))
        .unwrap_or_default();
    Discovery {
        found: None,
        hint: Some(format!(
            "Ollama runs `{model}` with the server's OLLAMA_CONTEXT_LENGTH{trained}, which it \
             reports only once the model is loaded: set OLLAMA_CONTEXT_LENGTH where Ollama \
             runs and [remote] context_length to the same number"
        )),
    }
}

/// llama-server's `/props`: `default_generation_settings.n_ctx`, or a top-level `n_ctx`.
pub(crate) fn props_n_ctx(props: &Value) -> Option<u32> {
    [
        props.pointer("/default_generation_settings/n_ctx"),
        props.get("n_ctx"),
    ]
    .into_iter()
    .flatten()
    .find_map(positive)
}

/// vLLM's `max_model_len` for `model` in a model list, or for the only model listed.
/// llama-server's list (reached only when its `/props` said nothing) is not read: its
/// `meta.n_ctx_train` is the length the model was trained for, not the server's `-c`.
pub(crate) fn max_model_len(list: &Value, model: &str) -> Option<u32> {
    let models = list.get("data")?.as_array()?;
    let entry = models
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model))
        .or_else(|| (models.len() == 1).then(|| &models[0]))?;
    entry.get("max_model_len").and_then(positive)
}

/// `/api/ps`: the `context_length` of the loaded model named `model` (`name` or `model`,
/// with Ollama's implied `:latest`).
pub(crate) fn ollama_loaded_context(ps: &Value, model: &str) -> Option<u32> {
    let wanted = with_tag(model);
    ps.get("models")?
        .as_array()?
        .iter()
        .find(|m| {
            ["name", "model"]
                .iter()
                .filter_map(|k| m.get(*k).and_then(Value::as_str))
                .any(|name| with_tag(name) == wanted)
        })?
        .get("context_length")
        .and_then(positive)
}

fn with_tag(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

/// `/api/show`'s `parameters`: Modelfile lines, `num_ctx` padded to a column.
pub(crate) fn ollama_num_ctx(show: &Value) -> Option<u32> {
    show.get("parameters")?.as_str()?.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("num_ctx"))
            .then(|| words.next()?.parse().ok())
            .flatten()
            .filter(|n| *n > 0)
    })
}

/// `/api/show`'s `model_info["<arch>.context_length"]`: what the model was trained for.
fn ollama_trained_context(show: &Value) -> Option<u32> {
    let info = show.get("model_info")?;
    let arch = info.get("general.architecture")?.as_str()?;
    info.get(format!("{arch}.context_length"))
        .and_then(positive)
}

fn positive(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .filter(|n| *n > 0)
        .and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests;
