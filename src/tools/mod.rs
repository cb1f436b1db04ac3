//! The agent's tools: one file each. Every tool has a JSON schema, a permission class, runs
//! confined to the workspace root, and caps its output with a visible truncation mark.
//!
//! A tool failure is data for the model (sent back as the tool result so it can retry),
//! never a crash: `run` returns `Err(ToolError)` and the agent turns it into an error result.

pub mod confine;
pub mod edit;
pub mod fsutil;
pub mod git;
pub mod journal;
pub mod list;
pub mod mcp;
pub mod outline;
pub mod plan;
pub mod protect;
pub mod read;
pub mod regular;
pub mod run_lock;
pub mod search;
pub mod shell;
pub mod test;
pub mod workspace;
pub mod write;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use workspace::Workspace;

/// What a tool may do, which decides whether it needs approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Reads the workspace; never needs approval.
    Read,
    /// Changes files in the workspace.
    Write,
    /// Runs commands.
    Exec,
}

/// A tool's contract with the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    /// Canonical name (`read_file`, `edit_file`, …): scripts and tests rely on it.
    pub name: &'static str,
    /// One paragraph for models with room for it.
    pub description: &'static str,
    /// One line, for small context windows.
    pub short_description: &'static str,
    /// JSON schema of the arguments object.
    pub parameters: serde_json::Value,
    pub permission: Permission,
}

/// A successful tool result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// What the model sees (already capped, with a truncation mark when cut).
    pub content: String,
    /// A unified diff when the tool changed a file, for front ends to show.
    pub diff: Option<String>,
    /// Files the tool wrote (workspace-relative).
    pub changed: Vec<String>,
    /// Structured extras for front ends (plan steps, test counts); not shown to the model.
    pub data: Option<serde_json::Value>,
}

/// Why a tool call failed. The message goes back to the model, so it says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    BadArgs(String),
    #[error("path `{path}` is outside the workspace{reason}; use a path inside {root}")]
    OutsideWorkspace {
        path: String,
        root: String,
        reason: String,
    },
    #[error("{0}")]
    Failed(String),
    #[error("`{path}` changed on disk since it was last read; read it again before editing")]
    StaleFile { path: String },
    #[error("cancelled")]
    Cancelled,
}

/// A boxed future, so tools can be stored as trait objects.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send + 'a>>;

/// One tool.
pub trait Tool: Send + Sync {
    fn spec(&self) -> ToolSpec;
    fn run<'a>(&'a self, args: serde_json::Value, ctx: &'a ToolContext) -> ToolFuture<'a>;
    /// What the call would change, as a unified diff, without changing anything: shown to
    /// the user when the call needs approval. `None` for tools that change no files.
    fn preview(
        &self,
        _args: &serde_json::Value,
        _ctx: &ToolContext,
    ) -> Option<Result<String, ToolError>> {
        None
    }
}

/// A boxed future of a tool source's refreshed list.
pub type ToolSourceFuture<'a> = Pin<Box<dyn Future<Output = Refreshed> + Send + 'a>>;

/// What a tool source says at a turn boundary.
pub struct Refreshed {
    /// The source's tools now, when they changed since the last call; `None` when unchanged.
    pub tools: Option<Vec<Box<dyn Tool>>>,
    /// What went wrong since the last call (a server that could not start), one line each.
    pub problems: Vec<String>,
}

/// Tools whose list can change while the agent runs (MCP servers). The agent asks at each
/// turn boundary, so a change never reaches a turn halfway.
pub trait ToolSource: Send + Sync {
    fn refresh(&self) -> ToolSourceFuture<'_>;
}

/// Everything a tool call may use.
pub struct ToolContext {
    pub workspace: Workspace,
    /// Fingerprints of files as the agent last read or wrote them: edits to a file that
    /// changed on disk since are refused.
    pub seen: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, FileStamp>>,
    /// Test command configured by the user (`--test-cmd`), used by `run_tests` by default.
    pub test_command: Option<String>,
    /// Largest tool output, in bytes, before truncation.
    pub output_limit: usize,
    /// Set when the turn is cancelled; long-running tools stop and kill their children.
    pub cancel: crate::cancel::CancelFlag,
    /// The undo journal of this run: writers record a file here before changing it.
    /// `None` disables undo (tests, read-only runs).
    pub journal: Option<std::sync::Mutex<crate::tools::journal::Journal>>,
    /// The sandbox and environment of `shell` and `run_tests`.
    pub confine: crate::tools::confine::Confinement,
}

