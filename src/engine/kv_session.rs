//! One KV sequence and the token mirror of what is in it.
//!
//! `prefill` keeps the longest common prefix of what the sequence already holds and decodes
//! only the rest. Attention memory can be cut at any position. Recurrent state (Gated
//! DeltaNet, Mamba) cannot be rewound, so hybrid models take checkpoints of it as they go
//! and rewind to the newest checkpoint at or before the common prefix — falling back to a
//! full reprocess, never to a wrong answer.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Instant;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaContextType, LlamaPoolingType};
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::speculative::{MtpSpeculative, MtpSpeculativeParams};
use llama_cpp_2::token::LlamaToken;

use crate::engine::arch::supports_rollback;

pub use crate::cancel::CancelFlag;
use crate::engine::cache::DiskCache;
use crate::engine::error::EngineError;
use crate::engine::llama::backend;
use crate::engine::model::{LoadedModel, MemoryKind};
use crate::engine::options::FlashAttention;

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

/// What a session is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// One token at a time.
    Plain,
    /// Verifies up to `n_draft` drafted tokens per batch, so the last `n_draft` tokens must be
    /// droppable: hybrid models keep that many snapshots of their recurrent state.
    Speculative { n_draft: usize },
    /// As `Speculative`, drafting with the model's own MTP layers in a second context that
    /// follows every batch the model decodes.
    Mtp { n_draft: usize },
    /// Reads hidden states: every decoded row keeps its final hidden state (and logits), so
    /// batches are capped at [`READER_BATCH`] rows to bound that output buffer.
    Reader,
}

/// Rows per batch in a [`SessionKind::Reader`] session. llama.cpp keeps logits for every row
/// of an embeddings context, `rows × vocabulary` floats: 64 rows of a 262k vocabulary are
/// 64 MiB, where a 512-row batch would be half a gigabyte.
pub const READER_BATCH: u32 = 64;

impl SessionKind {
    /// The most tokens a round may draft in this session.
    pub fn max_draft(self) -> usize {
        match self {
            Self::Plain | Self::Reader => 0,
            Self::Speculative { n_draft } | Self::Mtp { n_draft } => n_draft,
        }
    }
}

/// The contexts behind a session. llama.cpp's MTP driver owns the model's context together
/// with its draft context, so an MTP session reaches its context through the driver.
enum Contexts<'m> {
    Plain(LlamaContext<'m>),
    Mtp(Box<MtpSpeculative<'m>>),
}

impl<'m> Contexts<'m> {
    fn target(&self) -> &LlamaContext<'m> {
        match self {
            Self::Plain(ctx) => ctx,
            Self::Mtp(mtp) => mtp.target_context(),
        }
    }

    fn target_mut(&mut self) -> &mut LlamaContext<'m> {
        match self {
            Self::Plain(ctx) => ctx,
            Self::Mtp(mtp) => mtp.target_context_mut(),
        }
    }
}

/// A KV sequence on one model.
pub struct KvSession<'m> {
    ctx: Contexts<'m>,
    kind: SessionKind,
    tokens: Vec<LlamaToken>,
    memory: MemoryKind,
    checkpoints: Vec<Checkpoint>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    n_ctx: u32,
    /// How many trailing tokens recurrent state can drop (0 for attention-only models, which
    /// drop any number).
    rollback: usize,
    /// Tokens in the last decode; recurrent rollback reaches no further back.
    last_batch: usize,
    /// Whether the MTP context takes in each decoded batch. Not drafting, it need not: that
    /// saves an MTP-layer pass per token, and the next batch it sees brings its hidden-state
    /// input up to date (its attention then has gaps, which only weakens drafts).
    mtp_follow: bool,
}

impl<'m> KvSession<'m> {
    /// A fresh, empty sequence.
    pub fn new(model: &'m LoadedModel) -> Result<Self, EngineError> {
        Self::with_kind(model, SessionKind::Plain)
    }

