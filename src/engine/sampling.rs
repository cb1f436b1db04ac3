//! Sampler chains and grammars.
//!
//! Settings are validated here, in Rust, because llama.cpp aborts the whole process on
//! values it does not expect (ENGINE_NOTES: any GGML_ASSERT kills lode).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use crate::engine::error::EngineError;

/// How the next token is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 = greedy (argmax); otherwise the softmax temperature.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: i32,
    /// Nucleus sampling; 1.0 disables.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the best; 0 disables.
    pub min_p: f32,
    /// Penalty on tokens seen in the last `repeat_last_n`; 1.0 disables.
    pub repeat_penalty: f32,
    pub repeat_last_n: i32,
    /// Seed for the random draw; equal seeds give equal outputs.
    pub seed: u32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Plain argmax decoding: deterministic, what tests and tool calls use.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), EngineError> {
        let bad = |what: &str| Err(EngineError::Sampling(what.to_string()));
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature must be a finite number ≥ 0");
        }
        if self.top_k < 0 {
            return bad("top-k must be ≥ 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top-p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min-p must be in [0, 1]");
        }
        if !self.repeat_penalty.is_finite() || self.repeat_penalty <= 0.0 {
            return bad("repeat penalty must be > 0 (1.0 disables it)");
        }
        if self.repeat_last_n < 0 {
            return bad("repeat-last-n must be ≥ 0");
        }
        Ok(())
    }
}

/// A constraint on what the model may generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grammar {
    /// A GBNF grammar, enforced from the first token.
    Gbnf { text: String, root: String },
    /// A JSON schema, converted to GBNF by llama.cpp's converter.
    JsonSchema { schema: serde_json::Value },
    /// A GBNF grammar that switches on only once the output matches one of the trigger
    /// patterns (regexes matched from the start of the output, the grammar applied from the
    /// first capture group) — how tool calls are constrained without constraining prose.
    Lazy {
        text: String,
        root: String,
        triggers: Vec<String>,
    },
}

impl Grammar {
    /// The grammar as GBNF text plus its root rule.
    pub fn to_gbnf(&self) -> Result<(String, String), EngineError> {
        match self {
            Self::Gbnf { text, root } | Self::Lazy { text, root, .. } => {
                Ok((text.clone(), root.clone()))
            }
            Self::JsonSchema { schema } => Ok((json_schema_gbnf(schema)?, "root".to_string())),
        }
    }
}

/// `schema` as GBNF by llama.cpp's converter; the root rule is `root`. Used on its own by
/// callers that combine the result with grammar of their own (rule names may then collide:
/// the converter defines `root`, `space`, `string`, `value` and others).
pub fn json_schema_gbnf(schema: &serde_json::Value) -> Result<String, EngineError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
        EngineError::Grammar(format!(
            "JSON schema could not be converted ({e}); \
             check that it is valid and that every `$ref` points inside it"
        ))
    })
}

