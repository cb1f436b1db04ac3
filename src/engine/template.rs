//! Renders a model's own Jinja chat template, the way Hugging Face transformers does.
//!
//! llama.cpp's `apply_chat_template` only recognises a handful of built-in templates by
//! substring and never runs Jinja, so tool schemas, tool calls and thinking blocks come out
//! wrong for real models. lode therefore renders `tokenizer.chat_template` from the GGUF
//! with minijinja, configured like transformers' sandbox (`trim_blocks`, `lstrip_blocks`,
//! loop controls, Python string/dict methods, HF's `tojson`, `raise_exception`,
//! `strftime_now`), so a prompt is byte-for-byte what the model saw in training.
//!
//! Rendering is deterministic: the same messages and options give the same bytes, which
//! prompt (KV prefix) caching depends on. The one input that moves is the date behind
//! `strftime_now`; see [`RenderOptions::today`].
//!
//! Known differences from Jinja2 that no shipped template we know of relies on: string
//! literals cannot use `\U0001F600` escapes (`\u2603` works), and lists, and booleans
//! joined with `~`, print in minijinja's spelling rather than Python's repr.

use std::sync::Arc;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State};
use serde::{Deserialize, Serialize};

pub mod builtin;
pub mod caps;
mod json;
mod strftime;

pub use strftime::CalendarDate;

/// The name the template is registered under; it has no extension so that minijinja never
/// turns on HTML auto-escaping.
const TEMPLATE_NAME: &str = "chat_template";

/// lode's fallback for models without a template: plain ChatML, plus Hermes-style tool
/// schemas in the system turn so that tool calling still works.
const CHATML: &str = r#"{%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages and messages[0].role == 'system' %}
{{- messages[0].content + '\n\n' }}
{%- endif %}
{{- '# Tools\n\nThese functions are available; their signatures are inside <tools></tools>:\n<tools>' }}
{%- for tool in tools %}
{{- '\n' + tool | tojson }}
{%- endfor %}
{{- '\n</tools>\n\nTo call one, reply with a JSON object holding its name and arguments inside <tool_call></tool_call> tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if not (tools and loop.first and message.role == 'system') %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- endif %}"#;

/// One turn of a conversation as chat templates see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text of the turn; for an assistant turn, the model's raw output including any
    /// tool-call markup, so that a re-render reproduces the tokens the model produced.
    pub content: String,
}

/// The special-token strings a template may print (`bos_token`, `eos_token`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: String,
    pub eos: String,
}

/// Per-render inputs besides the messages, mirroring `apply_chat_template`'s arguments.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// End with the header that opens an assistant turn.
    pub add_generation_prompt: bool,
    /// OpenAI-style function schemas, rendered in the given order and key order. Empty
    /// passes `tools` as none, exactly as transformers does for `tools=None`.
    pub tools: Vec<serde_json::Value>,
    /// `Some` defines `enable_thinking` (Qwen3-style templates); `None` leaves it undefined
    /// so the template's own default applies.
    pub enable_thinking: Option<bool>,
    /// The date `strftime_now` reports; `None` means today in UTC. Time of day is always
    /// midnight so that a prompt stays byte-stable (and its KV cache valid) for a whole day;
    /// callers that need stability across midnight pin a date here.
    pub today: Option<CalendarDate>,
}

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template source is not valid Jinja (for minijinja).
    #[error("chat template does not compile{}: {reason}", at_line(*.line))]
    Syntax { line: Option<usize>, reason: String },
    /// Rendering failed; `reason` is the template's own message when it called
    /// `raise_exception`, e.g. because the roles do not alternate.
    #[error("chat template failed to render{}: {reason}", at_line(*.line))]
    Render { line: Option<usize>, reason: String },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// A compiled chat template; compile once per model, render every turn. Cloning is cheap:
/// the compiled environment is shared (and kept off the stack of enums that hold it).
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    env: Arc<Environment<'static>>,
    special: SpecialTokens,
}

