//! What every front end builds before its first task: the agent itself, from configuration
//! plus the front end's own choices. The coding agent (the session, `lode run`) gets every
//! tool, the sandbox from `[sandbox]`, the configured test command and the hooks; the reviewer gets the
//! read-only tools, a read-only sandbox and its own instructions. Both are then driven the
//! same way, with `Op`s through `agent::host::serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::agent::context::UserInstructions;
use crate::agent::hooks::Hooks;
use crate::agent::{Agent, AgentEvent, AgentOptions, PermissionMode};
use crate::backend::ModelBackend;
use crate::config::Config;
use crate::tools::confine::SandboxMode;
use crate::tools::mcp::McpHub;
use crate::tools::{ToolContext, Workspace};

/// Largest tool output the coding agent's model sees, in bytes.
const CODING_OUTPUT_LIMIT: usize = 16 * 1024;
/// The reviewer reads more files in a smaller budget.
const REVIEW_OUTPUT_LIMIT: usize = 12 * 1024;
/// The most tokens one coding turn may generate; the agent sizes each turn below it from what
/// is left of the context (`agent::budget`).
const CODING_TURN_TOKENS: u32 = 4096;

/// A front end's choices for a coding agent; configuration supplies the rest.
pub struct CodingSetup {
    pub mode: PermissionMode,
    /// `--max-turns`; `[agent] max_turns` when `None`.
    pub max_turns: Option<u32>,
    /// `--test-cmd`; `[agent] test_command` (or detection) when `None`.
    pub test_command: Option<String>,
    /// Whether someone can answer approval requests.
    pub interactive: bool,
    /// Where lode was started (project instructions are read down to it).
    pub cwd: PathBuf,
    /// `--output-schema`: the final answer must match it.
    pub answer_schema: Option<serde_json::Value>,
    /// The MCP servers' tools, offered after the built-in ones (`mcp_hub` starts them).
    pub mcp: Option<Arc<McpHub>>,
    /// The saved session's id, which hooks are told; `None`: one made up for this process.
    pub session_id: Option<String>,
}

/// Starts connecting to the configured MCP servers in the background, on the current tokio
/// runtime; `None` when none is configured.
pub fn mcp_hub(config: &Config, workspace: &Workspace) -> Option<Arc<McpHub>> {
    let specs = config.mcp.specs();
    (!specs.is_empty()).then(|| McpHub::launch(specs, workspace.root()))
}

/// The coding agent over `workspace`, and the notices a person should see once the model is
/// open (how its turns are held, what the sandbox cannot enforce here). The untrusted
/// repository's notice is the front end's to show first, before a model may fail to open. Routing is added by the caller (`Agent::with_routing`), since the
/// session opens it in the background.
pub fn coding_agent(
    config: &Config,
    workspace: Workspace,
    backend: Arc<dyn ModelBackend>,
    setup: CodingSetup,
    events: UnboundedSender<AgentEvent>,
) -> (Agent, Vec<String>) {
    let confine = config.confinement(workspace.root());
    let mut ctx = ToolContext::new(workspace);
    ctx.test_command = setup
        .test_command
        .or_else(|| config.agent.test_command.clone());
    ctx.output_limit = CODING_OUTPUT_LIMIT;
    ctx.confine = confine;
    let mut notices: Vec<String> = backend
        .turn_mode()
        .map(|mode| format!("{}: {mode}", backend.model_name()))
        .into_iter()
        .collect();
    // A remote's context decides when the conversation is compacted; say where it came from.
    notices.extend(backend.context_note().map(|note| {
        let name = backend.model_name();
        let name = if name.is_empty() {
            backend.kind().to_string()
        } else {
            name
        };
        format!("{name}: context {note}")
    }));
    notices.extend(ctx.confine.notice());
    let options = AgentOptions {
        mode: setup.mode,
        max_turns: setup.max_turns.unwrap_or(config.agent.max_turns).max(1),
        max_tokens: CODING_TURN_TOKENS,
        temperature: 0.0,
        interactive: setup.interactive,
        cwd: setup.cwd,
        system_prompt: None,
        user_instructions: user_instructions(&config.dirs.config, &mut notices),
        answer_schema: setup.answer_schema,
    };
    let mut agent = Agent::new(backend, crate::tools::all(), ctx, options, events);
    if let Some(hub) = setup.mcp {
        let tools = hub.tools();
        agent = agent.with_tool_source(hub, tools);
    }
    let session_id = setup
        .session_id
        .unwrap_or_else(|| format!("lode-{}", std::process::id()));
    agent.set_hooks(Hooks::new(config.hooks.clone(), session_id));
    (agent, notices)
}

/// The user's file of instructions for every repository.
pub const USER_INSTRUCTIONS_FILE: &str = "AGENTS.md";

/// `<config dir>/AGENTS.md`, read once per agent (the system message must not change while
/// it lives). A file that cannot be read is a notice, not a failure.
fn user_instructions(config_dir: &Path, notices: &mut Vec<String>) -> Option<UserInstructions> {
    let path = config_dir.join(USER_INSTRUCTIONS_FILE);
    let shown = path.display().to_string();
    match crate::tools::regular::read_regular(&path, &shown, MAX_USER_INSTRUCTIONS_BYTES) {
        Ok(None) => None,
        Ok(Some(bytes)) => UserInstructions::new(shown, &String::from_utf8_lossy(&bytes)),
        Err(e) => {
            notices.push(format!("your instructions file is left out: {e}"));
            None
        }
    }
}

/// Read at most this much of the user's instructions (the prompt keeps 16 KiB of it).
const MAX_USER_INSTRUCTIONS_BYTES: u64 = 1024 * 1024;

/// What the reviewer brings of its own.
pub struct ReviewSetup {
    /// Its instructions (they replace the coding agent's system message).
    pub system_prompt: String,
    /// The findings schema its answer is held to.
    pub answer_schema: serde_json::Value,
    pub max_turns: u32,
    /// Tokens one answer may take.
    pub answer_tokens: u32,
}

/// The reviewer: it may look, never touch.
pub fn review_agent(
    workspace: Workspace,
    backend: Arc<dyn ModelBackend>,
    setup: ReviewSetup,
    events: UnboundedSender<AgentEvent>,
) -> Agent {
    let mut ctx = ToolContext::new(workspace);
    ctx.output_limit = REVIEW_OUTPUT_LIMIT;
    ctx.confine.mode = SandboxMode::ReadOnly;
    let options = AgentOptions {
        mode: PermissionMode::ReadOnly,
        max_turns: setup.max_turns.max(1),
        max_tokens: setup.answer_tokens,
        temperature: 0.0,
        interactive: false,
        cwd: ctx.workspace.root().to_path_buf(),
        system_prompt: Some(setup.system_prompt),
        user_instructions: None,
        answer_schema: Some(setup.answer_schema),
    };
    Agent::new(backend, crate::tools::read_only(), ctx, options, events)
}
