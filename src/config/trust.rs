//! Whether a repository's own `.lode/config.toml` is believed. A repository is code someone
//! else wrote: until the user trusts it (`lode trust`, or `/trust` in a session, recorded in
//! the user's own config), its settings that choose where data goes or what runs (hooks included) are dropped
//! with a notice. What stays is harmless tuning: engine threads, context size, cache size,
//! turn limits, review thresholds, routing and speculation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Layer;

/// `[projects."<root>"]` in the user's config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProjectLayer {
    pub trust: Option<TrustLevel>,
}

/// How far a repository is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    Trusted,
    Untrusted,
}

/// What was decided about the repository config that was found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RepoTrust {
    /// The repository root (the directory holding `.lode/`).
    pub root: PathBuf,
    pub trusted: bool,
    /// Keys the repository config set that were dropped because it is not trusted.
    pub ignored: Vec<String>,
}

impl RepoTrust {
    /// One line for the user when something was ignored.
    pub fn notice(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        Some(format!(
            "{} sets {} — ignored because this repository is not trusted; run `lode trust` (or \
             /trust in a session) to use them",
            self.root.join(".lode").join("config.toml").display(),
            self.ignored.join(", ")
        ))
    }
}

/// The key under which `root` is recorded in `[projects]`.
pub fn project_key(root: &Path) -> String {
    root.canonicalize()
        .unwrap_or_else(|_| root.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Whether the user's `projects` table trusts `root`.
pub(super) fn is_trusted(projects: &BTreeMap<String, ProjectLayer>, root: &Path) -> bool {
    projects
        .get(&project_key(root))
        .is_some_and(|p| p.trust == Some(TrustLevel::Trusted))
}

/// Drops from a repository layer what only a trusted repository may set; returns their names.
/// `projects` is dropped whatever the trust: a repository cannot vouch for itself.
pub(super) fn strip(layer: &mut Layer, trusted: bool) -> Vec<String> {
    let mut ignored = Vec::new();
    let mut drop = |name: &str, present: bool| {
        if present {
            ignored.push(name.to_string());
        }
    };
    drop("projects", !layer.projects.is_empty());
    layer.projects.clear();
    if trusted {
        return ignored;
    }
    let m = std::mem::take(&mut layer.models);
    drop("models.dir", m.dir.is_some());
    drop("models.large.path", m.large.path.is_some());
    drop("models.small.path", m.small.path.is_some());
    drop("models.draft.path", m.draft.path.is_some());
    let r = std::mem::take(&mut layer.remote);
    drop("remote.base_url", r.base_url.is_some());
    drop("remote.model", r.model.is_some());
    drop("remote.api_key_env", r.api_key_env.is_some());
    drop("remote.context_length", r.context_length.is_some());
    drop("remote.wire", r.wire.is_some());
    drop("remote.timeout_s", r.timeout_s.is_some());
    drop("agent.backend", layer.agent.backend.take().is_some());
    drop(
        "agent.test_command",
        layer.agent.test_command.take().is_some(),
    );
    drop("fallback.backend", layer.fallback.backend.take().is_some());
    let s = std::mem::take(&mut layer.sandbox);
    drop("sandbox.mode", s.mode.is_some());
    drop("sandbox.network", s.network.is_some());
    drop("sandbox.writable", s.writable.is_some());
    drop("sandbox.pass_env", s.pass_env.is_some());
    drop(
        "mcp.servers",
        !std::mem::take(&mut layer.mcp.servers).is_empty(),
    );
    // Hooks run commands on every call and prompt: only the user's own or a trusted
    // repository's.
    ignored.extend(std::mem::take(&mut layer.hooks).keys());
    ignored
}
