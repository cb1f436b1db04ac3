//! Lanes in the agent: the router's decision for each task, the direct lane (one tool call,
//! no model), and escalation from the small model to the large one when it struggles.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Agent, Interrupt};
use crate::agent::events::{AgentCommand, AgentEvent, Outcome};
use crate::backend::{Message, ModelBackend, Role, ToolCall};
use crate::router::{Decision, Lane, Router, RuleMatch, Tier};

/// Failures of one kind the small model may have before the large one takes over.
const STRIKES: u32 = 2;

/// Phrases with which a model says a task is beyond it.
const UNSURE: &[&str] = &[
    "not sure how",
    "i'm unsure",
    "i am unsure",
    "i'm unable",
    "i am unable",
    "beyond my",
    "escalate",
];

/// The models an agent routes between.
pub struct Routing {
    pub router: Router,
    /// The small model's backend; without one, model tasks run on `large`.
    pub small: Option<Arc<dyn ModelBackend>>,
    pub large: Arc<dyn ModelBackend>,
    /// Where undo journals live: the direct lane's `undo` reads them.
    pub data_dir: Option<PathBuf>,
}

/// What the agent tracks about lanes across a session.
#[derive(Default)]
pub(super) struct Lanes {
    pub routing: Option<Routing>,
    /// The lane the current (or last) model task runs on.
    pub current: Option<Lane>,
    strikes: Strikes,
}

#[derive(Default)]
struct Strikes {
    malformed: u32,
    failed_tests: u32,
    failed_edits: u32,
}

/// A sign that the small model struggles.
#[derive(Clone, Copy, Debug)]
pub(super) enum Strike {
    /// Tool calls that could not be read.
    Malformed,
    /// The tests still fail after the model said it was done.
    FailedTests,
    /// An edit that would not apply.
    FailedEdit,
}

