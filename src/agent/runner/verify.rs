//! Holding the model's "done" to the project's tests: the test command runs as a call like
//! any other (so `--ask` asks first), and only a green, unfiltered run after the last edit
//! lets the task end done.

use tokio::sync::mpsc::UnboundedReceiver;

use super::{tail, Agent, Interrupt};
use crate::agent::events::AgentCommand;
use crate::backend::ToolCall;
use crate::tools::Permission;

/// Whether the project's tests back the model's "done".
pub(super) enum Verification {
    Passed,
    /// They ran and failed; the text is for the model.
    Failed(String),
    /// They could not run (refused, declined); the text is for the user.
    NotRun(String),
}

impl Agent {
    /// Before accepting "done": if there is a test command and no green run since the last
    /// edit, run it — as a call like any other, so `--ask` asks first.
    pub(super) async fn verify(
        &mut self,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<Verification, Interrupt> {
        if self.green {
            return Ok(Verification::Passed);
        }
        if !self.tools.iter().any(|t| t.spec().name == "run_tests")
            || crate::tools::test::project_test_command(&self.ctx).is_none()
            || !self.options.mode.offers(Permission::Exec)
        {
            return Ok(Verification::Passed);
        }
        let call = ToolCall {
            id: format!("verify_{}", self.messages.len()),
            name: "run_tests".to_string(),
            arguments: "{}".to_string(),
        };
        let ran = self.runs_of_tests;
        let output = self.tool_call(&call, commands).await?;
        if self.green {
            return Ok(Verification::Passed);
        }
        if self.runs_of_tests == ran {
            // Refused or declined: nobody may run them, so the task cannot be shown done.
            return Ok(Verification::NotRun(format!(
                "the tests were not run, so the task is not verified: {}",
                output.trim_start_matches("error: ")
            )));
        }
        Ok(Verification::Failed(format!(
            "You said you are done, but the tests fail:\n{}",
            tail(&output, 4000)
        )))
    }
}
