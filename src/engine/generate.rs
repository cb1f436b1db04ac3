//! One generation: tokenize, prefill with prefix reuse, sample until a stop.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;
use serde::{Deserialize, Serialize};

use crate::engine::cache::DiskCache;
use crate::engine::error::EngineError;
use crate::engine::kv_session::{common_prefix, ids, CancelFlag, DiskPlan, KvSession};
use crate::engine::model::{LoadedModel, ModelInfo};
use crate::engine::ngram::{Ngram, NgramIndex};
use crate::engine::repetition;
use crate::engine::sampling::{Grammar, SamplingParams, TokenSampler};
use crate::engine::spec_policy::{DraftLength, SpecPolicy};
use crate::engine::speculative::{self, DraftModel, Drafter, Mtp};
use crate::engine::template::RenderOptions;
use crate::engine::textstream::{floor_char_boundary, TextStream};
use crate::stats::TurnStats;

/// What to complete.
#[derive(Clone, Debug)]
pub enum Prompt {
    /// Raw text; special tokens written in it (`<|im_start|>`) are parsed as such.
    Text(String),
    /// Token ids, as they are (benchmarks, and callers that tokenized already).
    Tokens(Vec<i32>),
    /// A conversation, rendered with the model's chat template. Messages are objects in the
    /// shape Hugging Face templates expect: `role`, `content`, and for assistant turns
    /// `tool_calls: [{type, function: {name, arguments}}]`, for tool results `tool_call_id`.
    Chat {
        messages: Vec<serde_json::Value>,
        options: RenderOptions,
    },
}

/// Which part of the prompt to store in the disk cache for later processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Persist {
    /// Store nothing (lookups still happen).
    #[default]
    Nothing,
    /// The whole prompt but its last token (whose logits are recomputed anyway).
    Prompt,
    /// The tokens that cover the first `n` bytes of the rendered prompt text: the stable
    /// prefix (system prompt, tool schemas) that the next run will share.
    PrefixBytes(usize),
    /// The first `n` prompt tokens.
    PrefixTokens(usize),
    /// The tokens covering the first `n` messages of a chat prompt (rendered without a
    /// generation prompt); nothing when the template does not render them as a prefix.
    PrefixMessages(usize),
}

/// One generation request.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    /// Upper bound on generated tokens (also bounded by the context).
    pub max_tokens: u32,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    pub grammar: Option<Grammar>,
    /// Which KV session to use; each keeps its own prefix.
    pub session: String,
    /// Stop at end-of-generation tokens (off only for benchmarks that need a fixed count).
    pub stop_at_eog: bool,
    /// What to do when the output falls into a loop (the same run of tokens over and over).
    pub on_loop: OnLoop,
    /// Consult the disk prompt cache.
    pub disk_cache: bool,
    pub persist: Persist,
    pub speculation: Speculation,
}

/// What a generation does when its output falls into a loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnLoop {
    /// Nothing: raw completions write what the model writes.
    #[default]
    Continue,
    /// End with [`FinishReason::Repetition`], so the caller can tell the model.
    Stop,
    /// Close the answer the shortest way the grammar allows (see
    /// [`TokenSampler::close`](crate::engine::sampling::TokenSampler::close)), for answers
    /// that must come back complete; without a grammar held from the first token, stop.
    Close,
}

/// How tokens are decoded after the prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Speculation {
    /// One token per target decode.
    #[default]
    Off,
    /// The model's own MTP layers propose tokens; the model verifies them in one batch and
    /// keeps what it would have produced itself.
    Mtp { length: DraftLength },
    /// The draft model loaded beside the target proposes tokens, verified the same way.
    Draft { length: DraftLength },
    /// What followed the latest earlier occurrence of the last few tokens in the session
    /// (prompt lookup) is proposed, verified the same way. Every model can do it.
    Ngram { length: DraftLength },
}

impl Speculation {
    /// What the loaded model offers: its MTP layers, else its draft model, else n-gram
    /// lookup, which needs nothing. An adaptive `length` limits the model drafters; n-gram
    /// lookup drafts adaptively up to [`MAX_DRAFT`](crate::engine::spec_policy::MAX_DRAFT)
    /// (a copy is either long or absent).
    pub fn auto(info: &ModelInfo, length: DraftLength) -> Self {
        if info.mtp_loaded {
            Self::Mtp { length }
        } else if info.draft.is_some() {
            Self::Draft { length }
        } else {
            Self::ngram(length)
        }
    }

