//! Opening the small model and the router for a session: `[models.small]` (or
//! `--small-model`) loaded in its own engine thread when it fits in free memory beside the
//! large one, serving both tier 1 (classification, in its own KV session) and the small
//! lane's agent loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::agent::Routing;
use crate::backend::local::LocalBackend;
use crate::backend::scripted::ScriptedBackend;
use crate::backend::ModelBackend;
use crate::config::Config;
use crate::engine::options::ProgressFn;
use crate::engine::{
    ContextOptions, DiskCacheConfig, Engine, EngineConfig, EngineError, LoadOptions, ModelInfo,
};
use crate::router::probe::ProbeModel;
use crate::router::{Probe, RouteMode, Router};

/// Context for the small model: a small lane's task plus the classifier's prompt.
const SMALL_CTX: u32 = 8192;

/// The small model, as far as it could be opened.
pub struct Small {
    pub backend: Option<Arc<dyn ModelBackend>>,
    pub classifier: Option<Probe>,
    /// Why a small model that was asked for (`--small-model`, `[models.small]`) is not
    /// there, for the user to read. Without one asked for, the router's own reasons say
    /// what it does, and there is no note.
    pub note: Option<String>,
}

impl Small {
    /// No small model, and none was asked for.
    fn absent() -> Self {
        Self {
            backend: None,
            classifier: None,
            note: None,
        }
    }

    fn none(note: impl Into<String>) -> Self {
        Self {
            backend: None,
            classifier: None,
            note: Some(note.into()),
        }
    }
}

/// Opens the small model named by `spec` (`scripted:PATH` or a GGUF path), else
/// `[models.small] path`. A GGUF that does not fit in free memory is not loaded, and the
/// note says so: routing then uses rules and the large model.
pub fn open_small(spec: Option<&str>, config: &Config, threads: Option<u32>) -> Small {
    let path = match spec {
        Some(spec) => match spec.strip_prefix("scripted:") {
            Some(script) => {
                return match ScriptedBackend::load(Path::new(script)) {
                    Ok(backend) => Small {
                        backend: Some(Arc::new(backend)),
                        classifier: None,
                        note: None,
                    },
                    Err(e) => Small::none(format!("the small model's script: {e}")),
                }
            }
            None => PathBuf::from(spec),
        },
        None => match &config.models.small {
            Some(path) => path.clone(),
            None => return Small::absent(),
        },
    };
    if let Some(short) = memory_shortfall(&path) {
        return Small::none(short);
    }
    let threads = threads.unwrap_or(config.engine.threads).max(1);
    let context = ContextOptions {
        threads,
        threads_batch: threads,
        flash_attention: config.engine.flash_attention,
        ..ContextOptions::default()
    };
    let loaded = load_small(
        &path,
        config.engine.gpu_layers,
        context,
        config.disk_cache(),
        Some(config.flash_memo()),
        || None,
    );
    match loaded {
        Ok((engine, info)) => Small {
            classifier: Some(Probe::new(
                ProbeModel {
                    full: engine.clone(),
                    info: info.clone(),
                    gpu_layers: config.engine.gpu_layers,
                    threads,
                    flash_attention: config.engine.flash_attention,
                    disk_cache: config.disk_cache(),
                },
                Some(config.router_heads()),
            )),
            backend: Some(Arc::new(
                LocalBackend::new(engine, info).with_held_turns(config.agent.held_turns),
            )),
            note: None,
        },
        Err(e) => Small::none(format!(
            "the small model `{}` did not load ({e}): routing uses rules and the large model",
            path.display()
        )),
    }
}

/// Loads the small model at `path` in an engine of its own, at [`SMALL_CTX`] tokens of
/// context or the model's own when it declares fewer. `context` gives the threads and flash
/// attention; `progress` makes a load-progress callback for each attempt.
pub(crate) fn load_small(
    path: &Path,
    gpu_layers: Option<u32>,
    context: ContextOptions,
    disk_cache: Option<DiskCacheConfig>,
    flash_memo: Option<PathBuf>,
    progress: impl Fn() -> Option<ProgressFn>,
) -> Result<(Engine, ModelInfo), EngineError> {
    let engine = Engine::spawn(EngineConfig {
        disk_cache,
        max_sessions: Some(3),
    })?;
    let options = |n_ctx| LoadOptions {
        gpu_layers,
        context: ContextOptions {
            n_ctx: Some(n_ctx),
            ..context.clone()
        },
        progress: progress(),
        flash_memo: flash_memo.clone(),
        ..LoadOptions::new(path)
    };
    let info = engine.blocking_load_at_most(SMALL_CTX, options)?;
    Ok((engine, info))
}

/// The router and the models of one session.
pub fn routing(
    mode: RouteMode,
    small: Small,
    large: Arc<dyn ModelBackend>,
    data_dir: Option<PathBuf>,
) -> Routing {
    Routing {
        router: Router::new(mode, small.classifier, small.backend.is_some()),
        small: small.backend,
        large,
        data_dir,
    }
}

/// Why `path` should not be loaded now: it and its context would not fit in the memory
/// that is free. `None` when it fits, or when free memory cannot be read (not Linux).
pub(crate) fn memory_shortfall(path: &Path) -> Option<String> {
    let size = std::fs::metadata(path).ok()?.len();
    // Weights plus KV cache, compute buffers, and the router's probe (the first third of the
    // layers with the embeddings and output, at most half the file): a generous guess rather
    // than a precise one, since running out of memory is far worse than not routing.
    let need = size + size / 4 + size / 2 + (256 << 20);
    let free = available_memory()?;
    (need > free).then(|| {
        format!(
            "the small model `{}` needs about {:.1} GB and {:.1} GB are free: it is not loaded, and routing uses rules and the large model",
            path.display(),
            gib(need),
            gib(free)
        )
    })
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// `MemAvailable` from /proc/meminfo, in bytes.
pub(crate) fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Opens what a session routes with, from flags and config. A missing small model is not
/// an error: the note says what routing does without it.
pub fn open_routing(
    mode: Option<RouteMode>,
    small_spec: Option<&str>,
    config: &Config,
    threads: Option<u32>,
    large: Arc<dyn ModelBackend>,
) -> (Routing, Option<String>) {
    let mode = mode.unwrap_or(config.router.mode);
    let asked = small_spec.is_some() || config.models.small.is_some();
    let small = match mode {
        RouteMode::Large if asked => {
            Small::none("--route large: every task runs on the large model")
        }
        RouteMode::Large => Small::absent(),
        _ => open_small(small_spec, config, threads),
    };
    let note = small.note.clone();
    let data = Some(config.dirs.data.clone());
    (routing(mode, small, large, data), note)
}