impl Agent {
    /// Routes each task between a small and a large model (and no model at all for one-call
    /// requests). The agent starts on the large model.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.set_backend(Arc::clone(&routing.large));
        self.lanes.routing = Some(routing);
        self
    }

    /// Makes `backend` the large model (`/model` in a session): routed tasks that need the
    /// large model go to it from the next one on.
    pub fn set_large_backend(&mut self, backend: Arc<dyn ModelBackend>) {
        if let Some(routing) = &mut self.lanes.routing {
            routing.large = Arc::clone(&backend);
            self.lanes.current = Some(Lane::Large);
        }
        self.set_backend(backend);
    }

    /// Decides the task's lane, says so, and moves to its model. `Some` when no model is
    /// needed: the call that answers the task.
    pub(super) async fn route_task(&mut self, task: &str) -> Option<RuleMatch> {
        let routing = self.lanes.routing.as_ref()?;
        let router = routing.router.clone();
        let (request, cancel) = (task.to_string(), self.ctx.cancel.clone());
        let mut decision =
            match tokio::task::spawn_blocking(move || router.route(&request, &cancel)).await {
                Ok(decision) => decision,
                Err(e) => Decision {
                    lane: Lane::Large,
                    tier: Tier::Fixed,
                    reason: format!("the router failed ({e}); large by default"),
                    elapsed_ms: 0.0,
                    confidence: None,
                    action: None,
                },
            };
        if decision.lane == Lane::Small
            && decision.tier == Tier::Model
            && self.lanes.current == Some(Lane::Large)
        {
            decision.lane = Lane::Large;
            decision.reason = format!(
                "a follow-up stays on the large model (moving would lose its prompt cache); {}",
                decision.reason
            );
        }
        self.emit(AgentEvent::Routed {
            lane: decision.lane,
            tier: decision.tier,
            reason: decision.reason.clone(),
            elapsed_ms: decision.elapsed_ms,
        });
        self.lanes.strikes = Strikes::default();
        match decision.lane {
            Lane::Direct => decision.action,
            lane => {
                self.use_lane(lane);
                None
            }
        }
    }

    /// Answers a task with one call and no model. The transcript records it as a call and
    /// its result, so later model turns see what happened.
    pub(super) async fn run_direct(
        &mut self,
        action: RuleMatch,
        commands: &mut UnboundedReceiver<AgentCommand>,
    ) -> Result<(Outcome, String), Interrupt> {
        match action {
            RuleMatch::Tool { tool, args, .. } => {
                let call = ToolCall {
                    id: format!("direct_{}", self.messages.len()),
                    name: tool.to_string(),
                    arguments: args.to_string(),
                };
                let mut assistant = Message::assistant(String::new());
                assistant.tool_calls = vec![call.clone()];
                self.messages.push(assistant);
                let output = self.tool_call(&call, commands).await?;
                self.messages.push(Message::tool(&call, output.clone()));
                // Asked to run the tests (or some of them), a red run is not a success.
                let failed = output.starts_with("error: ")
                    || (tool == "run_tests" && !self.last_tests_passed);
                let outcome = if failed {
                    Outcome::NotAchieved
                } else {
                    Outcome::Done
                };
                Ok((outcome, output))
            }
            RuleMatch::Undo { .. } => {
                let root = self.ctx.workspace.root().to_path_buf();
                let result = match self.lanes.routing.as_ref().and_then(|r| r.data_dir.clone()) {
                    Some(dir) => crate::tools::journal::undo_last(&dir, &root)
                        .map(|report| report.to_string())
                        .map_err(|e| e.to_string()),
                    None => Err("undo is not available in this run (no data directory)".into()),
                };
                let (outcome, text) = match result {
                    Ok(text) => (Outcome::Done, text.trim_end().to_string()),
                    Err(e) => (Outcome::NotAchieved, e),
                };
                self.messages.push(Message::assistant(text.clone()));
                Ok((outcome, text))
            }
        }
    }

    /// Counts a sign of struggle; on the small lane, enough of them move the task to the
    /// large model. Returns whether it moved.
    pub(super) fn strike(&mut self, strike: Strike) -> bool {
        let strikes = &mut self.lanes.strikes;
        let (count, what) = match strike {
            Strike::Malformed => (&mut strikes.malformed, "tool calls that could not be read"),
            Strike::FailedTests => (&mut strikes.failed_tests, "tests still failing"),
            Strike::FailedEdit => (&mut strikes.failed_edits, "edits that would not apply"),
        };
        *count += 1;
        if *count < STRIKES {
            return false;
        }
        let reason = format!("{what} {} times on the small model", *count);
        self.escalate(&reason)
    }

    /// Whether an answer says the task is beyond the model.
    pub(super) fn sounds_unsure(text: &str) -> bool {
        let text = text.to_lowercase();
        UNSURE.iter().any(|phrase| text.contains(phrase))
    }

    /// Moves a task on the small lane to the large model, carrying the whole transcript.
    /// Returns false where there is nothing to escalate to.
    pub(super) fn escalate(&mut self, reason: &str) -> bool {
        if self.lanes.current != Some(Lane::Small) {
            return false;
        }
        let Some(large) = self.lanes.routing.as_ref().map(|r| Arc::clone(&r.large)) else {
            return false;
        };
        let from = self.backend.model_name();
        self.emit(AgentEvent::Escalated {
            from,
            to: large.model_name(),
            reason: reason.to_string(),
        });
        self.use_lane(Lane::Large);
        let note = format!(
            "(A larger model takes over this task: {reason}.) Continue from where the conversation stands."
        );
        // Some chat templates insist on alternating roles: join a user message just sent.
        match self.messages.last_mut() {
            Some(last) if last.role == Role::User => {
                last.content.push_str("\n\n");
                last.content.push_str(&note);
            }
            _ => self.messages.push(Message::user(note)),
        }
        true
    }

    fn use_lane(&mut self, lane: Lane) {
        let Some(routing) = &self.lanes.routing else {
            return;
        };
        let target = match (lane, &routing.small) {
            (Lane::Small, Some(small)) => Arc::clone(small),
            _ => Arc::clone(&routing.large),
        };
        let lane = if Arc::ptr_eq(&target, &routing.large) {
            Lane::Large
        } else {
            Lane::Small
        };
        if !Arc::ptr_eq(&self.backend, &target) {
            self.set_backend(target);
        }
        self.lanes.current = Some(lane);
    }
}
