//! Tool calls in and out of local models.
//!
//! Every model family writes tool calls in the markup it was trained on (Hermes tags, Llama 3
//! JSON, Mistral's `[TOOL_CALLS]`), and small models often get it slightly wrong. A malformed
//! call must never end a turn: [`call_grammar`] makes a broken envelope impossible while
//! sampling, [`parse`] never fails but returns what it understood plus one error per broken
//! fragment, worded so the model can retry, and [`validate`] checks the arguments against the
//! tool's schema in the same spirit. [`render_calls`] writes calls back into a prompt for
//! templates that cannot render `tool_calls` themselves, as the exact inverse of [`parse`].
//! When a final answer must match a JSON schema, [`answer_grammar`] holds the whole turn to
//! "calls or that answer" instead.

mod formats;
mod grammar;
mod held;
mod json;
#[cfg(test)]
mod tests;
mod validate;

use serde::Serialize;

use crate::backend::ToolCall;

pub use grammar::{answer_grammar, call_grammar, envelope_gbnf};
pub use held::{
    bounded_arguments, held_call_opening, held_grammar, worst_case, HeldAnswer, HeldTool,
};
pub use validate::{check_answer, validate};

/// The markup a model family uses for tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallFormat {
    /// Qwen / Hermes: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`.
    Hermes,
    /// Llama 3.x: `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`, one
    /// per line (or `;`-separated) or as a JSON list.
    Llama3,
    /// Mistral: `[TOOL_CALLS][{"name": …, "arguments": {…}}]`, optionally with an `id`.
    Mistral,
    /// Unknown templates: fenced ```` ```json ```` blocks or bare JSON objects / lists with
    /// `name` and `arguments` (or `parameters`); the other formats' markers are understood too.
    Generic,
}

impl CallFormat {
    /// Picks the format from the markers a chat template prints.
    pub fn detect(chat_template: &str) -> Self {
        if chat_template.contains("<tool_call>") {
            Self::Hermes
        } else if chat_template.contains("<|python_tag|>") || chat_template.contains("ipython") {
            Self::Llama3
        } else if chat_template.contains("[TOOL_CALLS]") {
            Self::Mistral
        } else {
            Self::Generic
        }
    }

    /// How one call should look, shown to the model when it got a call wrong.
    fn expected_shape(self) -> &'static str {
        match self {
            Self::Hermes => {
                "<tool_call>\n{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}\n</tool_call>"
            }
            Self::Llama3 => "{\"name\": \"<tool name>\", \"parameters\": {<arguments>}}",
            Self::Mistral => "[TOOL_CALLS][{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}]",
            Self::Generic => "```json\n{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}\n```",
        }
    }
}

/// What a model's output held.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Parsed {
    /// Text outside the calls (reasoning blocks removed), trimmed.
    pub content: String,
    /// Calls in the order written, with ids `call_0`, `call_1`, …; `arguments` is the compact
    /// JSON text of the arguments object.
    pub calls: Vec<ToolCall>,
    /// One message per call-looking fragment that could not be read: what is wrong and the
    /// expected shape, ready to send back to the model.
    pub errors: Vec<String>,
}

/// Finds the tool calls in `text`. Never fails and never panics: what cannot be read becomes
/// an entry in [`Parsed::errors`].
pub fn parse(format: CallFormat, text: &str) -> Parsed {
    formats::parse(format, text)
}

/// Writes `calls` the way `format` expects them in an assistant message, for chat templates
/// that cannot render `tool_calls`: `parse(format, &render_calls(format, calls))` gives the
/// calls back.
pub fn render_calls(format: CallFormat, calls: &[ToolCall]) -> String {
    match format {
        CallFormat::Hermes => calls
            .iter()
            .map(|call| {
                format!(
                    "<tool_call>\n{}\n</tool_call>",
                    call_object(call, "arguments")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        CallFormat::Llama3 => calls
            .iter()
            .map(|call| call_object(call, "parameters"))
            .collect::<Vec<_>>()
            .join("\n"),
        CallFormat::Mistral if calls.is_empty() => String::new(),
        CallFormat::Mistral => format!(
            "[TOOL_CALLS][{}]",
            calls
                .iter()
                .map(|call| call_object(call, "arguments"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CallFormat::Generic => calls
            .iter()
            .map(|call| format!("```json\n{}\n```", call_object(call, "arguments")))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// `{"name": …, "<key>": …}` with the arguments as written when they are JSON, so the prompt
/// repeats the model's own bytes; anything else is embedded as a string rather than breaking
/// the envelope.
fn call_object(call: &ToolCall, key: &str) -> String {
    let raw = call.arguments.trim();
    let arguments = if raw.is_empty() {
        "{}".to_string()
    } else if serde_json::from_str::<serde_json::Value>(raw).is_ok() {
        raw.to_string()
    } else {
        serde_json::Value::String(call.arguments.clone()).to_string()
    };
    let name = serde_json::Value::String(call.name.clone());
    format!("{{\"name\": {name}, \"{key}\": {arguments}}}")
}
