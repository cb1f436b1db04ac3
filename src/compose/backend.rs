//! Choosing and opening a backend from flags, environment and configuration — the same for
//! every command (`--backend local|openai|scripted:PATH`, `--model`, `LODE_BACKEND`,
//! `LODE_MODEL`), so a git hook or a CI job configures lode the way a person does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::fallback::{FallbackBackend, FallbackPolicy, Opener};
use crate::backend::local::LocalBackend;
use crate::backend::scripted::{ScriptError, ScriptedBackend};
use crate::backend::ModelBackend;
use crate::config::{BackendChoice, Config, FallbackChoice};
use crate::engine::options::ProgressFn;
use crate::engine::{ContextOptions, Engine, EngineConfig, LoadOptions};

/// Why no backend could be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No model to talk to (exit status 3): nothing configured, a missing or broken model
    /// file, a script that cannot be read.
    #[error("{0}")]
    NoModel(String),
    /// The configuration is wrong (exit status 2), a malformed script included.
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
    /// `--remote URL`: the remote server, first in line.
    pub remote: Option<String>,
    /// `--wire`: the remote's protocol.
    pub wire: Option<crate::config::Wire>,
    /// `--fallback`: who takes over when the remote is down.
    pub fallback: Option<FallbackChoice>,
    /// `--offline`: nothing goes over the network.
    pub offline: bool,
}

/// Opens the chosen backend. Local models are loaded now (with `progress` on a terminal).
/// A remote gets the fallback behind it (`--fallback`, `[fallback]`; by default the local
/// model when one is configured); `--offline` opens nothing that talks to the network.
pub fn open(
    flags: &BackendFlags,
    config: &Config,
    progress: Option<ProgressFn>,
) -> Result<Arc<dyn ModelBackend>, OpenError> {
    let choice = resolved_choice(flags, config);
    if flags.offline {
        return match choice {
            BackendChoice::Openai if flags.backend.is_some() || flags.remote.is_some() => {
                Err(OpenError::Config(
                    "--offline sends nothing over the network, so it cannot use the remote; drop --backend openai / --remote".to_string(),
                ))
            }
            BackendChoice::Scripted(path) => open_scripted(&path),
            _ => open_local(flags, config, progress),
        };
    }
    match choice {
        BackendChoice::Scripted(path) => open_scripted(&path),
        BackendChoice::Local => open_local(flags, config, progress),
        BackendChoice::Openai => {
            let primary = super::remote::open(flags, config)?;
            let fallback = flags
                .fallback
                .clone()
                .or_else(|| config.fallback.backend.clone())
                .unwrap_or(if config.models.large.is_some() {
                    FallbackChoice::Local
                } else {
                    FallbackChoice::None
                });
            let opener: Opener = match fallback {
                FallbackChoice::None => return Ok(primary),
                FallbackChoice::Scripted(path) => {
                    Arc::new(move || open_scripted(&path).map_err(|e| e.to_string()))
                }
                FallbackChoice::Local => {
                    let (flags, config) = (
                        BackendFlags {
                            // `--model` names the remote's model; the fallback is the local one.
                            model: None,
                            ..flags.clone()
                        },
                        config.clone(),
                    );
                    Arc::new(move || open_local(&flags, &config, None).map_err(|e| e.to_string()))
                }
            };
            let backend = Arc::new(FallbackBackend::new(
                primary,
                opener,
                FallbackPolicy {
                    return_to_primary: config.fallback.return_to_primary,
                    on_auth: config.fallback.on_auth,
                    retry: std::time::Duration::from_secs(config.fallback.retry_s),
                    warm: config.fallback.preload,
                },
            ));
            if config.fallback.preload {
                // Warm standby: the model loads while the remote serves the first turns.
                let standby = Arc::clone(&backend);
                std::thread::spawn(move || {
                    let _ = standby.preload();
                });
            }
            Ok(backend)
        }
    }
}

/// The backend [`open`] opens: the flag, else a remote when one is given, else the config's.
fn resolved_choice(flags: &BackendFlags, config: &Config) -> BackendChoice {
    let remote_configured = flags.remote.is_some() || config.remote.base_url.is_some();
    match &flags.backend {
        Some(choice) => choice.clone(),
        None if flags.remote.is_some() => BackendChoice::Openai,
        None if !config.agent.backend_chosen && remote_configured => BackendChoice::Openai,
        None => config.agent.backend.clone(),
    }
}

/// [`open`] would open the local engine and has no model file for it: the case where a
/// front end may pick one of the models on this machine instead of failing.
pub fn needs_local_model(flags: &BackendFlags, config: &Config) -> bool {
    let local = match resolved_choice(flags, config) {
        BackendChoice::Local => true,
        // `--offline` opens the local model in the remote's place, unless the remote was
        // named on the command line (an error `open` reports).
        BackendChoice::Openai => flags.offline && flags.backend.is_none() && flags.remote.is_none(),
        BackendChoice::Scripted(_) => false,
    };
    local && local_model_path(flags, config).is_none()
}

fn local_model_path(flags: &BackendFlags, config: &Config) -> Option<PathBuf> {
    flags
        .model
        .clone()
        .or_else(|| config.model.clone())
        .map(PathBuf::from)
        .or_else(|| config.models.large.clone())
}

fn open_scripted(path: &Path) -> Result<Arc<dyn ModelBackend>, OpenError> {
    ScriptedBackend::load(path)
        .map(|b| Arc::new(b) as Arc<dyn ModelBackend>)
        .map_err(|e| match e {
            // A script that is there but malformed is a mistake in what was passed, like a
            // bad flag; one that cannot be read is a model that is not there.
            ScriptError::Parse { .. } => OpenError::Config(e.to_string()),
            ScriptError::Read { .. } => OpenError::NoModel(e.to_string()),
        })
}

/// The in-process engine with `--model` / `LODE_MODEL` / `[models.large]`.
fn open_local(
    flags: &BackendFlags,
    config: &Config,
    progress: Option<ProgressFn>,
) -> Result<Arc<dyn ModelBackend>, OpenError> {
    let path = local_model_path(flags, config).ok_or_else(|| {
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
        flash_memo: Some(config.flash_memo()),
        ..LoadOptions::new(PathBuf::new())
    };
    plan.prepare(&mut options, config.models.draft.clone());
    let info = engine
        .blocking_load(options)
        .map_err(|e| OpenError::NoModel(e.to_string()))?;
    let speculation = plan.speculation(&info);
    Ok(Arc::new(
        LocalBackend::new(engine, info)
            .with_speculation(speculation)
            .with_held_turns(config.agent.held_turns),
    ))
}
