//! The protocol between the agent and its front ends: commands in, events out. The TUI,
//! `lode run` and the reviewer are consumers of the same stream; every variant serializes to
//! one JSON object (`--json` prints them as JSON Lines).

use serde::{Deserialize, Serialize};

use crate::router::{Lane, Tier};
use crate::stats::TurnStats;
use crate::tools::Permission;

/// What a front end asks of a running agent.
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
    /// Visible model text, streamed; never retracted.
    TokenStream { text: String },
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
    /// The task ended. `message` is the model's final answer (or why it ended).
    Finished { outcome: Outcome, message: String },
    /// Something went wrong outside the model's control (the backend failed, a tool could not
    /// run at all). The run may still go on; `Finished` always comes last.
    Error { message: String },
}
