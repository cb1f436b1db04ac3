//! The environment as a configuration layer: `LODE_*` variables, above the files and below
//! the flags.

use std::path::PathBuf;

use super::{
    fallback, hooks, mcp, speculation, AgentLayer, CacheLayer, ConfigError, EngineLayer, Layer,
    ModelsLayer, RemoteLayer, ReviewLayer, RouterLayer, SandboxLayer,
};

/// Reads the process environment; tests pass their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

pub(super) fn env_layer(env: &dyn Env) -> Result<Layer, ConfigError> {
    fn parse<T: std::str::FromStr>(
        env: &dyn Env,
        name: &'static str,
    ) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        env.var(name)
            .map(|value| {
                value.parse().map_err(|e: T::Err| ConfigError::Env {
                    name,
                    value: value.clone(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }
    Ok(Layer {
        engine: EngineLayer {
            ctx_size: parse(env, "LODE_CTX_SIZE")?,
            threads: parse(env, "LODE_THREADS")?,
            gpu_layers: parse(env, "LODE_GPU_LAYERS")?,
            flash_attention: None,
        },
        models: ModelsLayer {
            dir: env.var("LODE_MODEL_DIR").map(PathBuf::from),
            ..ModelsLayer::default()
        },
        remote: RemoteLayer {
            base_url: env.var("LODE_REMOTE_URL"),
            ..RemoteLayer::default()
        },
        agent: AgentLayer {
            backend: parse(env, "LODE_BACKEND")?,
            ..AgentLayer::default()
        },
        cache: CacheLayer {
            enabled: parse(env, "LODE_CACHE")?,
            max_mb: parse(env, "LODE_CACHE_MAX_MB")?,
        },
        review: ReviewLayer::default(),
        speculation: speculation::SpeculationLayer {
            mode: parse(env, "LODE_SPEC")?,
            ..speculation::SpeculationLayer::default()
        },
        router: RouterLayer {
            mode: parse(env, "LODE_ROUTE")?,
        },
        fallback: fallback::FallbackLayer {
            backend: parse(env, "LODE_FALLBACK")?,
            ..fallback::FallbackLayer::default()
        },
        sandbox: SandboxLayer {
            mode: parse(env, "LODE_SANDBOX")?,
            ..SandboxLayer::default()
        },
        mcp: mcp::McpLayer::default(),
        hooks: hooks::HooksLayer::default(),
        projects: std::collections::BTreeMap::new(),
    })
}
