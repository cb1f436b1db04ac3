//! Tier 1 of `lode bench --router`: every candidate classifier on the small model, scored on
//! the held-out lines the rules leave, fitted (where a candidate is fitted) on the training
//! lines only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{mean, ratio};
use crate::cli::BenchArgs;
use crate::commands::progress_bar;
use crate::compose::routing::{load_small, memory_shortfall};
use crate::config::Config;
use crate::engine::{
    CancelFlag, ContextOptions, DiskCacheConfig, Engine, EngineError, FlashAttention,
    GenerateRequest, ModelInfo, Reading,
};
use crate::router::labels::{Labeled, Split};
use crate::router::probe::{self, Cue, Features, LabelTokens, ProbeModel, FEATURES};
use crate::router::route::verdict_lane;
use crate::router::{rules, Classifier, Lane};
use crate::stats::TurnStats;

/// Tokens decoded for the turn the overhead estimate compares against.
const DECODE_TOKENS: u32 = 128;

/// Tier 1 on the held-out lines the rules leave.
#[derive(Debug, Serialize)]
pub struct Tier1Report {
    pub model: String,
    pub model_path: PathBuf,
    pub threads: u32,
    /// Training lines (every lane; a direct line counts as `small`) the fitted candidates
    /// learned from.
    pub train_lines: usize,
    /// Held-out lines the rules leave: what every candidate is scored on.
    pub requests: usize,
    /// The candidate `lode` routes with.
    pub chosen: String,
    /// Side by side, best accuracy first.
    pub candidates: Vec<Candidate>,
    /// A read after its session was dropped: the prefix restored from the disk cache, as a
    /// fresh process finds it.
    pub from_disk: Latency,
    pub overhead_estimate: Overhead,
}

/// One classifier's scores.
#[derive(Debug, Serialize)]
pub struct Candidate {
    pub name: String,
    pub method: &'static str,
    /// Classifications that failed (counted as wrong).
    pub failed: usize,
    /// Lanes right (a direct line is right on `small`), over the held-out requests.
    pub accuracy: f64,
    /// Accuracy on the lines of each label.
    pub per_lane: PerLane,
    /// Lines whose right lane is `small`, sent to `small`.
    pub small_recall: f64,
    /// Lines labelled `large`, sent to `small`: the costly mistake.
    pub large_to_small: f64,
    /// Counts by label, then by the lane chosen.
    pub confusion: Confusion,
    /// The first request: the prefix computed from scratch.
    pub cold: Latency,
    /// The mean of the rest: the prefix kept in the session.
    pub warm: Latency,
    /// How it was fitted, for the fitted candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted: Option<Fitted>,
    /// The held-out lines it sent to the wrong lane (`said` is `null` for a failure).
    pub wrong: Vec<Wrong>,
}

/// A held-out line sent to the wrong lane.
#[derive(Debug, Serialize)]
pub struct Wrong {
    pub request: String,
    pub label: Lane,
    pub said: Option<Lane>,
}

/// Accuracy by label (`null` where the held-out lines have none of that label).
#[derive(Debug, Default, Serialize)]
pub struct PerLane {
    pub direct: Option<f64>,
    pub small: Option<f64>,
    pub large: Option<f64>,
}

/// What a fitted candidate learned from the training lines.
#[derive(Debug, Serialize)]
pub struct Fitted {
    /// The head's regularisation (the probes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// The score above which a request goes to `small`.
    pub threshold: f64,
    /// Accuracy on the training lines: out of fold (the probes), or at the threshold.
    pub train_accuracy: f64,
}

/// A classification's cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Wall time of the whole call.
    pub wall_ms: f64,
    pub prompt_tokens: f64,
    pub cached_tokens: f64,
    pub disk_cached_tokens: f64,
}

impl Latency {
    fn of(wall_ms: f64, stats: &TurnStats) -> Self {
        Self {
            wall_ms,
            prompt_tokens: f64::from(stats.prompt_tokens),
            cached_tokens: f64::from(stats.cached_tokens),
            disk_cached_tokens: f64::from(stats.disk_cached_tokens),
        }
    }

