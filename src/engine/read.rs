//! A forward pass with no generation: what the model makes of a text, as its final hidden
//! states and the logits of a few chosen tokens at the last position.
//!
//! The text is read after a fixed prefix (instructions, examples) that stays in the session
//! and in the disk prompt cache, so a read costs only the text's own tokens once the prefix
//! has been computed in this process or an earlier one. The router's classifiers are built
//! on it: one read of a request is a feature vector and a label-token score.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use crate::engine::error::EngineError;
use crate::engine::generate::{checked_tokens, shared_tokens, tokenize, DiskTarget};
use crate::engine::kv_session::{CancelFlag, DiskPlan, KvSession};
use crate::engine::model::LoadedModel;
use crate::stats::TurnStats;

/// What to read.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    /// Read first, and kept: in the session between reads and on disk for later processes.
    /// Special tokens written in it are parsed as such.
    pub prefix: String,
    /// Read after the prefix; what the answer describes. Must add at least one token.
    pub text: String,
    /// The KV session to read in (its own: a reader's context keeps every row's output).
    pub session: String,
    /// Consult and fill the disk prompt cache with the prefix.
    pub disk_cache: bool,
    /// Token ids whose logits at the last position are returned, in this order.
    pub logits_of: Vec<i32>,
}

/// What the model made of the text.
#[derive(Clone, Debug)]
pub struct Reading {
    /// The final hidden state (after the output norm) at the text's last token: what the
    /// next token is predicted from.
    pub last: Vec<f32>,
    /// The mean of the final hidden states over the text's tokens.
    pub mean: Vec<f32>,
    /// Logits at the last position of [`ReadRequest::logits_of`], in order.
    pub logits: Vec<f32>,
    /// Prompt tokens (prefix and text), how many were cached, and the wall time.
    pub stats: TurnStats,
}

/// Reads `request` in `session`, which must be a [`SessionKind::Reader`] session.
///
/// [`SessionKind::Reader`]: crate::engine::kv_session::SessionKind::Reader
pub fn read(
    model: &LoadedModel,
    session: &mut KvSession<'_>,
    request: &ReadRequest,
    disk: Option<&DiskTarget<'_>>,
    cancel: &CancelFlag,
) -> Result<Reading, EngineError> {
    let started = Instant::now();
    let wanted = checked_tokens(model, &request.logits_of)?;
    let tokens = tokenize(model, &format!("{}{}", request.prefix, request.text));
    let prefix = shared_tokens(model, &request.prefix, &tokens);
    if prefix >= tokens.len() {
        return Err(EngineError::EmptyPrompt);
    }
    let plan = disk.filter(|_| request.disk_cache).map(|d| DiskPlan {
        cache: d.cache,
        namespace: d.namespace.clone(),
        read: true,
        save_at: Some(prefix),
    });
    // The prefix is kept from memory or restored from disk where it can be (and stored when
    // computed); the text follows in batches of its own, every row kept.
    let report = session.hold(&tokens[..prefix], cancel, plan.as_ref())?;
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    let width = model.info.n_embd as usize;
    let mut sum = vec![0f64; width];
    for chunk in tokens[prefix..].chunks(session.n_batch()) {
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        session.decode_rows(chunk)?;
        for row in 0..chunk.len() {
            let hidden = hidden_row(session, i32::try_from(row).unwrap_or(i32::MAX), width)?;
            for (total, value) in sum.iter_mut().zip(hidden) {
                *total += f64::from(*value);
            }
        }
    }
    let last_row = session.logits_index();
    let last = hidden_row(session, last_row, width)?.to_vec();
    let row_logits = session.context().get_logits_ith(last_row);
    let logits = wanted
        .iter()
        .map(|t: &LlamaToken| row_logits[usize::try_from(t.0).unwrap_or(0)])
        .collect();
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let rows = (tokens.len() - prefix) as f64;
    #[allow(clippy::cast_possible_truncation)]
    let mean = sum.iter().map(|total| (total / rows) as f32).collect();
    let stats = TurnStats {
        prompt_tokens: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        cached_tokens: u32::try_from(report.cached).unwrap_or(u32::MAX),
        disk_cached_tokens: u32::try_from(report.disk_cached).unwrap_or(u32::MAX),
        prefill_ms: started.elapsed().as_secs_f64() * 1000.0 - report.cache_write_ms,
        cache_write_ms: report.cache_write_ms,
        backend: "local".to_string(),
        model: model.info.name.clone(),
        ..TurnStats::default()
    };
    Ok(Reading {
        last,
        mean,
        logits,
        stats,
    })
}

/// Row `row`'s final hidden state in the session's last batch.
fn hidden_row<'s>(
    session: &'s KvSession<'_>,
    row: i32,
    width: usize,
) -> Result<&'s [f32], EngineError> {
    let hidden = session.context().embeddings_ith(row).map_err(|_| {
        EngineError::State("this session keeps no hidden states (not a reader session)".into())
    })?;
    if hidden.len() < width {
        return Err(EngineError::State(format!(
            "the model's hidden state has {} values, not {width}",
            hidden.len()
        )));
    }
    Ok(&hidden[..width])
}
