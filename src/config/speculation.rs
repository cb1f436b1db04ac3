//! Speculative decoding settings (`[speculation]`) and the per-model policies that
//! `lode bench --spec --save` measured on this machine (`[speculation.models."PATH"]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{CostTable, DraftLength, LoadOptions, ModelInfo, Speculation};

/// Which drafter the local engine uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SpecChoice {
    /// The model's MTP layers when it has them, else the draft model, else n-gram lookup.
    #[default]
    Auto,
    /// The model's MTP layers.
    Mtp,
    /// The draft model (`[models.draft]`, `--draft-model`).
    Draft,
    /// Tokens that followed the same few tokens earlier in the session (prompt lookup).
    Ngram,
    /// No speculation.
    Off,
}

impl std::str::FromStr for SpecChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true).map_err(|_| {
            format!("unknown speculation mode `{s}`: use auto, mtp, draft, ngram or off")
        })
    }
}

/// The resolved `[speculation]` section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpeculationSettings {
    pub mode: SpecChoice,
    /// Most tokens proposed per round when the length is chosen adaptively.
    pub draft_max: u32,
    /// A fixed number of tokens per round instead of an adaptive length.
    pub draft_len: Option<u32>,
    /// Measured policies by model file (canonical path).
    pub models: BTreeMap<String, SavedPolicy>,
}

impl Default for SpeculationSettings {
    fn default() -> Self {
        Self {
            mode: SpecChoice::Auto,
            draft_max: 4,
            draft_len: None,
            models: BTreeMap::new(),
        }
    }
}

/// The best policy `lode bench --spec --save` found for one model on this machine, with the
/// decode costs it measured (they seed the adaptive policy, so it starts from this machine's
/// numbers instead of a prior).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPolicy {
    pub mode: SpecChoice,
    /// Fixed draft length; absent = adaptive up to `draft_max`.
    pub draft_len: Option<u32>,
    pub draft_max: Option<u32>,
    /// Cost of a target decode of n = 1, 2, … tokens relative to one token.
    pub verify: Vec<f64>,
    /// Cost of one draft step relative to one target token.
    pub draft_step: f64,
    /// Where the numbers came from, for people reading the file.
    #[serde(default)]
    pub note: Option<String>,
}

/// `[speculation]` as one config layer states it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpeculationLayer {
    pub mode: Option<SpecChoice>,
    pub draft_max: Option<u32>,
    pub draft_len: Option<u32>,
    #[serde(default)]
    pub models: BTreeMap<String, SavedPolicy>,
}

/// What to do for one model: settings with its saved policy applied.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecPlan {
    pub mode: SpecChoice,
    pub length: DraftLength,
    /// This machine's measured costs for the model, if `lode bench --spec --save` ran.
    pub costs: Option<CostTable>,
}

impl SpeculationSettings {
    pub(super) fn apply(&mut self, layer: SpeculationLayer) {
        if let Some(mode) = layer.mode {
            self.mode = mode;
        }
        if let Some(max) = layer.draft_max {
            self.draft_max = max;
        }
        if layer.draft_len.is_some() {
            self.draft_len = layer.draft_len;
        }
        self.models.extend(layer.models);
    }

    /// The key a model's saved policy is stored under.
    pub fn model_key(path: &Path) -> String {
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    }

    /// The plan for the model at `path`. A saved policy decides where the user's settings
    /// leave the choice open (mode `auto`, no fixed length).
    pub fn plan_for(&self, path: &Path) -> SpecPlan {
        let saved = self.models.get(&Self::model_key(path));
        let mode = match (self.mode, saved) {
            (SpecChoice::Auto, Some(saved)) => saved.mode,
            (mode, _) => mode,
        };
        let fixed = self.draft_len.or(saved.and_then(|s| s.draft_len));
        let max = saved.and_then(|s| s.draft_max).unwrap_or(self.draft_max);
        SpecPlan {
            mode,
            length: length(fixed, max),
            costs: saved.map(|s| CostTable {
                verify: s.verify.clone(),
                draft_step: s.draft_step,
            }),
        }
    }
}

/// A fixed length when one is given, else adaptive up to `max`.
pub fn length(fixed: Option<u32>, max: u32) -> DraftLength {
    match fixed {
        Some(n) => DraftLength::Fixed { n: n.max(1) },
        None => DraftLength::Adaptive { max: max.max(1) },
    }
}

impl SpecPlan {
    /// The engine request for a loaded model. An explicit mode the model cannot serve is
    /// passed on, so the engine reports why it decoded plainly.
    pub fn speculation(&self, info: &ModelInfo) -> Speculation {
        match self.mode {
            SpecChoice::Auto => Speculation::auto(info, self.length),
            SpecChoice::Mtp => Speculation::Mtp {
                length: self.length,
            },
            SpecChoice::Draft => Speculation::Draft {
                length: self.length,
            },
            SpecChoice::Ngram => Speculation::ngram(self.length),
            SpecChoice::Off => Speculation::Off,
        }
    }

    /// Sets what loading takes for this plan: the draft model `draft` where a draft may be
    /// used, the MTP layers only where they may be, and the measured costs.
    pub fn prepare(&self, options: &mut LoadOptions, draft: Option<PathBuf>) {
        options.draft = match self.mode {
            SpecChoice::Auto | SpecChoice::Draft => draft,
            SpecChoice::Mtp | SpecChoice::Ngram | SpecChoice::Off => None,
        };
        options.mtp = matches!(self.mode, SpecChoice::Auto | SpecChoice::Mtp);
        options.spec_costs.clone_from(&self.costs);
    }
}
