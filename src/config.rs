//! Layered configuration: defaults < user file < repo `.lode/config.toml` < environment <
//! command-line flags.
//!
//! Every layer is optional and partial; later layers override only the keys they set.
//! `lode doctor` shows which files were read, so a surprising setting can be traced.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agent::hooks::HookOrigin;
use crate::engine::options::{default_threads, FlashAttention};
use crate::tools::mcp::ServerOrigin;

mod env;
mod fallback;
mod hooks;
mod mcp;
mod speculation;
mod trust;
pub use crate::backend::local::turns::HeldTurns;
use env::env_layer;
pub use env::{Env, ProcessEnv};
pub use fallback::{FallbackChoice, FallbackSettings, Wire};
pub use mcp::McpSettings;
pub use speculation::{length, SavedPolicy, SpecChoice, SpecPlan, SpeculationSettings};
pub use trust::{project_key, RepoTrust, TrustLevel};

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file `{}` is not valid: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is not valid: {reason}")]
    Env {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "cannot determine a home directory; set LODE_CONFIG_DIR, LODE_CACHE_DIR and LODE_DATA_DIR"
    )]
    NoHome,
}

/// The resolved configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// `LODE_MODEL`: a GGUF path for the local backend, a model name for a remote one; like
    /// `--model`, it is interpreted once the backend is known.
    pub model: Option<String>,
    pub engine: EngineSettings,
    pub models: ModelsConfig,
    pub remote: RemoteConfig,
    pub agent: AgentSettings,
    pub cache: CacheConfig,
    pub review: ReviewSettings,
    pub speculation: SpeculationSettings,
    pub router: RouterSettings,
    pub fallback: FallbackSettings,
    pub sandbox: SandboxSettings,
    /// MCP servers (`[mcp.servers.NAME]`, a trusted repository's `.mcp.json`).
    pub mcp: McpSettings,
    /// `[[hooks.<Event>]]` of the user's file, then of a trusted repository's.
    pub hooks: Vec<crate::agent::hooks::Hook>,
    pub dirs: Dirs,
    /// Config files that were found and read, in order of precedence (lowest first).
    pub sources: Vec<PathBuf>,
    /// The repository config that was found, and whether it was believed.
    pub repo_trust: Option<RepoTrust>,
    /// A `.mcp.json` that was found and not read, because its repository is not trusted.
    pub mcp_json_ignored: Option<PathBuf>,
}

/// What commands from the model may reach (`[sandbox]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SandboxSettings {
    pub mode: crate::tools::confine::SandboxMode,
    /// Whether commands may open network connections.
    pub network: bool,
    /// More directories commands may write.
    pub writable: Vec<PathBuf>,
    /// Secret-looking environment variables commands may still see.
    pub pass_env: Vec<String>,
}

/// In-process engine settings (`[engine]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineSettings {
    /// Context length; `None` = the model's own, capped.
    pub ctx_size: Option<u32>,
    pub threads: u32,
    /// GPU layers to offload; `None` = all when a GPU backend is built in.
    pub gpu_layers: Option<u32>,
    pub flash_attention: FlashAttention,
}

/// Local model files (`[models]`, `[models.large]`, `[models.small]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelsConfig {
    /// Where lode looks for GGUF files (besides Ollama, LM Studio and the HF cache).
    pub dir: PathBuf,
    /// The main model (`LODE_MODEL` / `--model` with the local backend).
    pub large: Option<PathBuf>,
    /// The small router/helper model.
    pub small: Option<PathBuf>,
    /// A small model with the large one's vocabulary that drafts tokens for it to verify.
    pub draft: Option<PathBuf>,
}

/// An OpenAI-compatible server (`[remote]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemoteConfig {
    /// e.g. `http://127.0.0.1:8080/v1`, `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    pub context_length: Option<u32>,
    /// The protocol: OpenAI-compatible or the Anthropic Messages API.
    pub wire: Wire,
    /// Seconds without a byte from the server before the turn counts as stalled.
    pub timeout_s: u64,
}