    /// A fresh, empty sequence made for `kind`. An MTP session on a model whose MTP layers
    /// cannot draft fails with [`EngineError::MtpUnavailable`].
    pub fn with_kind(model: &'m LoadedModel, kind: SessionKind) -> Result<Self, EngineError> {
        let n_draft = kind.max_draft();
        let rollback = if model.info.memory != MemoryKind::Attention
            && supports_rollback(&model.info.architecture)
        {
            n_draft
        } else {
            0
        };
        let mut params =
            Self::context_params(model)?.with_n_rs_seq(u32::try_from(rollback).unwrap_or(0));
        let mut n_batch = batch_size(model.context.n_batch, model.info.n_ctx);
        if kind == SessionKind::Reader {
            n_batch = n_batch.min(READER_BATCH);
            params = params
                .with_embeddings(true)
                .with_pooling_type(LlamaPoolingType::None)
                .with_n_batch(n_batch)
                .with_n_ubatch(model.context.n_ubatch.clamp(1, n_batch));
        }
        let n_ctx = model.info.n_ctx;
        let new_context = |params: LlamaContextParams| {
            model
                .model
                .new_context(backend()?, params)
                .map_err(|_| EngineError::ContextFailed { n_ctx })
        };
        let ctx = match kind {
            SessionKind::Plain | SessionKind::Speculative { .. } | SessionKind::Reader => {
                Contexts::Plain(new_context(params)?)
            }
            SessionKind::Mtp { n_draft } => {
                if !model.info.mtp_loaded {
                    return Err(EngineError::MtpUnavailable(format!(
                        "`{}` has no MTP layers loaded",
                        model.info.name
                    )));
                }
                if model.info.memory != MemoryKind::Attention && rollback == 0 {
                    return Err(EngineError::MtpUnavailable(format!(
                        "`{}` keeps recurrent state that llama.cpp cannot roll back for `{}`",
                        model.info.name, model.info.architecture
                    )));
                }
                let target = new_context(params.clone())?;
                let draft = new_context(
                    Self::context_params(model)?.with_context_type(LlamaContextType::Mtp),
                )?;
                let params = MtpSpeculativeParams {
                    n_max: i32::try_from(n_draft.max(1)).unwrap_or(1),
                    n_min: 0,
                    p_min: 0.0,
                };
                let mtp = MtpSpeculative::new(target, draft, params).map_err(|e| {
                    EngineError::MtpUnavailable(format!(
                        "llama.cpp cannot draft with the MTP layers of `{}` ({}): {e}",
                        model.info.name, model.info.architecture
                    ))
                })?;
                Contexts::Mtp(Box::new(mtp))
            }
        };
        Ok(Self {
            ctx,
            kind,
            tokens: Vec::new(),
            memory: model.info.memory,
            checkpoints: Vec::new(),
            batch: LlamaBatch::new(n_batch as usize, 1),
            n_batch: n_batch as usize,
            n_ctx,
            rollback,
            last_batch: 0,
            mtp_follow: true,
        })
    }

    fn context_params(model: &LoadedModel) -> Result<LlamaContextParams, EngineError> {
        let opts = &model.context;
        let n_ctx = model.info.n_ctx;
        let flash = match opts.flash_attention {
            FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
            // Loading resolves `auto` by measuring (engine/flash.rs); a context built before
            // that is the measurement's own.
            FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        };
        let n_batch = batch_size(opts.n_batch, n_ctx);
        Ok(LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(opts.n_ubatch.clamp(1, n_batch))
            .with_n_seq_max(1)
            .with_n_threads(i32::try_from(opts.threads).unwrap_or(1))
            .with_n_threads_batch(i32::try_from(opts.threads_batch).unwrap_or(1))
            .with_flash_attention_policy(flash))
    }

    pub fn kind(&self) -> SessionKind {
        self.kind
    }

    /// The tokens the sequence holds, in order.
    pub fn tokens(&self) -> &[LlamaToken] {
        &self.tokens
    }

