//! The events of a streamed answer, parsed leniently: unknown event, block and delta types
//! are skipped rather than refused, as Anthropic's versioning policy asks of clients, so a
//! new server feature (thinking blocks, server tools) does not break lode.

use serde::Deserialize;
use serde_json::Value;

use crate::stats::TurnStats;

/// One server-sent event of a streamed answer, by its `type` field.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::backend::anthropic) enum Event {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: u32,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta,
    },
    ContentBlockStop,
    MessageDelta {
        #[serde(default)]
        delta: MessageDelta,
        usage: Option<Usage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ApiError,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
pub(in crate::backend::anthropic) struct MessageStart {
    pub usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::backend::anthropic) enum ContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        /// Usually `{}` here, with the real input following as `input_json_delta`s.
        #[serde(default)]
        input: Value,
    },
    /// Thinking, server tools and whatever comes later: not lode's to show or run.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::backend::anthropic) enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(other)]
    Other,
}

#[derive(Default, Deserialize)]
pub(in crate::backend::anthropic) struct MessageDelta {
    pub stop_reason: Option<String>,
}

#[derive(Deserialize)]
pub(in crate::backend::anthropic) struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// Token counts; `message_start` has the prompt's, `message_delta` the running output count
/// (and, from newer servers, the prompt's again).
#[derive(Clone, Copy, Default, Deserialize)]
pub(in crate::backend::anthropic) struct Usage {
    input_tokens: Option<u32>,
    cache_read_input_tokens: Option<u32>,
    cache_creation_input_tokens: Option<u32>,
    output_tokens: Option<u32>,
}

impl Usage {
    /// Takes the newer counts where `newer` has them.
    pub(in crate::backend::anthropic) fn update(&mut self, newer: Usage) {
        let keep = |old: &mut Option<u32>, new: Option<u32>| *old = new.or(*old);
        keep(&mut self.input_tokens, newer.input_tokens);
        keep(
            &mut self.cache_read_input_tokens,
            newer.cache_read_input_tokens,
        );
        keep(
            &mut self.cache_creation_input_tokens,
            newer.cache_creation_input_tokens,
        );
        keep(&mut self.output_tokens, newer.output_tokens);
    }

    pub(in crate::backend::anthropic) fn output_tokens(&self) -> Option<u32> {
        self.output_tokens
    }

    /// `input_tokens` counts only the uncached part; lode's prompt count is the whole prompt.
    pub(in crate::backend::anthropic) fn apply(&self, stats: &mut TurnStats) {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        stats.prompt_tokens = self
            .input_tokens
            .unwrap_or(0)
            .saturating_add(read)
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0));
        stats.cached_tokens = read;
        if let Some(n) = self.output_tokens {
            stats.decode_tokens = n;
        }
    }
}