/// Agent settings (`[agent]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentSettings {
    pub backend: BackendChoice,
    /// Whether a layer chose the backend; if none did and a remote is configured, the
    /// remote goes first with the local model as its fallback.
    #[serde(skip)]
    pub backend_chosen: bool,
    pub max_turns: u32,
    /// The command that proves the task done; detected from the repo when unset.
    pub test_command: Option<String>,
    /// Whether local models' turns are held by grammar from their first token.
    pub held_turns: HeldTurns,
}

/// `lode review` settings (`[review]`): what the pre-commit hook does, since a hook takes no
/// flags.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewSettings {
    /// Seconds a review may take before it reports what it has.
    pub budget_s: u64,
    /// Lowest severity that fails the review: `error`, `warning`, `note` or `never`.
    pub fail_on: String,
    /// Model requests one review may make.
    pub max_turns: u32,
    /// Fail (exit 3) instead of passing when no model is available.
    pub strict: bool,
}

/// Routing settings (`[router]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouterSettings {
    /// `auto` (rules, then the small model), `small` or `large`.
    pub mode: crate::router::RouteMode,
}

/// Which model wire to use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// The in-process engine.
    Local,
    /// An OpenAI-compatible server (`[remote]`).
    Openai,
    /// Replay model turns from a JSON script.
    Scripted(PathBuf),
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "openai" | "remote" => Ok(Self::Openai),
            other => match other.strip_prefix("scripted:") {
                Some(path) if !path.is_empty() => Ok(Self::Scripted(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown backend `{other}`: use local, openai, or scripted:PATH"
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for BackendChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Disk prompt cache settings (`[cache]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheConfig {
    pub enabled: bool,
    pub max_mb: u64,
}

/// Where lode keeps its files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dirs {
    pub config: PathBuf,
    pub cache: PathBuf,
    pub data: PathBuf,
}

/// One layer (a file or the environment), every key optional. Unknown keys are errors.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    #[serde(default)]
    engine: EngineLayer,
    #[serde(default)]
    models: ModelsLayer,
    #[serde(default)]
    remote: RemoteLayer,
    #[serde(default)]
    agent: AgentLayer,
    #[serde(default)]
    cache: CacheLayer,
    #[serde(default)]
    review: ReviewLayer,
    #[serde(default)]
    speculation: speculation::SpeculationLayer,
    #[serde(default)]
    router: RouterLayer,
    #[serde(default)]
    fallback: fallback::FallbackLayer,
    #[serde(default)]
    sandbox: SandboxLayer,
    #[serde(default)]
    mcp: mcp::McpLayer,
    #[serde(default)]
    hooks: hooks::HooksLayer,
    /// Per-repository trust; believed only in the user's own file.
    #[serde(default)]
    projects: std::collections::BTreeMap<String, trust::ProjectLayer>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxLayer {
    mode: Option<crate::tools::confine::SandboxMode>,
    network: Option<bool>,
    writable: Option<Vec<PathBuf>>,
    pass_env: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterLayer {
    mode: Option<crate::router::RouteMode>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineLayer {
    ctx_size: Option<u32>,
    threads: Option<u32>,
    gpu_layers: Option<u32>,
    flash_attention: Option<FlashAttention>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsLayer {
    dir: Option<PathBuf>,
    #[serde(default)]
    large: ModelFileLayer,
    #[serde(default)]
    small: ModelFileLayer,
    #[serde(default)]
    draft: ModelFileLayer,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFileLayer {
    path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteLayer {
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    context_length: Option<u32>,
    wire: Option<Wire>,
    timeout_s: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentLayer {
    backend: Option<BackendChoice>,
    max_turns: Option<u32>,
    test_command: Option<String>,
    held_turns: Option<HeldTurns>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheLayer {
    enabled: Option<bool>,
    max_mb: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewLayer {
    budget_s: Option<u64>,
    fail_on: Option<String>,
    max_turns: Option<u32>,
    strict: Option<bool>,
}

impl Config {
    /// Loads every layer for a process started in `cwd`.
    pub fn load(cwd: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let dirs = Dirs::resolve(env)?;
        let mut layers = Vec::new();
        let mut sources = Vec::new();
        let user = dirs.config.join("config.toml");
        let mut projects = std::collections::BTreeMap::new();
        // Each file's servers, with where they came from (layers themselves do not say).
        let mut mcp_layers = Vec::new();
        let mut hooks = Vec::new();
        if user.is_file() {
            let mut layer = read_layer(&user)?;
            hooks = layer.hooks.hooks(HookOrigin::User, &user)?;
            projects.clone_from(&layer.projects);
            mcp_layers.push((
                std::mem::take(&mut layer.mcp),
                ServerOrigin::User,
                user.clone(),
            ));
            layers.push(layer);
            sources.push(user);
        }
        let mut repo_trust = None;
        if let Some(path) = find_repo_config(cwd) {
            let mut layer = read_layer(&path)?;
            let root = path
                .parent()
                .and_then(Path::parent)
                .unwrap_or(cwd)
                .to_path_buf();
            let trusted = trust::is_trusted(&projects, &root);
            let ignored = trust::strip(&mut layer, trusted);
            hooks.extend(layer.hooks.hooks(HookOrigin::Repository, &path)?);
            repo_trust = Some(RepoTrust {
                root,
                trusted,
                ignored,
            });
            mcp_layers.push((
                std::mem::take(&mut layer.mcp),
                ServerOrigin::Repository(path.clone()),
                path.clone(),
            ));
            layers.push(layer);
            sources.push(path);
        }
        let mut mcp_json_ignored = None;
        if let Some(path) = mcp::find_mcp_json(cwd) {
            let root = path.parent().unwrap_or(cwd);
            if trust::is_trusted(&projects, root) {
                let layer = mcp::read_mcp_json(&path).map_err(|message| ConfigError::Parse {
                    path: path.clone(),
                    message,
                })?;
                mcp_layers.push((layer, ServerOrigin::Repository(path.clone()), path.clone()));
                sources.push(path);
            } else {
                mcp_json_ignored = Some(path);
            }
        }
        layers.push(env_layer(env)?);
        let mut config = Self {
            model: env.var("LODE_MODEL"),
            engine: EngineSettings {
                ctx_size: None,
                threads: default_threads(),
                gpu_layers: None,
                flash_attention: FlashAttention::Auto,
            },
            models: ModelsConfig {
                dir: dirs.data.join("models"),
                large: None,
                small: None,
                draft: None,
            },
            remote: RemoteConfig {
                base_url: None,
                model: None,
                api_key_env: None,
                context_length: None,
                wire: Wire::Openai,
                timeout_s: 120,
            },
            agent: AgentSettings {
                backend: BackendChoice::Local,
                backend_chosen: false,
                max_turns: 30,
                test_command: None,
                held_turns: HeldTurns::Auto,
            },
            cache: CacheConfig {
                enabled: true,
                max_mb: 4096,
            },
            review: ReviewSettings {
                budget_s: 60,
                fail_on: "error".to_string(),
                max_turns: 8,
                strict: false,
            },
            speculation: SpeculationSettings::default(),
            router: RouterSettings {
                mode: crate::router::RouteMode::Auto,
            },
            fallback: FallbackSettings::default(),
            sandbox: SandboxSettings::default(),
            mcp: McpSettings::default(),
            hooks,
            dirs,
            sources,
            repo_trust,
            mcp_json_ignored,
        };
        for layer in layers {
            config.apply(layer);
        }
        for (layer, origin, path) in mcp_layers {
            config
                .mcp
                .apply(layer, &origin)
                .map_err(|message| ConfigError::Parse { path, message })?;
        }
        Ok(config)
    }

    fn apply(&mut self, layer: Layer) {
        let e = layer.engine;
        set_some(&mut self.engine.ctx_size, e.ctx_size);
        set(&mut self.engine.threads, e.threads);
        set_some(&mut self.engine.gpu_layers, e.gpu_layers);
        set(&mut self.engine.flash_attention, e.flash_attention);
        set(&mut self.models.dir, layer.models.dir);
        set_some(&mut self.models.large, layer.models.large.path);
        set_some(&mut self.models.small, layer.models.small.path);
        set_some(&mut self.models.draft, layer.models.draft.path);
        let r = layer.remote;
        set_some(&mut self.remote.base_url, r.base_url);
        set_some(&mut self.remote.model, r.model);
        set_some(&mut self.remote.api_key_env, r.api_key_env);
        set_some(&mut self.remote.context_length, r.context_length);
        set(&mut self.remote.wire, r.wire);
        set(&mut self.remote.timeout_s, r.timeout_s);
        self.agent.backend_chosen |= layer.agent.backend.is_some();
        set(&mut self.agent.backend, layer.agent.backend);
        set(&mut self.agent.max_turns, layer.agent.max_turns);
        set_some(&mut self.agent.test_command, layer.agent.test_command);
        set(&mut self.agent.held_turns, layer.agent.held_turns);
        set(&mut self.cache.enabled, layer.cache.enabled);
        set(&mut self.cache.max_mb, layer.cache.max_mb);
        let r = layer.review;
        set(&mut self.review.budget_s, r.budget_s);
        set(&mut self.review.fail_on, r.fail_on);
        set(&mut self.review.max_turns, r.max_turns);
        set(&mut self.review.strict, r.strict);
        self.speculation.apply(layer.speculation);
        set(&mut self.router.mode, layer.router.mode);
        self.fallback.apply(layer.fallback);
        let s = layer.sandbox;
        set(&mut self.sandbox.mode, s.mode);
        set(&mut self.sandbox.network, s.network);
        set(&mut self.sandbox.writable, s.writable);
        set(&mut self.sandbox.pass_env, s.pass_env);
    }

    /// The one line saying which repository settings were ignored as untrusted, if any.
    pub fn untrusted_notice(&self) -> Option<String> {
        let mcp_json = self.mcp_json_ignored.as_ref().map(|path| {
            format!(
                "{} defines MCP servers — not started because this repository is not trusted; \
                 run `lode trust` (or /trust in a session) to start them",
                path.display()
            )
        });
        let lines: Vec<String> = self
            .repo_trust
            .as_ref()
            .and_then(RepoTrust::notice)
            .into_iter()
            .chain(mcp_json)
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    }

    /// The sandbox for commands run in `root`, with `[sandbox]` applied and the remote
    /// backend's key variable hidden as well.
    pub fn confinement(&self, root: &Path) -> crate::tools::confine::Confinement {
        let hide: Vec<String> = self.remote.api_key_env.iter().cloned().collect();
        crate::tools::confine::Confinement::new(
            root,
            self.sandbox.mode,
            self.sandbox.network,
            &self.sandbox.writable,
            &self.sandbox.pass_env,
            &hide,
        )
    }

    /// Where the router keeps the heads it fitted, one per small model and label set.
    pub fn router_heads(&self) -> PathBuf {
        self.dirs.cache.join("router")
    }

    /// Where `auto` flash attention remembers its measurements.
    pub fn flash_memo(&self) -> PathBuf {
        self.dirs.cache.join("flash-attention.json")
    }

    /// The disk prompt cache settings for the engine, if enabled.
    pub fn disk_cache(&self) -> Option<crate::engine::DiskCacheConfig> {
        self.cache.enabled.then(|| crate::engine::DiskCacheConfig {
            dir: self.dirs.cache.clone(),
            max_bytes: self.cache.max_mb.saturating_mul(1024 * 1024),
        })
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn set_some<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

impl Dirs {
    fn resolve(env: &dyn Env) -> Result<Self, ConfigError> {
        let project = directories::ProjectDirs::from("dev", "lode", "lode");
        let pick = |name: &str, default: Option<&Path>| -> Result<PathBuf, ConfigError> {
            env.var(name)
                .map(PathBuf::from)
                .or_else(|| default.map(Path::to_path_buf))
                .ok_or(ConfigError::NoHome)
        };
        Ok(Self {
            config: pick("LODE_CONFIG_DIR", project.as_ref().map(|p| p.config_dir()))?,
            cache: pick("LODE_CACHE_DIR", project.as_ref().map(|p| p.cache_dir()))?,
            data: pick("LODE_DATA_DIR", project.as_ref().map(|p| p.data_dir()))?,
        })
    }
}

fn find_repo_config(cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(".lode").join("config.toml");
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

fn read_layer(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
