//! The loop: plan, inspect, edit, test — until the tests pass and the model says it is done,
//! or the turn budget is spent. Talks to models only through `ModelBackend` and to the world
//! only through tools; reports everything as `AgentEvent`s.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::agent::context;
use crate::agent::events::{AgentCommand, AgentEvent, Outcome, PlanStep};
use crate::agent::hooks::Hooks;
use crate::agent::permissions::{PermissionMode, Verdict};
use crate::backend::toolcall;
use crate::backend::{
    BackendError, ChatRequest, Message, ModelBackend, ModelEvent, Role, StopReason, ToolCall,
};
use crate::tools::{Permission, Tool, ToolContext, ToolError, ToolOutput, ToolSource, ToolSpec};

/// Added to the result of a call the model made, word for word, in its previous turn.
pub const REPEATED_CALL: &str = "(You made this exact call in your previous turn. Use what it \
     returned: call a different tool, change the arguments, or give your final answer.)";

mod approval;
mod hooks;
mod overflow;
mod routing;
mod verify;
use hooks::{StopVerdict, MAX_STOP_CONTINUES};
use overflow::Fitted;
pub use routing::Routing;
use routing::{Lanes, Strike};
use verify::Verification;

/// How an agent runs.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub mode: PermissionMode,
    /// Model requests allowed for one task.
    pub max_turns: u32,
    /// Tokens one model turn may generate.
    pub max_tokens: u32,
    /// 0 = greedy (deterministic).
    pub temperature: f32,
    /// Whether a user can answer approval requests.
    pub interactive: bool,
    /// Directory the agent was started in (project instructions are read down to it).
    pub cwd: PathBuf,
    /// Replaces the coding agent's system message (the reviewer brings its own). It must
    /// not change between runs: it is the prefix the disk prompt cache keeps.
    pub system_prompt: Option<String>,
    /// The user's instructions for every repository, put before the project's in the coding
    /// agent's system message.
    pub user_instructions: Option<context::UserInstructions>,
    /// JSON schema the final answer (a turn without tool calls) must match; local models
    /// are held to it by grammar.
    pub answer_schema: Option<serde_json::Value>,
}

/// One agent: a conversation with a model over a workspace.
pub struct Agent {
    backend: Arc<dyn ModelBackend>,
    tools: Vec<Box<dyn Tool>>,
    ctx: ToolContext,
    options: AgentOptions,
    events: UnboundedSender<AgentEvent>,
    messages: Vec<Message>,
    offered: Vec<ToolSpec>,
    always: Vec<Permission>,
    /// Whether the project's whole test command has passed since the last edit (an edit
    /// clears it).
    green: bool,
    /// How many times the test command has run (to tell a refused run from a failed one).
    runs_of_tests: u32,
    /// Whether the last test run, filtered or not, passed.
    last_tests_passed: bool,
    /// The router and its models, when the agent routes between lanes.
    lanes: Lanes,
    /// Tools that may change between turns (MCP servers); theirs follow the first `fixed`.
    source: Option<Arc<dyn ToolSource>>,
    fixed: usize,
    /// The user's (and a trusted repository's) hooks.
    hooks: Hooks,
    /// How often Stop hooks sent the model back to work in this task.
    stop_continues: u32,
    /// What overflow answers taught about the model's context.
    fit: crate::agent::budget::Fit,
    /// Whether the last turn ran out of tokens: the next one gets an answer's budget.
    cut_off: bool,
}

/// What stops a run between steps.
enum Interrupt {
    Cancelled,
}

impl Agent {
    /// An agent over `ctx.workspace`, with the system message built now (it stays fixed).
    pub fn new(
        backend: Arc<dyn ModelBackend>,
        tools: Vec<Box<dyn Tool>>,
        ctx: ToolContext,
        options: AgentOptions,
        events: UnboundedSender<AgentEvent>,
    ) -> Self {
        let context_length = backend.context_length();
        let fixed = tools.len();
        let offered = context::offered_tools(&tools, options.mode, context_length);
        let system = system_text(&ctx, &options, context_length);
        Self {
            backend,
            tools,
            ctx,
            options,
            events,
            messages: vec![Message::system(system)],
            offered,
            always: Vec::new(),
            green: false,
            runs_of_tests: 0,
            last_tests_passed: false,
            lanes: Lanes::default(),
            fixed,
            source: None,
            hooks: Hooks::default(),
            stop_continues: 0,
            fit: crate::agent::budget::Fit::default(),
            cut_off: false,
        }
    }

