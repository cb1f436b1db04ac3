//! `lode bench`: prompt processing, generation and prompt-cache speed on this machine,
//! measured in one run so the ratios compare like with like.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::commands::{load_options, CommandError};
use crate::config::Config;
use crate::engine::synth::{synthesize, Arch, Quant, Shape, SynthSpec, Weights};
use crate::engine::{
    Engine, EngineConfig, GenerateRequest, GenerationResult, LoadOptions, Persist, Prompt,
};

/// The figures `lode bench` reports.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub model_path: PathBuf,
    pub n_params: u64,
    pub threads: u32,
    pub flash_attention: String,
    pub prefill_tokens: u32,
    /// Prompt tokens per second on a fresh context (`pp` in llama-bench terms).
    pub prefill_tps: f64,
    pub decode_tokens: u32,
    /// Generated tokens per second from an empty context (`tg`).
    pub decode_tps: f64,
    pub prefix_tokens: u32,
    pub suffix_tokens: u32,
    /// Time to first token for prefix + suffix on a fresh context.
    pub ttft_cold_ms: f64,
    /// The same with the prefix already in the session's KV cache.
    pub ttft_warm_ms: f64,
    /// The same on a fresh context whose prefix is restored from the disk cache.
    pub ttft_disk_ms: f64,
    pub warm_over_cold: f64,
    pub disk_over_cold: f64,
    /// Size of the disk-cache entry for the prefix, and how long writing it took.
    pub cache_entry_bytes: u64,
    pub cache_write_ms: f64,
}

