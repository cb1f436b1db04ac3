//! `lode bench --router`: how well and how fast the router decides, on the label set the
//! rules were written against (`fixtures/router/labels.jsonl`, built into the binary).
//!
//! Tier 0 is scored on every line: coverage (direct lines the rules answer) and precision
//! (answered lines that really are direct — a wrong catch runs a call the user did not ask
//! for, so it should be 1.0), with per-request latency over repeated passes. Tier 1 runs
//! when there is a small model, on every line the rules leave to it: the classifier's lane
//! against the label, and its latency cold (the instructions computed) and with the
//! instructions' prefix cached, which is what every request after the first pays.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cli::BenchArgs;
use crate::commands::{progress_bar, CommandError};
use crate::compose::routing::{load_small, memory_shortfall};
use crate::config::Config;
use crate::engine::{
    CancelFlag, ContextOptions, DiskCacheConfig, Engine, EngineError, GenerateRequest, ModelInfo,
};
use crate::router::{rules, Classifier, Lane};

/// The labeled requests, one JSON object a line: `{"request", "lane", "note"}`.
const LABELS: &str = include_str!("../../fixtures/router/labels.jsonl");

/// Passes over the whole label set for tier 0's latency.
const PASSES: usize = 100;

/// Tokens decoded for the turn the overhead estimate compares against.
const DECODE_TOKENS: u32 = 128;

/// One labeled request.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Labeled {
    pub request: String,
    pub lane: Lane,
    #[serde(default)]
    pub note: String,
}

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

/// Tier 1 (the small model's classifier) on the lines tier 0 does not answer.
#[derive(Debug, Serialize)]
pub struct Tier1Report {
    pub model: String,
    pub model_path: PathBuf,
    pub threads: u32,
    /// Lines classified.
    pub requests: usize,
    /// Classifications that failed (counted as wrong).
    pub failed: usize,
    /// The classifier's lane equal to the label, over `requests`.
    pub accuracy: f64,
    /// Counts by label, then by the lane the classifier said.
    pub confusion: Confusion,
    /// The first classification: the instructions computed from scratch.
    pub cold: Latency,
    /// The mean of the rest: the instructions' prefix kept in the router session.
    pub cached: Latency,
    /// `cached.wall_ms` / `cold.wall_ms`.
    pub cached_over_cold: f64,
    /// `cached.prefill_ms` / `cold.prefill_ms`.
    pub prefill_cached_over_cold: f64,
    pub overhead_estimate: Overhead,
}

/// A classification's cost.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Wall time of the whole call.
    pub wall_ms: f64,
    pub prefill_ms: f64,
    pub prompt_tokens: f64,
    pub cached_tokens: f64,
}

/// Counts by label.
#[derive(Debug, Default, Serialize)]
pub struct Confusion {
    pub direct: Said,
    pub small: Said,
    pub large: Said,
}

/// Counts by what the classifier said.
#[derive(Debug, Default, Serialize)]
pub struct Said {
    pub direct: u32,
    pub small: u32,
    pub large: u32,
    pub failed: u32,
}

/// Router overhead as a share of a turn — an estimate, not a measured turn.
#[derive(Debug, Serialize)]
pub struct Overhead {
    pub decode_tokens: u32,
    /// The small model decoding `decode_tokens` tokens on the same engine, once.
    pub decode_ms: f64,
    /// cached classification ÷ (cached classification + that decode).
    pub share: f64,
    pub basis: &'static str,
}