    pub fn context(&self) -> &LlamaContext<'m> {
        self.ctx.target()
    }

    /// Makes the MTP context take in decoded batches, or not (see `mtp_follow`).
    pub(crate) fn set_mtp_follow(&mut self, follow: bool) {
        self.mtp_follow = follow;
    }

    /// The MTP driver of an MTP session.
    pub(crate) fn mtp(&mut self) -> Option<&mut MtpSpeculative<'m>> {
        match &mut self.ctx {
            Contexts::Plain(_) => None,
            Contexts::Mtp(mtp) => Some(mtp),
        }
    }

    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    /// The most tokens one decode takes.
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// Forgets everything in the sequence.
    pub fn clear(&mut self) {
        self.ctx.target_mut().clear_kv_cache();
        if let Contexts::Mtp(mtp) = &mut self.ctx {
            mtp.draft_context_mut().clear_kv_cache();
        }
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
        if prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        self.bring(prompt, marks, cancel, disk, true)
    }

    /// Makes the sequence hold exactly `prompt`, with no logits needed: a prefix that more
    /// tokens will follow in a batch of their own. Unlike [`prefill`](Self::prefill), a
    /// prompt entirely in memory (or on disk) decodes nothing at all.
    pub fn hold(
        &mut self,
        prompt: &[LlamaToken],
        cancel: &CancelFlag,
        disk: Option<&DiskPlan<'_>>,
    ) -> Result<PrefillReport, EngineError> {
        if prompt.is_empty() {
            self.clear();
            return Ok(PrefillReport::default());
        }
        self.bring(prompt, &[], cancel, disk, false)
    }

    /// `prefill` and `hold`: with `logits`, the last token is always decoded again.
    fn bring(
        &mut self,
        prompt: &[LlamaToken],
        marks: &[usize],
        cancel: &CancelFlag,
        disk: Option<&DiskPlan<'_>>,
        logits: bool,
    ) -> Result<PrefillReport, EngineError> {
        let started = Instant::now();
        if prompt.len() >= self.n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                prompt: prompt.len(),
                n_ctx: self.n_ctx,
            });
        }
        // With logits, the last prompt token is always decoded again: its logits are what we
        // sample from, and neither the KV cache nor a saved state keeps logits.
        let reusable = prompt.len() - usize::from(logits);
        let lcp = common_prefix(&self.tokens, prompt).min(reusable);
        let mut kept = self.rewind(lcp);
        let mut disk_cached = 0;
        if let Some(plan) = disk.filter(|p| p.read) {
            disk_cached = self.restore_from_disk(plan, prompt, kept, reusable);
            kept = kept.max(disk_cached);
        }
        let save_at = disk
            .and_then(|p| p.save_at.map(|n| (p, n.min(reusable))))
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
            self.decode(&prompt[pos..end], logits && end == prompt.len())?;
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

    /// Drops every token after the first `len` (rejected draft tokens). Attention memory can
    /// be cut anywhere; recurrent state only within the last decoded batch and the session's
    /// rollback depth, once per batch. Answers `Ok(false)`, unchanged, where it cannot.
    pub fn truncate(&mut self, len: usize) -> Result<bool, EngineError> {
        if len >= self.tokens.len() {
            return Ok(true);
        }
        let drop = self.tokens.len() - len;
        if self.memory != MemoryKind::Attention && (drop > self.rollback || drop > self.last_batch)
        {
            return Ok(false);
        }
        if !self.cut(len) {
            self.clear();
            return Err(EngineError::Decode(
                "the KV cache refused to drop rejected draft tokens".into(),
            ));
        }
        self.tokens.truncate(len);
        self.checkpoints.retain(|c| c.pos <= len);
        if self.memory != MemoryKind::Attention {
            self.last_batch = 0;
        }
        Ok(true)
    }

    /// Forgets what the MTP layers drafted tentatively past the session's tokens.
    pub(crate) fn drop_drafted(&mut self) {
        let pos = u32::try_from(self.tokens.len()).ok();
        if let Contexts::Mtp(mtp) = &mut self.ctx {
            let _ = mtp
                .draft_context_mut()
                .clear_kv_cache_seq(Some(0), pos, None);
        }
    }

    /// Removes positions `pos..` from the model's memory and from the MTP draft context.
    fn cut(&mut self, pos: usize) -> bool {
        let pos = u32::try_from(pos).ok();
        let kept = matches!(
            self.ctx.target_mut().clear_kv_cache_seq(Some(0), pos, None),
            Ok(true)
        );
        if let Contexts::Mtp(mtp) = &mut self.ctx {
            // The draft context only holds attention for the MTP layer: any cut succeeds.
            let _ = mtp
                .draft_context_mut()
                .clear_kv_cache_seq(Some(0), pos, None);
        }
        kept
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
            .target()
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
                if self
                    .ctx
                    .target_mut()
                    .state_seq_set(&checkpoint.state, 0)
                    .is_err()
                {
                    self.clear();
                    return 0;
                }
                pos
            }
        };
        // A refused trim (recurrent memory that was not restored) means start over: the
        // alternative is a sequence whose state does not match its mirror.
        if self.cut(target) {
            self.tokens.truncate(target);
            self.checkpoints.retain(|c| c.pos <= target);
            target
        } else {
            self.clear();
            0
        }
    }

    fn restore_from_disk(
        &mut self,
        plan: &DiskPlan<'_>,
        prompt: &[LlamaToken],
        have: usize,
        max_len: usize,
    ) -> usize {
        let prompt_ids = ids(prompt);
        let Some(hit) = plan
            .cache
            .lookup(&plan.namespace, &prompt_ids, max_len)
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
                .target_mut()
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
        let ctx = self.ctx.target();
        let size = ctx.state_seq_get_size_ext(0, flags);
        let mut state = vec![0u8; size];
        // SAFETY: the buffer has exactly the size llama.cpp reported for this sequence.
        let written = unsafe { ctx.state_seq_get_data_ext(state.as_mut_ptr(), 0, flags) };
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
        if let Err(e) = self.ctx.target_mut().decode(&mut self.batch) {
            // The sequence may be partly written; make the mirror honest again.
            self.clear();
            return Err(EngineError::Decode(e.to_string()));
        }
        if let (Contexts::Mtp(mtp), true) = (&mut self.ctx, self.mtp_follow) {
            // The MTP context takes in every batch the model decodes, paired with the model's
            // hidden states; what it drafted tentatively at these positions goes first.
            let _ = mtp.draft_context_mut().clear_kv_cache_seq(
                Some(0),
                u32::try_from(start).ok(),
                None,
            );
            if let Err(e) = mtp.process(&self.batch) {
                self.clear();
                return Err(EngineError::Decode(format!("MTP draft context: {e}")));
            }
        }
        self.tokens.extend_from_slice(tokens);
        self.last_batch = tokens.len();
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

/// The batch a context of `n_ctx` tokens gets: at least one token, at most the context.
/// `clamp` panics when its bounds cross, which a context of 0 tokens (a model file that
/// declares no context length) once made them do.
fn batch_size(requested: u32, n_ctx: u32) -> u32 {
    requested.clamp(1, n_ctx.max(1))
}

#[cfg(test)]
mod tests {
    use super::batch_size;

    #[test]
    fn a_context_of_no_tokens_does_not_panic_the_batch_size() {
        assert_eq!(
            [batch_size(512, 0), batch_size(0, 64), batch_size(512, 64)],
            [1, 1, 64]
        );
    }
}
