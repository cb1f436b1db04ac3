//! A long-lived agent for a conversational front end: the agent lives on one task and takes
//! jobs (a message, restore, clear, compact, another model) one at a time, so the front end
//! never touches it while a turn runs. Commands for the running task (cancel, approvals)
//! still travel on the ordinary `AgentCommand` channel.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use crate::agent::{Agent, AgentCommand};
use crate::backend::{Message, ModelBackend};
use crate::tools::journal::Journal;

/// Work for the hosted agent.
pub enum Job {
    /// A user message: runs one task to its end.
    Task(String),
    /// Continue a saved conversation (replaces the current one).
    Restore(Vec<Message>),
    /// Forget the conversation.
    Clear,
    /// Elide old tool output to free context; the answer says how much.
    Compact(oneshot::Sender<Compacted>),
    /// Talk to another model from the next turn on.
    SetBackend(Arc<dyn ModelBackend>),
}

/// What `/compact` achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub elided: usize,
    /// Estimated prompt tokens before and after.
    pub before: u32,
    pub after: u32,
}

/// How the conversation changed, for front ends that save it.
#[derive(Clone, Debug, PartialEq)]
pub enum ConversationChange {
    /// Messages added since the last report.
    Appended(Vec<Message>),
    /// The whole conversation (after the system message) is now this.
    Replaced(Vec<Message>),
}

/// Serves jobs until the job channel closes. `data_dir` is where each task's undo journal
/// goes (`None`: no undo).
pub async fn serve(
    mut agent: Agent,
    mut jobs: UnboundedReceiver<Job>,
    mut commands: UnboundedReceiver<AgentCommand>,
    changes: UnboundedSender<ConversationChange>,
    data_dir: Option<PathBuf>,
) {
    let mut synced = agent.messages().len();
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Task(text) => {
                // A cancel or an answer meant for the previous task must not hit this one.
                while commands.try_recv().is_ok() {}
                if let Some(dir) = &data_dir {
                    let ctx = agent.tool_context_mut();
                    // One journal per task: `/undo` restores what the last task changed.
                    ctx.journal = Journal::begin(dir, &ctx.workspace).ok().map(Mutex::new);
                }
                agent.run_task(&text, &mut commands).await;
                let added = agent.messages().get(synced..).unwrap_or_default().to_vec();
                synced = agent.messages().len();
                let _ = changes.send(ConversationChange::Appended(added));
            }
            Job::Restore(messages) => {
                agent.restore(messages);
                synced = agent.messages().len();
            }
            Job::Clear => {
                agent.clear();
                synced = agent.messages().len();
            }
            Job::Compact(reply) => {
                let before = agent.estimated_tokens();
                let elided = agent.compact(before / 2);
                let after = agent.estimated_tokens();
                if elided > 0 {
                    let all = agent.messages().get(1..).unwrap_or_default().to_vec();
                    let _ = changes.send(ConversationChange::Replaced(all));
                }
                synced = agent.messages().len();
                let _ = reply.send(Compacted {
                    elided,
                    before,
                    after,
                });
            }
            Job::SetBackend(backend) => agent.set_large_backend(backend),
        }
    }
}
