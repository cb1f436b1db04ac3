//! `lode review` and `lode hook`: the reviewer's flags and their conversion into `ReviewOptions`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::BackendArgs;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Review a revision range instead: A..B, A...B (from the merge base) or one commit.
    #[arg(long, value_name = "RANGE", conflicts_with = "uncommitted")]
    pub range: Option<String>,
    /// Review staged and unstaged changes against HEAD instead.
    #[arg(long)]
    pub uncommitted: bool,
    /// Print the report as one JSON object.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// Print the report as SARIF 2.1.0.
    #[arg(long)]
    pub sarif: bool,
    /// Fail (exit 1) on findings at or above this severity: error, warning, note or never
    /// (default: `[review] fail_on`, or error).
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<crate::review::findings::FailOn>,
    /// Seconds the review may take; then it reports what it has (default: `[review]
    /// budget_s`, or 60).
    #[arg(long, value_name = "SECONDS")]
    pub budget: Option<u64>,
    /// Exit 3 instead of 0 when the change could not be reviewed (no model, a failing model).
    #[arg(long)]
    pub strict: bool,
    /// Model requests one review may make (default: `[review] max_turns`, or 8).
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u32>,
    /// Review the repository containing this directory.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Run by the pre-commit hook: a refusal says how to commit anyway, and a broken
    /// configuration passes with a notice instead of blocking.
    #[arg(long, hide = true)]
    pub hook: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub action: HookAction,
}

#[derive(Debug, Subcommand)]
pub enum HookAction {
    /// Write the pre-commit hook (an existing one is kept and chained).
    Install {
        /// The repository (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// Remove lode's hook and restore what was there before.
    Uninstall {
        /// The repository (default: the current one).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
}

impl ReviewArgs {
    /// `lode review`'s flags over the `[review]` settings, as `review::run` takes them.
    ///
    /// # Errors
    /// `[review] fail_on` is not a level.
    pub fn options(
        &self,
        config: &crate::config::Config,
    ) -> Result<crate::review::ReviewOptions, String> {
        use crate::review::changes::Scope;
        use crate::review::Format;
        let fail_on = match self.fail_on {
            Some(level) => level,
            None => config
                .review
                .fail_on
                .parse()
                .map_err(|e| format!("[review] fail_on: {e}"))?,
        };
        let scope = match (&self.range, self.uncommitted) {
            (Some(range), _) => Scope::Range(range.clone()),
            (None, true) => Scope::Uncommitted,
            (None, false) => Scope::Staged,
        };
        Ok(crate::review::ReviewOptions {
            scope,
            backend: self.backend.flags(None),
            format: if self.sarif {
                Format::Sarif
            } else if self.json {
                Format::Json
            } else {
                Format::Text
            },
            fail_on,
            budget: std::time::Duration::from_secs(
                self.budget.unwrap_or(config.review.budget_s).max(1),
            ),
            strict: self.strict || config.review.strict,
            max_turns: self.max_turns.unwrap_or(config.review.max_turns),
            cwd: self.cwd.clone(),
            hook: self.hook,
        })
    }
}
