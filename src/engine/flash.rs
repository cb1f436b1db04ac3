//! Flash attention, `auto`: decided per model and machine by measuring both, not by device
//! type. On a 2-core CPU it speeds SmolLM2's decode by an eighth at shallow depth, is even at
//! 1.7k tokens, and there makes a speculative verify batch a third slower; on GPUs it
//! usually helps. The measurement is an agent turn in miniature at a depth agent prompts
//! reach (a prompt, single-token decodes, verify batches), and it is remembered per model,
//! thread count and build in the cache directory, so it runs once.

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

/// Prompt tokens, decoded tokens and verify batches (of `VERIFY_ROWS`) per measurement.
const PROMPT_TOKENS: usize = 512;
const DECODE_TOKENS: usize = 8;
const VERIFY_BATCHES: usize = 3;
const VERIFY_ROWS: usize = 8;
/// The context the measurement runs in: enough for the prompt and the decodes.
const MEASURE_CTX: u32 = 640;
/// How an agent turn weighs them: new prompt tokens (a tool result), generated tokens and
/// the verify batches speculation decodes them in.
const TURN_PROMPT: f64 = 256.0;
const TURN_DECODE: f64 = 64.0;
const TURN_VERIFY: f64 = 16.0;
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
    #[serde(default)]
    pub verify_ratio: f64,
}

impl FlashChoice {
    /// One line: `on (measured: prompt 1.42×, decode 1.31× with flash attention)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (measured: prompt {:.2}×, decode {:.2}×, verify {:.2}× with flash attention)",
            if self.on { "on" } else { "off" },
            self.prompt_ratio,
            self.decode_ratio,
            self.verify_ratio
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
    let text = serde_json::to_string_pretty(memo).map_err(std::io::Error::other)?;
    crate::files::write_whole(path, text.as_bytes())
}

/// Times both settings once each (the prompt dominates, and a second round would double
/// the first load of a large model on a CPU). A setting llama.cpp cannot run here loses.
fn measure(loaded: &mut LoadedModel) -> Result<FlashChoice, EngineError> {
    let n_ctx = loaded.info.n_ctx;
    // Its own small context: the user's may be large, and only the KV size is at stake.
    // At least room for the decodes and a verify batch, even for a model that declares a
    // tiny training context (llama.cpp runs a context past it).
    let ctx = MEASURE_CTX.min(loaded.info.n_ctx_train).max(64);
    loaded.info.n_ctx = ctx;
    let room = ctx as usize - VERIFY_ROWS - DECODE_TOKENS - 2;
    let prompt = prompt_tokens(loaded, room.min(PROMPT_TOKENS));
    let mut times = [Times::default(); 2];
    let mut failed = [None, None];
    for (slot, setting) in [FlashAttention::Off, FlashAttention::On]
        .into_iter()
        .enumerate()
    {
        loaded.context.flash_attention = setting;
        match time_turn(loaded, &prompt) {
            Ok(t) => times[slot] = t,
            Err(e) => failed[slot] = Some(e),
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
                verify_ratio: 0.0,
            })
        }
        _ => {}
    }
    let [off, on] = times;
    Ok(FlashChoice {
        on: on.turn() < MARGIN * off.turn(),
        prompt_ratio: off.prompt / on.prompt,
        decode_ratio: off.decode / on.decode,
        verify_ratio: off.verify / on.verify,
    })
}

/// Seconds per prompt token, per decoded token and per verify batch.
#[derive(Clone, Copy, Debug, Default)]
struct Times {
    prompt: f64,
    decode: f64,
    verify: f64,
}

impl Times {
    fn turn(&self) -> f64 {
        TURN_PROMPT * self.prompt + TURN_DECODE * self.decode + TURN_VERIFY * self.verify
    }
}

/// One turn in miniature in a fresh session.
fn time_turn(loaded: &LoadedModel, prompt: &[LlamaToken]) -> Result<Times, EngineError> {
    let mut session = KvSession::new(loaded)?;
    let started = Instant::now();
    session.prefill(prompt, &[], &CancelFlag::new(), None)?;
    let prompt_s = started.elapsed().as_secs_f64();
    let rows: Vec<LlamaToken> = prompt.iter().copied().cycle().take(VERIFY_ROWS).collect();
    let depth = session.tokens().len();
    let mut verify = f64::MAX;
    for _ in 0..VERIFY_BATCHES {
        let started = Instant::now();
        session.decode_rows(&rows)?;
        verify = verify.min(started.elapsed().as_secs_f64());
        session.truncate(depth)?;
    }
    let started = Instant::now();
    for &token in prompt.iter().take(DECODE_TOKENS) {
        session.push(token)?;
    }
    let decode = started.elapsed().as_secs_f64();
    Ok(Times {
        prompt: prompt_s / prompt.len() as f64,
        decode: decode / DECODE_TOKENS as f64,
        verify,
    })
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
