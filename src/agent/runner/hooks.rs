//! Where the loop runs hooks (`agent/hooks.rs`): before an approved call runs, after it ran,
//! before a prompt reaches the model, and when the model's "done" has passed the tests. The
//! hooks of one point run in order; the first that blocks ends that point's run.

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{wait_for_cancel, Agent, Interrupt};
use crate::agent::events::{AgentCommand, AgentEvent, HookResult};
use crate::agent::hooks::{run_hook, Hook, HookEvent, HookOutcome, Hooks};
use crate::agent::permissions::PermissionMode;
use crate::backend::ToolCall;
use crate::tools::confine::{Confinement, SandboxMode};
use crate::tools::{FileStamp, ToolOutput};

/// The most times Stop hooks may send the model back to work in one task: a hook that always
/// blocks must not spend the whole turn budget.
pub(super) const MAX_STOP_CONTINUES: u32 = 3;

/// What the Stop hooks decided about the model's "done".
pub(super) enum StopVerdict {
    /// The task may end.
    Stop,
    /// Back to work, for this reason.
    Continue(String),
    /// They still object after `MAX_STOP_CONTINUES` continues: the task ends not done.
    GiveUp(String),
}

/// What the hooks of one point decided.
enum Gate {
    /// None blocked; what the successful ones added, in order.
    Pass(Vec<String>),
    /// One blocked, with this reason.
    Blocked(String),
}

