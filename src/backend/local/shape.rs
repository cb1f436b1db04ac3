//! Shapes a conversation for what the model's chat template can render.
//!
//! A template without tool support drops the tool list, the calls the model made and the
//! results it got — the model then never learns it has tools. [`PromptShape`] supplies what
//! the probe ([`TemplateCaps`]) found missing, in a form the model is told about:
//!
//! - tool definitions and the exact call shape go at the end of the system message (Hermes
//!   style, the most widely trained call markup: `<tool_call>{…}</tool_call>`);
//! - calls the template cannot render are written into the assistant text in that markup;
//! - results it cannot render become user turns wrapped in `<tool_response>` tags, merged
//!   with the user turns around them so that roles still alternate;
//! - a system message it cannot render opens the first user turn.
//!
//! Everything supplied is a pure function of the messages and tools, so the rendered prompt
//! of one turn is a prefix of the next one's and the KV cache keeps working.

use serde_json::{json, Value};

use crate::backend::toolcall::{self, CallFormat};
use crate::backend::{Message, Role};
use crate::engine::model::ModelInfo;
use crate::engine::template::caps::TemplateCaps;
use crate::tools::ToolSpec;

/// How one model's prompts are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptShape {
    caps: TemplateCaps,
    format: CallFormat,
}

impl PromptShape {
    /// The shape for a loaded model: its template's capabilities, and the call format its
    /// template speaks — Hermes when lode has to teach the format itself.
    pub fn for_model(info: &ModelInfo) -> Self {
        // llama.cpp's built-ins are probed as rendering roles and content only (engine/model.rs).
        let caps = info.template_caps;
        let format = if caps.tools {
            CallFormat::detect(info.chat_template.as_deref().unwrap_or_default())
        } else {
            CallFormat::Hermes
        };
        Self { caps, format }
    }

    /// The tool-call format the model is prompted with and parsed in.
    pub fn format(&self) -> CallFormat {
        self.format
    }

    /// Whether lode writes the tool definitions into the system message itself.
    pub fn supplies_tools(&self) -> bool {
        !self.caps.tools
    }

    /// Tool schemas to hand the template as `tools` (none when it would drop them anyway).
    pub fn template_tools(&self, tools: &[ToolSpec]) -> Vec<Value> {
        if self.caps.tools {
            tool_schemas(tools)
        } else {
            Vec::new()
        }
    }

    /// `messages` as template-shaped objects, with whatever the template lacks written in.
    pub fn messages(&self, messages: &[Message], tools: &[ToolSpec]) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::with_capacity(messages.len());
        // A system message the template cannot show waits for the first user turn.
        let mut pending_system: Option<String> = None;
        for (i, m) in messages.iter().enumerate() {
            let value = match m.role {
                Role::System => {
                    let mut content = m.content.clone();
                    if i == 0 && self.supplies_tools() && !tools.is_empty() {
                        content.push_str(&tools_section(tools));
                    }
                    if !self.caps.system {
                        pending_system = Some(content);
                        continue;
                    }
                    json!({"role": "system", "content": content})
                }
                Role::Assistant if !m.tool_calls.is_empty() && self.caps.tool_calls => {
                    let calls: Vec<Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            let args = serde_json::from_str::<Value>(&c.arguments)
                                .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                            json!({"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": args}})
                        })
                        .collect();
                    json!({"role": "assistant", "content": m.content, "tool_calls": calls})
                }
                Role::Assistant if !m.tool_calls.is_empty() => {
                    let calls = toolcall::render_calls(self.format, &m.tool_calls);
                    let content = if m.content.is_empty() {
                        calls
                    } else {
                        format!("{}\n{calls}", m.content)
                    };
                    json!({"role": "assistant", "content": content})
                }
                Role::Tool if self.caps.tool_results => json!({
                    "role": "tool",
                    "content": m.content,
                    "tool_call_id": m.tool_call_id,
                    "name": m.name,
                }),
                Role::Tool => json!({"role": "user", "content": tool_response(m)}),
                Role::User => json!({"role": "user", "content": m.content}),
                Role::Assistant => json!({"role": "assistant", "content": m.content}),
            };
            let value = match (pending_system.take(), value) {
                (Some(system), v) if v["role"] == "user" => {
                    let text = v["content"].as_str().unwrap_or_default();
                    json!({"role": "user", "content": format!("{system}\n\n{text}")})
                }
                (system, v) => {
                    pending_system = system;
                    v
                }
            };
            // Results written as user turns join the user turns next to them: templates
            // (Gemma's, Mistral's) require roles to alternate.
            if !self.caps.tool_results && value["role"] == "user" {
                if let Some(last) = out.last_mut().filter(|l| l["role"] == "user") {
                    let joined = format!(
                        "{}\n\n{}",
                        last["content"].as_str().unwrap_or_default(),
                        value["content"].as_str().unwrap_or_default()
                    );
                    last["content"] = Value::String(joined);
                    continue;
                }
            }
            out.push(value);
        }
        if let Some(system) = pending_system {
            out.push(json!({"role": "user", "content": system}));
        }
        out
    }
}

/// Tool specs in the OpenAI function shape chat templates expect.
pub fn tool_schemas(tools: &[ToolSpec]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}})
        })
        .collect()
}

/// The tools and the call shape, for the end of the system message: the words Qwen's and
/// Hermes' templates use, which small models have seen most.
fn tools_section(tools: &[ToolSpec]) -> String {
    let mut text = String::from(
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query. \
         The function signatures are within <tools></tools> XML tags:\n<tools>",
    );
    for schema in tool_schemas(tools) {
        text.push('\n');
        text.push_str(&schema.to_string());
    }
    text.push_str(
        "\n</tools>\n\nFor each function call, return a JSON object with the function name \
         and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
         {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\n\
         Each result comes back in the next user turn within <tool_response></tool_response> \
         XML tags. When you have the final answer, reply with text and no tool call.",
    );
    text
}

/// A tool result as a user turn shows it: the text as the tool wrote it, as Qwen's and
/// Hermes' templates wrap it.
fn tool_response(m: &Message) -> String {
    format!("<tool_response>\n{}\n</tool_response>", m.content)
}

#[cfg(test)]
mod tests;
