//! How many tokens to draft per speculative round, decided online.
//!
//! A round drafts k tokens and verifies them with the pending token in one target batch of
//! k+1; it yields the agreeing prefix plus one token of the target's own. Whether that beats
//! plain decoding depends on the machine (a CPU pays nearly linearly for batch size, a GPU
//! barely) and on how often the drafter agrees with the target, which changes with the
//! text. So this module keeps a per-position acceptance estimate and a cost table, refines
//! both from what each round reports, and picks the k with the best expected speedup —
//! including none at all, with occasional cheap probes in case the text turns predictable.
//!
//! Pure arithmetic: the engine owns the drafter, the batches and the clock.

use serde::{Deserialize, Serialize};

/// Most tokens one round may draft. MTP heads and draft models rarely earn more than a few
/// per round; a copy found by n-gram lookup earns this many.
pub const MAX_DRAFT: usize = 32;

/// Decay applied to all acceptance evidence once per recorded round, so the estimate
/// follows the text rather than the whole session (about 33 rounds of memory).
const DECAY: f64 = 0.97;
/// Acceptance assumed for the first position before any evidence, and the weight (in
/// trials) of every position's prior.
const PRIOR_RATE: f64 = 0.5;
const PRIOR_WEIGHT: f64 = 2.0;
/// Each deeper position's prior is the estimate of the one before it, slightly worse:
/// optimistic enough that k can grow once the lower positions prove themselves.
const UNTRIED_FALLOFF: f64 = 0.95;
/// A certain acceptance would make E(k) grow without bound in the arithmetic; keep doubt.
const MAX_RATE: f64 = 0.999;
/// Expected speedups to turn speculation on, and to keep it on.
const TURN_ON: f64 = 1.02;
const STAY_ON: f64 = 1.0;
/// Plain tokens between probes while off; doubled per rejected probe.
const MIN_PROBE_GAP: usize = 16;
const MAX_PROBE_GAP: usize = 512;
/// Weight of a new timing sample: smooths scheduler noise, still follows a warming cache.
const EMA_ALPHA: f64 = 0.2;
/// Timing samples a batch size needs before its measured ratio replaces the prior.
const MIN_SAMPLES: u32 = 3;
/// Whole-round samples a draft length needs before its measured time replaces the estimate.
const ROUND_SAMPLES: u32 = 3;
/// While on, one plain round in this many keeps the plain speed it is judged against fresh
/// (it drifts as the context grows).
const PLAIN_REFRESH: usize = 32;

/// What a decode costs on this machine, relative to one single-token target decode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// `verify[n - 1]` = cost of one target decode of a batch of n tokens, n = 1..=MAX_DRAFT+1
    /// (so `verify[0]` is 1.0 by definition). Length MAX_DRAFT + 1.
    pub verify: Vec<f64>,
    /// Cost of one draft step (one drafted token) relative to one target decode.
    pub draft_step: f64,
}

impl CostTable {
    /// Prior for CPU backends (from measurements on a 2-core machine): verify of n tokens
    /// = 1.0, 1.5, 1.9, 2.25, 2.55, 2.85, 3.1, 3.4, 3.7 for n = 1..=9, then 0.3 more per
    /// token; draft_step 0.1.
    pub fn cpu_prior() -> Self {
        let mut verify = vec![1.0, 1.5, 1.9, 2.25, 2.55, 2.85, 3.1, 3.4, 3.7];
        while verify.len() < MAX_DRAFT + 1 {
            let last = verify[verify.len() - 1];
            verify.push(last + 0.3);
        }
        CostTable {
            verify,
            draft_step: 0.1,
        }
    }

    /// Prior for GPU backends: 1.0 + 0.04·(n−1) for n = 1..=9; draft_step 0.1.
    pub fn gpu_prior() -> Self {
        let verify = std::iter::successors(Some(1.0), |cost| Some(cost + 0.04));
        CostTable {
            verify: verify.take(MAX_DRAFT + 1).collect(),
            draft_step: 0.1,
        }
    }