/// Runs `lode bench --router`.
pub fn run(args: &BenchArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let labels = labels()?;
    let tier0 = tier0(&labels);
    let count = |lane| labels.iter().filter(|l| l.lane == lane).count();
    let (tier1, tier1_reason) = match tier1(args, config, &labels) {
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
    LABELS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| CommandError::BadJson {
                path: "fixtures/router/labels.jsonl".into(),
                message: format!("{e}: {line}"),
            })
        })
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: usize, whole: usize) -> f64 {
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
fn mean(values: &[f64]) -> f64 {
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

/// Tier 1 on the lines tier 0 leaves, or why it cannot be measured.
fn tier1(args: &BenchArgs, config: &Config, labels: &[Labeled]) -> Result<Tier1Report, String> {
    let path = match args.small_model.as_deref() {
        Some(spec) if spec.starts_with("scripted:") => {
            return Err("a scripted small model cannot classify: tier 1 not measured".to_string())
        }
        Some(spec) => PathBuf::from(spec),
        None => config.models.small.clone().ok_or_else(|| {
            "no small model is configured ([models.small] path, or --small-model): \
             tier 1 not measured, and routing sends what the rules leave to the large model"
                .to_string()
        })?,
    };
    if let Some(short) = memory_shortfall(&path) {
        return Err(short);
    }
    let threads = args.model.threads.unwrap_or(config.engine.threads).max(1);
    let (engine, info) = load(args, config, &path, threads).map_err(|e| {
        format!(
            "the small model `{}` did not load ({e}): tier 1 not measured",
            path.display()
        )
    })?;
    let classifier = Classifier::new(engine.clone());
    let left: Vec<&Labeled> = labels
        .iter()
        .filter(|l| rules::match_request(&l.request).is_none())
        .collect();
    let cancel = CancelFlag::new();
    let mut confusion = Confusion::default();
    let mut latencies = Vec::with_capacity(left.len());
    let (mut correct, mut failed) = (0, 0);
    let mut progress = progress_bar("classifying");
    for (i, label) in left.iter().enumerate() {
        let started = Instant::now();
        let result = classifier.classify(&label.request, "", &cancel);
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        let row = match label.lane {
            Lane::Direct => &mut confusion.direct,
            Lane::Small => &mut confusion.small,
            Lane::Large => &mut confusion.large,
        };
        match result {
            Ok(c) => {
                correct += usize::from(c.lane == label.lane);
                *match c.lane {
                    Lane::Direct => &mut row.direct,
                    Lane::Small => &mut row.small,
                    Lane::Large => &mut row.large,
                } += 1;
                latencies.push(Latency {
                    wall_ms,
                    prefill_ms: c.stats.prefill_ms,
                    prompt_tokens: f64::from(c.stats.prompt_tokens),
                    cached_tokens: f64::from(c.stats.cached_tokens),
                });
            }
            Err(_) => {
                failed += 1;
                row.failed += 1;
            }
        }
        if let Some(progress) = progress.as_mut() {
            #[allow(clippy::cast_precision_loss)]
            progress((i + 1) as f32 / left.len() as f32);
        }
    }
    let mut latencies = latencies.into_iter();
    let cold = latencies.next().unwrap_or_default();
    let rest: Vec<Latency> = latencies.collect();
    let cached = Latency {
        wall_ms: mean_of(&rest, |l| l.wall_ms),
        prefill_ms: mean_of(&rest, |l| l.prefill_ms),
        prompt_tokens: mean_of(&rest, |l| l.prompt_tokens),
        cached_tokens: mean_of(&rest, |l| l.cached_tokens),
    };
    let decode_ms = decode_time(&engine).map_err(|e| format!("the decode measurement: {e}"))?;
    Ok(Tier1Report {
        model: info.name,
        model_path: path,
        threads,
        requests: left.len(),
        failed,
        accuracy: ratio(correct, left.len()),
        confusion,
        cached_over_cold: divide(cached.wall_ms, cold.wall_ms),
        prefill_cached_over_cold: divide(cached.prefill_ms, cold.prefill_ms),
        overhead_estimate: Overhead {
            decode_tokens: DECODE_TOKENS,
            decode_ms,
            share: divide(cached.wall_ms, cached.wall_ms + decode_ms),
            basis: "estimate: one cached classification ÷ (that + the small model decoding \
                    128 tokens); a real turn also prefills its context and runs tools",
        },
        cold,
        cached,
    })
}

fn mean_of(latencies: &[Latency], field: impl Fn(&Latency) -> f64) -> f64 {
    mean(&latencies.iter().map(field).collect::<Vec<_>>())
}

fn divide(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The small model in its own engine, as the router opens it, but with a disk cache of its
/// own (emptied first) so the first classification is cold on every run and the user's
/// cache is left alone.
fn load(
    args: &BenchArgs,
    config: &Config,
    path: &std::path::Path,
    threads: u32,
) -> Result<(Engine, ModelInfo), EngineError> {
    let scratch = config.dirs.cache.join("bench-router");
    let _ = std::fs::remove_dir_all(&scratch);
    let context = ContextOptions {
        threads,
        threads_batch: threads,
        flash_attention: args
            .model
            .flash_attn
            .unwrap_or(config.engine.flash_attention),
        ..ContextOptions::default()
    };
    load_small(
        path,
        args.model.gpu_layers.or(config.engine.gpu_layers),
        context,
        Some(DiskCacheConfig {
            dir: scratch,
            max_bytes: u64::MAX,
        }),
        Some(config.flash_memo()),
        || progress_bar("loading small model"),
    )
}

/// Milliseconds the small model takes to decode [`DECODE_TOKENS`] tokens, in a session of
/// its own so the router's stays as it was.
fn decode_time(engine: &Engine) -> Result<f64, EngineError> {
    let mut request = GenerateRequest::text("fn main() {\n", DECODE_TOKENS);
    request.session = "bench-decode".to_string();
    request.stop_at_eog = false;
    request.disk_cache = false;
    let completion = engine.generate(request)?.blocking_complete(|_| {})?;
    Ok(completion.stats.decode_ms)
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
    let Some(t1) = &r.tier1 else {
        let reason = r.tier1_reason.as_deref().unwrap_or("");
        return writeln!(out, "tier 1 (small model): not measured: {reason}");
    };
    writeln!(out, "tier 1 (small model)")?;
    writeln!(
        out,
        "  model      {} ({}, {} threads)",
        t1.model,
        t1.model_path.display(),
        t1.threads
    )?;
    writeln!(
        out,
        "  accuracy   {:.3} on {} requests the rules leave ({} failed)",
        t1.accuracy, t1.requests, t1.failed
    )?;
    writeln!(
        out,
        "  confusion  label: said direct / small / large / failed"
    )?;
    for (label, said) in [
        ("direct", &t1.confusion.direct),
        ("small", &t1.confusion.small),
        ("large", &t1.confusion.large),
    ] {
        writeln!(
            out,
            "    {label:<7}  {} / {} / {} / {}",
            said.direct, said.small, said.large, said.failed
        )?;
    }
    writeln!(
        out,
        "  cold       {:.1} ms (prefill {:.1} ms, {:.0} prompt tokens)",
        t1.cold.wall_ms, t1.cold.prefill_ms, t1.cold.prompt_tokens
    )?;
    writeln!(
        out,
        "  cached     {:.1} ms mean (prefill {:.1} ms, {:.0} of {:.0} prompt tokens cached)",
        t1.cached.wall_ms, t1.cached.prefill_ms, t1.cached.cached_tokens, t1.cached.prompt_tokens
    )?;
    writeln!(
        out,
        "  ratio      {:.3} cached/cold (prefill {:.3})",
        t1.cached_over_cold, t1.prefill_cached_over_cold
    )?;
    let o = &t1.overhead_estimate;
    writeln!(
        out,
        "  overhead   ~{:.1}% of a turn ({}; decode {:.1} ms)",
        o.share * 100.0,
        o.basis,
        o.decode_ms
    )?;
    Ok(())
}
