//! `lode bench --router`: how well and how fast the router decides, on the bundled label
//! set (`fixtures/router/labels.jsonl`, see `router::labels`).
//!
//! Tier 0 is scored on every line: coverage (direct lines the rules answer) and precision
//! (answered lines that really are direct — a wrong catch runs a call the user did not ask
//! for, so it should be 1.0), with per-request latency over repeated passes. Tier 1 runs
//! when there is a small model, on the held-out lines the rules leave to it (never on lines
//! a head was fitted on), for every candidate classifier side by side: the generated JSON
//! verdict, the label tokens' logits after a few-shot prefix, and linear probes on the
//! model's hidden states. Each gets its accuracy per lane, confusion, and latency cold (the
//! prefix computed) and warm (the prefix kept in the session).

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::commands::CommandError;
use crate::config::Config;
use crate::router::labels::{self, Labeled};
use crate::router::{rules, Lane};

mod tier1;

pub use tier1::Tier1Report;

/// Passes over the whole label set for tier 0's latency.
const PASSES: usize = 100;

/// What `lode bench --router --json` prints.
#[derive(Debug, Serialize)]
pub struct RouterBenchReport {
    /// Labeled requests, and how many carry each lane.
    pub labels: usize,
    pub labeled_direct: usize,
    pub labeled_small: usize,
    pub labeled_large: usize,
    pub tier0: Tier0Report,
    /// `null` when there is no small model to measure; `tier1_reason` says why.
    pub tier1: Option<Tier1Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier1_reason: Option<String>,
}

/// Tier 0 (rules) on the label set.
#[derive(Debug, Serialize)]
pub struct Tier0Report {
    /// Lines the rules answered.
    pub caught: usize,
    /// Of those, lines labeled direct.
    pub caught_direct: usize,
    /// `caught_direct` / lines labeled direct.
    pub coverage: f64,
    /// `caught_direct` / `caught` (1.0 when nothing is caught).
    pub precision: f64,
    /// Caught lines not labeled direct: requests the rules would answer wrongly.
    pub wrong_catches: Vec<Labeled>,
    /// Direct lines the rules leave to tier 1.
    pub missed: Vec<Labeled>,
    pub passes: usize,
    /// Per request, over every pass.
    pub mean_us: f64,
    pub p99_us: f64,
    /// One pass over the whole set.
    pub pass_mean_us: f64,
}

/// Runs `lode bench --router`.
pub fn run(args: &BenchArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let labels = labels()?;
    let tier0 = tier0(&labels);
    let count = |lane| labels.iter().filter(|l| l.lane == lane).count();
    let (tier1, tier1_reason) = match tier1::measure(args, config, &labels) {
        Ok(report) => (Some(report), None),
        Err(reason) => (None, Some(reason)),
    };
    let report = RouterBenchReport {
        labels: labels.len(),
        labeled_direct: count(Lane::Direct),
        labeled_small: count(Lane::Small),
        labeled_large: count(Lane::Large),
        tier0,
        tier1,
        tier1_reason,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
    } else {
        print_report(&report, out)?;
    }
    Ok(())
}

fn labels() -> Result<Vec<Labeled>, CommandError> {
    labels::bundled().map_err(|e| CommandError::BadJson {
        path: "fixtures/router/labels.jsonl".into(),
        message: e.to_string(),
    })
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

fn tier0(labels: &[Labeled]) -> Tier0Report {
    let mut caught = 0;
    let mut caught_direct = 0;
    let mut wrong_catches = Vec::new();
    let mut missed = Vec::new();
    for label in labels {
        match (rules::match_request(&label.request).is_some(), label.lane) {
            (true, Lane::Direct) => {
                caught += 1;
                caught_direct += 1;
            }
            (true, _) => {
                caught += 1;
                wrong_catches.push(label.clone());
            }
            (false, Lane::Direct) => missed.push(label.clone()),
            (false, _) => {}
        }
    }
    let direct = labels.iter().filter(|l| l.lane == Lane::Direct).count();

    let mut samples = Vec::with_capacity(PASSES * labels.len());
    let started = Instant::now();
    for _ in 0..PASSES {
        for label in labels {
            let t = Instant::now();
            black_box(rules::match_request(black_box(&label.request)));
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let total_us = started.elapsed().as_secs_f64() * 1e6;
    samples.sort_by(f64::total_cmp);
    Tier0Report {
        caught,
        caught_direct,
        coverage: ratio(caught_direct, direct),
        precision: ratio(caught_direct, caught),
        wrong_catches,
        missed,
        passes: PASSES,
        mean_us: mean(&samples),
        p99_us: percentile(&samples, 0.99),
        pass_mean_us: total_us / PASSES as f64,
    }
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The `q` quantile of sorted `values` (nearest rank).
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_report(r: &RouterBenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "router bench: {} labeled requests ({} direct, {} small, {} large)",
        r.labels, r.labeled_direct, r.labeled_small, r.labeled_large
    )?;
    let t0 = &r.tier0;
    writeln!(out, "tier 0 (rules)")?;
    writeln!(
        out,
        "  coverage   {:.3} ({} of {} direct requests answered with no model)",
        t0.coverage, t0.caught_direct, r.labeled_direct
    )?;
    writeln!(
        out,
        "  precision  {:.3} ({} of {} answered requests are labeled direct)",
        t0.precision, t0.caught_direct, t0.caught
    )?;
    writeln!(
        out,
        "  latency    mean {:.2} µs, p99 {:.2} µs a request; {:.1} µs a pass ({} passes)",
        t0.mean_us, t0.p99_us, t0.pass_mean_us, t0.passes
    )?;
    for line in &t0.wrong_catches {
        writeln!(
            out,
            "  WRONG      {:?} is labeled {}",
            line.request, line.lane
        )?;
    }
    for line in &t0.missed {
        writeln!(out, "  missed     {:?} ({})", line.request, line.note)?;
    }
    match &r.tier1 {
        Some(t1) => tier1::print(t1, out),
        None => {
            let reason = r.tier1_reason.as_deref().unwrap_or("");
            writeln!(out, "tier 1 (small model): not measured: {reason}")
        }
    }
}