    /// N-gram lookup with `length` when it is fixed, else adaptive up to the most a round
    /// may draft.
    pub fn ngram(length: DraftLength) -> Self {
        let length = match length {
            DraftLength::Fixed { .. } => length,
            DraftLength::Adaptive { .. } => DraftLength::Adaptive {
                max: crate::engine::spec_policy::MAX_DRAFT as u32,
            },
        };
        Self::Ngram { length }
    }
}

/// How a generation speculates, as the engine thread set it up.
pub enum Speculator<'a, 'm> {
    /// Decode plainly; `reason` says why when speculation was asked for.
    Off { reason: Option<String> },
    /// Draft with the session's MTP context.
    Mtp { policy: &'a mut SpecPolicy },
    /// Draft with a second model in its own session.
    Draft {
        model: &'a LoadedModel,
        session: &'a mut KvSession<'m>,
        policy: &'a mut SpecPolicy,
    },
    /// Draft from the session's own tokens.
    Ngram {
        index: &'a mut NgramIndex,
        policy: &'a mut SpecPolicy,
    },
}

impl GenerateRequest {
    /// Greedy completion of `text` in the default session, up to `max_tokens`.
    pub fn text(text: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            prompt: Prompt::Text(text.into()),
            sampling: SamplingParams::greedy(),
            max_tokens,
            stop: Vec::new(),
            grammar: None,
            session: DEFAULT_SESSION.to_string(),
            stop_at_eog: true,
            on_loop: OnLoop::Continue,
            disk_cache: true,
            persist: Persist::Nothing,
            speculation: Speculation::Off,
        }
    }
}

/// The session used when a request does not name one.
pub const DEFAULT_SESSION: &str = "default";

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-generation token.
    Eog,
    /// A stop string was produced.
    StopString,
    /// `max_tokens` (or the context) ran out.
    Length,
    /// The output fell into a loop and was stopped (only with `stop_on_loop`).
    Repetition,
    /// The caller cancelled.
    Cancelled,
}

/// The result of one generation.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationResult {
    pub text: String,
    /// Generated token ids, end-of-generation token excluded.
    pub tokens: Vec<i32>,
    pub finish: FinishReason,
    pub stats: TurnStats,
}

/// Where the engine keeps its disk cache, and for which model/context.
pub struct DiskTarget<'a> {
    pub cache: &'a DiskCache,
    pub namespace: std::path::PathBuf,
}

