//! The protocol between the agent and its front ends: one operation type in (`Op`), one event
//! stream out (`AgentEvent`). The session, `lode run` and the reviewer all drive a hosted
//! agent (`agent::host::serve`) this way; every event serializes to one JSON object (`--json`
//! prints them as JSON Lines).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::agent::hooks::HookEvent;
use crate::backend::{Message, ModelBackend};
use crate::router::{Lane, Tier};
use crate::stats::TurnStats;
use crate::tools::Permission;

/// Everything a front end asks of its agent. Approvals and cancels reach the running task at
/// once; the rest wait for it to end, in the order they were sent.
pub enum Op {
    /// A user message: runs one task to its end. Its last event is `Conversation`.
    Task(String),
    /// The answer to an `ApprovalNeeded` event.
    Approval { id: String, decision: Decision },
    /// Stop the running task as soon as possible (the running command and what it started
    /// are killed).
    Cancel,
    /// Put back the files the last task changed (`Undone` or `UndoRefused`); the model is
    /// told with the next message.
    Undo,
    /// The repository's uncommitted changes (`RepoDiff`).
    Diff,
    /// Continue a saved conversation (replaces the current one).
    Restore(Vec<Message>),
    /// Forget the conversation.
    Clear,
    /// Elide old tool output to free context (`Compacted`).
    Compact,
    /// Talk to another model from the next turn on.
    SetBackend(Arc<dyn ModelBackend>),
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Task(text) => f.debug_tuple("Task").field(text).finish(),
            Op::Approval { id, decision } => f
                .debug_struct("Approval")
                .field("id", id)
                .field("decision", decision)
                .finish(),
            Op::Cancel => f.write_str("Cancel"),
            Op::Undo => f.write_str("Undo"),
            Op::Diff => f.write_str("Diff"),
            Op::Restore(messages) => f.debug_tuple("Restore").field(&messages.len()).finish(),
            Op::Clear => f.write_str("Clear"),
            Op::Compact => f.write_str("Compact"),
            Op::SetBackend(backend) => f
                .debug_tuple("SetBackend")
                .field(&backend.model_name())
                .finish(),
        }
    }
}

/// What the host passes on to the running task (the part of `Op` a task hears).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentCommand {
    /// The answer to an `ApprovalNeeded` event.
    Approval { id: String, decision: Decision },
    /// Stop the running turn as soon as possible.
    Cancel,
}

/// A user's answer to an approval request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    /// Approve this and every later call of the same permission class in this session.
    AlwaysThisSession,
}

/// One step of a plan, as the model states it with `update_plan`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    pub text: String,
    /// `pending`, `in_progress` or `done`.
    pub status: String,
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The model said it is done and the tests pass (or there are none).
    Done,
    /// The model stopped, or the budget ran out, without the tests passing.
    NotAchieved,
    /// The user cancelled.
    Cancelled,
}

