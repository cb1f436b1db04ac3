//! `lode sessions`: the saved sessions of a repository, listed or exported.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: SessionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List this repository's saved sessions, newest first: id, age, first message.
    #[command(after_long_help = "Example:\n  lode sessions list --cwd ~/src/app")]
    List(SessionsListArgs),
    /// Write a saved session as Markdown (messages, answers, tool calls, diffs) or JSON (its
    /// records as saved).
    #[command(
        after_long_help = "Without -o the export goes to stdout. An existing file is never \
replaced without --force.\n\nExamples:\n  lode sessions export 20260301-101500 > session.md\n  \
lode sessions export 2026 --format json -o session.json"
    )]
    Export(SessionsExportArgs),
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    /// The repository whose sessions to list (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SessionsExportArgs {
    /// The session id, or a unique prefix of it (`lode sessions list` shows them).
    pub id: String,
    /// md (for people) or json (the records as saved).
    #[arg(long, value_enum, default_value = "md")]
    pub format: ExportFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the -o file if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// The repository the session belongs to (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

impl ExportFormat {
    pub fn format(self) -> crate::sessions::export::Format {
        match self {
            ExportFormat::Md => crate::sessions::export::Format::Markdown,
            ExportFormat::Json => crate::sessions::export::Format::Json,
        }
    }
}
