//! The JSON of the Anthropic Messages API, and the mapping of lode's conversation onto it.
//!
//! lode's history is OpenAI-shaped: a system message, then user and assistant messages (the
//! latter with tool calls) and one `tool` message per result. The Messages API is stricter:
//! the system prompt stands apart, user and assistant turns alternate, each made of content
//! blocks; every `tool_use` must be answered by a `tool_result` at the start of the very next
//! user turn; ids must match `^[a-zA-Z0-9_-]+$` and be unique in the request; text blocks
//! must not be blank. [`Request::new`] does that mapping and repairs histories that would
//! break a rule (a call cancelled before its result was recorded, a local model's `call_0`
//! in every turn) rather than have the API refuse the whole conversation.
//!
//! The events of a streamed answer, the other direction, are in `events`.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

pub(super) use self::events::{ApiError, ContentBlock, Delta, Event, Usage};
use crate::backend::{ChatRequest, Message, Role};

mod events;

/// What a `tool_result` says for a call whose result never made it into the history.
const NO_RESULT: &str = "no result: the call was interrupted before it finished";

/// The body of `POST /messages`.
#[derive(Serialize)]
pub(super) struct Request<'a> {
    model: &'a str,
    max_tokens: u32,
    /// One cached text block: tools and system prompt are the stable prefix of every turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice>,
    stream: bool,
    temperature: f32,
}

impl<'a> Request<'a> {
    /// `max_tokens_default` applies when the request sets no budget: the API requires one.
    pub(super) fn new(model: &'a str, request: &'a ChatRequest, max_tokens_default: u32) -> Self {
        let (system, messages) = conversation(&request.messages);
        Self {
            model,
            max_tokens: match request.max_tokens {
                0 => max_tokens_default.max(1),
                n => n,
            },
            system: system
                .map(|text| Block::cached(Body::Text { text: text.into() }))
                .into_iter()
                .collect(),
            messages,
            tools: request
                .tools
                .iter()
                .map(|spec| Tool {
                    name: spec.name,
                    description: spec.description,
                    input_schema: &spec.parameters,
                })
                .collect(),
            tool_choice: (request.answer_now && !request.tools.is_empty())
                .then_some(ToolChoice { kind: "none" }),
            stream: true,
            // The API's range is 0..=1 where OpenAI's is 0..=2; both mean greedy at 0.
            temperature: request.temperature.clamp(0.0, 1.0),
            // No `seed` (the API has none) and no `answer_schema`, which the caller checks.
        }
    }
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
}

#[derive(Serialize)]
struct ToolChoice {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Side {
    User,
    Assistant,
}

/// One message of the API's strictly alternating conversation.
#[derive(Serialize)]
pub(super) struct Turn<'a> {
    role: Side,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct Block<'a> {
    #[serde(flatten)]
    body: Body<'a>,
    /// Marks the end of a prefix the server should cache for the next request.
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

impl<'a> Block<'a> {
    fn new(body: Body<'a>) -> Self {
        Self {
            body,
            cache_control: None,
        }
    }

