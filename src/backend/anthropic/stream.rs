//! Assembles one streamed Messages API turn from its server-sent events.
//!
//! The server announces the message (`message_start`, with the prompt's token counts), then
//! opens, fills and closes content blocks by index: text arrives as `text_delta`s, a tool
//! call as a `tool_use` block with id and name whose input follows in `input_json_delta`
//! pieces. `message_delta` carries the stop reason and output count, `message_stop` ends the
//! turn. [`Turn`] folds them into a [`Completion`] while forwarding text as it arrives, and
//! keeps enough of what it saw to say where a broken stream stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::wire::{self, ContentBlock, Delta, Event};
use crate::backend::http::quote;
use crate::backend::sse::SseEvent;
use crate::backend::{BackendError, Completion, ModelEvent, StopReason, ToolCall};
use crate::stats::TurnStats;

/// The status Anthropic gives an overloaded API, also when it says so mid-stream.
const OVERLOADED: u16 = 529;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    More,
    Done,
}

/// A `tool_use` block being assembled.
struct PartialCall {
    id: String,
    name: String,
    /// The `input_json_delta` pieces, concatenated.
    json: String,
    /// The input given with the block's start; used when no pieces follow.
    initial: Value,
}

/// Everything received so far in one streamed turn.
pub(super) struct Turn {
    started: Instant,
    first_output: Option<Instant>,
    text: String,
    /// Tool calls by content-block index, which is also their order in the answer.
    calls: BTreeMap<u32, PartialCall>,
    stop: Option<StopReason>,
    usage: wire::Usage,
    events: usize,
    /// Deltas carrying output: a token estimate should the server send no usage.
    output_deltas: u32,
}

impl Turn {
    pub(super) fn new(started: Instant) -> Self {
        Self {
            started,
            first_output: None,
            text: String::new(),
            calls: BTreeMap::new(),
            stop: None,
            usage: wire::Usage::default(),
            events: 0,
            output_deltas: 0,
        }
    }

    pub(super) fn handle(
        &mut self,
        event: SseEvent,
        tokens: &UnboundedSender<ModelEvent>,
        url: &str,
    ) -> Result<Flow, BackendError> {
        self.events += 1;
        // The data's `type` repeats the `event:` name and is what the API documents.
        let parsed: Event = serde_json::from_str(&event.data).map_err(|e| {
            BackendError::Protocol(format!(
                "event {} from {url} is not a Messages API event ({e}): {}; {}",
                self.events,
                quote(&event.data),
                self.received()
            ))
        })?;
        match parsed {
            Event::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    self.usage.update(usage);
                }
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                ContentBlock::Text { text } => self.push_text(text, tokens),
                ContentBlock::ToolUse { id, name, input } => {
                    self.mark_output();
                    self.calls.insert(
                        index,
                        PartialCall {
                            id,
                            name,
                            json: String::new(),
                            initial: input,
                        },
                    );
                }
                ContentBlock::Other => {}
            },
            Event::ContentBlockDelta { index, delta } => match delta {
                Delta::Text { text } => self.push_text(text, tokens),
                Delta::InputJson { partial_json } => {
                    let Some(call) = self.calls.get_mut(&index) else {
                        return Err(BackendError::Protocol(format!(
                            "event {} from {url} continues tool input in content block {index}, \
                             which was not opened as a tool_use block; {}",
                            self.events,
                            self.received()
                        )));
                    };
                    call.json.push_str(&partial_json);
                    self.mark_output();
                }
                Delta::Other => {}
            },
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(match reason.as_str() {
                        "max_tokens" | "model_context_window_exceeded" => StopReason::Length,
                        // end_turn, tool_use, stop_sequence, refusal, pause_turn.
                        _ => StopReason::Stop,
                    });
                }
                if let Some(usage) = usage {
                    self.usage.update(usage);
                }
            }
            Event::MessageStop => return Ok(Flow::Done),
            Event::Error { error } => return Err(stream_error(&error, url, &self.received())),
            Event::ContentBlockStop | Event::Ping | Event::Unknown => {}
        }
        Ok(Flow::More)
    }

    fn push_text(&mut self, text: String, tokens: &UnboundedSender<ModelEvent>) {
        if text.is_empty() {
            return;
        }
        self.mark_output();
        self.text.push_str(&text);
        // The receiver going away means nobody watches the stream; the turn still counts.
        let _ = tokens.send(ModelEvent::Token { text });
    }

    fn mark_output(&mut self) {
        self.first_output.get_or_insert_with(Instant::now);
        self.output_deltas += 1;
    }

    /// What arrived before things went wrong, for error messages.
    pub(super) fn received(&self) -> String {
        format!(
            "received {} events, text so far {:?}, {} tool calls",
            self.events,
            quote(&self.text),
            self.calls.len()
        )
    }

    pub(super) fn cut_off(&self, url: &str, cause: &str) -> BackendError {
        BackendError::Protocol(format!(
            "the stream from {url} ended before the answer was complete (no message_stop)\
             {cause}; {}. The connection was probably dropped; retry the turn",
            self.received()
        ))
    }

    pub(super) fn finish(self, model: &str) -> Completion {
        let end = Instant::now();
        let first = self.first_output.unwrap_or(end);
        let mut stats = TurnStats {
            prefill_ms: millis(first.duration_since(self.started)),
            decode_ms: millis(end.duration_since(first)),
            backend: "anthropic".to_owned(),
            model: model.to_owned(),
            ..TurnStats::default()
        };
        self.usage.apply(&mut stats);
        if self.usage.output_tokens().is_none() {
            stats.decode_tokens = self.output_deltas;
        }
        let mut tool_calls = Vec::new();
        let mut malformed = Vec::new();
        for call in self.calls.into_values() {
            let arguments = if call.json.trim().is_empty() {
                match call.initial {
                    Value::Object(map) if !map.is_empty() => Value::Object(map).to_string(),
                    // A tool without parameters: its input streams as nothing at all.
                    _ => "{}".to_owned(),
                }
            } else {
                call.json
            };
            match serde_json::from_str::<Value>(&arguments) {
                Ok(_) => tool_calls.push(ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments,
                }),
                Err(e) => malformed.push(format!(
                    "the {} call ({}) has arguments that are not valid JSON ({e}): {}; write \
                     them as one JSON object",
                    call.name,
                    call.id,
                    quote(&arguments)
                )),
            }
        }
        Completion {
            text: self.text,
            tool_calls,
            malformed,
            stop: self.stop.unwrap_or(StopReason::Stop),
            stats,
        }
    }
}

/// An error the server reported inside a stream that had started with HTTP 200.
fn stream_error(error: &wire::ApiError, url: &str, received: &str) -> BackendError {
    let message = format!(
        "the server failed mid-answer: {} ({})",
        quote(&error.message),
        error.kind
    );
    let body = serde_json::json!({"error": {"type": error.kind, "message": error.message}});
    if let Some(overflow) = crate::backend::overflow::from_body(&body.to_string()) {
        return BackendError::ContextOverflow(overflow);
    }
    match error.kind.as_str() {
        // The same condition as an HTTP 529, so the fallback layer treats it the same way.
        "overloaded_error" => BackendError::Server {
            status: OVERLOADED,
            message,
        },
        _ => BackendError::Protocol(format!("{message} at {url}; {received}")),
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