/// [`json_schema_gbnf`] with whitespace between tokens limited to one space, for grammars
/// lode imposes on an answer and bounds by length: the converter's own rule lets every gap
/// take up to 22 characters (newlines and indentation), which would dominate the longest
/// answer a bounded schema admits and so the token budget it needs.
pub fn bounded_json_gbnf(schema: &serde_json::Value) -> Result<String, EngineError> {
    let gbnf = json_schema_gbnf(schema)?;
    Ok(gbnf
        .lines()
        .map(|line| {
            if line.starts_with("space ::=") {
                "space ::= | \" \""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}

/// Picks tokens: the grammar (if any) masks the candidates, then penalties and greedy or
/// the stochastic filters choose.
///
/// The grammar is kept apart from the rest of the chain and tokens are accepted through the
/// exception-catching shim, because a lazy grammar cannot mask what it has not seen yet: a
/// token that completes the trigger *and* continues with text the grammar rejects makes
/// llama.cpp throw, and an exception crossing into Rust aborts the process. Such a token is
/// banned, the grammar rebuilt from the tokens it accepted, and the step sampled again.
pub struct TokenSampler {
    grammar: Option<GrammarState>,
    rest: LlamaSampler,
    /// Plain argmax: read the logits in place instead of building a candidate list over the
    /// whole vocabulary (150k entries on Qwen models) every token.
    argmax: bool,
    /// Greedy under a grammar: try the unmasked argmax first and mask the whole vocabulary
    /// only when the grammar refuses it. Masking 50–250k candidates through the grammar
    /// costs more than a small model's forward pass; the argmax is allowed most of the time,
    /// and when it is allowed it is exactly what greedy over the masked candidates picks.
    greedy_grammar: bool,
    /// Per-token preference while closing a held answer (see [`TokenSampler::close`]), built
    /// on the first call.
    closing: Option<Vec<u8>>,
}

struct GrammarState {
    spec: Grammar,
    sampler: LlamaSampler,
    accepted: Vec<LlamaToken>,
}

/// How many rejected tokens one step may ban before giving up.
const MAX_REJECTIONS: usize = 16;

impl TokenSampler {
    /// Validates the settings and builds the samplers.
    pub fn new(
        model: &LlamaModel,
        params: &SamplingParams,
        grammar: Option<&Grammar>,
    ) -> Result<Self, EngineError> {
        params.validate()?;
        let mut chain = Vec::new();
        if params.repeat_penalty != 1.0 {
            chain.push(LlamaSampler::penalties(
                model.n_vocab(),
                params.repeat_last_n,
                params.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if params.temperature == 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if params.top_k > 0 {
                chain.push(LlamaSampler::top_k(params.top_k));
            }
            chain.push(LlamaSampler::top_p(params.top_p, 1));
            chain.push(LlamaSampler::min_p(params.min_p, 1));
            chain.push(LlamaSampler::temp(params.temperature));
            chain.push(LlamaSampler::dist(params.seed));
        }
        let grammar = match grammar {
            Some(spec) => Some(GrammarState {
                sampler: grammar_sampler(model, spec)?,
                spec: spec.clone(),
                accepted: Vec::new(),
            }),
            None => None,
        };
        let greedy = params.temperature == 0.0 && params.repeat_penalty == 1.0;
        Ok(Self {
            argmax: grammar.is_none() && greedy,
            greedy_grammar: grammar.is_some() && greedy,
            closing: None,
            grammar,
            rest: LlamaSampler::chain_simple(chain),
        })
    }

    /// Whether [`close`](Self::close) can end the output: only a grammar enforced from the
    /// first token knows what a finished answer is.
    pub fn can_close(&self) -> bool {
        self.grammar
            .as_ref()
            .is_some_and(|g| !matches!(g.spec, Grammar::Lazy { .. }))
    }

    /// From now on, write the shortest way out of the grammar rather than what the model
    /// wants: among the tokens the grammar allows, end-of-generation first, then tokens made
    /// of closing quotes and brackets, then the model's choice. A held answer whose model
    /// fell into a loop inside a string then still ends as a complete, valid answer instead
    /// of running on to its bounds.
    pub fn close(&mut self, model: &LlamaModel) {
        if self.closing.is_some() || !self.can_close() {
            return;
        }
        let vocab = model.vocab();
        let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
        let ranks = (0..n_vocab)
            .map(|id| {
                let token = LlamaToken::new(i32::try_from(id).unwrap_or(0));
                if vocab.is_eog(token) {
                    return 4;
                }
                closing_rank(&vocab.token_to_piece(token, false, None))
            })
            .collect();
        self.closing = Some(ranks);
    }

    /// Chooses the next token from the logits at batch index `idx`, and records it.
    pub fn sample(
        &mut self,
        model: &LlamaModel,
        ctx: &LlamaContext<'_>,
        idx: i32,
    ) -> Result<LlamaToken, EngineError> {
        if let (Some(ranks), Some(grammar)) = (&self.closing, &mut self.grammar) {
            let mut candidates = ctx.token_data_array_ith(idx);
            candidates.apply_sampler(&mut grammar.sampler);
            let best = candidates
                .data
                .iter()
                .filter(|d| d.logit() > f32::NEG_INFINITY)
                .max_by(|a, b| {
                    let rank = |d: &LlamaTokenData| {
                        ranks.get(usize::try_from(d.id().0).unwrap_or(0)).copied()
                    };
                    rank(a).cmp(&rank(b)).then(a.logit().total_cmp(&b.logit()))
                })
                .map(LlamaTokenData::id)
                .ok_or_else(|| EngineError::Grammar("no token satisfies the grammar".into()))?;
            if grammar.sampler.try_accept(best).is_err() {
                return Err(EngineError::Grammar(
                    "the grammar refused the token it allowed".into(),
                ));
            }
            grammar.accepted.push(best);
            return Ok(best);
        }
        if self.argmax {
            return Ok(argmax(ctx.get_logits_ith(idx)));
        }
        if self.grammar.is_none() {
            // Without a grammar nothing can throw: llama.cpp's own sample-and-accept is safe.
            return Ok(self.rest.sample(ctx, idx));
        }
        if self.greedy_grammar {
            if let Some(grammar) = &mut self.grammar {
                let logits = ctx.get_logits_ith(idx);
                let token = argmax(logits);
                let logit = logits[usize::try_from(token.0).unwrap_or(0)];
                let mut single =
                    LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, logit, 0.0)], false);
                single.apply_sampler(&mut grammar.sampler);
                let allowed = single
                    .data
                    .first()
                    .is_some_and(|d| d.logit() > f32::NEG_INFINITY);
                if allowed {
                    if grammar.sampler.try_accept(token).is_ok() {
                        grammar.accepted.push(token);
                        return Ok(token);
                    }
                    grammar.rebuild(model)?;
                }
                // A refused argmax changed nothing: the full masked step below decides.
            }
        }
        let mut banned: Vec<LlamaToken> = Vec::new();
        loop {
            let mut candidates = ctx.token_data_array_ith(idx);
            for data in &mut candidates.data {
                if banned.contains(&data.id()) {
                    data.set_logit(f32::NEG_INFINITY);
                }
            }
            if let Some(grammar) = &mut self.grammar {
                candidates.apply_sampler(&mut grammar.sampler);
            }
            candidates.apply_sampler(&mut self.rest);
            let token = candidates
                .selected_token()
                .ok_or_else(|| EngineError::Grammar("no token satisfies the grammar".into()))?;
            let Some(grammar) = &mut self.grammar else {
                self.rest.accept(token);
                return Ok(token);
            };
            if grammar.sampler.try_accept(token).is_ok() {
                grammar.accepted.push(token);
                self.rest.accept(token);
                return Ok(token);
            }
            banned.push(token);
            if banned.len() > MAX_REJECTIONS {
                return Err(EngineError::Grammar(
                    "the grammar rejected every likely token".into(),
                ));
            }
            grammar.rebuild(model)?;
        }
    }
}

impl GrammarState {
    /// A fresh grammar that has accepted the same tokens: the state after a token that
    /// made llama.cpp throw.
    fn rebuild(&mut self, model: &LlamaModel) -> Result<(), EngineError> {
        self.sampler = grammar_sampler(model, &self.spec)?;
        for &previous in &self.accepted {
            if self.sampler.try_accept(previous).is_err() {
                return Err(EngineError::Grammar(
                    "grammar state could not be rebuilt".into(),
                ));
            }
        }
        Ok(())
    }
}

/// How well a token's text closes a JSON answer: only closing quotes and brackets (3), ending
/// in one (2), holding one (1), or none (0). Commas rank with nothing: they open more.
fn closing_rank(piece: &[u8]) -> u8 {
    let text = piece.trim_ascii();
    let closer = |b: &u8| matches!(b, b'"' | b'}' | b']');
    if text.is_empty() {
        0
    } else if text.iter().all(closer) {
        3
    } else if text.last().is_some_and(closer) {
        2
    } else if text.iter().any(closer) {
        1
    } else {
        0
    }
}

/// The most likely token; the lowest id wins a tie, as in llama.cpp's greedy sampler.
fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0;
    for (i, &logit) in logits.iter().enumerate() {
        if logit > logits[best] {
            best = i;
        }
    }
    LlamaToken::new(i32::try_from(best).unwrap_or(0))
}

fn grammar_sampler(model: &LlamaModel, grammar: &Grammar) -> Result<LlamaSampler, EngineError> {
    let (text, root) = grammar.to_gbnf()?;
    let result = match grammar {
        Grammar::Lazy { triggers, .. } => {
            if triggers.is_empty() {
                return Err(EngineError::Grammar(
                    "a lazy grammar needs at least one trigger pattern".to_string(),
                ));
            }
            LlamaSampler::grammar_lazy_patterns(model, &text, &root, triggers, &[])
        }
        _ => LlamaSampler::grammar(model, &text, &root),
    };
    // llama-cpp-2's `common` shim catches llama.cpp's parse exceptions (bad GBNF, a bad
    // trigger regex) and returns null, so this is an error, never an abort.
    result.map_err(|e| {
        EngineError::Grammar(format!(
            "{e} (check the GBNF syntax, the trigger patterns, and that rule `{root}` exists)"
        ))
    })
}
