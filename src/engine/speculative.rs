//! Draft-model speculation: a small model sharing the target's vocabulary proposes a few
//! tokens; the target checks them all in one batch and keeps the ones it would have produced
//! itself.
//!
//! Verification samples the target at every row of the batch with the request's own sampler
//! and stops at the first token that differs from the draft. Every emitted token is therefore
//! the target's own choice, drawn with the same sampler state, grammar and random stream as
//! one-at-a-time decoding: greedy output is what plain decoding gives, and sampled output
//! follows the same distribution (not bit for bit: a batch computes logits with different
//! rounding than single-token decodes, which can move a sampled token that sits on a
//! boundary). A drafted token the grammar rejects can never match, so it is never accepted.

use llama_cpp_2::token::LlamaToken;

use crate::engine::error::EngineError;
use crate::engine::generate::{Draft, FinishReason, Output};
use crate::engine::model::{LoadedModel, MemoryKind};
use crate::engine::sampling::{SamplingParams, TokenSampler};
use crate::engine::session::{CancelFlag, Session};
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

/// Why this pair cannot speculate, if it cannot: rejected draft tokens must be dropped from
/// both models' memory, which recurrent state cannot do cheaply.
pub(crate) fn unsupported(target: &LoadedModel, draft: &LoadedModel) -> Option<String> {
    let recurrent = |m: &LoadedModel| m.info.memory != MemoryKind::Attention;
    if recurrent(target) {
        Some(format!(
            "`{}` keeps recurrent state, which cannot drop rejected draft tokens cheaply",
            target.info.name
        ))
    } else if recurrent(draft) {
        Some(format!(
            "the draft `{}` keeps recurrent state, which cannot drop rejected draft tokens cheaply",
            draft.info.name
        ))
    } else {
        None
    }
}

/// Decodes after the prompt with `draft` proposing up to `n_draft` tokens per round. Both
/// sessions hold the prompt; the target's logits for its last token are ready.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    model: &LoadedModel,
    target: &mut Session<'_>,
    draft: Draft<'_, '_>,
    n_draft: usize,
    sampler: &mut TokenSampler,
    out: &mut Output<'_, '_>,
    cancel: &CancelFlag,
    stats: &mut TurnStats,
) -> Result<FinishReason, EngineError> {
    let mut greedy = TokenSampler::new(&draft.model.model, &SamplingParams::greedy(), None)?;
    let mut pending = sampler.sample(&model.model, target.context(), target.logits_index())?;
    if let Some(finish) = out.take(pending) {
        return Ok(finish);
    }
    loop {
        if cancel.is_cancelled() {
            return Ok(FinishReason::Cancelled);
        }
        // Both sessions hold the same tokens here; `pending` is in neither yet.
        let base = target.tokens().len();
        let sent = pending;
        let room = (target.n_ctx() as usize).saturating_sub(base + 2);
        let k = n_draft.min(out.remaining()).min(room);
        let mut drafts: Vec<LlamaToken> = Vec::with_capacity(k);
        if k > 0 {
            draft.session.push(pending)?;
            for j in 0..k {
                let next = greedy.sample(
                    &draft.model.model,
                    draft.session.context(),
                    draft.session.logits_index(),
                )?;
                drafts.push(next);
                if j + 1 < k {
                    draft.session.push(next)?;
                }
            }
        }
        let mut batch = Vec::with_capacity(k + 1);
        batch.push(pending);
        batch.extend_from_slice(&drafts);
        target.decode_rows(&batch)?;
        stats.draft_proposed += k as u32;
        let mut accepted = 0;
        for row in 0..=k {
            let token = sampler.sample(&model.model, target.context(), row as i32)?;
            if drafts.get(row) == Some(&token) {
                accepted += 1;
                if let Some(finish) = out.take(token) {
                    stats.draft_accepted += accepted as u32;
                    return Ok(finish);
                }
                continue;
            }
            stats.draft_accepted += accepted as u32;
            if let Some(finish) = out.take(token) {
                return Ok(finish);
            }
            pending = token;
            break;
        }
        // Keep what was sent and the accepted drafts; the target's own token is pending.
        let keep = base + 1 + accepted;
        if !target.truncate(keep)? {
            return Err(EngineError::Decode(
                "the target cannot drop rejected tokens".into(),
            ));
        }
        if k == 0 {
            draft.session.push(sent)?;
        } else if accepted == k {
            // The draft never decoded its own last proposal.
            draft.session.push(drafts[k - 1])?;
        } else if !draft.session.truncate(keep)? {
            return Err(EngineError::Decode(
                "the draft cannot drop rejected tokens".into(),
            ));
        }
    }
}
