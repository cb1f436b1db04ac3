//! What every coding front end builds before its first task: the tool context (workspace,
//! test command, journal, output cap, cancel flag, sandbox) from configuration plus the front
//! end's own choices, and the notices a person should see at start.

use crate::backend::ModelBackend;
use crate::cancel::CancelFlag;
use crate::config::Config;
use crate::tools::journal::Journal;
use crate::tools::{ToolContext, Workspace};

/// A front end's choices for its tools; configuration supplies the rest.
pub struct ToolSetup {
    /// `--test-cmd`; `[agent] test_command` (or detection) when `None`.
    pub test_command: Option<String>,
    /// The undo journal, where the front end keeps one.
    pub journal: Option<Journal>,
    /// Largest tool output, in bytes.
    pub output_limit: usize,
    pub cancel: CancelFlag,
}

/// The tool context for `workspace` under `config`: the sandbox from `[sandbox]` (with the
/// remote's key variable hidden from commands).
pub fn tool_context(config: &Config, workspace: Workspace, setup: ToolSetup) -> ToolContext {
    let confine = config.confinement(workspace.root());
    let mut ctx = ToolContext::new(workspace);
    ctx.test_command = setup
        .test_command
        .or_else(|| config.agent.test_command.clone());
    ctx.journal = setup.journal.map(std::sync::Mutex::new);
    ctx.output_limit = setup.output_limit;
    ctx.cancel = setup.cancel;
    ctx.confine = confine;
    ctx
}

/// What to tell the person once the model is loaded: how its turns are held, and what the
/// sandbox cannot enforce on this machine.
pub fn start_notices(ctx: &ToolContext, backend: &dyn ModelBackend) -> Vec<String> {
    let turns = backend
        .turn_mode()
        .map(|mode| format!("{}: {mode}", backend.model_name()));
    turns.into_iter().chain(ctx.confine.notice()).collect()
}
