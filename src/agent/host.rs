//! The hosted agent: every front end (the session, `lode run`, the reviewer) sends `Op`s to
//! one task that owns the agent, and hears everything back as `AgentEvent`s on the agent's
//! one stream. A task runs to its end while approvals and cancels reach it at once; other
//! operations wait, in order.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::agent::events::{AgentCommand, AgentEvent, ConversationChange, Op};
use crate::agent::Agent;
use crate::tools::journal::{undo_last, Journal, UndoError, UndoReport};
use crate::tools::Tool;

/// Serves operations until the channel closes and no task runs. `journals` is where each
/// task's undo journal goes (`None`: no undo).
pub async fn serve(mut agent: Agent, mut ops: UnboundedReceiver<Op>, journals: Option<PathBuf>) {
    let mut host = Host {
        waiting: VecDeque::new(),
        synced: agent.messages().len(),
        note: None,
        journals,
        open: true,
    };
    while let Some(op) = host.next(&mut ops).await {
        match op {
            Op::Task(text) => host.task(&mut agent, &mut ops, text).await,
            // Meant for a task that has already ended.
            Op::Approval { .. } | Op::Cancel => {}
            Op::Undo => host.undo(&agent),
            Op::Diff => diff(&agent).await,
            Op::Restore(messages) => {
                agent.restore(messages);
                host.synced = agent.messages().len();
            }
            Op::Clear => {
                agent.clear();
                host.note = None;
                host.synced = agent.messages().len();
            }
            Op::Compact => host.compact(&mut agent),
            Op::SetBackend(backend) => agent.set_large_backend(backend),
        }
    }
}

struct Host {
    /// Operations that arrived while a task ran.
    waiting: VecDeque<Op>,
    /// How much of the conversation front ends have heard about.
    synced: usize,
    /// Told to the model with the next task (that the user undid its edits).
    note: Option<String>,
    journals: Option<PathBuf>,
    /// Whether the operation channel is still open.
    open: bool,
}

impl Host {
    async fn next(&mut self, ops: &mut UnboundedReceiver<Op>) -> Option<Op> {
        if let Some(op) = self.waiting.pop_front() {
            return Some(op);
        }
        if !self.open {
            return None;
        }
        ops.recv().await
    }

    async fn task(&mut self, agent: &mut Agent, ops: &mut UnboundedReceiver<Op>, text: String) {
        let text = match self.note.take() {
            Some(note) => format!("{note}\n\n{text}"),
            None => text,
        };
        if let Some(dir) = &self.journals {
            let ctx = agent.tool_context_mut();
            // One journal per task: undo restores what the last task changed. Without one
            // nothing the task writes could be undone, so it does not run.
            match Journal::begin(dir, &ctx.workspace) {
                Ok(journal) => ctx.journal = Some(Mutex::new(journal)),
                Err(e) => {
                    let message = format!("cannot open the undo journal: {e}");
                    agent.emit(AgentEvent::Error {
                        message: message.clone(),
                    });
                    agent.emit(AgentEvent::Finished {
                        outcome: crate::agent::Outcome::NotAchieved,
                        message,
                    });
                    self.report_appended(agent);
                    return;
                }
            }
        }
        let cancel = agent.tool_context_mut().cancel.clone();
        let (commands, mut heard) = unbounded_channel();
        {
            let running = agent.run_task(&text, &mut heard);
            tokio::pin!(running);
            loop {
                tokio::select! {
                    // The task first: its first step resets the cancel flag, so a cancel
                    // sent with the task must come after it.
                    biased;
                    _ = &mut running => break,
                    op = ops.recv(), if self.open => match op {
                        Some(Op::Approval { id, decision }) => {
                            let _ = commands.send(AgentCommand::Approval { id, decision });
                        }
                        Some(Op::Cancel) => {
                            cancel.cancel();
                            let _ = commands.send(AgentCommand::Cancel);
                        }
                        Some(other) => self.waiting.push_back(other),
                        None => self.open = false,
                    },
                }
            }
        }
        self.report_appended(agent);
    }

    /// Sends what the last task added to the conversation: the task's last event.
    fn report_appended(&mut self, agent: &Agent) {
        let added = agent.messages().get(self.synced..).unwrap_or_default();
        agent.emit(AgentEvent::Conversation {
            change: ConversationChange::Appended(added.to_vec()),
        });
        self.synced = agent.messages().len();
    }

    fn compact(&mut self, agent: &mut Agent) {
        let before = agent.estimated_tokens();
        let elided = agent.compact(before / 2);
        let after = agent.estimated_tokens();
        if elided > 0 {
            let all = agent.messages().get(1..).unwrap_or_default().to_vec();
            agent.emit(AgentEvent::Conversation {
                change: ConversationChange::Replaced(all),
            });
        }
        self.synced = agent.messages().len();
        agent.emit(AgentEvent::Compacted {
            elided,
            before,
            after,
        });
    }

    fn undo(&mut self, agent: &Agent) {
        let Some(dir) = &self.journals else {
            agent.emit(AgentEvent::UndoRefused {
                message: "this agent keeps no undo journal".into(),
                nothing_to_undo: true,
            });
            return;
        };
        match undo_last(dir, agent.tool_context().workspace.root()) {
            Ok(report) => {
                self.note = Some(undo_note(&report));
                agent.emit(undone(report));
            }
            Err(e) => agent.emit(AgentEvent::UndoRefused {
                nothing_to_undo: matches!(e, UndoError::NothingToUndo { .. }),
                message: e.to_string(),
            }),
        }
    }
}

/// What the model hears with its next message after an undo.
fn undo_note(report: &UndoReport) -> String {
    let mut note = String::from(
        "[The user undid your last task's changes with /undo; these files are back to how they \
         were before it:",
    );
    for path in &report.restored {
        note.push_str(&format!(" {}", path.display()));
    }
    for path in &report.deleted {
        note.push_str(&format!(" {} (deleted)", path.display()));
    }
    note.push_str(". Read them again before editing.]");
    note
}

fn undone(report: UndoReport) -> AgentEvent {
    let text = |paths: &[PathBuf]| paths.iter().map(|p| p.display().to_string()).collect();
    AgentEvent::Undone {
        restored: text(&report.restored),
        deleted: text(&report.deleted),
        kept: report
            .backups
            .iter()
            .map(|b| (b.path.display().to_string(), b.backup.display().to_string()))
            .collect(),
    }
}

/// The repository's staged and unstaged changes, through the same tool the model uses.
async fn diff(agent: &Agent) {
    let mut diffs = [String::new(), String::new()];
    for (staged, slot) in [true, false].into_iter().zip(diffs.iter_mut()) {
        let args = serde_json::json!({ "staged": staged });
        match crate::tools::git::GitDiff
            .run(args, agent.tool_context())
            .await
        {
            Ok(output) => {
                let changed = output
                    .data
                    .as_ref()
                    .and_then(|d| d["files_changed"].as_u64())
                    .unwrap_or(0);
                if changed > 0 {
                    *slot = output.content;
                }
            }
            Err(e) => {
                agent.emit(AgentEvent::Error {
                    message: e.to_string(),
                });
                return;
            }
        }
    }
    let [staged, unstaged] = diffs;
    agent.emit(AgentEvent::RepoDiff { staged, unstaged });
}
