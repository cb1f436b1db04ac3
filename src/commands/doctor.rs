//! `lode doctor`: what this build can do and where it keeps things, for bug reports and for
//! "why is it slow".

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::commands::CommandError;
use crate::compose::backend::BackendFlags;
use crate::compose::remote::{self, RemoteSummary, UrlOrigin};
use crate::compose::routing::{available_memory, gib, memory_shortfall};
use crate::config::Config;
use crate::engine::llama::{self, Device};
use crate::router::RouteMode;

/// Everything `lode doctor` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: &'static str,
    /// Cargo features compiled in (`metal`, `cuda`, `vulkan`).
    pub features: Vec<&'static str>,
    /// SIMD features the binary was compiled for: a native build (`-C target-cpu=native`)
    /// on an AVX-512 machine lists avx512f; a portable build stops at the baseline.
    pub compiled_for: Vec<&'static str>,
    pub cpu_features: String,
    pub devices: Vec<Device>,
    pub gpu_offload: bool,
    pub logical_cpus: usize,
    pub threads: u32,
    pub config: Config,
    pub cache_bytes: u64,
    pub router: RouterStatus,
    /// The remote server, when one is named, with the context length it reports.
    pub remote: Option<RemoteSummary>,
    /// Why the named remote could not be set up (a bad URL, an unset key variable).
    pub remote_error: Option<String>,
}

/// How requests will be routed, and whether the small model can be used.
#[derive(Debug, Serialize)]
pub struct RouterStatus {
    /// `[router] mode` (or LODE_ROUTE).
    pub mode: RouteMode,
    /// `[models.small] path`.
    pub small_model: Option<PathBuf>,
    /// Whether that file exists.
    pub exists: bool,
    pub size_bytes: Option<u64>,
    /// `MemAvailable` now; `None` where it cannot be read (not Linux).
    pub free_bytes: Option<u64>,
    /// Whether it fits in free memory beside its context, by the router's own estimate;
    /// `None` when there is no file or free memory cannot be read.
    pub fits: Option<bool>,
    /// What routing will do, in a sentence.
    pub note: String,
}

/// The router's configuration checked against the disk and free memory, by the same rule
/// the router applies when it opens the small model.
pub fn router_status(config: &Config) -> RouterStatus {
    let mode = config.router.mode;
    let free_bytes = available_memory();
    let Some(path) = config.models.small.clone() else {
        let note = if mode == RouteMode::Large {
            "every request goes to the large model ([router] mode = large)"
        } else {
            "no small model configured ([models.small] path): routing answers one-call \
             requests by rules and sends everything else to the large model"
        };
        return RouterStatus {
            mode,
            small_model: None,
            exists: false,
            size_bytes: None,
            free_bytes,
            fits: None,
            note: note.to_string(),
        };
    };
    let size_bytes = std::fs::metadata(&path).ok().map(|m| m.len());
    let shortfall = memory_shortfall(&path);
    let fits = match (size_bytes, free_bytes) {
        (Some(_), Some(_)) => Some(shortfall.is_none()),
        _ => None,
    };
    let note = match (size_bytes, shortfall) {
        (None, _) => format!(
            "the small model `{}` does not exist: routing answers one-call requests by rules \
             and sends everything else to the large model (fix [models.small] path)",
            path.display()
        ),
        (Some(_), Some(short)) => short,
        (Some(size), None) if mode == RouteMode::Large => format!(
            "every request goes to the large model ([router] mode = large); the small model \
             ({:.2} GB) is not used",
            gib(size)
        ),
        (Some(size), None) => format!(
            "the small model ({:.2} GB{}) classifies what the rules do not answer",
            gib(size),
            match free_bytes {
                Some(free) => format!(", {:.1} GB free", gib(free)),
                None => String::new(),
            }
        ),
    };
    RouterStatus {
        mode,
        small_model: Some(path),
        exists: size_bytes.is_some(),
        size_bytes,
        free_bytes,
        fits,
        note,
    }
}