    /// Builds a table from measured seconds per batch size: `seconds[n-1]` = median time of a
    /// batch of n tokens; missing sizes (fewer than MAX_DRAFT+1 entries) are extrapolated
    /// linearly from the last two measured ones (held flat when only one was measured), and
    /// the result is made non-decreasing. `draft_seconds` = time of one draft step. Returns
    /// None if seconds is empty, `seconds[0]` is not > 0 / not finite, or `draft_seconds` is
    /// negative or not finite. Entries after the first unusable one count as missing.
    pub fn from_seconds(seconds: &[f64], draft_seconds: f64) -> Option<Self> {
        let base = *seconds.first()?;
        let draft_valid = draft_seconds.is_finite() && draft_seconds >= 0.0;
        if !usable(base) || !draft_valid {
            return None;
        }
        let mut verify: Vec<f64> = seconds
            .iter()
            .take(MAX_DRAFT + 1)
            .take_while(|&&s| usable(s))
            .map(|s| s / base)
            .collect();
        while verify.len() < MAX_DRAFT + 1 {
            let next = match verify[..] {
                [.., a, b] => b + (b - a),
                [.., b] => b,
                [] => 1.0,
            };
            verify.push(next);
        }
        let mut table = CostTable {
            verify,
            draft_step: draft_seconds / base,
        };
        table.settle();
        Some(table)
    }

    /// Cost of a round drafting k tokens: verify of k+1 tokens plus `draft_steps` draft steps
    /// (draft_steps is usually k; an MTP drafter may always run a fixed number of steps).
    #[allow(clippy::cast_precision_loss)]
    pub fn round(&self, k: usize, draft_steps: usize) -> f64 {
        // A hand-built or saved table may be short (saved ones measured up to 9 tokens):
        // beyond it, batches grow by the last step measured.
        let verify = match (self.verify.get(k), &self.verify[..]) {
            (Some(cost), _) => *cost,
            (None, [.., a, b]) => b + (b - a).max(0.0) * (k + 1 - self.verify.len()) as f64,
            (None, [b]) => *b,
            (None, []) => 1.0,
        };
        verify + draft_steps as f64 * self.draft_step
    }

    /// A batch never costs less than one token, nor less than a smaller batch: a noisy
    /// measurement saying otherwise would make the policy draft for free.
    fn settle(&mut self) {
        let mut floor = 1.0;
        for (i, cost) in self.verify.iter_mut().enumerate() {
            *cost = if i == 0 { 1.0 } else { cost.max(floor) };
            floor = *cost;
        }
    }
}

/// How the draft length is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DraftLength {
    /// Always draft this many tokens (1..=MAX_DRAFT).
    Fixed { n: u32 },
    /// Choose 0..=max each round from measured acceptance and costs.
    Adaptive { max: u32 },
}

impl DraftLength {
    /// The most tokens a round may draft (clamped to [`MAX_DRAFT`]).
    pub fn max(self) -> usize {
        let (DraftLength::Fixed { n } | DraftLength::Adaptive { max: n }) = self;
        usize::try_from(n).map_or(MAX_DRAFT, |n| n.min(MAX_DRAFT))
    }
}

/// Per draft position, decayed evidence that the drafter's token there is accepted given
/// that every earlier one was.
///
/// The prior is not decayed with the evidence: a position the policy stops reaching (because
/// k shrank) drifts back towards the guess made from the positions below it instead of
/// staying frozen at whatever it last saw, so an unlucky streak cannot shut k down for good.
#[derive(Clone, Debug)]
struct Acceptance {
    hits: [f64; MAX_DRAFT],
    trials: [f64; MAX_DRAFT],
    /// Acceptance assumed for the first position before any evidence.
    prior: f64,
}

impl Default for Acceptance {
    fn default() -> Self {
        Self {
            hits: [0.0; MAX_DRAFT],
            trials: [0.0; MAX_DRAFT],
            prior: PRIOR_RATE,
        }
    }
}

impl Acceptance {
    fn record(&mut self, proposed: usize, accepted: usize) {
        // Position accepted+1 was tried and failed; positions past it were never reached.
        let tried = (accepted + 1).min(proposed);
        for i in 0..MAX_DRAFT {
            self.hits[i] *= DECAY;
            self.trials[i] *= DECAY;
            if i < tried {
                self.trials[i] += 1.0;
            }
            if i < accepted {
                self.hits[i] += 1.0;
            }
        }
    }