    fn mean(all: &[Self]) -> Self {
        let of = |field: fn(&Self) -> f64| mean(&all.iter().map(field).collect::<Vec<_>>());
        Self {
            wall_ms: of(|l| l.wall_ms),
            prompt_tokens: of(|l| l.prompt_tokens),
            cached_tokens: of(|l| l.cached_tokens),
            disk_cached_tokens: of(|l| l.disk_cached_tokens),
        }
    }
}

/// Counts by label.
#[derive(Debug, Default, Serialize)]
pub struct Confusion {
    pub direct: Said,
    pub small: Said,
    pub large: Said,
}

/// Counts by the lane chosen.
#[derive(Debug, Default, Serialize)]
pub struct Said {
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
    /// warm classification ÷ (warm classification + that decode).
    pub share: f64,
    pub basis: &'static str,
}

/// One held-out request, timed.
struct Timed<T> {
    answer: Result<T, String>,
    wall_ms: f64,
    stats: TurnStats,
}

/// Tier 1 on the held-out lines tier 0 leaves, or why it cannot be measured.
pub fn measure(
    args: &BenchArgs,
    config: &Config,
    labels: &[Labeled],
) -> Result<Tier1Report, String> {
    let path = small_model_path(args, config)?;
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
    let engine_failed = |e: EngineError| format!("the small model failed: {e}");
    let tokens = LabelTokens::of(&engine).map_err(engine_failed)?;
    let held: Vec<&Labeled> = labels
        .iter()
        .filter(|l| l.split == Split::HeldOut && rules::match_request(&l.request).is_none())
        .collect();
    let train: Vec<&Labeled> = labels.iter().filter(|l| l.split == Split::Train).collect();
    let total = held.len() * 3 + train.len() * 2;
    let mut progress = progress_bar("classifying");
    let mut done = 0;
    let mut tick = || {
        done += 1;
        if let Some(progress) = progress.as_mut() {
            #[allow(clippy::cast_precision_loss)]
            progress(done as f32 / total as f32);
        }
    };
    let train_small: Vec<bool> = train
        .iter()
        .map(|l| l.model_lane() == Lane::Small)
        .collect();

    // The whole model: the verdict, the label tokens and the probes at its top.
    let (held_reads, train_reads) = reads(&engine, &tokens, Cue::Lane, &held, &train, &mut tick)?;
    let mut candidates = vec![
        verdicts(&engine, &held, &mut tick),
        label_tokens(&held, &held_reads, &train_reads, &train_small),
    ];
    for features in Features::ALL {
        let name = probe_name(features, None);
        candidates.push(probe_candidate(
            name,
            features,
            &held,
            &held_reads,
            &train_reads,
            &train_small,
        ));
    }
    // The first third of the model, which lode routes with.
    let probe_model = ProbeModel {
        full: engine.clone(),
        info: info.clone(),
        gpu_layers: args.model.gpu_layers.or(config.engine.gpu_layers),
        threads,
        flash_attention: FlashAttention::Off,
        disk_cache: Some(DiskCacheConfig {
            dir: scratch_dir(config),
            max_bytes: u64::MAX,
        }),
    };
    let depth = probe::probe_depth(info.n_layer);
    let (cut, _) = probe::open_cut(&probe_model, &scratch_dir(config))
        .map_err(|e| format!("cutting the small model to its first {depth} layers: {e}"))?;
    let cut_tokens = LabelTokens::of(&cut).map_err(engine_failed)?;
    let (cut_held, cut_train) = reads(&cut, &cut_tokens, probe::CUE, &held, &train, &mut tick)?;
    for features in Features::ALL {
        let name = probe_name(features, Some((depth, info.n_layer)));
        candidates.push(probe_candidate(
            name,
            features,
            &held,
            &cut_held,
            &cut_train,
            &train_small,
        ));
    }
    let from_disk = read_from_disk(&cut, &cut_tokens, held.first().copied())?;
    let chosen = probe_name(FEATURES, Some((depth, info.n_layer)));
    let warm_ms = candidates
        .iter()
        .find(|c| c.name == chosen)
        .map_or(0.0, |c| c.warm.wall_ms);
    candidates.sort_by(|a, b| b.accuracy.total_cmp(&a.accuracy));
    let decode_ms = decode_time(&engine).map_err(|e| format!("the decode measurement: {e}"))?;
    Ok(Tier1Report {
        model: info.name,
        model_path: path,
        threads,
        train_lines: train.len(),
        requests: held.len(),
        chosen,
        candidates,
        from_disk,
        overhead_estimate: Overhead {
            decode_tokens: DECODE_TOKENS,
            decode_ms,
            share: divide(warm_ms, warm_ms + decode_ms),
            basis: "estimate: one warm classification by the chosen candidate ÷ (that + the \
                    small model decoding 128 tokens); a real turn also prefills its context \
                    and runs tools",
        },
    })
}