    /// Adds `tools` after the agent's own and asks `source` at each turn boundary whether
    /// they changed.
    pub fn with_tool_source(
        mut self,
        source: Arc<dyn ToolSource>,
        tools: Vec<Box<dyn Tool>>,
    ) -> Self {
        self.set_source_tools(tools);
        self.source = Some(source);
        self
    }

    fn set_source_tools(&mut self, tools: Vec<Box<dyn Tool>>) {
        self.tools.truncate(self.fixed);
        self.tools.extend(tools);
        self.offered = context::offered_tools(
            &self.tools,
            self.options.mode,
            self.backend.context_length(),
        );
    }

    /// Takes up a tool source's new list, and says what changed.
    async fn refresh_tools(&mut self) {
        let Some(source) = self.source.clone() else {
            return;
        };
        let refreshed = source.refresh().await;
        for message in refreshed.problems {
            self.emit(AgentEvent::Error { message });
        }
        let Some(tools) = refreshed.tools else {
            return;
        };
        let names = |tools: &[Box<dyn Tool>]| -> Vec<String> {
            tools.iter().map(|t| t.spec().name.to_string()).collect()
        };
        let before = names(&self.tools[self.fixed..]);
        let after = names(&tools);
        self.set_source_tools(tools);
        if before == after {
            return;
        }
        self.emit(AgentEvent::ToolsChanged {
            added: after
                .iter()
                .filter(|n| !before.contains(n))
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|n| !after.contains(n))
                .cloned()
                .collect(),
        });
    }

    /// The conversation so far.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Continues a saved conversation: its messages follow this agent's own system message
    /// (the system message is rebuilt for the current workspace, tools and model).
    pub fn restore(&mut self, messages: Vec<Message>) {
        self.messages.truncate(1);
        self.messages
            .extend(messages.into_iter().filter(|m| m.role != Role::System));
        self.green = false;
    }

    /// Forgets the conversation; the system message stays.
    pub fn clear(&mut self) {
        self.restore(Vec::new());
    }

    /// Elides old tool output, oldest first, until the conversation fits in about
    /// `target_tokens`, so a long session can free room before it runs out. Returns how many
    /// results were elided.
    pub fn compact(&mut self, target_tokens: u32) -> usize {
        context::compact(
            &mut self.messages,
            &self.offered,
            target_tokens.saturating_mul(10) / 7,
        )
    }

    /// Talks to another model from the next turn on. The conversation is kept; the system
    /// message and offered tools are rebuilt, since both depend on the context length.
    pub fn set_backend(&mut self, backend: Arc<dyn ModelBackend>) {
        self.backend = backend;
        self.fit = crate::agent::budget::Fit::default();
        let context_length = self.backend.context_length();
        self.offered = context::offered_tools(&self.tools, self.options.mode, context_length);
        let system = Message::system(system_text(&self.ctx, &self.options, context_length));
        if let Some(first) = self.messages.first_mut() {
            *first = system;
        }
    }

    /// The model this agent talks to.
    pub fn backend(&self) -> &Arc<dyn ModelBackend> {
        &self.backend
    }

    /// The tools' shared context (the host starts a new undo journal per task through it).
    pub fn tool_context_mut(&mut self) -> &mut ToolContext {
        &mut self.ctx
    }

    pub fn tool_context(&self) -> &ToolContext {
        &self.ctx
    }

    /// Estimated tokens of the conversation and tool schemas: what the next prompt costs.
    pub fn estimated_tokens(&self) -> u32 {
        context::estimate_tokens(&self.messages, &self.offered)
    }

    /// Runs one task to its end. Commands (cancel, approvals) arrive on `commands`.
    pub async fn run_task(
        &mut self,
        task: &str,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Outcome {
        // A cancel belongs to the task it interrupted, not to the next one.
        self.ctx.cancel.reset();
        self.stop_continues = 0;
        let result = match self.prompt_hooks(task, commands).await {
            // A refused prompt is not kept: the conversation goes on as if it was never sent.
            Ok(Err(reason)) => Ok((
                Outcome::NotAchieved,
                format!("a UserPromptSubmit hook refused this prompt: {reason}"),
            )),
            Ok(Ok(prompt)) => {
                self.messages.push(Message::user(prompt));
                match self.route_task(task).await {
                    Some(action) => self.run_direct(action, commands).await,
                    None => self.run_loop(commands).await,
                }
            }
            Err(interrupt) => Err(interrupt),
        };
        let (outcome, message) = match result {
            Ok((outcome, message)) => (outcome, message),
            Err(Interrupt::Cancelled) => (Outcome::Cancelled, "cancelled".to_string()),
        };
        self.emit(AgentEvent::Finished { outcome, message });
        outcome
    }

    async fn run_loop(
        &mut self,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<(Outcome, String), Interrupt> {
        for turn in 1..=self.options.max_turns {
            self.emit(AgentEvent::TurnStarted {
                turn,
                backend: self.backend.kind().to_string(),
                model: self.backend.model_name(),
            });
            let mut completion = match self
                .fitted_turn(commands, turn, turn == self.options.max_turns)
                .await?
            {
                Fitted::Answered(completion) => completion,
                // A context too small for the conversation is as small on the large model's
                // server as anywhere: no escalation, no fallback.
                Fitted::Overflowed(message) => {
                    self.emit(AgentEvent::Error {
                        message: message.clone(),
                    });
                    return Ok((Outcome::NotAchieved, message));
                }
                Fitted::Failed(err) => {
                    if self.escalate(&format!("the small model failed: {err}")) {
                        continue;
                    }
                    let message = format!("the model backend failed: {err}");
                    self.emit(AgentEvent::Error {
                        message: message.clone(),
                    });
                    return Ok((Outcome::NotAchieved, message));
                }
            };
            // Every call that cannot run as written counts: unreadable ones and ones whose
            // tool or arguments do not check out.
            let invalid = completion
                .tool_calls
                .iter()
                .filter(|call| toolcall::validate(call, &self.offered).is_err())
                .count();
            completion.stats.malformed_calls =
                u32::try_from(completion.malformed.len() + invalid).unwrap_or(u32::MAX);
            self.emit(AgentEvent::TurnStats {
                stats: completion.stats.clone(),
            });
            // The calls of the model's previous turn: small models repeat one call forever.
            let previous: Vec<(String, String)> = self
                .messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant)
                .map(|m| {
                    m.tool_calls
                        .iter()
                        .map(|c| (c.name.clone(), c.arguments.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let mut assistant = Message::assistant(completion.text.clone());
            assistant.tool_calls = completion.tool_calls.clone();
            self.messages.push(assistant);

            let mut failed_edit = false;
            for (i, call) in completion.tool_calls.iter().enumerate() {
                let result = match self.tool_call(call, commands).await {
                    Ok(result) => result,
                    Err(interrupt) => {
                        // Every call gets a result, or the next request (this conversation
                        // continues after a cancel) is one servers refuse.
                        for unanswered in &completion.tool_calls[i..] {
                            self.messages
                                .push(Message::tool(unanswered, "cancelled by the user"));
                        }
                        return Err(interrupt);
                    }
                };
                failed_edit |= matches!(call.name.as_str(), "edit_file" | "write_file")
                    && result.starts_with("error: ");
                let result = if previous.contains(&(call.name.clone(), call.arguments.clone())) {
                    format!("{result}\n\n{REPEATED_CALL}")
                } else {
                    result
                };
                self.messages.push(Message::tool(call, result));
            }
            if failed_edit && self.strike(Strike::FailedEdit) {
                continue;
            }
            if !completion.malformed.is_empty() {
                let problems = completion.malformed.join("\n- ");
                self.messages.push(Message::user(format!(
                    "Some of your tool calls could not be read:\n- {problems}\nWrite each call again in the exact format."
                )));
                self.strike(Strike::Malformed);
                continue;
            }
            if !completion.tool_calls.is_empty() {
                continue;
            }
            if completion.stop == StopReason::Repetition {
                self.messages.push(Message::user(
                    "You were repeating the same text over and over, so your answer was stopped. \
                     Do not repeat yourself: call a tool, or give a short final answer.",
                ));
                continue;
            }
            if completion.stop == StopReason::Length {
                self.messages
                    .push(Message::user("Your answer was cut off. Continue."));
                continue;
            }
            if Self::sounds_unsure(&completion.text)
                && self.escalate("the small model says the task is beyond it")
            {
                continue;
            }
            // The model says it is done: hold it to the tests.
            match self.verify(commands).await? {
                Verification::Passed => match self.stop_hooks(commands).await? {
                    StopVerdict::Stop => return Ok((Outcome::Done, completion.text)),
                    StopVerdict::Continue(reason) => self.messages.push(Message::user(format!(
                        "A Stop hook does not let you stop yet: {reason}\nDo what it asks, then say when you are done."
                    ))),
                    StopVerdict::GiveUp(reason) => {
                        return Ok((
                            Outcome::NotAchieved,
                            format!(
                                "Stop hooks sent the model back {MAX_STOP_CONTINUES} times and still object: {reason}"
                            ),
                        ))
                    }
                },
                Verification::NotRun(why) => return Ok((Outcome::NotAchieved, why)),
                // An empty answer after being told the tests fail: the model has nothing
                // more to offer; stop instead of spending the rest of the budget.
                Verification::Failed(failure) if completion.text.trim().is_empty() => {
                    return Ok((Outcome::NotAchieved, failure));
                }
                Verification::Failed(failure) => {
                    self.messages.push(Message::user(format!(
                        "{failure}\nFix the cause, run the tests again, and say when you are done."
                    )));
                    self.strike(Strike::FailedTests);
                }
            }
        }
        Ok((
            Outcome::NotAchieved,
            format!(
                "the turn budget ({}) ran out before the task was done; raise --max-turns or narrow the task",
                self.options.max_turns
            ),
        ))
    }

    /// One model request, cancellable by `AgentCommand::Cancel`.
    async fn model_turn(
        &mut self,
        commands: &mut UnboundedReceiver<AgentCommand>,
        turn: u32,
        last_turn: bool,
        max_tokens: u32,
    ) -> Result<Result<crate::backend::Completion, BackendError>, Interrupt> {
        self.refresh_tools().await;
        let request = ChatRequest {
            messages: self.messages.clone(),
            tools: self.offered.clone(),
            temperature: self.options.temperature,
            seed: None,
            max_tokens,
            stable_prefix_messages: 1,
            answer_schema: self.options.answer_schema.clone(),
            // A caller that wants an answer in a set shape gets one, even at the budget's end.
            answer_now: last_turn && self.options.answer_schema.is_some(),
            task_turn: turn,
        };
        let counts = (
            u32::try_from(request.messages.len()).unwrap_or(u32::MAX),
            u32::try_from(
                request
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::Tool)
                    .count(),
            )
            .unwrap_or(u32::MAX),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = self.ctx.cancel.clone();
        let backend = Arc::clone(&self.backend);
        let answer = tokio::spawn(async move { backend.complete(request, tx, cancel).await });
        tokio::pin!(answer);
        let mut streamed = false;
        loop {
            tokio::select! {
                event = rx.recv() => if let Some(event) = event {
                    streamed |= self.forward(event, turn);
                },
                command = commands.recv() => {
                    if matches!(command, Some(AgentCommand::Cancel)) {
                        self.ctx.cancel.cancel();
                    }
                },
                result = &mut answer => {
                    while let Ok(event) = rx.try_recv() {
                        streamed |= self.forward(event, turn);
                    }
                    if streamed {
                        self.emit(AgentEvent::TextEnded { turn });
                    }
                    return match result {
                        Ok(Err(BackendError::Cancelled)) => Err(Interrupt::Cancelled),
                        _ if self.ctx.cancel.is_cancelled() => Err(Interrupt::Cancelled),
                        Ok(result) => Ok(result.map(|mut completion| {
                            (completion.stats.prompt_messages, completion.stats.prompt_tool_results) = counts;
                            completion
                        })),
                        Err(join) => Ok(Err(BackendError::Unavailable(format!("the model task failed: {join}")))),
                    };
                }
            }
        }
    }

    /// Validates, authorises and runs one call; returns what the model gets back.
    async fn tool_call(
        &mut self,
        call: &ToolCall,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<String, Interrupt> {
        let shown_args = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
        self.emit(AgentEvent::ToolStarted {
            id: call.id.clone(),
            tool: call.name.clone(),
            args: shown_args,
        });
        let index = self.tools.iter().position(|t| t.spec().name == call.name);
        // A tool this mode does not offer gets the mode's refusal (it says how to allow it);
        // an unknown one gets the list of available tools.
        let spec = match index.map(|i| self.tools[i].spec()) {
            Some(spec) if self.options.mode.offers(spec.permission) => spec,
            Some(spec) => {
                let reason =
                    match self
                        .options
                        .mode
                        .verdict(&call.name, spec.permission, false, &[])
                    {
                        Verdict::Refused(reason) => reason,
                        _ => format!("`{}` is not available in this run", call.name),
                    };
                return Ok(self.refuse(call, reason));
            }
            // Validation against the offered tools names the ones that exist.
            None => {
                let problem = toolcall::validate(call, &self.offered)
                    .err()
                    .unwrap_or_else(|| format!("unknown tool `{}`", call.name));
                return Ok(self.refuse(call, problem));
            }
        };
        let index = index.unwrap_or_default();
        let args = match toolcall::validate(call, std::slice::from_ref(&spec)) {
            Ok(args) => args,
            Err(problem) => {
                return Ok(self.refuse(call, problem));
            }
        };
        if let Some(refusal) = self
            .authorize(call, index, spec.permission, &args, commands)
            .await?
        {
            return Ok(refusal);
        }
        if let Some(refusal) = self.pre_tool_hooks(call, &args, commands).await? {
            return Ok(refusal);
        }
        let result = tokio::select! {
            result = self.tools[index].run(args.clone(), &self.ctx) => result,
            () = wait_for_cancel(commands) => {
                self.ctx.cancel.cancel();
                return Err(Interrupt::Cancelled);
            }
        };
        if self.ctx.cancel.is_cancelled() {
            return Err(Interrupt::Cancelled);
        }
        let text = match result {
            Ok(output) => {
                self.observe(call, &output);
                let added = self.post_tool_hooks(call, &args, &output, commands).await?;
                output.content + &added
            }
            Err(ToolError::Cancelled) => return Err(Interrupt::Cancelled),
            Err(err) => format!("error: {err}"),
        };
        self.finish_tool(call, !text.starts_with("error: "), text.clone());
        Ok(text)
    }

    /// Emits the events a tool's output implies and tracks edits and test results.
    fn observe(&mut self, call: &ToolCall, output: &ToolOutput) {
        if !output.changed.is_empty() {
            self.green = false;
        }
        if let Some(diff) = &output.diff {
            self.emit(AgentEvent::DiffProposed {
                id: call.id.clone(),
                path: output.changed.first().cloned().unwrap_or_default(),
                diff: diff.clone(),
            });
        }
        let Some(data) = &output.data else {
            return;
        };
        if call.name == "update_plan" {
            if let Ok(steps) = serde_json::from_value::<Vec<PlanStep>>(data["steps"].clone()) {
                self.emit(AgentEvent::PlanUpdated { steps });
            }
        }
        if call.name == "run_tests" {
            self.runs_of_tests += 1;
            let success = data["success"].as_bool().unwrap_or(false);
            self.last_tests_passed = success;
            self.emit(AgentEvent::TestResult {
                command: data["command"].as_str().unwrap_or_default().to_string(),
                passed: data["passed"].as_u64().unwrap_or(0),
                failed: data["failed"].as_u64().unwrap_or(0),
                success,
            });
            // Only the whole suite proves the task done; a filtered run is for the model.
            if success && !data["filtered"].as_bool().unwrap_or(true) {
                self.green = true;
            }
        }
    }

    /// Ends a call that did not run: reports it and returns the error the model gets.
    fn refuse(&self, call: &ToolCall, problem: String) -> String {
        let text = format!("error: {problem}");
        self.finish_tool(call, false, text.clone());
        text
    }

    fn finish_tool(&self, call: &ToolCall, ok: bool, output: String) {
        self.emit(AgentEvent::ToolFinished {
            id: call.id.clone(),
            tool: call.name.clone(),
            ok,
            output,
        });
    }

    /// Passes a model event on; says whether it was streamed text.
    fn forward(&self, event: ModelEvent, turn: u32) -> bool {
        let text = matches!(event, ModelEvent::Token { .. });
        self.emit(match event {
            ModelEvent::Token { text } => AgentEvent::TokenStream { turn, text },
            ModelEvent::Switched { from, to, reason } => {
                AgentEvent::BackendSwitched { from, to, reason }
            }
        });
        text
    }

    /// Sends one event to the front end.
    pub(crate) fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event);
    }
}

/// The system message: the caller's own, or the coding agent's for this workspace.
fn system_text(ctx: &ToolContext, options: &AgentOptions, context_length: Option<u32>) -> String {
    match &options.system_prompt {
        Some(text) => text.clone(),
        None => context::system_message(
            &ctx.workspace,
            &options.cwd,
            options.user_instructions.as_ref(),
            ctx.test_command.as_deref(),
            context_length,
        ),
    }
}

/// Resolves when a cancel command arrives (other commands are dropped while a tool runs).
async fn wait_for_cancel(commands: &mut UnboundedReceiver<AgentCommand>) {
    loop {
        match commands.recv().await {
            Some(AgentCommand::Cancel) => return,
            Some(_) => {}
            // No front end left to cancel: wait forever, the tool finishes on its own.
            None => std::future::pending::<()>().await,
        }
    }
}

/// The last `max` bytes of `text` (test failures are at the end).
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