    /// Conditional acceptance a_i for positions 1..=MAX_DRAFT (index i−1).
    fn rates(&self) -> [f64; MAX_DRAFT] {
        let mut rates = [0.0; MAX_DRAFT];
        let mut guess = self.prior;
        for (rate, (hits, trials)) in rates.iter_mut().zip(self.hits.iter().zip(&self.trials)) {
            *rate = ((hits + PRIOR_WEIGHT * guess) / (trials + PRIOR_WEIGHT)).clamp(0.0, MAX_RATE);
            guess = *rate * UNTRIED_FALLOFF;
        }
        rates
    }
}

/// Smoothed wall times, turned into a cost table once enough samples exist.
#[derive(Clone, Debug)]
struct Timings {
    /// Index n−1: seconds for a target batch of n tokens.
    target: [Ema; MAX_DRAFT + 1],
    /// Seconds per draft step.
    draft: Ema,
}

#[derive(Clone, Copy, Debug, Default)]
struct Ema {
    seconds: f64,
    samples: u32,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            target: [Ema::default(); MAX_DRAFT + 1],
            draft: Ema::default(),
        }
    }
}

impl Ema {
    fn add(&mut self, seconds: f64) {
        self.seconds = if self.samples == 0 {
            seconds
        } else {
            self.seconds + EMA_ALPHA * (seconds - self.seconds)
        };
        self.samples = self.samples.saturating_add(1);
    }

    /// The smoothed time, once enough samples back it.
    fn trusted(&self) -> Option<f64> {
        self.backed_by(MIN_SAMPLES)
    }

    fn backed_by(&self, samples: u32) -> Option<f64> {
        (self.samples >= samples).then_some(self.seconds)
    }
}

impl Timings {
    /// The prior with every entry that has a trustworthy measurement replaced. Everything is
    /// relative to a single-token decode, so without that nothing can be replaced.
    fn table(&self, prior: &CostTable) -> CostTable {
        let mut table = prior.clone();
        let Some(one) = self.target[0].trusted() else {
            return table;
        };
        for (cost, ema) in table.verify.iter_mut().zip(&self.target).skip(1) {
            if let Some(seconds) = ema.trusted() {
                *cost = seconds / one;
            }
        }
        if let Some(seconds) = self.draft.trusted() {
            table.draft_step = seconds / one;
        }
        table.settle();
        table
    }
}

/// Where the draft length comes from, with `DraftLength`'s numbers already in range.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Fixed(usize),
    Adaptive(usize),
}

/// The online policy.
#[derive(Clone, Debug)]
pub struct SpecPolicy {
    mode: Mode,
    prior: CostTable,
    costs: CostTable,
    timings: Timings,
    acceptance: Acceptance,
    fixed_draft_steps: Option<usize>,
    /// Wall time of whole rounds — index 0 a plain token, index k a round drafting k —
    /// which includes what the cost table leaves out: sampling every row, trimming, the
    /// bookkeeping between decodes. On a small model that is most of the cost.
    rounds: [Ema; MAX_DRAFT + 1],
    /// Measured round time over the cost table's estimate of it, for lengths not measured.
    overhead: Ema,
    rounds_since_plain: usize,
    /// Whether the last round of this generation drafted (`None` at its start). A round of
    /// another kind than the one before it pays for llama.cpp rebuilding its compute graph
    /// for the new batch shape, so it says little about steady-state speed.
    last_drafted: Option<bool>,
    /// The last recorded round was an agreeing probe whose clock time is still to come, and
    /// the probe gap to go back to if that time says speculation still does not pay.
    probe_timed: Option<usize>,
    /// Adaptive only; changes in `update_state`.
    on: bool,
    probe_gap: usize,
    plain_since_probe: usize,
    /// The last k handed out was a probe, so its result moves `probe_gap`.
    probing: bool,
    /// Every round's time counts, switches between plain and drafted rounds included: for a
    /// drafter whose proposals come and go with the text, switching is the steady state.
    switches_count: bool,
    proposed: u64,
    accepted: u64,
}

