//! Opening the remote server: where it is, which key it gets, and how large its context is.
//!
//! The address is `--remote`, else `[remote] base_url` (the user's file, a trusted
//! repository's, `LODE_REMOTE_URL`), else the official clients' variable for the wire
//! (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`): lode's own settings first, the variables other
//! tools share below them. The key is the variable `[remote] api_key_env` names, else the
//! wire's official one (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), but only for the server that
//! key is meant for: the official API, or the address from the official base-URL variable.
//! A key for api.openai.com is not sent to a `--remote` box on the LAN because it happens to
//! be in the shell.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::backend::{BackendFlags, OpenError};
use crate::backend::anthropic::{AnthropicBackend, AnthropicConfig};
use crate::backend::openai::{OpenAiBackend, OpenAiConfig};
use crate::backend::{ContextWindow, ModelBackend};
use crate::config::{Config, Env, ProcessEnv, Wire};

/// `max_tokens` for an Anthropic request that sets none; the API requires a value.
const ANTHROPIC_MAX_TOKENS: u32 = 8192;

/// What the official client of a wire reads from the environment.
struct Official {
    base_url_var: &'static str,
    key_var: &'static str,
    host: &'static str,
}

fn official(wire: Wire) -> Official {
    match wire {
        Wire::Openai => Official {
            base_url_var: "OPENAI_BASE_URL",
            key_var: "OPENAI_API_KEY",
            host: "api.openai.com",
        },
        Wire::Anthropic => Official {
            base_url_var: "ANTHROPIC_BASE_URL",
            key_var: "ANTHROPIC_API_KEY",
            host: "api.anthropic.com",
        },
    }
}

/// Which setting named the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlOrigin {
    /// `--remote`.
    Flag,
    /// `[remote] base_url` or `LODE_REMOTE_URL`.
    Config,
    /// `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL`.
    OfficialEnv,
}

/// The server to open, before any request is made.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub wire: Wire,
    /// As the setting wrote it; the backend normalizes it.
    pub base_url: String,
    pub origin: UrlOrigin,
    pub model: String,
    pub api_key: Option<String>,
    /// Where the key came from (a variable's name), for `lode doctor`.
    pub key_from: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    // Hand-written so the key never reaches a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("wire", &self.wire)
            .field("base_url", &self.base_url)
            .field("origin", &self.origin)
            .field("model", &self.model)
            .field("key_from", &self.key_from)
            .finish_non_exhaustive()
    }
}

/// The server the flags, the configuration and `env` name; `Ok(None)` when none does.
pub fn endpoint(
    flags: &BackendFlags,
    config: &Config,
    env: &dyn Env,
) -> Result<Option<Endpoint>, OpenError> {
    let wire = flags.wire.unwrap_or(config.remote.wire);
    let official = official(wire);
    let named = flags
        .remote
        .clone()
        .map(|url| (url, UrlOrigin::Flag))
        .or_else(|| {
            config
                .remote
                .base_url
                .clone()
                .map(|url| (url, UrlOrigin::Config))
        })
        .or_else(|| {
            env.var(official.base_url_var)
                .map(|url| (url, UrlOrigin::OfficialEnv))
        });
    let Some((base_url, origin)) = named else {
        return Ok(None);
    };
    let (api_key, key_from) = match &config.remote.api_key_env {
        Some(var) => {
            let key = env.var(var).ok_or_else(|| {
                OpenError::Config(format!(
                    "[remote] api_key_env names `{var}`, but that environment variable is not set"
                ))
            })?;
            (Some(key), Some(var.clone()))
        }
        None if origin == UrlOrigin::OfficialEnv || names_host(&base_url, official.host) => {
            match env.var(official.key_var) {
                Some(key) => (Some(key), Some(official.key_var.to_string())),
                None => (None, None),
            }
        }
        None => (None, None),
    };
    let model = flags
        .model
        .clone()
        .or_else(|| config.model.clone())
        .or_else(|| config.remote.model.clone())
        .unwrap_or_default();
    Ok(Some(Endpoint {
        wire,
        base_url,
        origin,
        model,
        api_key,
        key_from,
    }))
}

