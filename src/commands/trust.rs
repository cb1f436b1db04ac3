//! `lode trust`: let a repository's own `.lode/config.toml` choose models, servers, commands
//! and the sandbox. Recorded in the user's config as `[projects."<root>"] trust = "trusted"`
//! (`--revoke` writes `untrusted`), the one file a repository cannot write.

use std::io::Write;
use std::path::Path;

use crate::cli::TrustArgs;
use crate::commands::CommandError;
use crate::config::{project_key, Config, TrustLevel};
use crate::exec::repo_root;

/// Runs `lode trust`.
pub fn run(args: &TrustArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let level = if args.revoke {
        TrustLevel::Untrusted
    } else {
        TrustLevel::Trusted
    };
    let line = record(config, &repo_root(&dir), level).map_err(CommandError::Trust)?;
    writeln!(out, "{line}")?;
    Ok(())
}

/// Records `level` for the repository at `root` in the user's config; returns what to tell
/// the user. Shared by `lode trust` and the session's `/trust`.
pub fn record(config: &Config, root: &Path, level: TrustLevel) -> Result<String, String> {
    let file = config.dirs.config.join("config.toml");
    let key = project_key(root);
    let header = format!("projects.{}", crate::config_edit::basic_string(&key));
    let mut body = toml::Table::new();
    let word = match level {
        TrustLevel::Trusted => "trusted",
        TrustLevel::Untrusted => "untrusted",
    };
    body.insert("trust".into(), toml::Value::String(word.into()));
    crate::config_edit::upsert_table(&file, &header, &body)
        .map_err(|e| format!("cannot record trust in {}: {e}", file.display()))?;
    Ok(match level {
        TrustLevel::Trusted => format!(
            "trusted {key}: its .lode/config.toml applies in full (recorded in {})",
            file.display()
        ),
        TrustLevel::Untrusted => format!(
            "{key} is not trusted: its .lode/config.toml may only tune performance (recorded in {})",
            file.display()
        ),
    })
}