/// Everything the agent reports, in order. Deserializable so saved sessions replay their
/// transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A model turn starts: which backend and model, and the turn number (from 1).
    TurnStarted {
        turn: u32,
        backend: String,
        model: String,
    },
    /// Visible model text of turn `turn`, streamed; never retracted. `TextEnded` ends it.
    TokenStream {
        #[serde(default)]
        turn: u32,
        text: String,
    },
    /// Turn `turn` streams no more text (sent only after a turn that streamed some).
    TextEnded { turn: u32 },
    /// The plan as the model last stated it (replaces the previous one).
    PlanUpdated { steps: Vec<PlanStep> },
    /// A tool call begins. `args` are the validated arguments.
    ToolStarted {
        id: String,
        tool: String,
        args: serde_json::Value,
    },
    /// A tool call ended; `output` is what the model sees (capped).
    ToolFinished {
        id: String,
        tool: String,
        ok: bool,
        output: String,
    },
    /// An edit was applied: the unified diff of one file.
    DiffProposed {
        id: String,
        path: String,
        diff: String,
    },
    /// A write or exec call waits for the user; answer with `AgentCommand::Approval`.
    ApprovalNeeded {
        id: String,
        tool: String,
        permission: Permission,
        /// What will happen: the command and its working directory, or the file and change.
        summary: String,
        /// For edits: the unified diff the call would apply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
        /// For commands: exactly what will run, and in which directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
    },
    /// A test run finished.
    TestResult {
        command: String,
        passed: u64,
        failed: u64,
        success: bool,
    },
    /// Performance of one model turn.
    TurnStats { stats: TurnStats },
    /// The router chose where a task runs: `lane` is `direct` (one tool call, no model),
    /// `small` or `large`; `tier` says what decided (`rules`, `model`, `fixed`).
    Routed {
        lane: Lane,
        tier: Tier,
        reason: String,
        elapsed_ms: f64,
    },
    /// The model backend changed mid-session: the remote is down and the local fallback
    /// takes over with the same transcript, or the remote answers again. Text streamed in
    /// the current turn before the switch is discarded; the turn is regenerated.
    BackendSwitched {
        from: String,
        to: String,
        reason: String,
    },
    /// The small model struggled; the task continues on the large one with the whole
    /// transcript.
    Escalated {
        from: String,
        to: String,
        reason: String,
    },
    /// An MCP server's tools changed; the new list is offered from this turn on.
    ToolsChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// A hook ran (`agent/hooks.rs`). `tool` and `id` name the call of a `PreToolUse` or
    /// `PostToolUse` hook. `output` is, by `result`: `ok`, what it added to the prompt (often
    /// empty); `blocked`, the reason the model (or, for a prompt, the user) gets; `failed`,
    /// why it failed (the task goes on).
    HookRan {
        event: HookEvent,
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        result: HookResult,
        output: String,
    },
    /// The task ended. `message` is the model's final answer (or why it ended).
    Finished { outcome: Outcome, message: String },
    /// The conversation changed: after every task (the messages it added, the task's last
    /// event) and after a compaction (the whole conversation). For front ends that save it;
    /// `lode run --json` leaves it out, since the other events already show it.
    Conversation { change: ConversationChange },
    /// The model's context could not hold a turn (the server or engine said so): the agent
    /// compacted the conversation and lowered `max_tokens`, and retries the turn once.
    /// `context` is the context length it now sizes turns by (the answer's, when it gave
    /// one); `before` and `after` are the prompt's tokens around the compaction, `elided`
    /// how many old results went; `message` is the one line front ends show. A second
    /// overflow ends the task (`Error`, then `Finished` with `not_achieved`).
    ContextFull {
        context: Option<u32>,
        /// The prompt's size as the overflow answer counted it, when it did.
        prompt_tokens: Option<u32>,
        elided: usize,
        before: u32,
        after: u32,
        max_tokens: u32,
        message: String,
    },
    /// `Op::Compact` ran: how many old tool results were elided, and the estimated prompt
    /// tokens before and after.
    Compacted {
        elided: usize,
        before: u32,
        after: u32,
    },
    /// `Op::Undo` put the last task's files back.
    Undone {
        restored: Vec<String>,
        /// Files the task had created, now removed.
        deleted: Vec<String>,
        /// Files changed after the task: `(path, backup)` keeps the newer version.
        kept: Vec<(String, String)>,
    },
    /// `Op::Undo` changed nothing; `nothing_to_undo` tells an empty journal from a refusal.
    UndoRefused {
        message: String,
        nothing_to_undo: bool,
    },
    /// `Op::Diff`: the repository's staged and unstaged changes as unified diffs (empty when
    /// there are none).
    RepoDiff { staged: String, unstaged: String },
    /// Something went wrong outside the model's control (the backend failed, a tool could not
    /// run at all). The run may still go on; `Finished` always comes last.
    Error { message: String },
}

/// How a hook ended, as `AgentEvent::HookRan` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookResult {
    /// Exit 0.
    Ok,
    /// Exit 2 or a `block` decision: the call, prompt or stop did not go through.
    Blocked,
    /// Another exit, a timeout, or it could not start; nothing was blocked.
    Failed,
}

/// How the conversation changed, for front ends that save it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    /// Messages added by the task that just ended.
    Appended(Vec<Message>),
    /// The whole conversation (after the system message) is now this.
    Replaced(Vec<Message>),
}

/// One line for front ends saying how an MCP server's tools changed. Long lists (every
/// server's tools at the first turn) are counted by server instead of named.
pub fn tools_changed_line(added: &[String], removed: &[String]) -> String {
    fn list(names: &[String]) -> String {
        if names.len() <= 6 {
            return names.join(", ");
        }
        let mut servers: Vec<(&str, usize)> = Vec::new();
        for name in names {
            let server = name
                .strip_prefix("mcp__")
                .and_then(|rest| rest.split("__").next())
                .unwrap_or(name);
            match servers.iter_mut().find(|(s, _)| *s == server) {
                Some((_, n)) => *n += 1,
                None => servers.push((server, 1)),
            }
        }
        let by_server: Vec<String> = servers.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        format!("{} ({})", names.len(), by_server.join(", "))
    }
    match (added.is_empty(), removed.is_empty()) {
        (false, true) => format!("MCP tools added: {}", list(added)),
        (true, false) => format!("MCP tools removed: {}", list(removed)),
        (false, false) => format!(
            "MCP tools added: {}; removed: {}",
            list(added),
            list(removed)
        ),
        (true, true) => "MCP tools changed their descriptions".to_string(),
    }
}

#[cfg(test)]
mod tools_changed_tests {
    use super::tools_changed_line;

    #[test]
    fn few_changes_are_named_and_many_are_counted_by_server() {
        let few = vec!["mcp__git__git_status".to_string()];
        assert_eq!(
            tools_changed_line(&few, &[]),
            "MCP tools added: mcp__git__git_status"
        );
        let many: Vec<String> = (0..5)
            .map(|i| format!("mcp__every__t{i}"))
            .chain((0..2).map(|i| format!("mcp__fs__t{i}")))
            .collect();
        assert_eq!(
            tools_changed_line(&many, &few),
            "MCP tools added: 7 (every: 5, fs: 2); removed: mcp__git__git_status"
        );
    }
}
