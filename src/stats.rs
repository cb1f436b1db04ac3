//! Per-turn performance figures, shared by the engine, the backends and every front end.
//!
//! Every generation reports one `TurnStats`; the status bar, `--json` output and
//! `lode bench` all read the same fields, so a number means the same thing everywhere.

use serde::{Deserialize, Serialize};

/// What one model turn cost and how much of it the caches saved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnStats {
    /// Tokens in the prompt, cached or not.
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV state was reused (in memory or from the disk cache) instead of
    /// being computed again.
    pub cached_tokens: u32,
    /// Of `cached_tokens`, how many came from the on-disk prompt cache.
    pub disk_cached_tokens: u32,
    /// Wall time spent computing the uncached part of the prompt, including restoring state.
    pub prefill_ms: f64,
    /// Time spent writing the prompt prefix to the disk cache (not part of `prefill_ms`).
    pub cache_write_ms: f64,
    /// Tokens generated.
    pub decode_tokens: u32,
    /// Wall time spent generating, from the first sampled token to the last.
    pub decode_ms: f64,
    /// Draft tokens proposed by speculative decoding (0 when speculation is off).
    pub draft_proposed: u32,
    /// Draft tokens the target model accepted.
    pub draft_accepted: u32,
    /// How tokens were decoded: `mtp …` or `draft …` with the policy's state (e.g. `mtp
    /// adaptive k=3 (acceptance 82%, est 1.41x)`), empty when speculation was not asked for,
    /// or `off: <why>` when it was asked for and could not run.
    #[serde(default)]
    pub spec_mode: String,
    /// Messages the model was given for this turn, and how many of them were tool results:
    /// after a switch to the fallback, proof that the whole transcript went along.
    #[serde(default)]
    pub prompt_messages: u32,
    #[serde(default)]
    pub prompt_tool_results: u32,
    /// Tool calls in this turn that could not run as written: unreadable markup, an unknown
    /// tool, or arguments that do not match the tool's schema.
    #[serde(default)]
    pub malformed_calls: u32,
    /// Which backend produced the turn (`local`, `openai`, `scripted`).
    pub backend: String,
    /// The model's display name.
    pub model: String,
}

impl TurnStats {
    /// Prompt tokens computed per second, counting only the tokens actually computed.
    pub fn prefill_tps(&self) -> f64 {
        per_second(
            self.prompt_tokens.saturating_sub(self.cached_tokens),
            self.prefill_ms,
        )
    }

    /// Generated tokens per second.
    pub fn decode_tps(&self) -> f64 {
        per_second(self.decode_tokens, self.decode_ms)
    }
}

fn per_second(tokens: u32, ms: f64) -> f64 {
    if ms > 0.0 {
        f64::from(tokens) * 1000.0 / ms
    } else {
        0.0
    }
}
