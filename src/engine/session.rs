//! One KV sequence and the token mirror of what is in it.
//!
//! `prefill` keeps the longest common prefix of what the sequence already holds and decodes
//! only the rest. Attention memory can be cut at any position. Recurrent state (Gated
//! DeltaNet, Mamba) cannot be rewound, so hybrid models take checkpoints of it as they go
//! and rewind to the newest checkpoint at or before the common prefix — falling back to a
//! full reprocess, never to a wrong answer.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::engine::backend::backend;
use crate::engine::cache::DiskCache;
use crate::engine::error::EngineError;
use crate::engine::model::{LoadedModel, MemoryKind};
use crate::engine::options::FlashAttention;

/// Shared flag that stops a generation; checked before every decode call.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Arms the flag again for the next task of a long-lived session.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Recurrent-state checkpoints kept per session; each is a few MB on real models.
const MAX_CHECKPOINTS: usize = 8;
/// During long prefills of hybrid models, also checkpoint every this many tokens, so an
/// edit late in a long prompt does not force reprocessing all of it.
const CHECKPOINT_INTERVAL: usize = 2048;

struct Checkpoint {
    pos: usize,
    state: SeqState,
}

/// How the prompt was brought into the sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PrefillReport {
    /// Prompt tokens already in memory, or restored from disk.
    pub cached: usize,
    /// Of `cached`, tokens restored from the disk cache.
    pub disk_cached: usize,
    /// Tokens decoded now.
    pub computed: usize,
    /// Milliseconds spent, restoring and saving included.
    pub ms: f64,
    /// Of `ms`, milliseconds spent writing the disk cache entry.
    pub cache_write_ms: f64,
}

/// What to save to the disk cache during a prefill.
#[derive(Clone, Debug)]
pub struct DiskPlan<'a> {
    pub cache: &'a DiskCache,
    pub namespace: PathBuf,
    /// Look up a stored prefix when memory holds less.
    pub read: bool,
    /// Store the state after this many prompt tokens (when they are computed now).
    pub save_at: Option<usize>,
}

/// A KV sequence on one model.
pub struct Session<'m> {
    ctx: LlamaContext<'m>,
    tokens: Vec<LlamaToken>,
    memory: MemoryKind,
    checkpoints: Vec<Checkpoint>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    n_ctx: u32,
}

impl<'m> Session<'m> {
    /// A fresh, empty sequence.
    pub fn new(model: &'m LoadedModel) -> Result<Self, EngineError> {
        let opts = &model.context;
        let n_ctx = model.info.n_ctx;
        let flash = match opts.flash_attention {
            FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
            // Measured on CPU: flash attention halves decode at depth; on GPUs it helps.
            FlashAttention::Auto if backend()?.supports_gpu_offload() => {
                llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO
            }
            FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        };
        let n_batch = opts.n_batch.clamp(1, n_ctx);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(opts.n_ubatch.clamp(1, n_batch))
            .with_n_seq_max(1)
            .with_n_threads(i32::try_from(opts.threads).unwrap_or(1))
            .with_n_threads_batch(i32::try_from(opts.threads_batch).unwrap_or(1))
            .with_flash_attention_policy(flash);
        let ctx = model
            .model
            .new_context(backend()?, params)
            .map_err(|_| EngineError::ContextFailed { n_ctx })?;
        Ok(Self {
            ctx,
            tokens: Vec::new(),
            memory: model.info.memory,
            checkpoints: Vec::new(),
            batch: LlamaBatch::new(n_batch as usize, 1),
            n_batch: n_batch as usize,
            n_ctx,
        })
    }

    /// The tokens the sequence holds, in order.
    pub fn tokens(&self) -> &[LlamaToken] {
        &self.tokens
    }

