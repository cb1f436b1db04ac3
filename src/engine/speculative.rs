//! Speculative decoding: something cheap proposes a few tokens, the target checks them all in
//! one batch and keeps the ones it would have produced itself. The proposer is either a small
//! model sharing the target's vocabulary (`DraftModel`) or the target's own MTP layers
//! (`Mtp`); [`SpecPolicy`] decides each round how many tokens are worth proposing, down to
//! none.
//!
//! Verification samples the target at every row of the batch with the request's own sampler
//! and stops at the first token that differs from the proposal. Every emitted token is
//! therefore the target's own choice, drawn with the same sampler state, grammar and random
//! stream as one-at-a-time decoding: greedy output is what plain decoding gives, and sampled
//! output follows the same distribution (not bit for bit: a batch computes logits with
//! different rounding than single-token decodes, which can move a sampled token that sits on
//! a boundary). A drafted token the grammar rejects can never match, so it is never accepted.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use crate::engine::arch::supports_rollback;
use crate::engine::error::EngineError;
use crate::engine::generate::{FinishReason, Output};
use crate::engine::kv_session::{CancelFlag, KvSession};
use crate::engine::model::{LoadedModel, MemoryKind};
use crate::engine::sampling::{SamplingParams, TokenSampler};
use crate::engine::spec_policy::SpecPolicy;
use crate::stats::TurnStats;