/// Whether `url` is on `host` itself (not a look-alike such as `api.openai.com.evil`).
fn names_host(url: &str, host: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .ok()
        .is_some_and(|u| u.host_str() == Some(host))
}

/// The remote, with its context length asked of the server.
pub(super) fn open(
    flags: &BackendFlags,
    config: &Config,
) -> Result<Arc<dyn ModelBackend>, OpenError> {
    let endpoint = endpoint(flags, config, &ProcessEnv)?.ok_or_else(no_remote)?;
    Ok(match opened(&endpoint, config)? {
        Opened::Openai(b) => Arc::new(b),
        Opened::Anthropic(b) => Arc::new(b),
    })
}

fn no_remote() -> OpenError {
    OpenError::NoModel(
        "no remote server configured: set [remote] base_url in config (or LODE_REMOTE_URL, or --remote URL, or OPENAI_BASE_URL / ANTHROPIC_BASE_URL for the wire), e.g. http://127.0.0.1:8080/v1".to_string(),
    )
}

enum Opened {
    Openai(OpenAiBackend),
    Anthropic(AnthropicBackend),
}

impl Opened {
    fn base_url(&self) -> &str {
        match self {
            Self::Openai(b) => &b.config().base_url,
            Self::Anthropic(b) => &b.config().base_url,
        }
    }
}

/// Builds the backend and settles its context window, which costs at most the probe's
/// budget of round trips to the server.
fn opened(endpoint: &Endpoint, config: &Config) -> Result<Opened, OpenError> {
    let context_length = config.remote.context_length;
    let timeout_s = config.remote.timeout_s;
    let (base_url, model, api_key) = (
        endpoint.base_url.clone(),
        endpoint.model.clone(),
        endpoint.api_key.clone(),
    );
    let bad = |e: crate::backend::BackendError| OpenError::Config(e.to_string());
    Ok(match endpoint.wire {
        Wire::Openai => {
            let mut backend = OpenAiBackend::new(OpenAiConfig {
                base_url,
                model,
                api_key,
                timeout_s,
                context_length,
            })
            .map_err(bad)?;
            if let Some(window) = blocking(backend.discover_context()) {
                backend.set_context_window(window);
            }
            Opened::Openai(backend)
        }
        Wire::Anthropic => {
            let mut backend = AnthropicBackend::new(AnthropicConfig {
                base_url,
                model,
                api_key,
                timeout_s,
                max_tokens_default: ANTHROPIC_MAX_TOKENS,
                context_length,
            })
            .map_err(bad)?;
            if let Some(window) = blocking(backend.discover_context()) {
                backend.set_context_window(window);
            }
            Opened::Anthropic(backend)
        }
    })
}

/// Runs `fut` to the end on a thread of its own, so that opening a backend works the same
/// from plain code and from inside a runtime (where blocking on it directly would panic).
fn blocking<T: Send>(fut: impl Future<Output = T> + Send) -> Option<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
                    .map(|runtime| runtime.block_on(fut))
            })
            .join()
            .ok()
            .flatten()
    })
}

/// The remote as `lode doctor` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteSummary {
    pub wire: Wire,
    /// The API root lode sends to, after normalizing.
    pub base_url: String,
    pub origin: UrlOrigin,
    pub model: String,
    /// The variable the key came from; never the key.
    pub key_from: Option<String>,
    pub context: ContextWindow,
}

/// The remote the configuration names, opened and asked for its context (no turn is sent);
/// `Ok(None)` when no remote is configured.
pub fn summary(flags: &BackendFlags, config: &Config) -> Result<Option<RemoteSummary>, OpenError> {
    let Some(endpoint) = endpoint(flags, config, &ProcessEnv)? else {
        return Ok(None);
    };
    let opened = opened(&endpoint, config)?;
    let context = match &opened {
        Opened::Openai(b) => b.context_window().clone(),
        Opened::Anthropic(b) => b.context_window().clone(),
    };
    Ok(Some(RemoteSummary {
        wire: endpoint.wire,
        base_url: opened.base_url().to_owned(),
        origin: endpoint.origin,
        model: endpoint.model,
        key_from: endpoint.key_from,
        context,
    }))
}

#[cfg(test)]
mod tests;
