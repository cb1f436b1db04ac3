//! The in-process engine as a model backend: renders the conversation with the model's own
//! chat template (tools included), constrains tool calls with a lazy grammar (or, when the
//! answer must match a JSON schema, the whole turn with a grammar of calls or that answer), and
//! parses the calls back out of the text in the model family's own format.

use tokio::sync::mpsc::UnboundedSender;

use crate::agent::toolcall::{self, CallFormat};
use crate::backend::{
    BackendError, BackendFuture, ChatRequest, Completion, Message, ModelBackend, ModelEvent, Role,
    StopReason,
};
use crate::engine::model::TemplateKind;
use crate::engine::template::RenderOptions;
use crate::engine::textstream::TextStream;
use crate::engine::{
    json_schema_gbnf, CancelFlag, Engine, FinishReason, GenEvent, GenerateRequest, ModelInfo,
    Persist, Prompt, SamplingParams, Speculation,
};
use crate::tools::ToolSpec;

/// The KV session agent turns run in: one conversation, one growing prefix.
const SESSION: &str = "agent";

/// A loaded model on the engine thread.
pub struct LocalBackend {
    engine: Engine,
    info: ModelInfo,
    format: CallFormat,
    speculation: Speculation,
}

impl LocalBackend {
    /// Wraps an engine that has `info`'s model loaded.
    pub fn new(engine: Engine, info: ModelInfo) -> Self {
        let format = CallFormat::detect(info.chat_template.as_deref().unwrap_or_default());
        Self {
            engine,
            info,
            format,
            speculation: Speculation::Off,
        }
    }

    /// Decodes every turn with `speculation` (an MTP or draft-model policy; the output is
    /// the same, only faster where it pays).
    pub fn with_speculation(mut self, speculation: Speculation) -> Self {
        self.speculation = speculation;
        self
    }

    /// The tool-call format this model's template speaks.
    pub fn call_format(&self) -> CallFormat {
        self.format
    }

    /// Messages in the shape chat templates expect.
    pub fn template_messages(&self, messages: &[Message]) -> Vec<serde_json::Value> {
        let native_calls = self.info.template == TemplateKind::Jinja;
        messages
            .iter()
            .map(|m| match m.role {
                Role::Assistant if !m.tool_calls.is_empty() && native_calls => {
                    let calls: Vec<serde_json::Value> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            let args = serde_json::from_str::<serde_json::Value>(&c.arguments)
                                .unwrap_or_else(|_| serde_json::Value::String(c.arguments.clone()));
                            serde_json::json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": args}})
                        })
                        .collect();
                    serde_json::json!({"role": "assistant", "content": m.content, "tool_calls": calls})
                }
                Role::Assistant if !m.tool_calls.is_empty() => {
                    // Built-in templates know only role and content: write the calls in.
                    let calls = toolcall::render_calls(self.format, &m.tool_calls);
                    let content = if m.content.is_empty() {
                        calls
                    } else {
                        format!("{}\n{calls}", m.content)
                    };
                    serde_json::json!({"role": "assistant", "content": content})
                }
                Role::Tool => serde_json::json!({
                    "role": "tool",
                    "content": m.content,
                    "tool_call_id": m.tool_call_id,
                    "name": m.name,
                }),
                role => serde_json::json!({"role": role, "content": m.content}),
            })
            .collect()
    }
}

/// Tool specs in the OpenAI function shape chat templates expect.
pub fn tool_schemas(tools: &[ToolSpec]) -> Vec<serde_json::Value> {
    tools
        .iter()
        .map(|t| {
            serde_json::json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}})
        })
        .collect()
}

impl ModelBackend for LocalBackend {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn model_name(&self) -> String {
        self.info.name.clone()
    }

    fn context_length(&self) -> Option<u32> {
        Some(self.info.n_ctx)
    }

    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(async move {
            let messages = self.template_messages(&request.messages);
            let options = RenderOptions {
                add_generation_prompt: true,
                tools: tool_schemas(&request.tools),
                ..RenderOptions::default()
            };
            // The stable prefix (system prompt + tools) is stored on disk for the next
            // process and is a checkpoint position for hybrid models.
            let persist = match request.stable_prefix_messages.min(messages.len()) {
                0 => Persist::Nothing,
                n => Persist::PrefixMessages(n),
            };
            let sampling = if request.temperature > 0.0 {
                SamplingParams {
                    temperature: request.temperature,
                    seed: request.seed.unwrap_or(0),
                    ..SamplingParams::default()
                }
            } else {
                SamplingParams::greedy()
            };
            // An answer schema holds the whole turn from its first token: calls or the answer.
            // Without one, prose is free and only a started call is held to its envelope.
            let grammar = match &request.answer_schema {
                Some(schema) => Some(toolcall::answer_grammar(
                    self.format,
                    if request.answer_now {
                        &[]
                    } else {
                        &request.tools
                    },
                    &json_schema_gbnf(schema)?,
                )),
                None => toolcall::call_grammar(self.format, &request.tools),
            };
            let generate = GenerateRequest {
                prompt: Prompt::Chat { messages, options },
                sampling,
                max_tokens: request.max_tokens,
                stop: Vec::new(),
                grammar,
                session: SESSION.to_string(),
                stop_at_eog: true,
                disk_cache: true,
                persist,
                speculation: self.speculation,
            };
            let mut generation = self.engine.generate_with(generate, cancel)?;
            // Prose is streamed up to the first tool-call marker: the call is not for the
            // user, and a marker split across tokens is held back until it is decided.
            let markers: Vec<String> = opening_marker(self.format)
                .map(str::to_string)
                .into_iter()
                .collect();
            let mut visible = TextStream::new(&markers);
            let completion = loop {
                match generation.next().await {
                    Some(GenEvent::Text(text)) => {
                        let shown = visible.push(text.as_bytes()).delta;
                        if !shown.is_empty() {
                            let _ = events.send(ModelEvent::Token { text: shown });
                        }
                    }
                    Some(GenEvent::Done(result)) => {
                        let tail = visible.finish();
                        if !tail.is_empty() {
                            let _ = events.send(ModelEvent::Token { text: tail });
                        }
                        break result?;
                    }
                    None => {
                        return Err(BackendError::Engine(crate::engine::EngineError::WorkerGone))
                    }
                }
            };
            let stop = match completion.finish {
                FinishReason::Cancelled => return Err(BackendError::Cancelled),
                FinishReason::Length => StopReason::Length,
                FinishReason::Eog | FinishReason::StopString => StopReason::Stop,
            };
            let parsed = toolcall::parse(self.format, &completion.text);
            Ok(Completion {
                text: parsed.content,
                tool_calls: parsed.calls,
                malformed: parsed.errors,
                stop,
                stats: completion.stats,
            })
        })
    }
}

/// Where a tool call starts in this format's output; text from there on is not streamed.
fn opening_marker(format: CallFormat) -> Option<&'static str> {
    match format {
        CallFormat::Hermes => Some("<tool_call>"),
        CallFormat::Mistral => Some("[TOOL_CALLS]"),
        CallFormat::Llama3 => Some("<|python_tag|>"),
        CallFormat::Generic => None,
    }
}
