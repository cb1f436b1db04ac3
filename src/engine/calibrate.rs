//! What decoding costs on this machine: a target decode of n = 1…9 tokens with logits on
//! every row (a verify batch), and one draft step, measured at a realistic depth. The
//! speculation policy weighs acceptance against exactly these numbers.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;
use serde::Serialize;

use crate::engine::error::EngineError;
use crate::engine::kv_session::{CancelFlag, KvSession, SessionKind};
use crate::engine::model::{LoadedModel, MemoryKind};
use crate::engine::spec_policy::{CostTable, MAX_DRAFT};

/// Prompt tokens in the context before the measured batches.
const DEPTH: usize = 128;

/// Measured decode costs.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// Median seconds of a decode of n tokens, n = 1..=MAX_DRAFT+1.
    pub batch_seconds: Vec<f64>,
    /// Median seconds of one draft step (MTP layers or draft model), if there is a drafter.
    pub draft_step_seconds: Option<f64>,
    /// The same as ratios to one token.
    pub costs: CostTable,
    /// Which drafter the draft step belongs to: "mtp", "draft" or "none".
    pub drafter: String,
}

/// Measures `loaded` (with its MTP layers when `mtp`, else with `draft`), `reps` times each.
pub(crate) fn calibrate(
    loaded: &LoadedModel,
    draft: Option<&LoadedModel>,
    mtp: bool,
    reps: usize,
) -> Result<Calibration, EngineError> {
    let reps = reps.max(1);
    let rollback = SessionKind::Speculative {
        n_draft: MAX_DRAFT + 1,
    };
    let mut session = match mtp && loaded.info.mtp_loaded {
        true => KvSession::with_kind(loaded, SessionKind::Mtp { n_draft: MAX_DRAFT })
            .or_else(|_| KvSession::with_kind(loaded, rollback))?,
        false => KvSession::with_kind(loaded, rollback)?,
    };
    let prefix = filler(loaded, DEPTH.min(loaded.info.n_ctx as usize / 2));
    session.prefill(&prefix, &[], &CancelFlag::new(), None)?;
    let probe = filler(loaded, MAX_DRAFT + 1);
    let mut batch_seconds = Vec::with_capacity(MAX_DRAFT + 1);
    for n in 1..=MAX_DRAFT + 1 {
        let mut times = Vec::with_capacity(reps);
        // One untimed round first: the first decode of a new batch shape allocates.
        for rep in 0..=reps {
            let started = Instant::now();
            session.decode_rows(&probe[..n])?;
            if rep > 0 {
                times.push(started.elapsed().as_secs_f64());
            }
            if !session.truncate(prefix.len())? {
                // Recurrent state that cannot roll back: start again from the prefix.
                session.clear();
                session.prefill(&prefix, &[], &CancelFlag::new(), None)?;
            }
        }
        batch_seconds.push(median(&mut times));
    }
    let (draft_step_seconds, drafter) = if session.mtp().is_some() {
        (Some(mtp_step(&mut session, &prefix, reps)?), "mtp")
    } else if let Some(draft) = draft.filter(|d| d.info.memory == MemoryKind::Attention) {
        (Some(draft_step(draft, &prefix, reps)?), "draft")
    } else {
        (None, "none")
    };
    let costs = CostTable::from_seconds(&batch_seconds, draft_step_seconds.unwrap_or(0.0))
        .ok_or_else(|| EngineError::Decode("decode times could not be measured".into()))?;
    Ok(Calibration {
        batch_seconds,
        draft_step_seconds,
        costs,
        drafter: drafter.to_string(),
    })
}

/// Seconds per MTP draft step: the driver drafts its full length each call.
fn mtp_step(
    session: &mut KvSession<'_>,
    prefix: &[LlamaToken],
    reps: usize,
) -> Result<f64, EngineError> {
    let mut times = Vec::with_capacity(reps);
    let last = *prefix.last().unwrap_or(&LlamaToken::new(0));
    for _ in 0..reps {
        let n_past = i32::try_from(session.tokens().len()).unwrap_or(i32::MAX);
        let driver = session
            .mtp()
            .ok_or_else(|| EngineError::MtpUnavailable("no MTP context".into()))?;
        let started = Instant::now();
        let drafted = driver
            .draft(n_past, last, &[])
            .map_err(|e| EngineError::Decode(format!("MTP draft: {e}")))?;
        let seconds = started.elapsed().as_secs_f64();
        if !drafted.is_empty() {
            times.push(seconds / drafted.len() as f64);
            driver
                .accept(0)
                .map_err(|e| EngineError::Decode(format!("MTP accept: {e}")))?;
        }
        session.drop_drafted();
    }
    if times.is_empty() {
        return Err(EngineError::Decode("the MTP layers drafted nothing".into()));
    }
    Ok(median(&mut times))
}

/// Seconds per draft-model step: one token decoded in the draft's own session.
fn draft_step(draft: &LoadedModel, prefix: &[LlamaToken], reps: usize) -> Result<f64, EngineError> {
    let mut session = KvSession::new(draft)?;
    session.prefill(prefix, &[], &CancelFlag::new(), None)?;
    let mut times = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let started = Instant::now();
        session.push(prefix[rep % prefix.len()])?;
        if rep > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
        session.truncate(prefix.len())?;
    }
    Ok(median(&mut times))
}

/// `n` ordinary tokens: text, so no control token lands in a measured batch.
fn filler(loaded: &LoadedModel, n: usize) -> Vec<LlamaToken> {
    let text =
        "fn main() { let total: u64 = (1..=10).map(|x| x * x).sum(); println!(\"{total}\"); } ";
    let mut tokens = Vec::with_capacity(n);
    while tokens.len() < n {
        let more = loaded.model.vocab().tokenize(text.as_bytes(), false, false);
        if more.is_empty() {
            tokens.push(LlamaToken::new(0));
        }
        tokens.extend(more);
    }
    tokens.truncate(n);
    tokens
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