impl Agent {
    /// The hooks this agent runs from now on (none until this is called).
    pub fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = hooks;
    }

    /// `PreToolUse` for a validated, approved call. `Some(text)`: a hook refused it, and
    /// `text` is the error the model gets.
    pub(super) async fn pre_tool_hooks(
        &mut self,
        call: &ToolCall,
        args: &Value,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<Option<String>, Interrupt> {
        let fields = json!({"tool_name": call.name, "tool_input": args});
        Ok(
            match self
                .hooks_at(HookEvent::PreToolUse, Some(call), fields, commands)
                .await?
            {
                Gate::Blocked(reason) => Some(self.refuse(
                    call,
                    format!("a PreToolUse hook blocked this call: {reason}"),
                )),
                Gate::Pass(_) => None,
            },
        )
    }

    /// `PostToolUse` after a call ran without error; returns what is added to its result: a
    /// blocking hook's reason, and a note for every file the call changed that a hook
    /// changed again (a formatter), which the model must read before editing it.
    pub(super) async fn post_tool_hooks(
        &mut self,
        call: &ToolCall,
        args: &Value,
        output: &ToolOutput,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<String, Interrupt> {
        let fields = json!({
            "tool_name": call.name,
            "tool_input": args,
            "tool_response": {"output": output.content, "changed": output.changed},
        });
        let mut added = String::new();
        if let Gate::Blocked(reason) = self
            .hooks_at(HookEvent::PostToolUse, Some(call), fields, commands)
            .await?
        {
            added.push_str(&format!("\n\n[a PostToolUse hook says: {reason}]"));
        }
        for path in output.changed.iter().filter(|p| self.changed_since_seen(p)) {
            added.push_str(&format!(
                "\n\n[a PostToolUse hook changed {path} after this call; read it again before editing it]"
            ));
        }
        Ok(added)
    }

    /// `UserPromptSubmit`: `Ok(text)` is the prompt with what the hooks added, `Err(reason)`
    /// that a hook refused it.
    pub(super) async fn prompt_hooks(
        &mut self,
        prompt: &str,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<Result<String, String>, Interrupt> {
        let fields = json!({"prompt": prompt});
        Ok(
            match self
                .hooks_at(HookEvent::UserPromptSubmit, None, fields, commands)
                .await?
            {
                Gate::Blocked(reason) => Err(reason),
                Gate::Pass(context) if context.is_empty() => Ok(prompt.to_string()),
                Gate::Pass(context) => Ok(format!("{prompt}\n\n{}", context.join("\n\n"))),
            },
        )
    }

    /// `Stop`, when the task would end done. `stop_hook_active` tells a hook it already sent
    /// the model back in this task, so it can let it stop; past `MAX_STOP_CONTINUES` the
    /// task ends not done instead of looping.
    pub(super) async fn stop_hooks(
        &mut self,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<StopVerdict, Interrupt> {
        let fields = json!({"stop_hook_active": self.stop_continues > 0});
        match self
            .hooks_at(HookEvent::Stop, None, fields, commands)
            .await?
        {
            Gate::Blocked(reason) if self.stop_continues >= MAX_STOP_CONTINUES => {
                Ok(StopVerdict::GiveUp(reason))
            }
            Gate::Blocked(reason) => {
                self.stop_continues += 1;
                Ok(StopVerdict::Continue(reason))
            }
            Gate::Pass(_) => Ok(StopVerdict::Stop),
        }
    }

    /// Runs the hooks of `event` (for `call`'s tool) with the common input plus `fields`,
    /// each reported as `HookRan`; a cancel kills the running one.
    async fn hooks_at(
        &mut self,
        event: HookEvent,
        call: Option<&ToolCall>,
        fields: Value,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<Gate, Interrupt> {
        let hooks: Vec<Hook> = self
            .hooks
            .matching(event, call.map(|c| c.name.as_str()))
            .cloned()
            .collect();
        let mut context = Vec::new();
        if hooks.is_empty() {
            return Ok(Gate::Pass(context));
        }
        let root = self.ctx.workspace.root().to_path_buf();
        let mut input = json!({
            "session_id": self.hooks.session_id(),
            "cwd": root.display().to_string(),
            "hook_event_name": event.name(),
        });
        if let (Some(input), Value::Object(fields)) = (input.as_object_mut(), fields) {
            input.extend(fields);
        }
        let confine = self.hook_confinement();
        for hook in &hooks {
            let outcome = tokio::select! {
                outcome = run_hook(hook, &input, &root, &self.ctx.cancel, &confine) => outcome,
                () = wait_for_cancel(commands) => {
                    self.ctx.cancel.cancel();
                    return Err(Interrupt::Cancelled);
                }
            };
            let Some(outcome) = outcome else {
                return Err(Interrupt::Cancelled);
            };
            let (result, output) = match &outcome {
                HookOutcome::Success { context } => (HookResult::Ok, context.clone()),
                HookOutcome::Blocked { reason } => (HookResult::Blocked, reason.clone()),
                HookOutcome::Failed { message } => (HookResult::Failed, message.clone()),
            };
            self.emit(AgentEvent::HookRan {
                event,
                command: hook.command.clone(),
                tool: call.map(|c| c.name.clone()),
                id: call.map(|c| c.id.clone()),
                result,
                output,
            });
            match outcome {
                HookOutcome::Blocked { reason } => return Ok(Gate::Blocked(reason)),
                HookOutcome::Success { context: added } if !added.is_empty() => {
                    context.push(added);
                }
                HookOutcome::Success { .. } | HookOutcome::Failed { .. } => {}
            }
        }
        Ok(Gate::Pass(context))
    }

    /// Hooks run confined like `shell`; in read-only mode nothing the agent starts may write
    /// the workspace, hooks included.
    fn hook_confinement(&self) -> Confinement {
        let mut confine = self.ctx.confine.clone();
        if self.options.mode == PermissionMode::ReadOnly {
            confine.mode = SandboxMode::ReadOnly;
        }
        confine
    }

    /// Whether the file at workspace path `rel` differs from what the agent last read or
    /// wrote.
    fn changed_since_seen(&self, rel: &str) -> bool {
        let Ok(abs) = self.ctx.workspace.resolve(rel) else {
            return false;
        };
        let seen = self
            .ctx
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (seen.get(&abs), std::fs::read(&abs)) {
            (Some(stamp), Ok(bytes)) => *stamp != FileStamp::of(&bytes),
            (Some(_), Err(_)) => true,
            (None, _) => false,
        }
    }
}