    pub fn context(&self) -> &LlamaContext<'m> {
        &self.ctx
    }

    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    /// Forgets everything in the sequence.
    pub fn clear(&mut self) {
        self.ctx.clear_kv_cache();
        self.tokens.clear();
        self.checkpoints.clear();
    }

    /// Makes the sequence hold exactly `prompt`, with logits of its last token ready for
    /// sampling. Reuses the longest common prefix. `marks` are positions worth a recurrent
    /// checkpoint on hybrid models (message boundaries a later prompt is likely to share).
    pub fn prefill(
        &mut self,
        prompt: &[LlamaToken],
        marks: &[usize],
        cancel: &CancelFlag,
        disk: Option<&DiskPlan<'_>>,
    ) -> Result<PrefillReport, EngineError> {
        let started = Instant::now();
        if prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if prompt.len() >= self.n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.n_ctx,
            });
        }
        // The last prompt token is always decoded again: its logits are what we sample from,
        // and neither the KV cache nor a saved state keeps logits.
        let lcp = common_prefix(&self.tokens, prompt).min(prompt.len() - 1);
        let mut kept = self.rewind(lcp);
        let mut disk_cached = 0;
        if let Some(plan) = disk.filter(|p| p.read) {
            disk_cached = self.restore_from_disk(plan, prompt, kept);
            kept = kept.max(disk_cached);
        }
        let save_at = disk
            .and_then(|p| p.save_at.map(|n| (p, n.min(prompt.len() - 1))))
            .filter(|(p, n)| *n > kept && !p.cache.contains(&p.namespace, &ids(&prompt[..*n])));
        // Positions where the prefill stops briefly: to save the disk entry, and on hybrid
        // models to checkpoint the recurrent state (caller marks such as the end of the
        // system prompt, every CHECKPOINT_INTERVAL tokens, and the end of the prompt).
        let mut stops: Vec<usize> = save_at.map(|(_, at)| at).into_iter().collect();
        if self.memory != MemoryKind::Attention {
            stops.extend(marks.iter().copied());
            stops.extend((1..=prompt.len() / CHECKPOINT_INTERVAL).map(|k| k * CHECKPOINT_INTERVAL));
            // The end serves a next prompt that extends this one; one short of the end serves
            // the same prompt sent again (a retry), whose last token is recomputed anyway.
            stops.push(prompt.len() - 1);
            stops.push(prompt.len());
        }
        stops.retain(|&at| at > kept && at <= prompt.len());
        stops.sort_unstable();
        stops.dedup();
        let mut pos = kept;
        let mut cache_write_ms = 0.0;
        while pos < prompt.len() {
            if cancel.is_cancelled() {
                break;
            }
            let next_stop = stops
                .iter()
                .copied()
                .find(|&at| at > pos)
                .unwrap_or(prompt.len());
            let end = (pos + self.n_batch).min(next_stop);
            self.decode(&prompt[pos..end], end == prompt.len())?;
            pos = end;
            if let Some((plan, at)) = save_at.filter(|(_, at)| *at == pos) {
                let saving = Instant::now();
                self.save_to_disk(plan, at);
                cache_write_ms = saving.elapsed().as_secs_f64() * 1000.0;
            }
            if self.memory != MemoryKind::Attention && stops.binary_search(&pos).is_ok() {
                self.checkpoint()?;
            }
        }
        Ok(PrefillReport {
            cached: kept,
            disk_cached,
            computed: pos - kept,
            ms: started.elapsed().as_secs_f64() * 1000.0,
            cache_write_ms,
        })
    }

    /// Appends one generated token; its logits are then at batch index 0.
    pub fn push(&mut self, token: LlamaToken) -> Result<(), EngineError> {
        if self.tokens.len() + 1 >= self.n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                prompt: self.tokens.len() + 1,
                n_ctx: self.n_ctx,
            });
        }
        self.decode(&[token], true)
    }

    /// Decodes `tokens` after the current ones with logits on every row: a speculative
    /// verify batch, whose row `i` holds the prediction after `tokens[..=i]`.
    pub fn decode_rows(&mut self, tokens: &[LlamaToken]) -> Result<(), EngineError> {
        if self.tokens.len() + tokens.len() >= self.n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                prompt: self.tokens.len() + tokens.len(),
                n_ctx: self.n_ctx,
            });
        }
        self.decode_logits_at(tokens, |_| true)
    }

    /// Drops every token after the first `len` (rejected draft tokens). Only attention
    /// memory can be cut at any position; other kinds answer `Ok(false)` and stay as they
    /// were.
    pub fn truncate(&mut self, len: usize) -> Result<bool, EngineError> {
        if len >= self.tokens.len() {
            return Ok(true);
        }
        if self.memory != MemoryKind::Attention {
            return Ok(false);
        }
        match self
            .ctx
            .clear_kv_cache_seq(Some(0), u32::try_from(len).ok(), None)
        {
            Ok(true) => {
                self.tokens.truncate(len);
                Ok(true)
            }
            _ => {
                self.clear();
                Err(EngineError::Decode(
                    "the KV cache refused to drop rejected draft tokens".into(),
                ))
            }
        }
    }

    /// Saves the recurrent state at the current position (hybrid models only).
    pub fn checkpoint(&mut self) -> Result<(), EngineError> {
        if self.memory == MemoryKind::Attention {
            return Ok(());
        }
        let pos = self.tokens.len();
        if self.checkpoints.iter().any(|c| c.pos == pos) {
            return Ok(());
        }
        let state = self
            .ctx
            .state_seq_get(0, LlamaStateSeqFlags::PARTIAL_ONLY)
            .map_err(|e| EngineError::State(format!("checkpoint: {e}")))?;
        self.checkpoints.push(Checkpoint { pos, state });
        self.checkpoints.sort_by_key(|c| c.pos);
        if self.checkpoints.len() > MAX_CHECKPOINTS {
            // Drop the checkpoint closest to its predecessor: keeps the rest spread out.
            let crowded = (1..self.checkpoints.len())
                .min_by_key(|&i| self.checkpoints[i].pos - self.checkpoints[i - 1].pos)
                .unwrap_or(0);
            self.checkpoints.remove(crowded);
        }
        Ok(())
    }

    /// Cuts the sequence back to at most `keep` tokens; returns how many it still holds.
    fn rewind(&mut self, keep: usize) -> usize {
        if keep >= self.tokens.len() {
            return self.tokens.len();
        }
        let target = match self.memory {
            MemoryKind::Attention => keep,
            MemoryKind::Hybrid | MemoryKind::Recurrent => {
                let Some(checkpoint) = self.checkpoints.iter().rev().find(|c| c.pos <= keep) else {
                    self.clear();
                    return 0;
                };
                let pos = checkpoint.pos;
                if self.ctx.state_seq_set(&checkpoint.state, 0).is_err() {
                    self.clear();
                    return 0;
                }
                pos
            }
        };
        // A refused trim (recurrent memory that was not restored) means start over: the
        // alternative is a sequence whose state does not match its mirror.
        match self
            .ctx
            .clear_kv_cache_seq(Some(0), u32::try_from(target).ok(), None)
        {
            Ok(true) => {
                self.tokens.truncate(target);
                self.checkpoints.retain(|c| c.pos <= target);
                target
            }
            _ => {
                self.clear();
                0
            }
        }
    }

    fn restore_from_disk(
        &mut self,
        plan: &DiskPlan<'_>,
        prompt: &[LlamaToken],
        have: usize,
    ) -> usize {
        let prompt_ids = ids(prompt);
        let Some(hit) = plan
            .cache
            .lookup(&plan.namespace, &prompt_ids, prompt.len() - 1)
            .filter(|hit| hit.n_tokens > have)
        else {
            return 0;
        };
        let Ok(state) = plan.cache.read(&hit, &prompt_ids) else {
            return 0;
        };
        self.clear();
        // SAFETY: the bytes are exactly what `state_seq_get_data_ext` produced for a context
        // of this model and layout (the namespace keys both, the checksum proves the bytes),
        // and llama.cpp validates shapes on read, returning 0 on mismatch.
        let ok = unsafe {
            self.ctx
                .state_seq_set_data_ext(&state, 0, LlamaStateSeqFlags::empty())
        };
        if !ok {
            self.clear();
            return 0;
        }
        self.tokens = prompt[..hit.n_tokens].to_vec();
        if self.memory != MemoryKind::Attention && self.checkpoint().is_err() {
            self.checkpoints.clear();
        }
        hit.n_tokens
    }

    fn save_to_disk(&self, plan: &DiskPlan<'_>, at: usize) {
        debug_assert_eq!(self.tokens.len(), at);
        let flags = LlamaStateSeqFlags::empty();
        let size = self.ctx.state_seq_get_size_ext(0, flags);
        let mut state = vec![0u8; size];
        // SAFETY: the buffer has exactly the size llama.cpp reported for this sequence.
        let written = unsafe {
            self.ctx
                .state_seq_get_data_ext(state.as_mut_ptr(), 0, flags)
        };
        if written != size {
            return;
        }
        // A failed write only costs a future cache miss; generation goes on.
        let _ = plan
            .cache
            .write(&plan.namespace, &ids(&self.tokens), &state);
    }

    fn decode(&mut self, tokens: &[LlamaToken], logits_last: bool) -> Result<(), EngineError> {
        self.decode_logits_at(tokens, |last| logits_last && last)
    }

    fn decode_logits_at(
        &mut self,
        tokens: &[LlamaToken],
        logits: impl Fn(bool) -> bool,
    ) -> Result<(), EngineError> {
        if tokens.len() > self.n_batch {
            return Err(EngineError::Decode(format!(
                "{} tokens do not fit a batch of {}",
                tokens.len(),
                self.n_batch
            )));
        }
        self.batch.clear();
        let start = self.tokens.len();
        for (i, &token) in tokens.iter().enumerate() {
            let pos = i32::try_from(start + i)
                .map_err(|_| EngineError::Decode("position overflow".into()))?;
            let last = i + 1 == tokens.len();
            self.batch
                .add(token, pos, &[0], logits(last))
                .map_err(|e| EngineError::Decode(e.to_string()))?;
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            // The sequence may be partly written; make the mirror honest again.
            self.clear();
            return Err(EngineError::Decode(e.to_string()));
        }
        self.tokens.extend_from_slice(tokens);
        Ok(())
    }

    /// The batch index holding the logits of the last decoded token.
    pub fn logits_index(&self) -> i32 {
        self.batch.n_tokens() - 1
    }
}

/// Length of the common token prefix of `a` and `b`.
pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Raw token ids, as the disk cache keys them.
pub fn ids(tokens: &[LlamaToken]) -> Vec<i32> {
    tokens.iter().map(|t| t.0).collect()
}
