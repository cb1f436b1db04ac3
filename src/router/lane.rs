//! What the router decides: which lane a request takes, at which tier, and why.

use serde::{Deserialize, Serialize};

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// One tool call answers it; no model runs.
    Direct,
    /// The loop on the small model.
    Small,
    /// The loop on the large model (local or remote).
    Large,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Small => "small",
            Self::Large => "large",
        }
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the router decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Tier 0: a rule matched the request's words.
    Rules,
    /// Tier 1: the small model classified the request.
    Model,
    /// No tier ran: an override (`--route`), no small model, or a follow-up kept its lane.
    Fixed,
}
