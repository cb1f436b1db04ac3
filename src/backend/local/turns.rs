//! Which turns a local model gets: free prose with a lazy call grammar, or held turns.
//!
//! Held turns ([`crate::backend::toolcall::held_grammar`]) make every call well formed and
//! every argument schema-valid, at the price of bounding what a turn may write. Models that
//! were never shown tools by their template, and small models, need them: measured on the
//! registry test models (SmolLM2-135M-Instruct, gemma-3-270m), free turns wrote calls as
//! fenced code or prose and looped to the token budget, held turns wrote only real calls
//! (README, "Small local models"). Nothing between 270M and the 7B-class models people use
//! as a large model was available to measure, so the line is drawn where published
//! function-calling evaluations stop showing small models as reliable: under 2B parameters.

use serde::{Deserialize, Serialize};

use super::shape::PromptShape;
use crate::engine::ModelInfo;

/// `[agent] held_turns`: hold every turn of a local model to "one schema-valid tool call or a
/// final answer" (`on`), never (`off`), or for models whose chat template has no tool support
/// and models under 2B parameters (`auto`, the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeldTurns {
    #[default]
    Auto,
    On,
    Off,
}

/// Models with fewer parameters than this get held turns under `held_turns = "auto"`.
pub const SMALL_MODEL_PARAMS: u64 = 2_000_000_000;

/// How a local model's turns are constrained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum TurnMode {
    /// Prose is free; a started call is held to its envelope.
    Free,
    /// The whole turn is one schema-valid call or a final answer; `why` says what chose it.
    Held { why: String },
}

impl TurnMode {
    /// The mode `setting` gives a model with `info` and prompt `shape`.
    pub fn choose(setting: HeldTurns, info: &ModelInfo, shape: &PromptShape) -> Self {
        match setting {
            HeldTurns::On => Self::Held {
                why: "[agent] held_turns = \"on\"".to_string(),
            },
            HeldTurns::Off => Self::Free,
            HeldTurns::Auto if shape.supplies_tools() => Self::Held {
                why: "its chat template has no tool support".to_string(),
            },
            HeldTurns::Auto if info.n_params < SMALL_MODEL_PARAMS => Self::Held {
                why: format!(
                    "a small model ({:.2}B parameters)",
                    info.n_params as f64 / 1e9
                ),
            },
            HeldTurns::Auto => Self::Free,
        }
    }

    pub fn is_held(&self) -> bool {
        matches!(self, Self::Held { .. })
    }
}

impl std::fmt::Display for TurnMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Free => f.write_str("free turns (a started tool call is held to its format)"),
            Self::Held { why } => write!(
                f,
                "held turns (one schema-checked call or an answer): {why}"
            ),
        }
    }
}