/// Checks that `draft` speaks the target's vocabulary: same size, same pieces for every
/// token (sampled evenly on large vocabularies), same end-of-generation tokens.
pub(crate) fn check_vocab(target: &LoadedModel, draft: &LoadedModel) -> Result<(), EngineError> {
    let mismatch = |reason: String| EngineError::DraftMismatch {
        draft: draft.info.name.clone(),
        target: target.info.name.clone(),
        reason,
    };
    let (t, d) = (target.model.n_vocab(), draft.model.n_vocab());
    if t != d {
        return Err(mismatch(format!(
            "its vocabulary has {d} tokens, the target's {t}"
        )));
    }
    let (tv, dv) = (target.model.vocab(), draft.model.vocab());
    let step = (t / 4096).max(1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for id in (0..t).step_by(step as usize) {
        let token = LlamaToken::new(id);
        a.clear();
        b.clear();
        tv.token_to_piece_into(token, &mut a, true, None);
        dv.token_to_piece_into(token, &mut b, true, None);
        if a != b || tv.is_eog(token) != dv.is_eog(token) {
            return Err(mismatch(format!(
                "token {id} is {:?} in the target and {:?} in the draft",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            )));
        }
    }
    Ok(())
}

/// Why this pair cannot speculate, if it cannot: rejected tokens must be dropped from the
/// target's memory, and the draft drops whole rounds of its own guesses, which recurrent
/// state can do only for the last batch and only on some architectures.
pub(crate) fn unsupported(target: &LoadedModel, draft: &LoadedModel) -> Option<String> {
    if let Some(reason) = cannot_roll_back(target) {
        Some(reason)
    } else if draft.info.memory != MemoryKind::Attention {
        Some(format!(
            "the draft `{}` keeps recurrent state, which cannot drop a round of rejected guesses",
            draft.info.name
        ))
    } else {
        None
    }
}

/// Why the target cannot drop rejected tokens, if it cannot: recurrent state rolls back only
/// for the last batch and only on some architectures.
pub(crate) fn cannot_roll_back(target: &LoadedModel) -> Option<String> {
    (target.info.memory != MemoryKind::Attention && !supports_rollback(&target.info.architecture))
        .then(|| {
            format!(
                "`{}` keeps recurrent state that llama.cpp cannot roll back for `{}`",
                target.info.name, target.info.architecture
            )
        })
}

/// Something that proposes the target's next tokens.
pub(crate) trait Drafter {
    /// Up to `k` tokens to follow `pending`, which comes after everything `target` holds.
    fn propose(
        &mut self,
        target: &mut KvSession<'_>,
        pending: LlamaToken,
        k: usize,
    ) -> Result<Vec<LlamaToken>, EngineError>;

    /// The target verified a round (`drafts` may be empty) and kept `accepted` of them. A
    /// drafter that reads the target's tokens at its next proposal has nothing to do.
    fn settle(
        &mut self,
        _target: &mut KvSession<'_>,
        _drafts: &[LlamaToken],
        _accepted: usize,
    ) -> Result<(), EngineError> {
        Ok(())
    }

    /// Draft steps a proposal of `k` tokens costs.
    fn steps(&self, k: usize) -> usize;

    /// The most tokens worth asking for this round, up to `limit`: a drafter that knows it
    /// has nothing to offer says 0, and the round decodes plainly without asking the policy.
    fn cap(&mut self, _target: &mut KvSession<'_>, _pending: LlamaToken, limit: usize) -> usize {
        limit
    }

    /// Whether the drafter will be asked soon; one that keeps state per decoded token can
    /// stop paying for it meanwhile.
    fn expect(&mut self, _target: &mut KvSession<'_>, _soon: bool) {}
}

/// A small model with the target's vocabulary, proposing greedily in its own session.
pub(crate) struct DraftModel<'a, 'm> {
    model: &'a LoadedModel,
    session: &'a mut KvSession<'m>,
    greedy: TokenSampler,
}

impl<'a, 'm> DraftModel<'a, 'm> {
    pub(crate) fn new(
        model: &'a LoadedModel,
        session: &'a mut KvSession<'m>,
    ) -> Result<Self, EngineError> {
        let greedy = TokenSampler::new(&model.model, &SamplingParams::greedy(), None)?;
        Ok(Self {
            model,
            session,
            greedy,
        })
    }
}

impl Drafter for DraftModel<'_, '_> {
    fn propose(
        &mut self,
        target: &mut KvSession<'_>,
        pending: LlamaToken,
        k: usize,
    ) -> Result<Vec<LlamaToken>, EngineError> {
        // Catching up through prefill keeps the draft's common prefix and decodes whatever it
        // missed in one batch: rounds the policy skipped cost the draft nothing.
        let mut history = Vec::with_capacity(target.tokens().len() + 1);
        history.extend_from_slice(target.tokens());
        history.push(pending);
        self.session
            .prefill(&history, &[], &CancelFlag::new(), None)?;
        let mut drafts = Vec::with_capacity(k);
        for j in 0..k {
            let next = self.greedy.sample(
                &self.model.model,
                self.session.context(),
                self.session.logits_index(),
            )?;
            drafts.push(next);
            if j + 1 < k {
                self.session.push(next)?;
            }
        }
        // The next proposal's prefill drops what the target rejected.
        Ok(drafts)
    }

    fn steps(&self, k: usize) -> usize {
        k
    }
}

/// The target's own MTP layers, through llama.cpp's MTP driver in the target's session.
pub(crate) struct Mtp {
    /// Tokens the driver drafts per call; it always drafts this many.
    pub n_max: usize,
}

impl Drafter for Mtp {
    fn propose(
        &mut self,
        target: &mut KvSession<'_>,
        pending: LlamaToken,
        k: usize,
    ) -> Result<Vec<LlamaToken>, EngineError> {
        let n_past = i32::try_from(target.tokens().len())
            .map_err(|_| EngineError::Decode("position overflow".into()))?;
        let driver = target
            .mtp()
            .ok_or_else(|| EngineError::MtpUnavailable("the session has no MTP context".into()))?;
        // The MTP drafter ignores the token history (only n-gram drafters read it).
        let mut drafts = driver
            .draft(n_past, pending, &[])
            .map_err(|e| EngineError::Decode(format!("MTP draft: {e}")))?;
        if drafts.is_empty() {
            return Ok(drafts);
        }
        drafts.truncate(k);
        Ok(drafts)
    }

    fn settle(
        &mut self,
        target: &mut KvSession<'_>,
        drafts: &[LlamaToken],
        accepted: usize,
    ) -> Result<(), EngineError> {
        // The driver expects `accept` after every non-empty draft, once the verify batch has
        // been processed (KvSession does that as it decodes).
        if drafts.is_empty() {
            return Ok(());
        }
        let driver = target
            .mtp()
            .ok_or_else(|| EngineError::MtpUnavailable("the session has no MTP context".into()))?;
        driver
            .accept(u16::try_from(accepted).unwrap_or(u16::MAX))
            .map_err(|e| EngineError::Decode(format!("MTP accept: {e}")))
    }

    fn steps(&self, _k: usize) -> usize {
        self.n_max
    }

    fn expect(&mut self, target: &mut KvSession<'_>, soon: bool) {
        target.set_mtp_follow(soon);
    }
}

/// Decodes after the prompt, one verified round at a time. The target holds the prompt and
/// its logits for the last prompt token are ready.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    model: &LoadedModel,
    target: &mut KvSession<'_>,
    drafter: &mut dyn Drafter,
    policy: &mut SpecPolicy,
    sampler: &mut TokenSampler,
    out: &mut Output<'_, '_>,
    cancel: &CancelFlag,
    stats: &mut TurnStats,
) -> Result<FinishReason, EngineError> {
    let mut pending = sampler.sample(&model.model, target.context(), target.logits_index())?;
    if let Some(finish) = out.take(pending) {
        return Ok(finish);
    }
    policy.begin_generation();
    loop {
        if cancel.is_cancelled() {
            return Ok(FinishReason::Cancelled);
        }
        // `pending` is the target's latest token and not in its memory yet.
        let round = Instant::now();
        let base = target.tokens().len();
        let room = (target.n_ctx() as usize).saturating_sub(base + 2);
        // The round's own token comes free; drafting past the budget would be wasted.
        let limit = out.remaining().saturating_sub(1).min(room);
        let cap = drafter.cap(target, pending, limit);
        let k = if cap == 0 { 0 } else { policy.next_k(cap) };
        if k == 0 {
            drafter.expect(target, policy.may_draft_soon());
        }
        let mut drafts = Vec::new();
        if k > 0 {
            drafter.expect(target, true);
            let started = Instant::now();
            drafts = drafter.propose(target, pending, k)?;
            policy.record_draft_time(drafter.steps(k), started.elapsed().as_secs_f64());
        }
        let mut batch = Vec::with_capacity(drafts.len() + 1);
        batch.push(pending);
        batch.extend_from_slice(&drafts);
        let started = Instant::now();
        target.decode_rows(&batch)?;
        policy.record_target_time(batch.len(), started.elapsed().as_secs_f64());

        let mut accepted = 0;
        let mut finish = None;
        let mut closing = None;
        for row in 0..batch.len() {
            let token = sampler.sample(&model.model, target.context(), row as i32)?;
            let matched = drafts.get(row) == Some(&token);
            if matched {
                accepted += 1;
            }
            if let Some(reason) = out.take(token) {
                if reason == FinishReason::Repetition && out.close_loop(sampler, model) {
                    // The token stands; the closing tokens follow one at a time, as in
                    // plain decoding (no drafter guesses a grammar's way out).
                    closing = Some((row, token));
                } else {
                    finish = Some(reason);
                }
                break;
            }
            if !matched {
                // The target's own token: a correction, or the one after a fully accepted
                // round.
                pending = token;
                break;
            }
        }
        if drafts.is_empty() {
            policy.record_plain(1);
        } else {
            policy.record_round(drafts.len(), accepted);
            stats.draft_proposed += u32::try_from(drafts.len()).unwrap_or(u32::MAX);
            stats.draft_accepted += u32::try_from(accepted).unwrap_or(u32::MAX);
        }
        drafter.settle(target, &drafts, accepted)?;
        if let Some((row, token)) = closing {
            // Keep what came before the looping token, which is not in memory yet.
            if !target.truncate(base + 1 + row)? {
                return Err(EngineError::Decode(
                    "the target cannot drop rejected tokens".into(),
                ));
            }
            target.push(token)?;
            return crate::engine::generate::plain_decode(model, target, sampler, out, cancel);
        }
        if let Some(finish) = finish {
            drafter.expect(target, true);
            return Ok(finish);
        }
        // Keep what was sent and the accepted drafts; the target's own token is pending.
        if !target.truncate(base + 1 + accepted)? {
            return Err(EngineError::Decode(
                "the target cannot drop rejected tokens".into(),
            ));
        }
        policy.record_round_time(drafts.len(), round.elapsed().as_secs_f64());
    }
}
