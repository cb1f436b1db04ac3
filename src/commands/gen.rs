//! `lode gen`: raw completion with the in-process engine.

use std::io::{Read, Write};
use std::path::Path;

use serde::Serialize;

use crate::cli::{GenArgs, SpecArgs};
use crate::commands::{load_options, CommandError};
use crate::config::{self as config_mod, Config, SpecPlan};
use crate::engine::generate::DEFAULT_SESSION;
use crate::engine::template::RenderOptions;
use crate::engine::{
    Engine, EngineConfig, FinishReason, GenerateRequest, GenerationResult, Grammar, LoadOptions,
    Persist, Prompt, SamplingParams,
};
use crate::stats::TurnStats;

/// The `--json` output: the text plus every TurnStats field, flattened.
#[derive(Debug, Serialize)]
pub struct GenOutput {
    pub text: String,
    pub finish_reason: FinishReason,
    pub seed: u32,
    #[serde(flatten)]
    pub stats: TurnStats,
    pub prefill_tps: f64,
    pub decode_tps: f64,
}

/// Prompts of at least this many bytes (~500 tokens) store their prefix in the disk cache:
/// shorter ones are cheaper to recompute than to write and read back.
const PERSIST_MIN_PROMPT_BYTES: usize = 2048;

/// Runs `lode gen`, writing streamed text (or one JSON object) to `out`.
pub fn run(args: &GenArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let prompt_text = read_prompt(args.prompt.as_deref())?;
    let grammar = grammar(args)?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let engine = Engine::spawn(EngineConfig {
        disk_cache: config.disk_cache().filter(|_| !args.no_cache),
        max_sessions: Some(1),
    })?;
    let mut options = load_options(&args.model, config)?;
    let plan = spec_plan(&args.spec, config, &mut options);
    let info = engine.blocking_load(options)?;
    let speculation = plan.speculation(&info);
    let prompt = if args.chat {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(serde_json::json!({"role": "system", "content": system}));
        }
        messages.push(serde_json::json!({"role": "user", "content": prompt_text}));
        let options = RenderOptions {
            add_generation_prompt: true,
            ..RenderOptions::default()
        };
        if args.show_prompt {
            let text = engine.blocking_render(messages.clone(), options.clone())?;
            let mut err = std::io::stderr().lock();
            writeln!(err, "{text}\n--- end of prompt ({}) ---", info.template)?;
        }
        Prompt::Chat { messages, options }
    } else {
        Prompt::Text(prompt_text.clone())
    };
    let request = GenerateRequest {
        prompt,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            repeat_last_n: args.repeat_last_n,
            seed,
        },
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        grammar,
        session: DEFAULT_SESSION.to_string(),
        stop_at_eog: true,
        on_loop: crate::engine::OnLoop::Continue,
        disk_cache: !args.no_cache,
        persist: if prompt_text.len() >= PERSIST_MIN_PROMPT_BYTES {
            Persist::Prompt
        } else {
            Persist::Nothing
        },
        speculation,
    };
    let generation = engine.generate(request)?;
    let json = args.json;
    let mut write_error = None;
    let completion: GenerationResult = generation.blocking_complete(|text| {
        if !json && write_error.is_none() {
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                write_error = Some(e);
            }
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if json {
        let output = GenOutput {
            prefill_tps: completion.stats.prefill_tps(),
            decode_tps: completion.stats.decode_tps(),
            text: completion.text,
            finish_reason: completion.finish,
            seed,
            stats: completion.stats,
        };
        let line = serde_json::to_string(&output).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
    } else {
        writeln!(out)?;
    }
    Ok(())
}

/// The speculation `--spec`, `--draft-max`, `--draft-len` and the config ask for, and the
/// load options it needs: the draft model, and the MTP layers only when they may be used.
pub fn spec_plan(args: &SpecArgs, config: &Config, options: &mut LoadOptions) -> SpecPlan {
    let mut plan = config.speculation.plan_for(&options.path);
    if let Some(mode) = args.spec {
        plan.mode = mode;
    }
    if args.draft_len.is_some() || args.draft_max.is_some() {
        let max = args.draft_max.unwrap_or(config.speculation.draft_max);
        plan.length = config_mod::length(args.draft_len, max);
    }
    let draft = args
        .draft_model
        .clone()
        .or_else(|| config.models.draft.clone());
    plan.prepare(options, draft);
    plan
}

fn read_prompt(arg: Option<&str>) -> Result<String, CommandError> {
    match arg {
        Some(text) if text != "-" => Ok(text.to_string()),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| CommandError::ReadInput {
                    path: "<stdin>".into(),
                    source,
                })?;
            Ok(text)
        }
    }
}

fn grammar(args: &GenArgs) -> Result<Option<Grammar>, CommandError> {
    if let Some(path) = &args.grammar_file {
        return Ok(Some(Grammar::Gbnf {
            text: read_file(path)?,
            root: "root".to_string(),
        }));
    }
    if let Some(path) = &args.json_schema {
        let text = read_file(path)?;
        let schema = serde_json::from_str(&text).map_err(|e| CommandError::BadJson {
            path: path.clone(),
            message: e.to_string(),
        })?;
        return Ok(Some(Grammar::JsonSchema { schema }));
    }
    Ok(None)
}

fn read_file(path: &Path) -> Result<String, CommandError> {
    std::fs::read_to_string(path).map_err(|source| CommandError::ReadInput {
        path: path.to_path_buf(),
        source,
    })
}

fn random_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}
