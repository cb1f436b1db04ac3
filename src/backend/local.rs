//! The in-process engine as a model backend: renders the conversation with the model's own
//! chat template (tools included), constrains tool calls with a lazy grammar (or, when the
//! answer must match a JSON schema, the whole turn with a grammar of calls or that answer), and
//! parses the calls back out of the text in the model family's own format.

use tokio::sync::mpsc::UnboundedSender;

use crate::backend::local::turns::HeldTurns;
use crate::backend::toolcall::{self, CallFormat, HeldAnswer, HeldTool};
use crate::backend::{
    BackendError, BackendFuture, ChatRequest, Completion, Message, ModelBackend, ModelEvent,
    StopReason,
};
use crate::engine::template::RenderOptions;
use crate::engine::textstream::TextStream;
use crate::engine::OnLoop;
use crate::engine::{
    bounded_json_gbnf, CancelFlag, Engine, EngineError, FinishReason, GenEvent, GenerateRequest,
    Grammar, ModelInfo, Persist, Prompt, SamplingParams, Speculation,
};
use crate::tools::ToolSpec;

mod shape;
pub mod turns;
pub use shape::{tool_schemas, PromptShape};
pub use turns::TurnMode;

/// The KV session agent turns run in: one conversation, one growing prefix.
const SESSION: &str = "agent";

/// A loaded model on the engine thread.
pub struct LocalBackend {
    engine: Engine,
    info: ModelInfo,
    shape: PromptShape,
    turns: TurnMode,
    speculation: Speculation,
}

impl LocalBackend {
    /// Wraps an engine that has `info`'s model loaded.
    pub fn new(engine: Engine, info: ModelInfo) -> Self {
        let shape = PromptShape::for_model(&info);
        let turns = TurnMode::choose(HeldTurns::Auto, &info, &shape);
        Self {
            engine,
            info,
            shape,
            turns,
            speculation: Speculation::Off,
        }
    }

    /// Decodes every turn with `speculation` (an MTP or draft-model policy; the output is
    /// the same, only faster where it pays).
    pub fn with_speculation(mut self, speculation: Speculation) -> Self {
        self.speculation = speculation;
        self
    }

    /// The tool-call format this model is prompted with and parsed in.
    pub fn call_format(&self) -> CallFormat {
        self.shape.format()
    }

    /// Messages in the shape the model's chat template expects, with the tool definitions,
    /// calls and results it cannot render written in.
    pub fn template_messages(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
    ) -> Vec<serde_json::Value> {
        self.shape.messages(messages, tools)
    }

    /// The conversation rendered exactly as the model will be given it.
    pub fn render_prompt(&self, request: &ChatRequest) -> Result<String, BackendError> {
        Ok(self.engine.blocking_render(
            self.template_messages(&request.messages, &request.tools),
            self.render_options(&request.tools),
        )?)
    }

    /// How this model's turns are constrained.
    pub fn turn_mode(&self) -> &TurnMode {
        &self.turns
    }

    /// Chooses held or free turns by `setting` (`auto` by default).
    pub fn with_held_turns(mut self, setting: HeldTurns) -> Self {
        self.turns = TurnMode::choose(setting, &self.info, &self.shape);
        self
    }

    /// The grammar a turn is sampled under.
    fn grammar(&self, request: &ChatRequest) -> Result<Option<Grammar>, BackendError> {
        let format = self.shape.format();
        // The last turn of a budget with an answer schema may only answer.
        let tools: &[ToolSpec] = if request.answer_now {
            &[]
        } else {
            &request.tools
        };
        let answer = request
            .answer_schema
            .as_ref()
            .map(bounded_json_gbnf)
            .transpose()?;
        if self.turns.is_held() {
            // Arguments are bounded so that one call always closes within the turn.
            let budget = request.max_tokens as usize;
            let held = tools
                .iter()
                .map(|spec| {
                    Ok(HeldTool {
                        spec,
                        arguments_gbnf: bounded_json_gbnf(&toolcall::bounded_arguments(
                            &spec.parameters,
                            budget,
                        ))?,
                    })
                })
                .collect::<Result<Vec<_>, EngineError>>()?;
            let answer = match &answer {
                Some(gbnf) => HeldAnswer::Gbnf(gbnf),
                // A task's first turn looks before it answers: small models otherwise guess.
                None if request.task_turn == 1 && !held.is_empty() => HeldAnswer::CallRequired,
                None => HeldAnswer::Prose,
            };
            return Ok(Some(toolcall::held_grammar(format, &held, answer)));
        }
        // An answer schema holds the whole turn from its first token: calls or the answer.
        // Without one, prose is free and only a started call is held to its envelope.
        Ok(match &answer {
            Some(gbnf) => Some(toolcall::answer_grammar(format, tools, gbnf)),
            None => toolcall::call_grammar(format, &request.tools),
        })
    }

    fn render_options(&self, tools: &[ToolSpec]) -> RenderOptions {
        RenderOptions {
            add_generation_prompt: true,
            tools: self.shape.template_tools(tools),
            ..RenderOptions::default()
        }
    }
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

    fn turn_mode(&self) -> Option<String> {
        Some(self.turns.to_string())
    }

    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(async move {
            let messages = self.template_messages(&request.messages, &request.tools);
            let options = self.render_options(&request.tools);
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
            let grammar = self.grammar(&request)?;
            let generate = GenerateRequest {
                prompt: Prompt::Chat { messages, options },
                sampling,
                max_tokens: request.max_tokens,
                stop: Vec::new(),
                grammar,
                session: SESSION.to_string(),
                stop_at_eog: true,
                // A looping answer that must come back whole is closed; anything else stops and
                // the model is told.
                on_loop: if request.answer_schema.is_some() {
                    OnLoop::Close
                } else {
                    OnLoop::Stop
                },
                disk_cache: true,
                persist,
                speculation: self.speculation,
            };
            let mut generation = self.engine.generate_with(generate, cancel)?;
            // Prose is streamed up to the first tool-call marker: the call is not for the
            // user, and a marker split across tokens is held back until it is decided.
            let markers: Vec<String> = opening_marker(self.shape.format())
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
                FinishReason::Repetition => StopReason::Repetition,
                FinishReason::Eog | FinishReason::StopString => StopReason::Stop,
            };
            let format = self.shape.format();
            let parsed = if self.turns.is_held()
                && !completion
                    .text
                    .starts_with(toolcall::held_call_opening(format))
            {
                // A held answer: JSON the model quotes in it is not a call.
                toolcall::Parsed {
                    content: completion.text.trim().to_string(),
                    ..toolcall::Parsed::default()
                }
            } else {
                toolcall::parse(format, &completion.text)
            };
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
