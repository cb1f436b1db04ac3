//! Who decides whether a call runs: the permission mode, protected paths (which need an
//! approval naming them), and the user, asked with the command or the diff in front of them.

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Agent, Interrupt};
use crate::agent::events::{AgentCommand, AgentEvent, Decision};
use crate::agent::permissions::Verdict;
use crate::backend::ToolCall;
use crate::tools::Permission;

impl Agent {
    /// Decides whether a validated call may run, asking the user where the mode says so.
    /// `Some(text)`: it may not, and `text` is what the model gets back.
    pub(super) async fn authorize(
        &mut self,
        call: &ToolCall,
        index: usize,
        permission: Permission,
        args: &serde_json::Value,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<Option<String>, Interrupt> {
        let protected = match permission {
            Permission::Write => self.protected_target(args),
            _ => None,
        };
        let verdict = match &protected {
            Some(path) => self
                .options
                .mode
                .protected_verdict(path, self.options.interactive),
            None => self.options.mode.verdict(
                &call.name,
                permission,
                self.options.interactive,
                &self.always,
            ),
        };
        match verdict {
            Verdict::Allowed => {}
            Verdict::Refused(reason) => {
                return Ok(Some(self.refuse(call, reason)));
            }
            Verdict::Ask => {
                // Show the change itself; an edit that cannot apply is reported to the model
                // without bothering the user.
                let diff = match self.tools[index].preview(args, &self.ctx) {
                    Some(Err(err)) => {
                        return Ok(Some(self.refuse(call, err.to_string())));
                    }
                    Some(Ok(diff)) => Some(diff),
                    None => None,
                };
                if !self
                    .ask(call, permission, args, diff, protected.as_deref(), commands)
                    .await?
                {
                    return Ok(Some(self.refuse(
                        call,
                        "the user declined this call; try another approach or ask what they want"
                            .to_string(),
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The protected path a writing call targets, if it does.
    fn protected_target(&self, args: &serde_json::Value) -> Option<String> {
        let path = args["path"].as_str()?;
        let resolved = self.ctx.workspace.resolve(path).ok()?;
        self.ctx.workspace.protected(&resolved)
    }

    /// Asks the user about one call. A `protected` path is named in the question, and
    /// "always" approves only this call: each protected write is asked for on its own.
    async fn ask(
        &mut self,
        call: &ToolCall,
        permission: Permission,
        args: &serde_json::Value,
        diff: Option<String>,
        protected: Option<&str>,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<bool, Interrupt> {
        let command = match call.name.as_str() {
            "shell" => args["command"].as_str().map(str::to_string),
            "run_tests" => Some(
                crate::tools::test::TestRun::plan(args, &self.ctx)
                    .map(|plan| plan.command)
                    .unwrap_or_else(|_| "the project's test command".to_string()),
            ),
            _ => None,
        };
        let root = self.ctx.workspace.root().display().to_string();
        let summary = match (&command, protected) {
            (Some(command), _) => format!("run `{command}` in {root}"),
            (None, Some(path)) => format!(
                "{} {path} — a protected path (git's or lode's own files, or hooks)",
                call.name
            ),
            (None, None) => format!(
                "{} {}",
                call.name,
                args["path"].as_str().unwrap_or_default()
            ),
        };
        self.emit(AgentEvent::ApprovalNeeded {
            id: call.id.clone(),
            tool: call.name.clone(),
            permission,
            summary,
            diff,
            cwd: command.is_some().then_some(root),
            command,
        });
        loop {
            match commands.recv().await {
                Some(AgentCommand::Approval { id, decision }) if id == call.id => {
                    return Ok(match decision {
                        Decision::Approve => true,
                        Decision::Reject => false,
                        Decision::AlwaysThisSession => {
                            if protected.is_none() {
                                self.always.push(permission);
                            }
                            true
                        }
                    });
                }
                Some(AgentCommand::Cancel) | None => {
                    self.ctx.cancel.cancel();
                    return Err(Interrupt::Cancelled);
                }
                Some(_) => {}
            }
        }
    }
}
