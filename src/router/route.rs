//! The router: rules first, then the small model, then the large model by default.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::router::classify::Classification;
use crate::router::lane::{Lane, Tier};
use crate::router::probe::Probe;
use crate::router::rules::{self, RuleMatch};

/// Below this confidence a "small" verdict goes to the large model: a wrong small lane costs
/// a failed attempt plus an escalation, a wrong large lane only some speed.
pub const MIN_SMALL_CONFIDENCE: f32 = 0.5;

/// How requests are routed (`--route`, `[router] mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RouteMode {
    /// Rules, then the small model's classification.
    #[default]
    Auto,
    /// Every request on the small model (rules still answer one-call requests).
    Small,
    /// Every request on the large model.
    Large,
}

impl std::str::FromStr for RouteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown route mode `{s}`: use auto, small or large"))
    }
}

/// Where one request goes, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub lane: Lane,
    pub tier: Tier,
    pub reason: String,
    pub elapsed_ms: f64,
    /// The small model's confidence, when it decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// For the direct lane: the call that answers the request.
    #[serde(skip)]
    pub action: Option<RuleMatch>,
}

impl Decision {
    fn fixed(lane: Lane, reason: impl Into<String>) -> Self {
        Self {
            lane,
            tier: Tier::Fixed,
            reason: reason.into(),
            elapsed_ms: 0.0,
            confidence: None,
            action: None,
        }
    }
}

/// Decides lanes. Cheap to clone.
#[derive(Clone, Default)]
pub struct Router {
    mode: RouteMode,
    classifier: Option<Probe>,
    /// Whether a small lane exists (a scripted small model has one but no classifier).
    small_lane: bool,
}

impl Router {
    /// `classifier` is the small model's probe; without one, requests the rules do not answer go
    /// to the large model (or the small one under `--route small`, when `small_lane`).
    pub fn new(mode: RouteMode, classifier: Option<Probe>, small_lane: bool) -> Self {
        let small_lane = small_lane || classifier.is_some();
        Self {
            mode,
            classifier,
            small_lane,
        }
    }

    /// The lane for `request`. Blocks while the small model classifies (tens of
    /// milliseconds with its prefix cached).
    pub fn route(&self, request: &str, cancel: &CancelFlag) -> Decision {
        let started = Instant::now();
        let mut decision = self.decide(request, cancel);
        decision.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        decision
    }

    fn decide(&self, request: &str, cancel: &CancelFlag) -> Decision {
        match self.mode {
            RouteMode::Large => return Decision::fixed(Lane::Large, "--route large"),
            RouteMode::Small if !self.small_lane => {
                return Decision::fixed(
                    Lane::Large,
                    "--route small, but no small model is configured ([models.small] path)",
                )
            }
            _ => {}
        }
        if let Some(action) = rules::match_request(request) {
            return Decision {
                lane: Lane::Direct,
                tier: Tier::Rules,
                reason: format!(
                    "one {} answers it (rule `{}`)",
                    action_name(&action),
                    rule_of(&action)
                ),
                elapsed_ms: 0.0,
                confidence: None,
                action: Some(action),
            };
        }
        if self.mode == RouteMode::Small {
            return Decision::fixed(Lane::Small, "--route small");
        }
        let Some(classifier) = &self.classifier else {
            return Decision::fixed(
                Lane::Large,
                "no small model is configured ([models.small] path), and no rule answers it",
            );
        };
        match classifier.classify(request, cancel) {
            Ok(verdict) => {
                let why = match verdict.lane {
                    Lane::Small => "the small model can do it",
                    _ => "it needs the large model",
                };
                let fitted = verdict.fitted.map_or_else(String::new, |(lines, ms)| {
                    format!(
                        "; its head was fitted to this model on {lines} labelled requests in \
                         {:.1} s, once",
                        ms / 1000.0
                    )
                });
                Decision {
                    lane: verdict.lane,
                    tier: Tier::Model,
                    reason: format!(
                        "{why} (the small model's probe says {} at {:.2}{fitted})",
                        verdict.lane, verdict.confidence
                    ),
                    elapsed_ms: 0.0,
                    confidence: Some(verdict.confidence),
                    action: None,
                }
            }
            Err(e) => Decision {
                lane: Lane::Large,
                tier: Tier::Model,
                reason: format!("the small model could not classify it ({e}); large by default"),
                elapsed_ms: 0.0,
                confidence: None,
                action: None,
            },
        }
    }
}

/// The lane a generated verdict sends a request to, and why.
pub fn verdict_lane(verdict: &Classification) -> (Lane, &'static str) {
    match verdict.lane {
        // No rule knows the call, so a model must make it: the cheapest one.
        Lane::Direct => (Lane::Small, "one tool call, made by the small model"),
        Lane::Small if verdict.confidence < MIN_SMALL_CONFIDENCE => {
            (Lane::Large, "the small model is unsure it can do it")
        }
        Lane::Small => (Lane::Small, "the small model can do it"),
        Lane::Large => (Lane::Large, "it needs the large model"),
    }
}

fn action_name(action: &RuleMatch) -> String {
    match action {
        RuleMatch::Tool { tool, .. } => format!("`{tool}` call"),
        RuleMatch::Undo { .. } => "undo".to_string(),
    }
}

fn rule_of(action: &RuleMatch) -> &'static str {
    match action {
        RuleMatch::Tool { rule, .. } | RuleMatch::Undo { rule } => rule,
    }
}