/// Runs `lode bench`.
pub fn run(args: &BenchArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    if args.spec {
        return crate::commands::bench_spec::run(args, config, out);
    }
    if args.router {
        return crate::commands::bench_router::run(args, config, out);
    }
    let mut model_args = args.model.clone();
    if model_args.model.is_none() && config.models.large.is_none() && config.model.is_none() {
        model_args.model = Some(default_model(config, args.json, out)?);
    }
    let needed = args.prefix_tokens + args.suffix_tokens + args.decode_tokens.max(8) + 64;
    model_args.ctx_size = model_args
        .ctx_size
        .or(Some(needed.max(args.prefill_tokens + 64)));
    let options: LoadOptions = load_options(&model_args, config)?;
    let threads = options.context.threads;
    // The disk cache of a benchmark lives in its own directory, so it measures a cold store
    // and leaves the user's cache alone.
    let scratch = config.dirs.cache.join("bench");
    let _ = std::fs::remove_dir_all(&scratch);
    let engine = Engine::spawn(EngineConfig {
        disk_cache: Some(crate::engine::DiskCacheConfig {
            dir: scratch.clone(),
            max_bytes: u64::MAX,
        }),
        max_sessions: Some(2),
    })?;
    let info = engine.blocking_load(options)?;
    let n_vocab = info.n_vocab;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut tokens =
        |n: u32| -> Vec<i32> { (0..n).map(|_| bench_token(&mut rng, n_vocab)).collect() };

    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut disk = Vec::new();
    let mut write_ms = Vec::new();
    let mut entry_bytes = 0;
    for round in 0..args.repeat.max(1) {
        // Prefill: a fresh context each time, one token sampled.
        engine.blocking_drop_session("pp")?;
        let c = run_one(
            &engine,
            "pp",
            tokens(args.prefill_tokens),
            1,
            Persist::Nothing,
            false,
        )?;
        prefill.push(f64::from(c.stats.prompt_tokens) * 1000.0 / c.stats.prefill_ms);

        // Decode: from a one-token prompt, a fixed number of tokens, EOG ignored.
        engine.blocking_drop_session("tg")?;
        let c = run_one(
            &engine,
            "tg",
            tokens(1),
            args.decode_tokens,
            Persist::Nothing,
            false,
        )?;
        decode.push(c.stats.decode_tps());

        // Time to first token: cold, then warm in the same session, then from disk in a new one.
        let prefix = tokens(args.prefix_tokens);
        let first = [prefix.clone(), tokens(args.suffix_tokens)].concat();
        let second = [prefix, tokens(args.suffix_tokens)].concat();
        let session = format!("ttft{round}");
        engine.blocking_drop_session(session.clone())?;
        let c = run_one(
            &engine,
            &session,
            first,
            1,
            Persist::PrefixTokens(args.prefix_tokens as usize),
            true,
        )?;
        cold.push(ttft(&c));
        write_ms.push(c.stats.cache_write_ms);
        let c = run_one(&engine, &session, second.clone(), 1, Persist::Nothing, true)?;
        warm.push(ttft(&c));
        engine.blocking_drop_session(session)?;
        let c = run_one(&engine, "disk", second, 1, Persist::Nothing, true)?;
        engine.blocking_drop_session("disk")?;
        if c.stats.disk_cached_tokens != args.prefix_tokens {
            return Err(crate::engine::EngineError::State(format!(
                "the disk cache restored {} of {} prefix tokens",
                c.stats.disk_cached_tokens, args.prefix_tokens
            ))
            .into());
        }
        disk.push(ttft(&c));
        entry_bytes = crate::engine::cache::DiskCache::new(&scratch, u64::MAX).size_bytes();
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let (cold, warm, disk) = (median(cold), median(warm), median(disk));
    let report = BenchReport {
        model: info.name,
        model_path: info.path,
        n_params: info.n_params,
        threads,
        flash_attention: match &info.flash {
            Some(choice) => format!("auto: {}", choice.describe()),
            None => format!(
                "{:?}",
                model_args
                    .flash_attn
                    .unwrap_or(config.engine.flash_attention)
            )
            .to_lowercase(),
        },
        prefill_tokens: args.prefill_tokens,
        prefill_tps: median(prefill),
        decode_tokens: args.decode_tokens,
        decode_tps: median(decode),
        prefix_tokens: args.prefix_tokens,
        suffix_tokens: args.suffix_tokens,
        ttft_cold_ms: cold,
        ttft_warm_ms: warm,
        ttft_disk_ms: disk,
        warm_over_cold: warm / cold,
        disk_over_cold: disk / cold,
        cache_entry_bytes: entry_bytes,
        cache_write_ms: median(write_ms),
    };
    if args.json {
        let line = serde_json::to_string(&report).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
    } else {
        print_report(&report, out)?;
    }
    Ok(())
}

fn run_one(
    engine: &Engine,
    session: &str,
    prompt: Vec<i32>,
    max_tokens: u32,
    persist: Persist,
    disk_cache: bool,
) -> Result<GenerationResult, CommandError> {
    let mut request = GenerateRequest::text(String::new(), max_tokens);
    request.prompt = Prompt::Tokens(prompt);
    request.session = session.to_string();
    request.stop_at_eog = false;
    request.disk_cache = disk_cache;
    request.persist = persist;
    Ok(engine.generate(request)?.blocking_complete(|_| {})?)
}

/// Time to first token: prompt processing plus sampling the first token.
fn ttft(c: &GenerationResult) -> f64 {
    c.stats.prefill_ms + c.stats.decode_ms
}

/// Token ids spread over the vocabulary, skipping the first 256 (byte tokens) and the tail
/// where special tokens live; deterministic so runs compare.
fn bench_token(state: &mut u64, n_vocab: u32) -> i32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let span = u64::from(n_vocab.saturating_sub(512).max(1));
    i32::try_from(256 + *state % span).unwrap_or(256)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

pub(crate) fn default_model(
    config: &Config,
    quiet: bool,
    out: &mut dyn Write,
) -> Result<PathBuf, CommandError> {
    let path = config
        .dirs
        .cache
        .join("synth")
        .join("qwen2.5-0.5b-shape-q4_k_m.gguf");
    if path.is_file() {
        return Ok(path);
    }
    if !quiet {
        writeln!(
            out,
            "writing a synthetic Qwen2.5-0.5B-shaped Q4_K_M model to {} (once)…",
            path.display()
        )?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    synthesize(
        &SynthSpec {
            arch: Arch::Qwen2,
            shape: Shape::Qwen25_05b,
            weights: Weights::Random,
            seed: 0,
            quant: Some(Quant::Q4KM),
            mtp: false,
            n_vocab: None,
            n_ctx: None,
        },
        &path,
    )?;
    Ok(path)
}

fn print_report(r: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "model      {} ({} params), {} threads, flash attention {}",
        r.model, r.n_params, r.threads, r.flash_attention
    )?;
    writeln!(
        out,
        "prefill    {:8.1} tok/s  ({} tokens)",
        r.prefill_tps, r.prefill_tokens
    )?;
    writeln!(
        out,
        "decode     {:8.1} tok/s  ({} tokens)",
        r.decode_tps, r.decode_tokens
    )?;
    writeln!(
        out,
        "ttft cold  {:8.0} ms     ({} prefix + {} new tokens)",
        r.ttft_cold_ms, r.prefix_tokens, r.suffix_tokens
    )?;
    writeln!(
        out,
        "ttft warm  {:8.0} ms     ({:.3}× cold, prefix in memory)",
        r.ttft_warm_ms, r.warm_over_cold
    )?;
    writeln!(
        out,
        "ttft disk  {:8.0} ms     ({:.3}× cold, prefix from disk cache)",
        r.ttft_disk_ms, r.disk_over_cold
    )?;
    writeln!(
        out,
        "cache      {:.1} MiB entry written in {:.0} ms",
        r.cache_entry_bytes as f64 / 1048576.0,
        r.cache_write_ms
    )
}
