//! Tier 1 as a probe: the first third of the small model's layers reads the request after a
//! fixed few-shot prefix, and a linear head over the mean of its final hidden states says
//! `small` or `large`. One forward pass of the request's tokens, no generation.
//!
//! A real 135M-parameter model asked to *answer* with a lane says `large` to nearly
//! everything (the generated verdict in `classify.rs`, and the label tokens' own logits),
//! but its hidden states after reading the request separate the lanes well, a third of the
//! way up as well as at the top, for a third of the compute (`lode bench --router` measures
//! every variant). The cut model (`gguf::first_layers`) and the head, fitted on the training
//! split of the bundled labels, are stored in `<cache>/router/` keyed by the model's
//! identity, the prefix and the labels: cut and fitted once, again whenever one changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{
    CancelFlag, ContextOptions, DiskCacheConfig, Engine, EngineConfig, EngineError, FlashAttention,
    LoadOptions, ModelInfo, ReadRequest, Reading,
};
use crate::router::head::{choose_l2, sigmoid, LinearHead};
use crate::router::labels::{Labeled, Split, LABELS};
use crate::router::lane::Lane;
use crate::stats::TurnStats;

/// The few-shot prefix every request is read after (kept in the session and on disk).
pub const PREFIX: &str = include_str!("probe/prompt.md");

/// The engine session the probe reads in.
pub const SESSION: &str = "router-probe";

/// The most of a request the probe reads, in characters: the lane shows in its first lines,
/// and a pasted log must not make routing slow.
pub const MAX_REQUEST_CHARS: usize = 400;

/// Folds of the cross-validation that chooses the head's regularisation.
const FOLDS: usize = 5;

/// Bumped whenever what a stored head means changes (features, text layout, fitting).
const FORMAT: u32 = 1;

/// Which hidden states the head reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Features {
    /// The last position's (after `Lane:`): what the model would answer from.
    Last,
    /// The mean over the request's tokens.
    Mean,
    /// Both, side by side.
    Both,
}

impl Features {
    pub const ALL: [Self; 3] = [Self::Last, Self::Mean, Self::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Mean => "mean",
            Self::Both => "both",
        }
    }

    /// The feature vector of `reading`.
    pub fn of(self, reading: &Reading) -> Vec<f32> {
        match self {
            Self::Last => reading.last.clone(),
            Self::Mean => reading.mean.clone(),
            Self::Both => [reading.last.as_slice(), reading.mean.as_slice()].concat(),
        }
    }
}

/// What the product's probe reads: the mean, which was the most accurate at the probe's
/// depth on SmolLM2 (`lode bench --router` shows all three).
pub const FEATURES: Features = Features::Mean;

/// How the text after the prefix ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    /// With `Lane:`, as the examples go on: the last position is where the model would name
    /// the lane (what the label tokens and the last hidden state read).
    Lane,
    /// The request alone: the mean over its tokens needs no cue, and each token saved is
    /// latency saved.
    None,
}

/// The cue lode's probe reads with: [`FEATURES`] is the mean.
pub const CUE: Cue = Cue::None;

/// The text read after the prefix for `request`: one line, at most [`MAX_REQUEST_CHARS`].
pub fn request_text(request: &str, cue: Cue) -> String {
    let line: String = request.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = line
        .char_indices()
        .nth(MAX_REQUEST_CHARS)
        .map_or(line.len(), |(i, _)| i);
    match cue {
        Cue::Lane => format!("Request: {}\nLane:", &line[..cut]),
        Cue::None => format!("Request: {}", &line[..cut]),
    }
}

/// Reads `request` with the small model: hidden states and the two label tokens' logits
/// (` small`, ` large`, for comparison with the head).
pub fn read(
    engine: &Engine,
    labels: &LabelTokens,
    request: &str,
    cue: Cue,
    cancel: &CancelFlag,
) -> Result<Reading, EngineError> {
    engine.blocking_read(
        ReadRequest {
            prefix: PREFIX.to_string(),
            text: request_text(request, cue),
            session: SESSION.to_string(),
            disk_cache: true,
            logits_of: vec![labels.small, labels.large],
        },
        cancel.clone(),
    )
}

/// The first token of each lane's name as the prefix writes it after `Lane:`.
#[derive(Clone, Copy, Debug)]
pub struct LabelTokens {
    pub small: i32,
    pub large: i32,
}

impl LabelTokens {
    pub fn of(engine: &Engine) -> Result<Self, EngineError> {
        let first = |word: &str| -> Result<i32, EngineError> {
            engine
                .blocking_tokenize(word)?
                .first()
                .copied()
                .ok_or(EngineError::EmptyPrompt)
        };
        Ok(Self {
            small: first(" small")?,
            large: first(" large")?,
        })
    }
}

