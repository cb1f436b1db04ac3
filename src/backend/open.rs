//! Choosing and opening a backend from flags, environment and configuration — the same for
//! every command (`--backend local|openai|scripted:PATH`, `--model`, `LODE_BACKEND`,
//! `LODE_MODEL`), so a git hook or a CI job configures lode the way a person does.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::local::LocalBackend;
use crate::backend::openai::{OpenAiBackend, OpenAiConfig};
use crate::backend::scripted::ScriptedBackend;
use crate::backend::ModelBackend;
use crate::config::{BackendChoice, Config};
use crate::engine::options::ProgressFn;
use crate::engine::{ContextOptions, Engine, EngineConfig, LoadOptions};

/// Why no backend could be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No model to talk to (exit status 3): nothing configured, a missing or broken model
    /// file, a script that cannot be read.
    #[error("{0}")]
    NoModel(String),
    /// The configuration is wrong (exit status 2).
    #[error("{0}")]
    Config(String),
}

/// What the caller chose on the command line; `None` falls back to env and config.
#[derive(Clone, Debug, Default)]
pub struct BackendFlags {
    pub backend: Option<BackendChoice>,
    /// A GGUF path for the local backend, a model name for a remote one.
    pub model: Option<String>,
    pub ctx_size: Option<u32>,
    pub threads: Option<u32>,
    /// `--route`: how tasks are routed between models.
    pub route: Option<crate::router::RouteMode>,
    /// `--small-model`: a GGUF path or `scripted:PATH`.
    pub small_model: Option<String>,
}

/// Opens the chosen backend. Local models are loaded now (with `progress` on a terminal).
pub fn open(
    flags: &BackendFlags,
    config: &Config,
    progress: Option<ProgressFn>,
) -> Result<Arc<dyn ModelBackend>, OpenError> {
    let choice = flags
        .backend
        .clone()
        .unwrap_or_else(|| config.agent.backend.clone());
    let model = flags.model.clone().or_else(|| config.model.clone());
    match choice {
        BackendChoice::Scripted(path) => ScriptedBackend::load(&path)
            .map(|b| Arc::new(b) as Arc<dyn ModelBackend>)
            .map_err(|e| OpenError::NoModel(e.to_string())),
        BackendChoice::Openai => {
            let base_url = config.remote.base_url.clone().ok_or_else(|| {
                OpenError::NoModel(
                    "no remote server configured: set [remote] base_url in config (or LODE_REMOTE_URL), e.g. http://127.0.0.1:8080/v1".to_string(),
                )
            })?;
            let api_key = match &config.remote.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    OpenError::Config(format!(
                        "[remote] api_key_env names `{var}`, but that environment variable is not set"
                    ))
                })?),
                None => None,
            };
            let backend = OpenAiBackend::new(OpenAiConfig {
                base_url,
                model: model
                    .or_else(|| config.remote.model.clone())
                    .unwrap_or_default(),
                api_key,
                timeout_s: 300,
                context_length: config.remote.context_length,
            })
            .map_err(|e| OpenError::Config(e.to_string()))?;
            Ok(Arc::new(backend))
        }
        BackendChoice::Local => {
            let path = model
                .map(PathBuf::from)
                .or_else(|| config.models.large.clone())
                .ok_or_else(|| {
                    OpenError::NoModel(
                        "no model available: pass --model PATH.gguf, set LODE_MODEL, or set [models.large] path in config (`lode models` lists GGUF files on this machine)".to_string(),
                    )
                })?;
            let threads = flags.threads.unwrap_or(config.engine.threads).max(1);
            let engine = Engine::spawn(EngineConfig {
                disk_cache: config.disk_cache(),
                max_sessions: Some(2),
            })
            .map_err(|e| OpenError::NoModel(e.to_string()))?;
            let plan = config.speculation.plan_for(&path);
            let mut options = LoadOptions {
                path,
                gpu_layers: config.engine.gpu_layers,
                context: ContextOptions {
                    n_ctx: flags.ctx_size.or(config.engine.ctx_size),
                    threads,
                    threads_batch: threads,
                    flash_attention: config.engine.flash_attention,
                    ..ContextOptions::default()
                },
                progress,
                ..LoadOptions::new(PathBuf::new())
            };
            plan.prepare(&mut options, config.models.draft.clone());
            let info = engine
                .blocking_load(options)
                .map_err(|e| OpenError::NoModel(e.to_string()))?;
            let speculation = plan.speculation(&info);
            Ok(Arc::new(
                LocalBackend::new(engine, info).with_speculation(speculation),
            ))
        }
    }
}