impl SpecPolicy {
    /// Lengths above MAX_DRAFT are clamped to it; a length of 0 never drafts.
    pub fn new(length: DraftLength, costs: CostTable) -> Self {
        let clamp = |n: u32| usize::try_from(n).map_or(MAX_DRAFT, |n| n.min(MAX_DRAFT));
        let mode = match length {
            DraftLength::Fixed { n } => Mode::Fixed(clamp(n)),
            DraftLength::Adaptive { max } => Mode::Adaptive(clamp(max)),
        };
        let mut policy = SpecPolicy {
            mode,
            prior: costs.clone(),
            costs,
            timings: Timings::default(),
            acceptance: Acceptance::default(),
            fixed_draft_steps: None,
            rounds: [Ema::default(); MAX_DRAFT + 1],
            overhead: Ema::default(),
            rounds_since_plain: 0,
            probe_timed: None,
            last_drafted: None,
            on: false,
            probe_gap: MIN_PROBE_GAP,
            // The first round probes: the prior alone never turns a CPU policy on, and one
            // look costs little next to a generation that could be twice as fast.
            plain_since_probe: MIN_PROBE_GAP,
            probing: false,
            switches_count: false,
            proposed: 0,
            accepted: 0,
        };
        policy.update_state();
        policy
    }

    /// Draft steps the drafter runs for a round of k drafted tokens. Default: k. With
    /// `with_fixed_draft_steps(s)` every non-zero round costs s draft steps (MTP drafters draft
    /// their full length even when fewer tokens are used).
    pub fn with_fixed_draft_steps(mut self, steps: usize) -> Self {
        self.fixed_draft_steps = Some(steps);
        self.update_state();
        self
    }

    /// For a drafter that proposes only when it has reason to (an n-gram match): its
    /// proposals start out trusted at `rate` for the first position, so the policy drafts
    /// from the first match instead of probing its way up; evidence takes over from there.
    pub fn with_prior_acceptance(mut self, rate: f64) -> Self {
        self.acceptance.prior = rate.clamp(0.0, MAX_RATE);
        self.switches_count = true;
        self.update_state();
        self
    }

    /// How many tokens to draft this round. 0 = decode one token plainly this round.
    /// `limit` caps it (tokens left in the budget / context); never returns more than limit.
    ///
    /// On/off is judged when results and timings are recorded, on the uncapped best, so the
    /// short rounds at the end of a budget do not switch speculation off and reset probing.
    pub fn next_k(&mut self, limit: usize) -> usize {
        let max = match self.mode {
            Mode::Fixed(n) => return n.min(limit),
            Mode::Adaptive(max) => max,
        };
        if limit == 0 || max == 0 || self.measuring_plain() {
            return 0;
        }
        if self.on {
            let (k, speedup) = self.best_within(max.min(limit));
            return if speedup >= STAY_ON { k } else { 0 };
        }
        if self.plain_since_probe >= self.probe_gap {
            self.plain_since_probe = 0;
            self.probing = true;
            return 1;
        }
        0
    }

    /// A new generation starts: its first round follows a prefill, not a round.
    pub fn begin_generation(&mut self) {
        self.last_drafted = None;
    }

    /// Whether `next_k` may hand out a non-zero length within the next two rounds: the
    /// policy is on, fixed, or a probe is due. A drafter that keeps per-token state can skip
    /// it until then (and must, while plain speed is measured: the measurement is of plain
    /// decoding).
    pub fn may_draft_soon(&self) -> bool {
        match self.mode {
            Mode::Fixed(n) => n > 0,
            Mode::Adaptive(_) if self.measuring_plain() => false,
            Mode::Adaptive(max) => {
                max > 0 && (self.on || self.plain_since_probe + 1 >= self.probe_gap)
            }
        }
    }

    /// Whether the next round is a plain one that measures plain speed: at the start, and
    /// now and then while on.
    fn measuring_plain(&self) -> bool {
        matches!(self.mode, Mode::Adaptive(_))
            && (self.rounds[0].samples < ROUND_SAMPLES
                || (self.on && self.rounds_since_plain >= PLAIN_REFRESH))
    }

