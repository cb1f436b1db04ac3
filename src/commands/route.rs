//! `lode route "request"`: which lane the router gives one request, at which tier and why,
//! without running it — the router a session uses, asked on its own, to check a rule or a
//! small model before trusting it with tasks.

use std::io::{Read, Write};

use serde::Serialize;
use serde_json::Value;

use crate::cancel::CancelFlag;
use crate::cli::RouteArgs;
use crate::commands::CommandError;
use crate::compose::routing::{open_small, Small};
use crate::config::Config;
use crate::router::{rules, Decision, Lane, RouteMode, Router, RuleMatch, Tier};

/// What `lode route --json` prints: the decision, with the direct lane's call spelled out.
#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub lane: Lane,
    pub tier: Tier,
    pub reason: String,
    pub elapsed_ms: f64,
    /// The small model's confidence, when tier 1 decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// For the direct lane: `{"tool", "args"}`, or `{"undo": true}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Value>,
}

impl RouteReport {
    pub fn new(decision: &Decision) -> Self {
        Self {
            lane: decision.lane,
            tier: decision.tier,
            reason: decision.reason.clone(),
            elapsed_ms: decision.elapsed_ms,
            confidence: decision.confidence,
            action: decision.action.as_ref().map(action_json),
        }
    }
}

/// A rule's call as `lode route --json` shows it.
pub fn action_json(action: &RuleMatch) -> Value {
    match action {
        RuleMatch::Tool { tool, args, .. } => serde_json::json!({ "tool": tool, "args": args }),
        RuleMatch::Undo { .. } => serde_json::json!({ "undo": true }),
    }
}

/// Runs `lode route`.
pub fn run(args: &RouteArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let request = read_request(&args.request)?;
    let mode = args.route.unwrap_or(config.router.mode);
    let router = open_router(args, config, mode, &request);
    let decision = router.route(&request, &CancelFlag::new());
    if args.json {
        let text =
            serde_json::to_string(&RouteReport::new(&decision)).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
    } else {
        writeln!(
            out,
            "{}: {} ({}, {})",
            decision.lane,
            decision.reason,
            tier_name(decision.tier),
            format_ms(decision.elapsed_ms)
        )?;
    }
    Ok(())
}

/// The router this request needs. Under `auto` a request a rule answers is decided before
/// any model could run, so the small model is not loaded for it (seconds saved, the same
/// decision); under `large` it is never loaded.
fn open_router(args: &RouteArgs, config: &Config, mode: RouteMode, request: &str) -> Router {
    let rules_decide = mode == RouteMode::Auto && rules::match_request(request).is_some();
    if mode == RouteMode::Large || rules_decide {
        return Router::new(mode, None, false);
    }
    let Small {
        backend,
        classifier,
        note,
    } = open_small(args.small_model.as_deref(), config, args.threads);
    // Only a small model the user asked for brings a note (see `Small::note`).
    if let Some(note) = note {
        eprintln!("lode route: {note}");
    } else if backend.is_some() && classifier.is_none() {
        eprintln!("lode route: a scripted small model has a lane but cannot classify");
    }
    Router::new(mode, classifier, backend.is_some())
}

/// The request argument; `-` reads standard input.
fn read_request(arg: &str) -> Result<String, CommandError> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CommandError::ReadInput {
                path: "-".into(),
                source,
            })?;
        text
    } else {
        arg.to_string()
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CommandError::Route(
            "the request is empty: pass it as an argument, or `-` to read it from standard input"
                .to_string(),
        ));
    }
    Ok(text.to_string())
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Rules => "rules",
        Tier::Model => "model",
        Tier::Fixed => "fixed",
    }
}

/// Milliseconds with the digits that matter: rules take microseconds, the model tens of ms.
fn format_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}