fn small_model_path(args: &BenchArgs, config: &Config) -> Result<PathBuf, String> {
    match args.small_model.as_deref() {
        Some(spec) if spec.starts_with("scripted:") => {
            Err("a scripted small model cannot classify: tier 1 not measured".to_string())
        }
        Some(spec) => Ok(PathBuf::from(spec)),
        None => config.models.small.clone().ok_or_else(|| {
            "no small model is configured ([models.small] path, or --small-model): \
             tier 1 not measured, and routing sends what the rules leave to the large model"
                .to_string()
        }),
    }
}

/// The first held-out line read again after its session is dropped: the prefix comes from
/// the disk cache.
fn read_from_disk(
    engine: &Engine,
    tokens: &LabelTokens,
    line: Option<&Labeled>,
) -> Result<Latency, String> {
    let Some(line) = line else {
        return Ok(Latency::default());
    };
    let failed = |e: EngineError| format!("the small model failed: {e}");
    engine
        .blocking_drop_session(probe::SESSION)
        .map_err(failed)?;
    let started = Instant::now();
    let reading = probe::read(
        engine,
        tokens,
        &line.request,
        probe::CUE,
        &CancelFlag::new(),
    )
    .map_err(failed)?;
    Ok(Latency::of(
        started.elapsed().as_secs_f64() * 1000.0,
        &reading.stats,
    ))
}

/// The generated JSON verdict (`router::classify`), mapped to a lane as the router maps it.
fn verdicts(engine: &Engine, held: &[&Labeled], tick: &mut dyn FnMut()) -> Candidate {
    let classifier = Classifier::new(engine.clone());
    let cancel = CancelFlag::new();
    let answers: Vec<Timed<Lane>> = held
        .iter()
        .map(|label| {
            let started = Instant::now();
            let result = classifier.classify(&label.request, "", &cancel);
            let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
            tick();
            match result {
                Ok(c) => Timed {
                    answer: Ok(verdict_lane(&c).0),
                    wall_ms,
                    stats: c.stats,
                },
                Err(e) => Timed {
                    answer: Err(e.to_string()),
                    wall_ms,
                    stats: TurnStats::default(),
                },
            }
        })
        .collect();
    score(
        "verdict",
        "the small model generates a grammar-held JSON verdict after the instructions \
         (router/classify/prompt.md)",
        held,
        &answers,
        None,
    )
}

/// The ` small` token's logit minus the ` large` token's after the few-shot prefix, at a
/// threshold chosen on the training lines as the probes' is.
fn label_tokens(
    held: &[&Labeled],
    held_reads: &[Timed<Reading>],
    train_reads: &[Reading],
    train_small: &[bool],
) -> Candidate {
    let margin = |r: &Reading| f64::from(r.logits[0] - r.logits[1]);
    let train: Vec<f64> = train_reads.iter().map(margin).collect();
    let threshold = probe::cautious_threshold(&train, train_small, probe::MAX_LARGE_TO_SMALL);
    let right = train
        .iter()
        .zip(train_small)
        .filter(|(&m, &small)| (m > threshold) == small)
        .count();
    let train_accuracy = ratio(right, train.len());
    let answers = map_reads(held_reads, |r| {
        if margin(r) > threshold {
            Lane::Small
        } else {
            Lane::Large
        }
    });
    score(
        "label_tokens",
        "one read after the few-shot prefix (router/probe/prompt.md); ` small` vs ` large` \
         logit at the last position, threshold chosen on the training lines",
        held,
        &answers,
        Some(Fitted {
            l2: None,
            threshold,
            train_accuracy,
        }),
    )
}