impl ChatTemplate {
    /// Compiles `source` (a GGUF's `tokenizer.chat_template`).
    pub fn new(source: &str, special: SpecialTokens) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(python_formatter);
        env.add_filter("tojson", json::tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, neutralize_generation_tags(source))
            .map_err(|e| TemplateError::Syntax {
                line: e.line(),
                reason: describe(&e),
            })?;
        Ok(Self {
            env: Arc::new(env),
            special,
        })
    }

    /// lode's built-in ChatML template, for models that ship none.
    pub fn chatml() -> Self {
        let special = SpecialTokens {
            bos: String::new(),
            eos: "<|im_end|>".to_owned(),
        };
        match Self::new(CHATML, special) {
            Ok(template) => template,
            // A constant that the unit tests compile; failing here is a broken build.
            Err(e) => unreachable!("built-in ChatML template does not compile: {e}"),
        }
    }

    /// Renders a conversation into the prompt text the model expects.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        opts: &RenderOptions,
    ) -> Result<String, TemplateError> {
        self.render_value(Value::from_serialize(messages), opts)
    }

    /// Like [`render`](Self::render) for messages with fields beyond role and content
    /// (`tool_calls`, `reasoning_content`, `name`), given as transformers would receive them.
    pub fn render_json(
        &self,
        messages: &[serde_json::Value],
        opts: &RenderOptions,
    ) -> Result<String, TemplateError> {
        self.render_value(Value::from_serialize(messages), opts)
    }

    fn render_value(&self, messages: Value, opts: &RenderOptions) -> Result<String, TemplateError> {
        let today = opts.today.unwrap_or_else(CalendarDate::today_utc);
        let mut ctx = vec![
            ("messages", messages),
            (
                "add_generation_prompt",
                Value::from(opts.add_generation_prompt),
            ),
            ("bos_token", Value::from(self.special.bos.as_str())),
            ("eos_token", Value::from(self.special.eos.as_str())),
            (
                "strftime_now",
                Value::from_function(move |format: &str| today.strftime(format)),
            ),
        ];
        // transformers always passes `tools` and `documents`, as None when absent; templates
        // test `tools is not none`, which an undefined `tools` would pass.
        let tools = if opts.tools.is_empty() {
            Value::from(())
        } else {
            Value::from_serialize(&opts.tools)
        };
        ctx.push(("tools", tools));
        ctx.push(("documents", Value::from(())));
        if let Some(thinking) = opts.enable_thinking {
            ctx.push(("enable_thinking", Value::from(thinking)));
        }
        let ctx: Value = ctx.into_iter().collect();
        self.env
            .get_template(TEMPLATE_NAME)
            .and_then(|t| t.render(ctx))
            .map_err(|e| TemplateError::Render {
                line: e.line(),
                reason: describe(&e),
            })
    }
}

/// The template's `raise_exception(msg)` text, carried as the source of a minijinja error
/// so that [`describe`] can hand it to the user verbatim.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Raised(String);

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(
        Error::new(ErrorKind::InvalidOperation, "template raised an exception")
            .with_source(Raised(message)),
    )
}

/// One line for the user: the template's own words when it raised, else minijinja's.
fn describe(error: &Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(raised) = e.downcast_ref::<Raised>() {
            return raised.0.clone();
        }
        source = e.source();
    }
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Prints `None`/`True`/`False` as Python does, since templates were written against Jinja2.
fn python_formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.write_str("None")?,
        ValueKind::Bool if value.is_true() => out.write_str("True")?,
        ValueKind::Bool => out.write_str("False")?,
        _ => minijinja::escape_formatter(out, state, value)?,
    }
    Ok(())
}

/// transformers' `AssistantTracker` adds a `{% generation %}` block tag that only marks
/// text; minijinja has no custom tags, so each becomes an always-true `if` with the same
/// whitespace control and the same line count.
fn neutralize_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        let (before, tag) = rest.split_at(start);
        out.push_str(before);
        let body = &tag[2..];
        let lead = usize::from(body.starts_with(['-', '+']));
        let after_marker = &body[lead..];
        let word_start = after_marker.len() - after_marker.trim_start().len();
        let word_and_rest = &after_marker[word_start..];
        let word_len = word_and_rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(word_and_rest.len());
        let replacement = match &word_and_rest[..word_len] {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        let consumed = 2 + lead + word_start;
        out.push_str(&tag[..consumed]);
        match replacement {
            Some(r) => {
                out.push_str(r);
                rest = &tag[consumed + word_len..];
            }
            None => rest = &tag[consumed..],
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