/// A fitted head as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredHead {
    pub format: u32,
    /// What it was fitted for: the model identity, the prefix, the labels, the features.
    pub key: String,
    pub features: Features,
    /// Training lines it was fitted on.
    pub trained_on: usize,
    /// Out-of-fold accuracy on the training lines, at the chosen regularisation and
    /// threshold.
    pub cross_validated: f64,
    /// The logit above which a request goes to `small` (see [`cautious_threshold`]).
    pub threshold: f64,
    pub head: LinearHead,
}

/// The key a head is stored under: it changes with the model, the prefix, the labels, the
/// features or the format.
pub fn head_key(identity: &str, features: Features) -> String {
    let mut hasher = blake3::Hasher::new();
    let cue = format!("{CUE:?}");
    for part in [identity, PREFIX, LABELS, features.as_str(), &cue] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher.update(&FORMAT.to_le_bytes());
    hasher.finalize().to_hex()[..32].to_string()
}

/// Where the head for `key` lives under `dir` (`<cache>/router`).
pub fn head_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("probe-{key}.json"))
}

/// Why a probe could not classify.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the router model failed: {0}")]
    Engine(EngineError),
    #[error("the router's label set: {0}")]
    Labels(#[from] crate::router::labels::LabelError),
    #[error("the label set gives nothing to fit (no training lines of one lane)")]
    NothingToFit,
    #[error("classification was cancelled")]
    Cancelled,
}

/// A cancelled read is a cancelled classification, wherever the probe reads.
impl From<EngineError> for ProbeError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Cancelled => Self::Cancelled,
            other => Self::Engine(other),
        }
    }
}

/// The small model as the probe needs it: its engine (which the small lane uses too) and
/// what it takes to open its first layers beside it.
#[derive(Clone)]
pub struct ProbeModel {
    /// The small model's engine; read with when its first layers cannot be cut out.
    pub full: Engine,
    pub info: ModelInfo,
    pub gpu_layers: Option<u32>,
    pub threads: u32,
    pub flash_attention: FlashAttention,
    pub disk_cache: Option<DiskCacheConfig>,
}

/// Context of the cut model's engine: the prefix (a few hundred tokens) and one request of
/// at most [`MAX_REQUEST_CHARS`].
const PROBE_CTX: u32 = 2048;

/// How many blocks the probe reads of a model with `blocks`: the first third, where the
/// lanes separate as well as at the top (SmolLM2-135M: 0.901 held-out accuracy at 10 of 30
/// blocks, 0.89 at all 30) for a third of the compute.
pub fn probe_depth(blocks: u32) -> u32 {
    blocks.div_ceil(3).max(1)
}

/// The probe: reads requests with the small model's first layers and applies its head,
/// which it loads or fits on first use. Cheap to clone; clones share the head.
#[derive(Clone)]
pub struct Probe {
    inner: Arc<Inner>,
}

struct Inner {
    model: ProbeModel,
    /// Where heads and cut models are kept (`<cache>/router`); `None` fits one each process
    /// and reads with the whole model.
    dir: Option<PathBuf>,
    ready: Mutex<Option<Arc<Ready>>>,
}

/// A head ready to use, with the engine it reads with.
struct Ready {
    engine: Engine,
    tokens: LabelTokens,
    stored: StoredHead,
}

/// What fitting a head took: training lines read, and milliseconds.
pub type Fitting = (usize, f64);

/// A probe's verdict on one request.
#[derive(Clone, Debug)]
pub struct ProbeVerdict {
    pub lane: Lane,
    /// The head's logit less its threshold: above 0 is `small`.
    pub logit: f64,
    /// The head's probability for the lane it chose.
    pub confidence: f32,
    pub stats: TurnStats,
    /// Set when this call had to fit the head first.
    pub fitted: Option<Fitting>,
}