/// Gathers the report.
pub fn report(config: &Config) -> Result<Report, CommandError> {
    let devices = llama::devices().map_err(crate::engine::EngineError::from)?;
    let mut features = Vec::new();
    if cfg!(target_os = "macos") {
        features.push("metal");
    }
    if cfg!(feature = "cuda") {
        features.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        features.push("vulkan");
    }
    let cache = crate::engine::cache::DiskCache::new(&config.dirs.cache, u64::MAX);
    let (remote, remote_error) = match remote::summary(&BackendFlags::default(), config) {
        Ok(summary) => (summary, None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Report {
        version: env!("CARGO_PKG_VERSION"),
        features,
        compiled_for: compiled_for(),
        cpu_features: llama::system_info(),
        gpu_offload: llama::gpu_offload().unwrap_or(false),
        devices,
        logical_cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        threads: config.engine.threads,
        cache_bytes: cache.size_bytes(),
        config: config.clone(),
        router: router_status(config),
        remote,
        remote_error,
    })
}

/// Runs `lode doctor`.
pub fn run(json: bool, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let r = report(config)?;
    if json {
        let text = serde_json::to_string_pretty(&r).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    writeln!(out, "lode {}", r.version)?;
    let features = if r.features.is_empty() {
        "cpu only".to_string()
    } else {
        r.features.join(", ")
    };
    writeln!(
        out,
        "build        {features}; compiled for: {}",
        r.compiled_for.join(" ")
    )?;
    writeln!(out, "cpu          {}", r.cpu_features)?;
    for d in &r.devices {
        let memory = if d.memory_total > 0 {
            format!(
                ", {} MiB free of {} MiB",
                d.memory_free >> 20,
                d.memory_total >> 20
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "device       {} ({}, {}){memory}",
            d.name, d.description, d.kind
        )?;
    }
    writeln!(out, "gpu offload  {}", yes_no(r.gpu_offload))?;
    writeln!(
        out,
        "threads      {} of {} logical CPUs",
        r.threads, r.logical_cpus
    )?;
    writeln!(out, "config dir   {}", r.config.dirs.config.display())?;
    writeln!(
        out,
        "cache dir    {} ({} MiB of prompt cache)",
        r.config.dirs.cache.display(),
        r.cache_bytes >> 20
    )?;
    writeln!(out, "data dir     {}", r.config.dirs.data.display())?;
    writeln!(out, "model dir    {}", r.config.models.dir.display())?;
    match &r.config.models.large {
        Some(path) => writeln!(out, "model        {}", path.display())?,
        None => writeln!(
            out,
            "model        (none set: pass --model or set LODE_MODEL)"
        )?,
    }
    let mode = match r.router.mode {
        RouteMode::Auto => "auto",
        RouteMode::Small => "small",
        RouteMode::Large => "large",
    };
    match &r.router.small_model {
        Some(path) => writeln!(
            out,
            "router       {mode}; small model {}: {}",
            path.display(),
            r.router.note
        )?,
        None => writeln!(out, "router       {mode}; {}", r.router.note)?,
    }
    if let Some(remote) = &r.remote {
        writeln!(out, "remote       {}", remote_line(remote))?;
    }
    if let Some(error) = &r.remote_error {
        writeln!(out, "remote       {error}")?;
    }
    if r.config.sources.is_empty() {
        writeln!(out, "config files (none)")?;
    }
    for source in &r.config.sources {
        writeln!(out, "config file  {}", source.display())?;
    }
    if let Some(trust) = &r.config.repo_trust {
        let verdict = match (trust.trusted, trust.ignored.as_slice()) {
            (true, _) => "trusted".to_string(),
            (false, []) => "not trusted (it sets nothing that needs trust)".to_string(),
            (false, ignored) => format!("not trusted: ignoring {}", ignored.join(", ")),
        };
        writeln!(out, "repository   {verdict} (`lode trust` to change)")?;
    }
    let sandbox = r.config.confinement(std::path::Path::new("."));
    let enforced = match sandbox.notice() {
        Some(notice) => notice,
        None => "enforced".to_string(),
    };
    writeln!(
        out,
        "sandbox      {}, network {}: {enforced}",
        r.config.sandbox.mode,
        if r.config.sandbox.network {
            "allowed"
        } else {
            "off"
        }
    )?;
    Ok(())
}

/// `http://h:8080/v1 (openai, from --remote), model m, key from OPENAI_API_KEY: context …`.
fn remote_line(remote: &RemoteSummary) -> String {
    let wire = match remote.wire {
        crate::config::Wire::Openai => "openai",
        crate::config::Wire::Anthropic => "anthropic",
    };
    let origin = match remote.origin {
        UrlOrigin::Flag => "--remote",
        UrlOrigin::Config => "[remote] base_url / LODE_REMOTE_URL",
        UrlOrigin::OfficialEnv => match remote.wire {
            crate::config::Wire::Openai => "OPENAI_BASE_URL",
            crate::config::Wire::Anthropic => "ANTHROPIC_BASE_URL",
        },
    };
    let model = if remote.model.is_empty() {
        "no model named".to_string()
    } else {
        format!("model {}", remote.model)
    };
    let key = match &remote.key_from {
        Some(var) => format!("key from {var}"),
        None => "no key".to_string(),
    };
    format!(
        "{} ({wire}, from {origin}), {model}, {key}: context {}",
        remote.base_url,
        remote.context.describe()
    )
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn compiled_for() -> Vec<&'static str> {
    let mut found = vec![std::env::consts::ARCH];
    macro_rules! check {
        ($($feature:tt),*) => {$(
            if cfg!(target_feature = $feature) {
                found.push($feature);
            }
        )*};
    }
    check!(
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512vnni",
        "neon",
        "dotprod"
    );
    found
}