/// `probe_mean` at the top of the model, `probe_mean@10/30` on its first 10 of 30 blocks.
fn probe_name(features: Features, depth: Option<(u32, u32)>) -> String {
    match depth {
        None => format!("probe_{}", features.as_str()),
        Some((depth, of)) => format!("probe_{}@{depth}/{of}", features.as_str()),
    }
}

/// Every held-out line (first, so the first read, which computes the prefix, is scored) and
/// every training line, read with `engine`.
fn reads(
    engine: &Engine,
    tokens: &LabelTokens,
    cue: Cue,
    held: &[&Labeled],
    train: &[&Labeled],
    tick: &mut dyn FnMut(),
) -> Result<(Vec<Timed<Reading>>, Vec<Reading>), String> {
    let cancel = CancelFlag::new();
    let mut read = |request: &str| {
        let started = Instant::now();
        let reading = probe::read(engine, tokens, request, cue, &cancel);
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        tick();
        match reading {
            Ok(reading) => Timed {
                stats: reading.stats.clone(),
                answer: Ok(reading),
                wall_ms,
            },
            Err(e) => Timed {
                answer: Err(e.to_string()),
                wall_ms,
                stats: TurnStats::default(),
            },
        }
    };
    let held_reads: Vec<Timed<Reading>> = held.iter().map(|l| read(&l.request)).collect();
    let train_reads: Vec<Reading> = train
        .iter()
        .map(|l| read(&l.request).answer)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the training lines: {e}"))?;
    Ok((held_reads, train_reads))
}

/// A linear head over hidden states, fitted on the training lines' reads.
fn probe_candidate(
    name: String,
    features: Features,
    held: &[&Labeled],
    held_reads: &[Timed<Reading>],
    train_reads: &[Reading],
    train_small: &[bool],
) -> Candidate {
    let xs: Vec<Vec<f32>> = train_reads.iter().map(|r| features.of(r)).collect();
    let stored = probe::fit_vectors(&xs, train_small, features, String::new());
    let answers = map_reads(held_reads, |r| match &stored {
        Some(s) if s.head.logit(&features.of(r)) > s.threshold => Lane::Small,
        _ => Lane::Large,
    });
    let method = match features {
        Features::Last => {
            "one read after the few-shot prefix; logistic head on the final hidden state at \
             the last position, fitted on the training lines"
        }
        Features::Mean => {
            "one read after the few-shot prefix; logistic head on the request tokens' mean \
             final hidden state, fitted on the training lines"
        }
        Features::Both => {
            "one read after the few-shot prefix; logistic head on the last and mean hidden \
             states together, fitted on the training lines"
        }
    };
    score(
        &name,
        method,
        held,
        &answers,
        stored.map(|s| Fitted {
            l2: Some(s.head.l2),
            threshold: s.threshold,
            train_accuracy: s.cross_validated,
        }),
    )
}

fn map_reads(reads: &[Timed<Reading>], lane: impl Fn(&Reading) -> Lane) -> Vec<Timed<Lane>> {
    reads
        .iter()
        .map(|t| Timed {
            answer: t.answer.as_ref().map(&lane).map_err(Clone::clone),
            wall_ms: t.wall_ms,
            stats: t.stats.clone(),
        })
        .collect()
}