impl Probe {
    /// The probe for `model`; heads and the cut model are kept under `dir`.
    pub fn new(model: ProbeModel, dir: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                model,
                dir,
                ready: Mutex::new(None),
            }),
        }
    }

    /// The lane for `request`. Blocking; the first call of a process opens the cut model
    /// and loads its stored head, or fits one on the bundled labels' training lines (a few
    /// seconds, once per model and label set) and stores it.
    pub fn classify(&self, request: &str, cancel: &CancelFlag) -> Result<ProbeVerdict, ProbeError> {
        let (ready, fitted) = self.ready(cancel)?;
        let reading = read(&ready.engine, &ready.tokens, request, CUE, cancel)?;
        let stored = &ready.stored;
        let logit = stored.head.logit(&stored.features.of(&reading)) - stored.threshold;
        let small = logit > 0.0;
        let p_small = sigmoid(logit);
        #[allow(clippy::cast_possible_truncation)]
        let confidence = if small { p_small } else { 1.0 - p_small } as f32;
        Ok(ProbeVerdict {
            lane: if small { Lane::Small } else { Lane::Large },
            logit,
            confidence,
            stats: reading.stats,
            fitted,
        })
    }

    fn ready(&self, cancel: &CancelFlag) -> Result<(Arc<Ready>, Option<Fitting>), ProbeError> {
        let mut slot = self
            .inner
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ready) = slot.as_ref() {
            return Ok((ready.clone(), None));
        }
        let started = Instant::now();
        let dir = self.inner.dir.as_deref();
        let (engine, identity) = reading_engine(&self.inner.model, dir);
        let tokens = LabelTokens::of(&engine)?;
        let key = head_key(&identity, FEATURES);
        let (stored, fitted) = match dir.and_then(|dir| load(&head_path(dir, &key), &key)) {
            Some(stored) => (stored, None),
            None => {
                let labels = crate::router::labels::bundled()?;
                let stored = fit(&engine, &tokens, &labels, FEATURES, key, cancel)?;
                if let Some(dir) = dir {
                    // A head that is not stored is fitted again next time: slower, never
                    // wrong.
                    let _ = store(&head_path(dir, &stored.key), &stored);
                }
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                (stored.clone(), Some((stored.trained_on, ms)))
            }
        };
        let ready = Arc::new(Ready {
            engine,
            tokens,
            stored,
        });
        *slot = Some(ready.clone());
        Ok((ready, fitted))
    }
}

/// The engine the probe reads with, and the identity its head is keyed by: the model's
/// first [`probe_depth`] blocks, cut into `dir` once and loaded in an engine of their own;
/// the whole small model when they cannot be (no `dir`, an architecture that cannot be cut,
/// a full disk).
pub fn reading_engine(model: &ProbeModel, dir: Option<&Path>) -> (Engine, String) {
    let whole = (model.full.clone(), format!("{}-all", model.info.identity));
    let Some(dir) = dir else {
        return whole;
    };
    match open_cut(model, dir) {
        Ok(opened) => opened,
        Err(_) => whole,
    }
}

/// Cuts (once) and loads the first layers of `model`.
pub fn open_cut(model: &ProbeModel, dir: &Path) -> Result<(Engine, String), String> {
    let depth = probe_depth(model.info.n_layer);
    if depth >= model.info.n_layer {
        return Err(format!("`{}` has too few layers to cut", model.info.name));
    }
    let path = dir.join(format!("{}-first{depth}.gguf", model.info.identity));
    if !path.is_file() {
        crate::gguf::first_layers(&model.info.path, &path, u64::from(depth))
            .map_err(|e| e.to_string())?;
    }
    let engine = Engine::spawn(EngineConfig {
        disk_cache: model.disk_cache.clone(),
        max_sessions: Some(1),
    })
    .map_err(|e| e.to_string())?;
    let options = |n_ctx| LoadOptions {
        gpu_layers: model.gpu_layers,
        context: ContextOptions {
            n_ctx: Some(n_ctx),
            threads: model.threads,
            threads_batch: model.threads,
            flash_attention: match model.flash_attention {
                // Measuring costs more than a read saves; reads are short.
                FlashAttention::Auto => FlashAttention::Off,
                chosen => chosen,
            },
            ..ContextOptions::default()
        },
        ..LoadOptions::new(&path)
    };
    let info = engine
        .blocking_load_at_most(PROBE_CTX, options)
        .map_err(|e| {
            // A cut file llama.cpp refuses is not kept to be refused again.
            let _ = std::fs::remove_file(&path);
            e.to_string()
        })?;
    Ok((engine, info.identity))
}

/// Reads every training line and fits a head on `features`, its regularisation chosen by
/// cross-validation on those lines.
pub fn fit(
    engine: &Engine,
    tokens: &LabelTokens,
    labels: &[Labeled],
    features: Features,
    key: String,
    cancel: &CancelFlag,
) -> Result<StoredHead, ProbeError> {
    let train: Vec<&Labeled> = labels.iter().filter(|l| l.split == Split::Train).collect();
    let mut xs = Vec::with_capacity(train.len());
    for label in &train {
        xs.push(features.of(&read(engine, tokens, &label.request, CUE, cancel)?));
        if cancel.is_cancelled() {
            return Err(ProbeError::Cancelled);
        }
    }
    let ys: Vec<bool> = train
        .iter()
        .map(|l| l.model_lane() == Lane::Small)
        .collect();
    fit_vectors(&xs, &ys, features, key).ok_or(ProbeError::NothingToFit)
}