    /// Measured wall time of one whole round that drafted `k` tokens (0: a plain token),
    /// from the proposal to the trimmed memory.
    pub fn record_round_time(&mut self, k: usize, seconds: f64) {
        if !usable(seconds) || k > MAX_DRAFT {
            return;
        }
        let steady = self.last_drafted.replace(k > 0) == Some(k > 0) || self.switches_count;
        // A probe always follows plain rounds; its time, graph rebuild included, is what
        // speculating now and then would cost, so it counts (erring towards off).
        if !steady && self.probe_timed.is_none() {
            if k > 0 {
                self.rounds_since_plain += 1;
            }
            return;
        }
        self.rounds[k].add(seconds);
        let probe_gap = self.probe_timed.take().filter(|_| k > 0);
        if k == 0 {
            self.rounds_since_plain = 0;
        } else {
            self.rounds_since_plain += 1;
            if let Some(plain) = self.rounds[0].backed_by(ROUND_SAMPLES) {
                let estimate = plain * self.costs.round(k, self.draft_steps(k));
                self.overhead.add(seconds / estimate);
            }
        }
        self.update_state();
        if let Some(gap) = probe_gap.filter(|_| !self.on && self.ceiling() < TURN_ON) {
            // The drafter agreed, yet the clock says even perfect agreement would not pay:
            // more evidence cannot help, so look less often.
            self.probe_gap = gap;
        }
    }

    /// The best speedup any length could give if every proposal held.
    #[allow(clippy::cast_precision_loss)]
    fn ceiling(&self) -> f64 {
        let max = match self.mode {
            Mode::Fixed(n) | Mode::Adaptive(n) => n.min(MAX_DRAFT),
        };
        (1..=max)
            .map(|k| (k + 1) as f64 / self.round_cost(k))
            .fold(0.0, f64::max)
    }

    fn draft_steps(&self, k: usize) -> usize {
        self.fixed_draft_steps.unwrap_or(k)
    }

    /// A round of k in units of one plain token: measured when both are, else the cost
    /// table scaled by the overhead measured on other lengths.
    fn round_cost(&self, k: usize) -> f64 {
        let plain = self.rounds[0].backed_by(ROUND_SAMPLES);
        match (plain, self.rounds[k].backed_by(ROUND_SAMPLES)) {
            (Some(plain), Some(round)) => round / plain,
            _ => {
                let overhead = self.overhead.backed_by(1).unwrap_or(1.0).max(1.0);
                self.costs.round(k, self.draft_steps(k)) * overhead
            }
        }
    }

    /// Result of a round that drafted `proposed` tokens, of which the first `accepted` matched.
    pub fn record_round(&mut self, proposed: usize, accepted: usize) {
        if proposed == 0 {
            return;
        }
        let accepted = accepted.min(proposed);
        self.acceptance.record(proposed, accepted);
        self.proposed = self.proposed.saturating_add(to_u64(proposed));
        self.accepted = self.accepted.saturating_add(to_u64(accepted));
        if std::mem::take(&mut self.probing) {
            self.probe_timed = (accepted > 0).then(|| (self.probe_gap * 2).min(MAX_PROBE_GAP));
            // A hit says the text may have turned predictable: look again soon rather than
            // wait out a long gap built up by earlier misses.
            self.probe_gap = if accepted == 0 {
                (self.probe_gap * 2).min(MAX_PROBE_GAP)
            } else {
                MIN_PROBE_GAP
            };
        }
        self.update_state();
    }

    /// Tokens decoded plainly (rounds where next_k returned 0), for probe scheduling.
    pub fn record_plain(&mut self, tokens: usize) {
        self.plain_since_probe = self.plain_since_probe.saturating_add(tokens);
    }

    /// Measured wall time of one target decode of `batch` tokens (batch = 1 for plain steps,
    /// k+1 for verifies). Refines the cost table online.
    pub fn record_target_time(&mut self, batch: usize, seconds: f64) {
        let Some(ema) = batch
            .checked_sub(1)
            .and_then(|i| self.timings.target.get_mut(i))
        else {
            return;
        };
        if usable(seconds) {
            ema.add(seconds);
            self.costs = self.timings.table(&self.prior);
            self.update_state();
        }
    }