    fn cached(body: Body<'a>) -> Self {
        Self {
            body,
            cache_control: Some(CacheControl { kind: "ephemeral" }),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Body<'a> {
    Text {
        text: Cow<'a, str>,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        /// Left out when empty: the field is optional, an empty string is not always taken.
        #[serde(skip_serializing_if = "str::is_empty")]
        content: &'a str,
    },
}

#[derive(Serialize)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The leading system messages as one prompt, and the rest as API turns.
fn conversation(messages: &[Message]) -> (Option<String>, Vec<Turn<'_>>) {
    let leading = messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    let system: Vec<&str> = messages[..leading]
        .iter()
        .map(|m| m.content.as_str())
        .filter(|text| !text.trim().is_empty())
        .collect();
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    let mut builder = Builder::default();
    for message in &messages[leading..] {
        builder.add(message);
    }
    (system, builder.finish())
}

#[derive(Default)]
struct Builder<'a> {
    turns: Vec<Turn<'a>>,
    /// Every id handed out so far: the API refuses a request that repeats one.
    used: HashSet<String>,
    /// Calls of the last assistant turn still waiting for their result: (lode's id, wire id).
    pending: Vec<(&'a str, String)>,
}

impl<'a> Builder<'a> {
    fn add(&mut self, message: &'a Message) {
        match message.role {
            // Only a leading system message has a place of its own; a later one (lode writes
            // none) is kept where it was, as user text.
            Role::User | Role::System => {
                self.answer_pending();
                self.text(Side::User, &message.content);
            }
            Role::Assistant => {
                self.answer_pending();
                self.text(Side::Assistant, &message.content);
                for call in &message.tool_calls {
                    let id = self.fresh_id(&call.id);
                    let input = match tool_input(&call.arguments) {
                        Some(input) => input,
                        None => {
                            // The API takes only an object; the model still gets to see
                            // what it wrote, so the tool's complaint makes sense to it.
                            self.text(
                                Side::Assistant,
                                format!(
                                    "(arguments written for {}, not a JSON object: {})",
                                    call.name, call.arguments
                                ),
                            );
                            Value::Object(serde_json::Map::new())
                        }
                    };
                    self.push(
                        Side::Assistant,
                        Body::ToolUse {
                            id: id.clone(),
                            name: &call.name,
                            input,
                        },
                    );
                    self.pending.push((&call.id, id));
                }
            }
            Role::Tool => {
                let answered = message
                    .tool_call_id
                    .as_deref()
                    .and_then(|original| self.pending.iter().position(|(id, _)| *id == original));
                match answered {
                    Some(at) => {
                        let (_, id) = self.pending.remove(at);
                        self.push(
                            Side::User,
                            Body::ToolResult {
                                tool_use_id: id,
                                content: &message.content,
                            },
                        );
                    }
                    // A result whose call is not in the turn just before cannot be a
                    // `tool_result`; as text it still tells the model what happened.
                    None => self.text(
                        Side::User,
                        format!(
                            "[result of {} call {}]\n{}",
                            message.name.as_deref().unwrap_or("a tool"),
                            message.tool_call_id.as_deref().unwrap_or("without id"),
                            message.content
                        ),
                    ),
                }
            }
        }
    }

    /// A `^[a-zA-Z0-9_-]+$` id for `original`, unused so far in this request.
    fn fresh_id(&mut self, original: &str) -> String {
        let mut base: String = original
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if base.is_empty() {
            base.push_str("call");
        }
        let mut id = base.clone();
        let mut n = 2;
        while self.used.contains(&id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        self.used.insert(id.clone());
        id
    }

    /// Calls left unanswered get a result saying so, at the start of the next user turn.
    fn answer_pending(&mut self) {
        for (_, id) in std::mem::take(&mut self.pending) {
            self.push(
                Side::User,
                Body::ToolResult {
                    tool_use_id: id,
                    content: NO_RESULT,
                },
            );
        }
    }

    /// Text, unless blank (the API refuses blank text blocks).
    fn text(&mut self, side: Side, text: impl Into<Cow<'a, str>>) {
        let text = text.into();
        if !text.trim().is_empty() {
            self.push(side, Body::Text { text });
        }
    }

    /// Appends to the last turn when it is the same side: the API wants them alternating.
    fn push(&mut self, side: Side, body: Body<'a>) {
        match self.turns.last_mut() {
            Some(turn) if turn.role == side => turn.content.push(Block::new(body)),
            _ => self.turns.push(Turn {
                role: side,
                content: vec![Block::new(body)],
            }),
        }
    }

    fn finish(mut self) -> Vec<Turn<'a>> {
        self.answer_pending();
        let mut turns = self.turns;
        for turn in &mut turns {
            if turn.role == Side::User {
                // Results first, then text: the API's rule for the turn after tool calls.
                let (mut results, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut turn.content)
                    .into_iter()
                    .partition(|b| matches!(b.body, Body::ToolResult { .. }));
                results.extend(rest);
                turn.content = results;
            }
        }
        if let Some(last) = turns.last_mut() {
            // A final assistant turn is a prefill, which must not end in whitespace.
            if last.role == Side::Assistant {
                if let Some(Block {
                    body: Body::Text { text },
                    ..
                }) = last.content.last_mut()
                {
                    let trimmed = text.trim_end().len();
                    text.to_mut().truncate(trimmed);
                }
            }
            // The whole conversation so far is the next turn's prefix: cache up to here.
            if let Some(block) = last.content.last_mut() {
                block.cache_control = Some(CacheControl { kind: "ephemeral" });
            }
        }
        turns
    }
}

/// The arguments as the object the API wants; blank means none. `None` when they are not
/// a JSON object.
fn tool_input(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests;