/// Runs one request on `session`, calling `on_text` with each final piece of text.
pub fn generate(
    model: &LoadedModel,
    session: &mut KvSession<'_>,
    request: &GenerateRequest,
    disk: Option<&DiskTarget<'_>>,
    speculator: Speculator<'_, '_>,
    cancel: &CancelFlag,
    on_text: &mut dyn FnMut(&str),
) -> Result<GenerationResult, EngineError> {
    let (text, prompt) = match &request.prompt {
        Prompt::Tokens(ids) => (String::new(), checked_tokens(model, ids)?),
        Prompt::Text(text) => (text.clone(), tokenize(model, text)),
        Prompt::Chat { messages, options } => {
            let text = model.render_chat(messages, options)?;
            let tokens = tokenize(model, &text);
            (text, tokens)
        }
    };
    let vocab = model.model.vocab();
    let save_at = match request.persist {
        Persist::Nothing => None,
        Persist::Prompt => Some(prompt.len().saturating_sub(1)),
        Persist::PrefixTokens(n) => Some(n),
        Persist::PrefixMessages(n) => match &request.prompt {
            Prompt::Chat { messages, options } => {
                let prefix = render_head(model, messages, n, options)?;
                text.starts_with(&prefix)
                    .then(|| shared_tokens(model, &prefix, &prompt))
            }
            _ => None,
        },
        Persist::PrefixBytes(n) => {
            let cut = floor_char_boundary(&text, n.min(text.len()));
            Some(shared_tokens(model, &text[..cut], &prompt))
        }
    };
    let plan = disk.filter(|_| request.disk_cache).map(|d| DiskPlan {
        cache: d.cache,
        namespace: d.namespace.clone(),
        read: true,
        save_at,
    });
    let mut sampler = TokenSampler::new(&model.model, &request.sampling, request.grammar.as_ref())?;

    let mut marks: Vec<usize> = save_at.into_iter().collect();
    if let Prompt::Chat { messages, options } = &request.prompt {
        marks.extend(first_message_end(model, messages, options, &prompt));
    }
    let report = session.prefill(&prompt, &marks, cancel, plan.as_ref())?;
    let mut stats = TurnStats {
        prompt_tokens: u32::try_from(prompt.len()).unwrap_or(u32::MAX),
        cached_tokens: u32::try_from(report.cached).unwrap_or(u32::MAX),
        disk_cached_tokens: u32::try_from(report.disk_cached).unwrap_or(u32::MAX),
        prefill_ms: report.ms - report.cache_write_ms,
        cache_write_ms: report.cache_write_ms,
        backend: "local".to_string(),
        model: model.info.name.clone(),
        ..TurnStats::default()
    };
    let room = (session.n_ctx() as usize).saturating_sub(prompt.len() + 1);
    let mut out = Output {
        vocab,
        stop_at_eog: request.stop_at_eog,
        on_loop: request.on_loop,
        stream: TextStream::new(&request.stop),
        generated: Vec::new(),
        piece: Vec::new(),
        budget: (request.max_tokens as usize).min(room),
        on_text,
    };
    let decode_start = Instant::now();
    // Which drafter proposes, if any; otherwise why not, when speculation was asked for.
    type Proposer<'p> = (Box<dyn Drafter + 'p>, &'p mut SpecPolicy, &'static str);
    let (proposer, off): (Option<Proposer<'_>>, Option<String>) = match speculator {
        Speculator::Off { reason } => (None, reason),
        Speculator::Mtp { policy } => {
            let n_max = session.kind().max_draft();
            (Some((Box::new(Mtp { n_max }), policy, "mtp")), None)
        }
        Speculator::Draft {
            model: draft,
            session: draft_session,
            policy,
        } => match speculative::unsupported(model, draft) {
            Some(reason) => (None, Some(reason)),
            None => {
                let drafter = DraftModel::new(draft, draft_session)?;
                (Some((Box::new(drafter), policy, "draft")), None)
            }
        },
        Speculator::Ngram { index, policy } => match speculative::cannot_roll_back(model) {
            Some(reason) => (None, Some(reason)),
            None => (Some((Box::new(Ngram::new(index)), policy, "ngram")), None),
        },
    };
    let finish = if cancel.is_cancelled() {
        FinishReason::Cancelled
    } else if out.budget == 0 {
        FinishReason::Length
    } else if let Some((mut drafter, policy, label)) = proposer {
        let finish = speculative::decode(
            model,
            session,
            drafter.as_mut(),
            policy,
            &mut sampler,
            &mut out,
            cancel,
            &mut stats,
        )?;
        stats.spec_mode = format!("{label} {}", policy.describe());
        finish
    } else {
        if let Some(reason) = off {
            stats.spec_mode = format!("off: {reason}");
        }
        plain_decode(model, session, &mut sampler, &mut out, cancel)?
    };
    let tail = out.stream.finish();
    if !tail.is_empty() {
        (out.on_text)(&tail);
    }
    stats.decode_tokens = u32::try_from(out.generated.len()).unwrap_or(u32::MAX);
    stats.decode_ms = decode_start.elapsed().as_secs_f64() * 1000.0;
    Ok(GenerationResult {
        text: out.stream.text().to_string(),
        tokens: ids(&out.generated),
        finish,
        stats,
    })
}

/// Most tokens spent closing a held answer after a loop (a few strings and brackets).
const CLOSING_TOKENS: usize = 96;

/// One token at a time: sample, emit, decode it, repeat. The session's logits are those of
/// its last token.
pub(crate) fn plain_decode(
    model: &LoadedModel,
    session: &mut KvSession<'_>,
    sampler: &mut TokenSampler,
    out: &mut Output<'_, '_>,
    cancel: &CancelFlag,
) -> Result<FinishReason, EngineError> {
    loop {
        let token = sampler.sample(&model.model, session.context(), session.logits_index())?;
        match out.take(token) {
            // A held answer stuck in a loop is closed by the grammar's shortest way out,
            // so it still ends complete and valid.
            Some(FinishReason::Repetition) if out.close_loop(sampler, model) => {}
            Some(finish) => return Ok(finish),
            None => {}
        }
        if cancel.is_cancelled() {
            return Ok(FinishReason::Cancelled);
        }
        session.push(token)?;
    }
}

