//! Assembles one streamed chat turn from its server-sent events.
//!
//! Servers split an answer into many small chunks: text deltas, tool-call fragments keyed
//! by index (id and name first, arguments in pieces), a finish reason, and usage at the end.
//! [`Turn`] folds them into a [`Completion`] while forwarding text as it arrives, and keeps
//! enough of what it saw to say exactly where a broken stream stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::wire;
use crate::backend::http::{json_error_message, quote};
use crate::backend::sse::SseEvent;
use crate::backend::{BackendError, Completion, ModelEvent, StopReason, ToolCall};
use crate::stats::TurnStats;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    More,
    Done,
}

/// A tool call being assembled from stream fragments.
#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

/// Everything received so far in one streamed turn.
pub(super) struct Turn {
    started: Instant,
    first_output: Option<Instant>,
    text: String,
    calls: BTreeMap<u32, PartialCall>,
    finish: Option<StopReason>,
    usage: Option<wire::Usage>,
    timings: Option<wire::Timings>,
    events: usize,
    /// Chunks carrying output: the token count when the server reports no usage, since
    /// servers send one token per chunk.
    output_chunks: u32,
}

impl Turn {
    pub(super) fn new(started: Instant) -> Self {
        Self {
            started,
            first_output: None,
            text: String::new(),
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
            timings: None,
            events: 0,
            output_chunks: 0,
        }
    }

    pub(super) fn handle(
        &mut self,
        event: SseEvent,
        tokens: &UnboundedSender<ModelEvent>,
        url: &str,
    ) -> Result<Flow, BackendError> {
        self.events += 1;
        match event.event.as_deref() {
            None | Some("message") => {}
            Some("error") => return Err(stream_error(&event.data)),
            // Not a chat chunk (keep-alives, proxies' own events).
            Some(_) => return Ok(Flow::More),
        }
        if event.data.trim() == "[DONE]" {
            return Ok(Flow::Done);
        }
        let chunk: wire::Chunk = serde_json::from_str(&event.data).map_err(|e| {
            BackendError::Protocol(format!(
                "event {} from {url} is not a chat completion chunk ({e}): {}; {}",
                self.events,
                quote(&event.data),
                self.received()
            ))
        })?;
        if chunk.error.is_some() || chunk.object.as_deref() == Some("error") {
            return Err(stream_error(&event.data));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.timings.is_some() {
            self.timings = chunk.timings;
        }
        // `n` is never set, so only choice 0 exists; usage-only chunks have none.
        let Some(choice) = chunk.choices.into_iter().flatten().next() else {
            return Ok(Flow::More);
        };
        let delta = choice.delta.unwrap_or_default();
        let text = delta.content.unwrap_or_default();
        let calls = delta.tool_calls.unwrap_or_default();
        if !text.is_empty() || !calls.is_empty() {
            self.first_output.get_or_insert_with(Instant::now);
            self.output_chunks += 1;
        }
        if !text.is_empty() {
            self.text.push_str(&text);
            // The receiver going away means nobody watches the stream; the turn still counts.
            let _ = tokens.send(ModelEvent::Token { text });
        }
        for fragment in calls {
            self.merge_call(fragment);
        }
        if let Some(reason) = choice.finish_reason {
            self.finish = Some(match reason.as_str() {
                "length" => StopReason::Length,
                _ => StopReason::Stop,
            });
        }
        Ok(Flow::More)
    }

    /// Adds one fragment: id and name arrive once, arguments in pieces to concatenate.
    fn merge_call(&mut self, fragment: wire::ToolCallDelta) {
        let last = self.calls.keys().next_back().copied();
        let index = match (fragment.index, last) {
            (Some(index), _) => index,
            // Servers that send each call whole may leave out `index`: then a name starts a
            // new call and a nameless fragment continues the last one.
            (None, Some(last)) if !fragment.starts_a_call() => last,
            (None, Some(last)) => last.saturating_add(1),
            (None, None) => 0,
        };
        let call = self.calls.entry(index).or_default();
        if call.id.is_none() {
            call.id = fragment.id.filter(|id| !id.is_empty());
        }
        let Some(function) = fragment.function else {
            return;
        };
        if call.name.is_none() {
            call.name = function.name.filter(|name| !name.is_empty());
        }
        match function.arguments {
            Some(Value::String(part)) => call.arguments.push_str(&part),
            Some(Value::Null) | None => {}
            // A few servers send the arguments as an object rather than JSON text.
            Some(object) => call.arguments.push_str(&object.to_string()),
        }
    }

    pub(super) fn has_finish_reason(&self) -> bool {
        self.finish.is_some()
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
            "the stream from {url} ended before the answer was complete (no finish_reason and \
             no [DONE]){cause}; {}. The connection was probably dropped; retry the turn",
            self.received()
        ))
    }

    pub(super) fn finish(self, model: &str) -> Completion {
        let end = Instant::now();
        let first = self.first_output.unwrap_or(end);
        let mut stats = TurnStats {
            prefill_ms: millis(first.duration_since(self.started)),
            decode_ms: millis(end.duration_since(first)),
            decode_tokens: self.output_chunks,
            backend: "openai".to_owned(),
            model: model.to_owned(),
            ..TurnStats::default()
        };
        if let Some(timings) = &self.timings {
            timings.apply(&mut stats);
        }
        if let Some(usage) = &self.usage {
            usage.apply(&mut stats);
        }
        let mut tool_calls = Vec::new();
        let mut malformed = Vec::new();
        for (index, call) in self.calls {
            match call.name {
                Some(name) => tool_calls.push(ToolCall {
                    id: call.id.unwrap_or_else(|| format!("call_{index}")),
                    name,
                    arguments: call.arguments,
                }),
                None => malformed.push(format!(
                    "tool call {index} has no function name (arguments: {}); name one of the \
                     offered tools",
                    quote(&call.arguments)
                )),
            }
        }
        Completion {
            text: self.text,
            tool_calls,
            malformed,
            stop: self.finish.unwrap_or(StopReason::Stop),
            stats,
        }
    }
}

/// An error the server reported inside a stream that had started with HTTP 200.
fn stream_error(data: &str) -> BackendError {
    if let Some(overflow) = crate::backend::overflow::from_body(data) {
        return BackendError::ContextOverflow(overflow);
    }
    let json = serde_json::from_str::<Value>(data).unwrap_or(Value::String(data.to_owned()));
    let error = json.get("error").unwrap_or(&json);
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    BackendError::Server {
        status,
        message: format!(
            "the server failed mid-answer: {}",
            json_error_message(&json)
        ),
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
