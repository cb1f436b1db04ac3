//! Flash attention, `auto`: decided per model and machine by measuring both, not by device
//! type. On a 2-core CPU it speeds SmolLM2's prompt and decode by a third at shallow depth
//! and slows other models at depth; on GPUs it usually helps. The measurement is an agent
//! turn in miniature (a short prompt, then single-token decodes) in a small context, and it
//! is remembered per model, thread count and build in the cache directory, so it runs once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::engine::error::EngineError;
use crate::engine::kv_session::KvSession;
use crate::engine::model::LoadedModel;
use crate::engine::options::FlashAttention;

/// Prompt tokens and decoded tokens per measurement.
const PROMPT_TOKENS: usize = 64;
const DECODE_TOKENS: usize = 16;
/// The context the measurement runs in: enough for the prompt and the decodes.
const MEASURE_CTX: u32 = 256;
/// How an agent turn weighs them: new prompt tokens (a tool result) and generated tokens.
const TURN_PROMPT: f64 = 256.0;
const TURN_DECODE: f64 = 128.0;
/// Flash attention must be faster by this much to be chosen; below it the measurement is
/// noise, and off is llama.cpp's reference path.
const MARGIN: f64 = 0.97;

/// What `auto` chose for a model, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlashChoice {
    pub on: bool,
    /// Flash attention's speed over plain attention, > 1 when it is faster.
    pub prompt_ratio: f64,
    pub decode_ratio: f64,
}

impl FlashChoice {
    /// One line: `on (measured: prompt 1.42×, decode 1.31× with flash attention)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (measured: prompt {:.2}×, decode {:.2}× with flash attention)",
            if self.on { "on" } else { "off" },
            self.prompt_ratio,
            self.decode_ratio
        )
    }
}

/// Resolves `auto` in `loaded.context`: from `memo` when this model was measured with these
/// settings before, else by measuring (and remembering, when `memo` is given).
pub(crate) fn resolve(
    loaded: &mut LoadedModel,
    memo: Option<&Path>,
) -> Result<Option<FlashChoice>, EngineError> {
    if loaded.context.flash_attention != FlashAttention::Auto {
        return Ok(None);
    }
    let key = memo_key(loaded);
    let mut remembered = memo.map(read_memo).unwrap_or_default();
    let choice = match remembered.get(&key) {
        Some(choice) => choice.clone(),
        None => {
            let choice = measure(loaded)?;
            if let Some(path) = memo {
                remembered.insert(key, choice.clone());
                // Not remembering costs one more measurement next time, nothing else.
                let _ = write_memo(path, &remembered);
            }
            choice
        }
    };
    loaded.context.flash_attention = if choice.on {
        FlashAttention::On
    } else {
        FlashAttention::Off
    };
    Ok(Some(choice))
}

/// What the decision depends on besides the machine: the model's content, the threads, the
/// batch size, where the layers run.
fn memo_key(loaded: &LoadedModel) -> String {
    let c = &loaded.context;
    format!(
        "{} t{}/{} ub{} {}",
        loaded.info.identity,
        c.threads,
        c.threads_batch,
        c.n_ubatch,
        if loaded.info.gpu { "gpu" } else { "cpu" }
    )
}

fn read_memo(path: &Path) -> BTreeMap<String, FlashChoice> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_memo(path: &Path, memo: &BTreeMap<String, FlashChoice>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(memo).map_err(std::io::Error::other)?;
    // Written whole then renamed: two lodes measuring at once cannot leave half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Times both settings twice, interleaved, and keeps each one's best. A setting llama.cpp
/// cannot run here loses.
fn measure(loaded: &mut LoadedModel) -> Result<FlashChoice, EngineError> {
    let n_ctx = loaded.info.n_ctx;
    // Its own small context: the user's may be large, and only the KV size is at stake.
    let ctx = MEASURE_CTX
        .min(loaded.info.n_ctx_train)
        .max(n_ctx.min(MEASURE_CTX));
    loaded.info.n_ctx = ctx;
    let prompt = prompt_tokens(loaded, (ctx as usize / 2).min(PROMPT_TOKENS));
    let decode = (ctx as usize / 4).min(DECODE_TOKENS);
    let mut best = [(f64::MAX, f64::MAX); 2];
    let mut failed = [None, None];
    for _ in 0..2 {
        for (slot, setting) in [FlashAttention::Off, FlashAttention::On]
            .into_iter()
            .enumerate()
        {
            loaded.context.flash_attention = setting;
            match time_turn(loaded, &prompt, decode) {
                Ok((p, d)) => best[slot] = (best[slot].0.min(p), best[slot].1.min(d)),
                Err(e) => failed[slot] = Some(e),
            }
        }
    }
    loaded.info.n_ctx = n_ctx;
    loaded.context.flash_attention = FlashAttention::Auto;
    match failed {
        // Neither runs: the model itself cannot, which loading it for real will say.
        [Some(e), Some(_)] => return Err(e),
        [_, Some(_)] => {
            return Ok(FlashChoice {
                on: false,
                prompt_ratio: 0.0,
                decode_ratio: 0.0,
            })
        }
        _ => {}
    }
    let [(off_p, off_d), (on_p, on_d)] = best;
    let turn = |p: f64, d: f64| TURN_PROMPT * p + TURN_DECODE * d;
    Ok(FlashChoice {
        on: turn(on_p, on_d) < MARGIN * turn(off_p, off_d),
        prompt_ratio: off_p / on_p,
        decode_ratio: off_d / on_d,
    })
}

/// Seconds per prompt token and per decoded token in a fresh session.
fn time_turn(
    loaded: &LoadedModel,
    prompt: &[LlamaToken],
    decode_tokens: usize,
) -> Result<(f64, f64), EngineError> {
    let mut session = KvSession::new(loaded)?;
    let started = Instant::now();
    session.prefill(prompt, &[], &CancelFlag::new(), None)?;
    let prefill = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for &token in prompt.iter().take(decode_tokens) {
        session.push(token)?;
    }
    let decode = started.elapsed().as_secs_f64();
    Ok((
        prefill / prompt.len() as f64,
        decode / decode_tokens.max(1) as f64,
    ))
}

/// Ordinary code, as many tokens as the measurement needs.
fn prompt_tokens(loaded: &LoadedModel, n: usize) -> Vec<LlamaToken> {
    const TEXT: &str = "fn parse(line: &str) -> Option<(String, u32)> {\n    let (name, count) = \
        line.split_once('=')?;\n    Some((name.trim().to_string(), count.trim().parse().ok()?))\n}\n";
    let vocab = loaded.model.vocab();
    let n = n.max(1);
    let mut tokens = Vec::with_capacity(n);
    let piece = vocab.tokenize(TEXT.as_bytes(), false, false);
    while tokens.len() < n && !piece.is_empty() {
        tokens.extend(piece.iter().take(n - tokens.len()));
    }
    if tokens.is_empty() {
        // A vocabulary that cannot spell code still has a token 0.
        tokens = vec![LlamaToken::new(0); n];
    }
    tokens
}