/// The tokens a generation has produced so far, their text, and the rules that end it.
pub(crate) struct Output<'v, 'f> {
    vocab: LlamaVocab<'v>,
    stop_at_eog: bool,
    on_loop: OnLoop,
    stream: TextStream,
    generated: Vec<LlamaToken>,
    piece: Vec<u8>,
    budget: usize,
    on_text: &'f mut dyn FnMut(&str),
}

impl Output<'_, '_> {
    /// Takes one sampled token; returns why generation ends with it, if it does.
    pub(crate) fn take(&mut self, token: LlamaToken) -> Option<FinishReason> {
        if self.stop_at_eog && self.vocab.is_eog(token) {
            return Some(FinishReason::Eog);
        }
        self.generated.push(token);
        self.piece.clear();
        self.vocab
            .token_to_piece_into(token, &mut self.piece, false, None);
        let pushed = self.stream.push(&self.piece);
        if !pushed.delta.is_empty() {
            (self.on_text)(&pushed.delta);
        }
        if pushed.stopped {
            return Some(FinishReason::StopString);
        }
        if self.on_loop != OnLoop::Continue && repetition::looping(&self.generated).is_some() {
            return Some(FinishReason::Repetition);
        }
        (self.generated.len() >= self.budget).then_some(FinishReason::Length)
    }

    /// After a loop: closes a held answer the grammar's shortest way, within a few more
    /// tokens, so it still ends complete and valid. False when this output does not close
    /// loops or the grammar cannot.
    pub(crate) fn close_loop(&mut self, sampler: &mut TokenSampler, model: &LoadedModel) -> bool {
        if self.on_loop != OnLoop::Close || !sampler.can_close() {
            return false;
        }
        sampler.close(&model.model);
        self.on_loop = OnLoop::Continue;
        self.budget = self.budget.min(self.generated.len() + CLOSING_TOKENS);
        true
    }

    /// Tokens still allowed.
    pub(crate) fn remaining(&self) -> usize {
        self.budget.saturating_sub(self.generated.len())
    }
}

/// Where the first message (the system prompt, with tool schemas) ends in the prompt: the
/// part of a conversation that later prompts keep even when the tail is rewritten.
fn first_message_end(
    model: &LoadedModel,
    messages: &[serde_json::Value],
    options: &RenderOptions,
    prompt: &[LlamaToken],
) -> Option<usize> {
    if messages.len() < 2 {
        return None;
    }
    let text = render_head(model, messages, 1, options).ok()?;
    Some(shared_tokens(model, &text, prompt))
}

/// The first `n` messages rendered as the start of a prompt (no generation prompt).
fn render_head(
    model: &LoadedModel,
    messages: &[serde_json::Value],
    n: usize,
    options: &RenderOptions,
) -> Result<String, EngineError> {
    let head = RenderOptions {
        add_generation_prompt: false,
        ..options.clone()
    };
    model.render_chat(&messages[..n.min(messages.len())], &head)
}

/// How many leading tokens of `prompt` the tokens of `text` cover.
pub(crate) fn shared_tokens(model: &LoadedModel, text: &str, prompt: &[LlamaToken]) -> usize {
    common_prefix(&tokenize(model, text), prompt)
}

pub(crate) fn tokenize(model: &LoadedModel, text: &str) -> Vec<LlamaToken> {
    let vocab = model.model.vocab();
    let add_bos = vocab.should_add_bos() && !starts_with_bos(model, text);
    vocab.tokenize(text.as_bytes(), add_bos, true)
}

/// Token ids from a caller are checked here: llama.cpp aborts the process on an id outside
/// the vocabulary.
pub(crate) fn checked_tokens(
    model: &LoadedModel,
    ids: &[i32],
) -> Result<Vec<LlamaToken>, EngineError> {
    let n_vocab = model.model.n_vocab();
    match ids.iter().find(|&&id| id < 0 || id >= n_vocab) {
        Some(bad) => Err(EngineError::BadToken {
            token: *bad,
            n_vocab,
        }),
        None => Ok(ids.iter().map(|&id| LlamaToken::new(id)).collect()),
    }
}

fn starts_with_bos(model: &LoadedModel, text: &str) -> bool {
    let vocab = model.model.vocab();
    let bos = vocab.token_to_piece(vocab.bos(), true, None);
    !bos.is_empty() && text.as_bytes().starts_with(&bos)
}