impl ToolContext {
    /// Output cap used when the caller has no better figure (about 8k tokens).
    pub const DEFAULT_OUTPUT_LIMIT: usize = 32 * 1024;

    /// A context with nothing seen, no test command, the default output cap, a fresh cancel
    /// flag, no journal and the default sandbox; set the public fields to change any of that.
    pub fn new(workspace: Workspace) -> Self {
        Self {
            confine: crate::tools::confine::Confinement::default_for(workspace.root()),
            workspace,
            seen: Default::default(),
            test_command: None,
            output_limit: Self::DEFAULT_OUTPUT_LIMIT,
            cancel: crate::cancel::CancelFlag::new(),
            journal: None,
        }
    }
}

/// Every tool, in the fixed order their schemas appear in prompts (a stable order keeps the
/// prompt prefix byte-identical across runs, so the KV cache hits).
pub fn all() -> Vec<Box<dyn Tool>> {
    vec![
        Box::new(read::ReadFile),
        Box::new(list::ListFiles),
        Box::new(search::Search),
        Box::new(outline::Outline),
        Box::new(edit::EditFile),
        Box::new(write::WriteFile),
        Box::new(shell::Shell),
        Box::new(test::RunTests),
        Box::new(git::GitStatus),
        Box::new(git::GitDiff),
        Box::new(plan::UpdatePlan),
    ]
}

/// The tools that only look (the reviewer's): read_file, search, outline.
pub fn read_only() -> Vec<Box<dyn Tool>> {
    vec![
        Box::new(read::ReadFile),
        Box::new(search::Search),
        Box::new(outline::Outline),
    ]
}

/// How a file looked when the agent last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub hash: [u8; 32],
}

impl FileStamp {
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            len: bytes.len() as u64,
            hash: *blake3::hash(bytes).as_bytes(),
        }
    }
}

/// Cuts `text` to at most `limit` bytes (on a char boundary) and says how much was cut.
pub fn cap_output(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut cut = limit;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let omitted = text.len() - cut;
    format!(
        "{}\n[… output truncated: {omitted} more bytes not shown; narrow the request (a line range, a path, a pattern) to see them]",
        &text[..cut]
    )
}

/// Reads a required string argument.
pub fn arg_str<'a>(args: &'a serde_json::Value, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ToolError::BadArgs(format!("`{name}` (a string) is required")))
}

/// Reads an optional string argument.
pub fn opt_str<'a>(args: &'a serde_json::Value, name: &str) -> Result<Option<&'a str>, ToolError> {
    match args.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ToolError::BadArgs(format!(
            "`{name}` must be a string, got {other}"
        ))),
    }
}

/// Reads an optional non-negative integer argument (also accepts integers written as strings,
/// which small models often produce).
pub fn opt_u64(args: &serde_json::Value, name: &str) -> Result<Option<u64>, ToolError> {
    match args.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ToolError::BadArgs(format!("`{name}` must be a non-negative integer"))),
        Some(serde_json::Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            ToolError::BadArgs(format!(
                "`{name}` must be a non-negative integer, got {s:?}"
            ))
        }),
        Some(other) => Err(ToolError::BadArgs(format!(
            "`{name}` must be a non-negative integer, got {other}"
        ))),
    }
}

/// The metadata of a file the model named, with errors that say what to do instead.
pub async fn metadata(
    resolved: &std::path::Path,
    shown: &str,
) -> Result<std::fs::Metadata, ToolError> {
    tokio::fs::metadata(resolved)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ToolError::Failed(format!(
                "`{shown}` does not exist; use list_files or search to find the right path"
            )),
            _ => ToolError::Failed(format!("cannot read `{shown}`: {e}")),
        })
}