fn score(
    name: &str,
    method: &'static str,
    held: &[&Labeled],
    answers: &[Timed<Lane>],
    fitted: Option<Fitted>,
) -> Candidate {
    let mut confusion = Confusion::default();
    let mut latencies = Vec::new();
    let mut wrong = Vec::new();
    let (mut right, mut failed) = (0, 0);
    let mut lane_right = [(0usize, 0usize); 3];
    let (mut small_total, mut small_said) = (0, 0);
    let (mut large_total, mut large_small) = (0, 0);
    for (label, timed) in held.iter().zip(answers) {
        let row = match label.lane {
            Lane::Direct => &mut confusion.direct,
            Lane::Small => &mut confusion.small,
            Lane::Large => &mut confusion.large,
        };
        let said = timed.answer.as_ref().ok().copied();
        match said {
            Some(Lane::Small) => row.small += 1,
            Some(_) => row.large += 1,
            None => {
                row.failed += 1;
                failed += 1;
            }
        }
        let ok = said == Some(label.model_lane());
        right += usize::from(ok);
        if !ok {
            wrong.push(Wrong {
                request: label.request.clone(),
                label: label.lane,
                said,
            });
        }
        let slot = &mut lane_right[label.lane as usize];
        slot.0 += usize::from(ok);
        slot.1 += 1;
        if label.model_lane() == Lane::Small {
            small_total += 1;
            small_said += usize::from(said == Some(Lane::Small));
        } else {
            large_total += 1;
            large_small += usize::from(said == Some(Lane::Small));
        }
        if timed.answer.is_ok() {
            latencies.push(Latency::of(timed.wall_ms, &timed.stats));
        }
    }
    let per = |i: usize| (lane_right[i].1 > 0).then(|| ratio(lane_right[i].0, lane_right[i].1));
    let cold = latencies.first().cloned().unwrap_or_default();
    Candidate {
        name: name.to_string(),
        method,
        failed,
        accuracy: ratio(right, held.len()),
        per_lane: PerLane {
            direct: per(Lane::Direct as usize),
            small: per(Lane::Small as usize),
            large: per(Lane::Large as usize),
        },
        small_recall: ratio(small_said, small_total),
        large_to_small: if large_total == 0 {
            0.0
        } else {
            ratio(large_small, large_total)
        },
        confusion,
        cold,
        warm: Latency::mean(latencies.get(1..).unwrap_or_default()),
        fitted,
        wrong,
    }
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
    path: &Path,
    threads: u32,
) -> Result<(Engine, ModelInfo), EngineError> {
    let scratch = scratch_dir(config);
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

/// The bench's own cache: its prompt cache and its cut model, emptied at every run.
fn scratch_dir(config: &Config) -> PathBuf {
    config.dirs.cache.join("bench-router")
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

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

/// The tier 1 half of the human-readable report.
pub fn print(t1: &Tier1Report, out: &mut dyn Write) -> std::io::Result<()> {
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
        "  scored on  {} held-out requests the rules leave; fitted on {} training lines",
        t1.requests, t1.train_lines
    )?;
    writeln!(
        out,
        "  {:<14} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}",
        "candidate",
        "accuracy",
        "direct",
        "small",
        "large",
        "recall_s",
        "large→s",
        "cold ms",
        "warm ms"
    )?;
    for c in &t1.candidates {
        let mark = if c.name == t1.chosen { "*" } else { " " };
        writeln!(
            out,
            " {mark}{:<14} {:>8.3} {:>7} {:>7} {:>7} {:>8.2} {:>8.2} {:>9.1} {:>9.1}",
            c.name,
            c.accuracy,
            opt(c.per_lane.direct),
            opt(c.per_lane.small),
            opt(c.per_lane.large),
            c.small_recall,
            c.large_to_small,
            c.cold.wall_ms,
            c.warm.wall_ms
        )?;
    }
    writeln!(
        out,
        "  confusion  label: sent small / large / failed (* is what lode routes with)"
    )?;
    for c in &t1.candidates {
        let row = |s: &Said| format!("{}/{}/{}", s.small, s.large, s.failed);
        writeln!(
            out,
            "    {:<14} direct {:<9} small {:<9} large {:<9}",
            c.name,
            row(&c.confusion.direct),
            row(&c.confusion.small),
            row(&c.confusion.large)
        )?;
    }
    for c in &t1.candidates {
        if let Some(f) = &c.fitted {
            let l2 = f.l2.map_or_else(String::new, |l2| format!("l2 {l2}, "));
            writeln!(
                out,
                "    {:<14} fitted: {l2}threshold {:.3}, training accuracy {:.3}",
                c.name, f.threshold, f.train_accuracy
            )?;
        }
    }
    if let Some(chosen) = t1.candidates.iter().find(|c| c.name == t1.chosen) {
        for w in &chosen.wrong {
            let said = w.said.map_or("failed", Lane::as_str);
            writeln!(
                out,
                "  wrong      {:?} is {}, sent {said} by {}",
                w.request, w.label, chosen.name
            )?;
        }
    }
    writeln!(
        out,
        "  from disk  {:.1} ms ({:.0} of {:.0} prompt tokens restored from the disk cache)",
        t1.from_disk.wall_ms, t1.from_disk.disk_cached_tokens, t1.from_disk.prompt_tokens
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
