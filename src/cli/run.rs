//! `lode run`: the one-shot agent's flags and their conversion into `RunOptions`.

use std::path::PathBuf;

use clap::Args;

use super::AgentArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Print every agent event as a JSON line on stdout (after a `header` line).
    #[arg(long)]
    pub json: bool,
    /// Continue a saved session (a run's or the interactive session's), by id or prefix.
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,
    /// A JSON schema file: the final answer is JSON that matches it (local models are held
    /// to it by grammar; other answers are checked, and a mismatch is exit 1).
    #[arg(long, value_name = "FILE")]
    pub output_schema: Option<PathBuf>,
    /// The task; `/name args` runs a custom command's prompt (`.lode/commands/name.md` or
    /// the config dir's `commands/name.md`).
    pub task: Option<String>,
}

impl RunArgs {
    /// `lode run`'s flags as the options `exec::run` takes.
    pub fn options(&self) -> crate::exec::RunOptions {
        let agent = &self.agent;
        crate::exec::RunOptions {
            task: self.task.clone(),
            backend: agent.backend.flags(Some(&agent.routing)),
            mode: agent
                .permissions
                .mode(crate::agent::PermissionMode::AutoEdit),
            max_turns: agent.max_turns,
            test_command: agent.test_cmd.clone(),
            cwd: agent.cwd.clone(),
            json: self.json,
            read_stdin: true,
            resume: self.resume.clone(),
            output_schema: self.output_schema.clone(),
        }
    }
}
