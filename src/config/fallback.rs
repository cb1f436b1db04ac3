//! Where turns go when the remote is down (`[fallback]`), and which protocol the remote
//! speaks (`[remote] wire`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The remote's protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// OpenAI-compatible chat completions: OpenAI, llama-server, vLLM, Ollama, LM Studio.
    #[default]
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
}

impl std::str::FromStr for Wire {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown wire `{s}`: use openai or anthropic"))
    }
}

/// The backend that takes over when the remote is down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackChoice {
    /// The in-process engine with `[models.large]`.
    Local,
    /// Replay a script (tests, demos).
    Scripted(PathBuf),
    /// No fallback: an outage ends the turn with its error.
    None,
}

impl std::str::FromStr for FallbackChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "none" | "off" => Ok(Self::None),
            other => match other.strip_prefix("scripted:") {
                Some(path) if !path.is_empty() => Ok(Self::Scripted(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown fallback `{other}`: use local, none, or scripted:PATH"
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for FallbackChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The resolved `[fallback]` section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FallbackSettings {
    /// `None`: local when a local model is configured, else no fallback.
    pub backend: Option<FallbackChoice>,
    /// Load the fallback model at start and keep it ready, so a switch costs seconds.
    pub preload: bool,
    /// Go back to the remote once it answers again.
    pub return_to_primary: bool,
    /// Treat refused credentials (HTTP 401/403) as an outage.
    pub on_auth: bool,
    /// Seconds on the fallback before the remote is tried again (doubling while it stays
    /// down, up to five minutes).
    pub retry_s: u64,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        Self {
            backend: None,
            preload: false,
            return_to_primary: true,
            on_auth: false,
            retry_s: 15,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FallbackLayer {
    pub backend: Option<FallbackChoice>,
    pub preload: Option<bool>,
    pub return_to_primary: Option<bool>,
    pub on_auth: Option<bool>,
    pub retry_s: Option<u64>,
}

impl FallbackSettings {
    pub(super) fn apply(&mut self, layer: FallbackLayer) {
        if layer.backend.is_some() {
            self.backend = layer.backend;
        }
        if let Some(v) = layer.preload {
            self.preload = v;
        }
        if let Some(v) = layer.return_to_primary {
            self.return_to_primary = v;
        }
        if let Some(v) = layer.on_auth {
            self.on_auth = v;
        }
        if let Some(v) = layer.retry_s {
            self.retry_s = v;
        }
    }
}
