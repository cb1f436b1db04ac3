//! `lode run` keeps its session like the interactive one does: the same store, the same
//! records, so a run can be continued (`lode run --resume ID "…"`, or `lode --resume` in the
//! session) and a session can be continued by a run.

use crate::agent::AgentEvent;
use crate::backend::Message;
use crate::sessions::{Record, SessionStore, SessionWriter};

/// The session file of one run, written as the run goes.
pub(super) struct SavedRun {
    writer: SessionWriter,
    /// Streamed text not yet saved: it becomes one event when something else happens.
    streamed: String,
}

impl SavedRun {
    /// A new session, or the one `resume` names, whose conversation comes back with it.
    pub(super) fn open(
        store: &SessionStore,
        resume: Option<&str>,
    ) -> Result<(Self, Vec<Message>), String> {
        let (writer, restored) = match resume {
            Some(id) => {
                let saved = store.load(id).map_err(|e| e.to_string())?;
                let writer = store.append_to(&saved.id).map_err(|e| e.to_string())?;
                (writer, saved.messages())
            }
            None => {
                let writer = store.create().map_err(|e| {
                    format!("cannot save the session in {}: {e}", store.dir().display())
                })?;
                (writer, Vec::new())
            }
        };
        Ok((
            Self {
                writer,
                streamed: String::new(),
            },
            restored,
        ))
    }

    pub(super) fn id(&self) -> &str {
        self.writer.id()
    }

    /// Saves one record; a failing disk does not stop the run (the run is what matters).
    fn save(&mut self, record: &Record) {
        let _ = self.writer.append(record);
    }

    pub(super) fn task(&mut self, text: &str) {
        self.save(&Record::User {
            text: text.to_string(),
        });
    }

    /// Saves an event as the session's transcript shows it: streamed tokens coalesced.
    pub(super) fn event(&mut self, event: &AgentEvent) {
        if let AgentEvent::TokenStream { text } = event {
            self.streamed.push_str(text);
            return;
        }
        self.flush_stream();
        self.save(&Record::Event {
            event: event.clone(),
        });
    }

    fn flush_stream(&mut self) {
        if !self.streamed.is_empty() {
            let text = std::mem::take(&mut self.streamed);
            self.save(&Record::Event {
                event: AgentEvent::TokenStream { text },
            });
        }
    }

    /// The conversation as the run left it: what a resumed run starts from.
    pub(super) fn finish(&mut self, messages: Vec<Message>) {
        self.flush_stream();
        self.save(&Record::Messages { messages });
    }
}
