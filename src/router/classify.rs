//! A tier-1 candidate `lode bench --router` measures: the small model reads a request and
//! writes its lane as a grammar-held JSON verdict. Real small models say one lane to
//! everything this way (SmolLM2-135M: `large` for all), so the router uses the probe
//! (`probe.rs`); this stays as the baseline it is measured against.
//!
//! The instructions ([`INSTRUCTIONS`], `classify/prompt.md`) are a fixed system message, so
//! their KV state is computed once: it is kept in the engine's `router` session between
//! calls and stored in the disk prompt cache for the next process. A classification then
//! costs the request's tokens plus a few dozen generated ones.
//!
//! The answer is held to a GBNF grammar written here rather than to a JSON schema through
//! llama.cpp's converter: the converter ignores `minimum`/`maximum` on numbers, lets up to 22
//! whitespace characters stand at each of a dozen places, and allows `\uXXXX` escapes (6 bytes
//! a character), so a schema-bound answer could run past a thousand bytes and a confused
//! model would be cut off by `max_tokens`. This grammar pins every byte but the lane, the
//! confidence and a short plain-ASCII reason, so the longest answer it allows fits within
//! [`MAX_TOKENS`] (every token adds at least one byte) and every answer completes.

use serde::Deserialize;

use crate::engine::template::RenderOptions;
use crate::engine::{
    CancelFlag, Engine, EngineError, FinishReason, GenerateRequest, Grammar, Persist, Prompt,
    SamplingParams, Speculation,
};
use crate::router::lane::Lane;
use crate::stats::TurnStats;

#[cfg(test)]
mod tests;

/// The fixed instructions: the system message, and the cached prefix of every prompt.
pub const INSTRUCTIONS: &str = include_str!("classify/prompt.md");

/// The engine session the classifier keeps its prefix in.
pub const SESSION: &str = "router";

/// The longest reason the grammar allows, in characters (all ASCII, so also in bytes).
pub const REASON_MAX_CHARS: usize = 120;

/// Generation limit; above the grammar's longest answer (see the module docs), so it is
/// never what ends a classification.
pub const MAX_TOKENS: u32 = 180;

/// Tier 1: the small model's verdict on one request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Classification {
    pub lane: Lane,
    /// 0.0..=1.0 as the model stated it.
    pub confidence: f32,
    /// The model's one-line reason (may be empty).
    pub reason: String,
    /// The generation's stats (prompt/cached tokens, ms) — shows the cached prefix working.
    pub stats: TurnStats,
}

/// Why a request could not be classified.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("the router model failed: {0}")]
    Engine(#[from] EngineError),

    /// The grammar should make this impossible; seeing it means the grammar and the parser
    /// disagree.
    #[error("the router model's answer is not a classification: {0:?}")]
    Unreadable(String),

    #[error("classification was cancelled")]
    Cancelled,
}

/// Classifies requests with the small model. Cheap to clone.
#[derive(Clone)]
pub struct Classifier {
    engine: Engine,
}

/// The answer's shape, as the grammar produces it.
#[derive(Deserialize)]
struct Answer {
    lane: Lane,
    confidence: f32,
    reason: String,
}

impl Classifier {
    /// `engine` has the small model loaded (it may also serve the small lane's agent loop:
    /// the classifier uses its own KV session, named "router").
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// Lane for `request`, given `summary` (a few lines on the session so far: the last
    /// task, files touched; may be empty). Blocking (call from spawn_blocking in async code).
    pub fn classify(
        &self,
        request: &str,
        summary: &str,
        cancel: &CancelFlag,
    ) -> Result<Classification, ClassifyError> {
        let completion = self
            .engine
            .generate_with(generate_request(request, summary), cancel.clone())?
            .blocking_complete(|_| {})?;
        if completion.finish == FinishReason::Cancelled {
            return Err(ClassifyError::Cancelled);
        }
        let answer = parse(&completion.text)?;
        Ok(Classification {
            lane: answer.lane,
            confidence: answer.confidence.clamp(0.0, 1.0),
            reason: answer.reason,
            stats: completion.stats,
        })
    }
}

/// The user turn: the session note, then the request.
fn user_message(request: &str, summary: &str) -> String {
    let summary = match summary.trim() {
        "" => "new session",
        text => text,
    };
    format!("Session: {summary}\nRequest: {}", request.trim())
}

fn generate_request(request: &str, summary: &str) -> GenerateRequest {
    let messages = vec![
        serde_json::json!({"role": "system", "content": INSTRUCTIONS}),
        serde_json::json!({"role": "user", "content": user_message(request, summary)}),
    ];
    GenerateRequest {
        prompt: Prompt::Chat {
            messages,
            options: RenderOptions {
                add_generation_prompt: true,
                // The answer is the grammar's from the first token; a thinking block would
                // only spend tokens.
                enable_thinking: Some(false),
                ..RenderOptions::default()
            },
        },
        sampling: SamplingParams::greedy(),
        max_tokens: MAX_TOKENS,
        stop: Vec::new(),
        grammar: Some(grammar()),
        session: SESSION.to_string(),
        stop_at_eog: true,
        on_loop: crate::engine::OnLoop::Continue,
        disk_cache: true,
        persist: Persist::PrefixMessages(1),
        speculation: Speculation::Off,
    }
}

/// The answer, byte for byte as the prompt's examples write it. The reason is printable
/// ASCII without `"` and `\`, so it needs no escapes.
fn grammar() -> Grammar {
    let text = format!(
        r#"root ::= "{{\"lane\": \"" lane "\", \"confidence\": " confidence ", \"reason\": \"" reason "\"}}"
lane ::= "direct" | "small" | "large"
confidence ::= "0" ("." [0-9] [0-9]?)? | "1" (".0" "0"?)?
reason ::= [\x20\x21\x23-\x5B\x5D-\x7E]{{0,{REASON_MAX_CHARS}}}
"#
    );
    Grammar::Gbnf {
        text,
        root: "root".to_string(),
    }
}

fn parse(text: &str) -> Result<Answer, ClassifyError> {
    serde_json::from_str(text.trim()).map_err(|_| ClassifyError::Unreadable(text.to_string()))
}