/// Fits a head on feature vectors already read: the regularisation and the threshold are
/// chosen on out-of-fold logits of these same lines, never on held-out ones.
pub fn fit_vectors(
    xs: &[Vec<f32>],
    ys: &[bool],
    features: Features,
    key: String,
) -> Option<StoredHead> {
    let (l2, logits) = choose_l2(xs, ys, FOLDS)?;
    let threshold = cautious_threshold(&logits, ys, MAX_LARGE_TO_SMALL);
    let right = logits
        .iter()
        .zip(ys)
        .filter(|(&logit, &y)| (logit > threshold) == y)
        .count();
    let head = LinearHead::fit(xs, ys, l2)?;
    #[allow(clippy::cast_precision_loss)]
    Some(StoredHead {
        format: FORMAT,
        key,
        features,
        trained_on: xs.len(),
        cross_validated: right as f64 / xs.len() as f64,
        threshold,
        head,
    })
}

/// The share of `large` training lines a head may send to `small`, out of fold. Sending a
/// large task to the small model costs a failed attempt and an escalation; the reverse costs
/// only speed — so the threshold gives up some small recall to keep this low.
pub const MAX_LARGE_TO_SMALL: f64 = 0.05;

/// The logit threshold (small above it) right on the most lines among those that send at
/// most `max_large_to_small` of the negatives to small; ties go to the one nearest 0.
pub fn cautious_threshold(logits: &[f64], positive: &[bool], max_large_to_small: f64) -> f64 {
    let mut sorted: Vec<f64> = logits.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut candidates = vec![0.0, sorted.last().map_or(0.0, |s| s + 1.0)];
    candidates.extend(sorted.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    let negatives = positive.iter().filter(|&&p| !p).count().max(1);
    #[allow(clippy::cast_precision_loss)]
    let judge = |t: f64| {
        let mut right = 0;
        let mut false_small = 0;
        for (&logit, &p) in logits.iter().zip(positive) {
            let small = logit > t;
            right += usize::from(small == p);
            false_small += usize::from(small && !p);
        }
        (right, false_small as f64 / negatives as f64)
    };
    candidates
        .into_iter()
        .filter(|&t| judge(t).1 <= max_large_to_small)
        .max_by(|&a, &b| {
            judge(a)
                .0
                .cmp(&judge(b).0)
                .then_with(|| b.abs().total_cmp(&a.abs()))
        })
        .unwrap_or(0.0)
}

fn load(path: &Path, key: &str) -> Option<StoredHead> {
    let text = std::fs::read_to_string(path).ok()?;
    let stored: StoredHead = serde_json::from_str(&text).ok()?;
    // A file edited by hand, or from another version, is fitted again rather than trusted.
    (stored.format == FORMAT
        && stored.key == key
        && stored.head.is_consistent()
        && stored.threshold.is_finite())
    .then_some(stored)
}

fn store(path: &Path, stored: &StoredHead) -> std::io::Result<()> {
    let text = serde_json::to_string(stored).map_err(std::io::Error::other)?;
    crate::files::write_whole(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_read_as_one_line_cut_at_a_character() {
        assert_eq!(
            request_text("fix\n  the\ttypo ", Cue::Lane),
            "Request: fix the typo\nLane:"
        );
        assert_eq!(
            request_text("fix the typo", Cue::None),
            "Request: fix the typo"
        );
        let long = "é".repeat(MAX_REQUEST_CHARS + 50);
        let text = request_text(&long, Cue::None);
        assert_eq!(
            text.chars().filter(|&c| c == 'é').count(),
            MAX_REQUEST_CHARS
        );
    }

    #[test]
    fn the_threshold_keeps_large_lines_off_the_small_lane() {
        // Logits of 10 small lines (true) and 10 large lines (false), overlapping at 0..2.
        let logits: Vec<f64> = (0..10)
            .map(f64::from)
            .chain((0..10).map(|i| f64::from(i) - 7.0))
            .collect();
        let positive: Vec<bool> = (0..20).map(|i| i < 10).collect();
        let t = cautious_threshold(&logits, &positive, 0.05);
        let false_small = logits[10..].iter().filter(|&&l| l > t).count();
        assert_eq!(false_small, 0, "threshold {t}");
        // Allowing more, it takes more small lines.
        let loose = cautious_threshold(&logits, &positive, 0.2);
        assert!(loose < t, "{loose} {t}");
    }

    #[test]
    fn a_head_key_changes_with_the_model_and_the_features() {
        let a = head_key("model-a", Features::Mean);
        assert_eq!(a, head_key("model-a", Features::Mean));
        assert_ne!(a, head_key("model-b", Features::Mean));
        assert_ne!(a, head_key("model-a", Features::Last));
    }

    #[test]
    fn the_probe_reads_a_third_of_the_layers() {
        assert_eq!(probe_depth(30), 10);
        assert_eq!(probe_depth(18), 6);
        assert_eq!(probe_depth(2), 1);
        assert_eq!(probe_depth(1), 1);
    }
}