    /// Measured wall time of `steps` draft steps.
    #[allow(clippy::cast_precision_loss)]
    pub fn record_draft_time(&mut self, steps: usize, seconds: f64) {
        if steps > 0 && usable(seconds) {
            self.timings.draft.add(seconds / steps as f64);
            self.costs = self.timings.table(&self.prior);
            self.update_state();
        }
    }

    /// Expected speedup over plain decoding of drafting k tokens per round, from current
    /// estimates: E(k) / cost(k) where E(k) = 1 + Σ_{j=1..k} Π_{i=1..j} a_i  and cost(k) as
    /// CostTable::round. k = 0 gives 1.0; k is capped at MAX_DRAFT.
    pub fn expected_speedup(&self, k: usize) -> f64 {
        let k = k.min(MAX_DRAFT);
        if k == 0 {
            return 1.0;
        }
        let (mut expected, mut reach) = (1.0, 1.0);
        for rate in &self.acceptance.rates()[..k] {
            reach *= rate;
            expected += reach;
        }
        expected / self.round_cost(k)
    }

    /// The best k by expected_speedup within 1..=max (or the fixed n), and its speedup.
    pub fn best(&self) -> (usize, f64) {
        match self.mode {
            Mode::Fixed(n) => (n, self.expected_speedup(n)),
            Mode::Adaptive(max) => self.best_within(max),
        }
    }

    /// Whether the policy currently considers speculation off (adaptive only; fixed: false).
    pub fn is_off(&self) -> bool {
        matches!(self.mode, Mode::Adaptive(_)) && !self.on
    }

    /// Acceptance so far over all rounds: (proposed, accepted) totals.
    pub fn totals(&self) -> (u64, u64) {
        (self.proposed, self.accepted)
    }

    /// One line for stats, e.g. "adaptive k=3 (acceptance 82%, est 1.41x)" or
    /// "off: acceptance 3% does not pay here (best est 0.71x at k=1)" or
    /// "fixed k=4 (acceptance 75%)".
    pub fn describe(&self) -> String {
        let acceptance = match (self.proposed, self.accepted) {
            (0, _) => "n/a".to_string(),
            // Integer round-half-up of accepted/proposed in percent.
            (p, a) => format!("{}%", (200 * a + p) / (2 * p)),
        };
        let (k, speedup) = self.best();
        match self.mode {
            Mode::Fixed(n) => format!("fixed k={n} (acceptance {acceptance})"),
            Mode::Adaptive(_) if self.proposed == 0 => "adaptive (no rounds yet)".to_string(),
            Mode::Adaptive(_) if self.on => {
                format!("adaptive k={k} (acceptance {acceptance}, est {speedup:.2}x)")
            }
            Mode::Adaptive(_) => format!(
                "off: acceptance {acceptance} does not pay here (best est {speedup:.2}x at k={k})"
            ),
        }
    }

    /// The current cost table (priors refined by measurements).
    pub fn costs(&self) -> &CostTable {
        &self.costs
    }

    /// Ties go to the smaller k (the same expected gain for less wasted work on a miss):
    /// `max_by` keeps the last of equal maxima, and the range runs downwards.
    fn best_within(&self, max: usize) -> (usize, f64) {
        (1..=max.min(MAX_DRAFT))
            .rev()
            .map(|k| (k, self.expected_speedup(k)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 1.0))
    }

    /// Re-judges on/off after the estimates moved. Speculation turns on only when clearly
    /// expected to pay and off only when expected to lose, so estimates near break-even do
    /// not flip it every round.
    fn update_state(&mut self) {
        let Mode::Adaptive(_) = self.mode else {
            return;
        };
        let was_on = self.on;
        self.on = self.best().1 >= if was_on { STAY_ON } else { TURN_ON };
        if self.on && !was_on {
            self.probe_gap = MIN_PROBE_GAP;
        } else if was_on && !self.on {
            self.plain_since_probe = 0;
        }
    }
}

fn usable(seconds: f64) -> bool {
    seconds.is_finite() && seconds > 0.0
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
