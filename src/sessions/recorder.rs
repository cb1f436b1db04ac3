//! From the agent's event stream to session records, the same for the session and for
//! `lode run`: streamed text becomes one event per answer, conversation changes become
//! message records, and what a resumed transcript does not show is left out.

use crate::agent::events::ConversationChange;
use crate::agent::AgentEvent;
use crate::sessions::Record;

/// Coalesces one stream of events into records.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Streamed text not yet recorded.
    streamed: String,
}

impl Recorder {
    /// The records `event` adds (none while text streams).
    pub fn records(&mut self, event: &AgentEvent) -> Vec<Record> {
        match event {
            AgentEvent::TokenStream { text, .. } => {
                self.streamed.push_str(text);
                return Vec::new();
            }
            // Not part of what a resumed transcript shows.
            AgentEvent::TurnStarted { .. } | AgentEvent::ApprovalNeeded { .. } => {
                return Vec::new()
            }
            _ => {}
        }
        let mut records: Vec<Record> = self.flush().into_iter().collect();
        match event {
            AgentEvent::TextEnded { .. }
            | AgentEvent::Compacted { .. }
            | AgentEvent::Undone { .. }
            | AgentEvent::UndoRefused { .. }
            | AgentEvent::RepoDiff { .. } => {}
            AgentEvent::Conversation {
                change: ConversationChange::Appended(messages),
            } => records.extend(messages.iter().map(|message| Record::Message {
                message: message.clone(),
            })),
            AgentEvent::Conversation {
                change: ConversationChange::Replaced(messages),
            } => records.push(Record::Messages {
                messages: messages.clone(),
            }),
            event => records.push(Record::Event {
                event: event.clone(),
            }),
        }
        records
    }

    /// The text streamed since the last record, as one event.
    pub fn flush(&mut self) -> Option<Record> {
        (!self.streamed.is_empty()).then(|| Record::Event {
            event: AgentEvent::TokenStream {
                turn: 0,
                text: std::mem::take(&mut self.streamed),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Message;

    #[test]
    fn streamed_text_becomes_one_event_and_messages_become_records() {
        let mut recorder = Recorder::default();
        let token = |text: &str| AgentEvent::TokenStream {
            turn: 1,
            text: text.into(),
        };
        assert!(recorder.records(&token("Hel")).is_empty());
        assert!(recorder.records(&token("lo")).is_empty());
        let ended = recorder.records(&AgentEvent::TextEnded { turn: 1 });
        assert_eq!(
            ended,
            vec![Record::Event {
                event: AgentEvent::TokenStream {
                    turn: 0,
                    text: "Hello".into()
                }
            }]
        );
        let change = AgentEvent::Conversation {
            change: ConversationChange::Appended(vec![Message::user("a"), Message::user("b")]),
        };
        assert_eq!(recorder.records(&change).len(), 2);
        let undone = AgentEvent::UndoRefused {
            message: "none".into(),
            nothing_to_undo: true,
        };
        assert!(recorder.records(&undone).is_empty());
        assert!(recorder.flush().is_none());
    }
}
