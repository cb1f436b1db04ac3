#![allow(clippy::unwrap_used, clippy::expect_used)]

use pretty_assertions::assert_eq;

use super::*;

/// xorshift64: a fixed stream for simulated drafters, independent of any crate's versions.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    fn below(&mut self, n: u64) -> usize {
        usize::try_from(self.next() % n).unwrap()
    }
}

/// An adaptive policy that has measured plain speed (one unit per token), as it does in
/// its first rounds.
fn adaptive(costs: CostTable) -> SpecPolicy {
    let mut policy = SpecPolicy::new(DraftLength::Adaptive { max: 8 }, costs);
    // The first round follows a prefill, so it is not a steady-state sample.
    for _ in 0..=ROUND_SAMPLES {
        assert_eq!(
            policy.next_k(usize::MAX),
            0,
            "plain speed is measured first"
        );
        policy.record_round_time(0, 1.0);
    }
    policy
}

/// What a simulated generation cost and what the policy chose along the way.
#[derive(Default)]
struct Run {
    tokens: usize,
    cost: f64,
    /// k of every call to next_k, 0 for plain steps.
    ks: Vec<usize>,
    /// probe_gap after every probe's result was recorded.
    gaps: Vec<usize>,
}

impl Run {
    #[allow(clippy::cast_precision_loss)]
    fn speed(&self) -> f64 {
        self.tokens as f64 / self.cost
    }
}

/// Generates until `run` holds `until` tokens, charging each step its cost from `table`.
/// `drafter(k)` says how many of k drafted tokens the target accepts.
fn simulate(
    policy: &mut SpecPolicy,
    table: &CostTable,
    run: &mut Run,
    until: usize,
    drafter: &mut impl FnMut(usize) -> usize,
) {
    while run.tokens < until {
        let probe = policy.is_off();
        let k = policy.next_k(until - run.tokens);
        run.ks.push(k);
        if k == 0 {
            run.cost += 1.0;
            run.tokens += 1;
            policy.record_plain(1);
            policy.record_round_time(0, 1.0);
            continue;
        }
        let accepted = drafter(k);
        run.cost += table.round(k, k);
        run.tokens += accepted + 1;
        policy.record_round(k, accepted);
        policy.record_round_time(k, table.round(k, k));
        if probe {
            run.gaps.push(policy.probe_gap);
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn close_all(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&a, &b)| close(a, b))
}

#[test]
fn always_accepting_grows_k_on_cpu() {
    let mut policy = adaptive(CostTable::cpu_prior());
    let mut ks = Vec::new();
    // Steps, not only drafting rounds: the plain tokens before the first probe count too.
    for _ in 0..60 {
        let k = policy.next_k(usize::MAX);
        ks.push(k);
        match k {
            0 => policy.record_plain(1),
            k => policy.record_round(k, k),
        }
    }
    let k = policy.next_k(usize::MAX);
    assert!(k >= 4, "{ks:?}");
    assert!(policy.expected_speedup(k) > 1.5, "{ks:?}");
    assert!(ks.windows(2).all(|w| w[1] + 1 >= w[0]), "k shrank: {ks:?}");
}

#[test]
fn a_trusted_drafter_starts_on_and_turns_off_when_it_keeps_missing() {
    // An n-gram drafter's proposals start trusted: on from the first round, and long.
    let mut policy = adaptive(CostTable::cpu_prior()).with_prior_acceptance(0.8);
    assert!(!policy.is_off());
    assert!(policy.best().0 >= 2, "{:?}", policy.best());
    let mut rounds = 0;
    while !policy.is_off() && rounds < 50 {
        let k = policy.next_k(usize::MAX).max(1);
        policy.record_round(k, 0);
        rounds += 1;
    }
    assert!(rounds <= 6, "{rounds} rounds of misses to turn off");
    // And with every proposal held, it drafts the longest rounds the costs allow.
    let mut policy = adaptive(CostTable::cpu_prior()).with_prior_acceptance(0.8);
    for _ in 0..40 {
        let k = policy.next_k(usize::MAX);
        policy.record_round(k, k);
    }
    assert_eq!(policy.next_k(usize::MAX), 8, "{:?}", policy.describe());
}

#[test]
fn never_accepting_stays_within_two_percent_of_plain_speed() {
    // The CPU prior starts off (E(1) = 1.5 / 1.6 at the 0.5 prior); a GPU starts on and
    // needs its prior outweighed by misses.
    for (prior, most) in [(CostTable::cpu_prior(), 3), (CostTable::gpu_prior(), 6)] {
        let mut policy = adaptive(prior);
        let mut rounds = 0;
        while !policy.is_off() && rounds < 50 {
            let k = policy.next_k(usize::MAX);
            policy.record_round(k, 0);
            rounds += 1;
        }
        assert!(rounds <= most, "{rounds} rounds to turn off");
    }

    let table = CostTable::cpu_prior();
    let mut policy = adaptive(table.clone());
    let mut run = Run::default();
    simulate(&mut policy, &table, &mut run, 2000, &mut |_| 0);
    assert!(run.speed() >= 0.98, "{:.3} of plain speed", run.speed());
    assert_eq!(run.gaps, vec![32, 64, 128, 256, 512, 512, 512]);
    assert!(run.ks.iter().all(|&k| k <= 1));
}

#[test]
fn probe_gap_resets_when_the_drafter_starts_agreeing() {
    let table = CostTable::cpu_prior();
    let mut policy = adaptive(table.clone());
    let mut run = Run::default();
    simulate(&mut policy, &table, &mut run, 1000, &mut |_| 0);
    assert_eq!(policy.probe_gap, MAX_PROBE_GAP);
    assert!(policy.is_off());

    let mut turned_on_at = None;
    // At worst one full gap (512) passes before the next probe, then a few short-gap probes.
    while run.tokens < 1000 + MAX_PROBE_GAP + 240 && turned_on_at.is_none() {
        let until = run.tokens + 1;
        simulate(&mut policy, &table, &mut run, until, &mut |k| k);
        if !policy.is_off() {
            turned_on_at = Some(run.tokens);
        }
    }
    assert!(turned_on_at.is_some(), "still off at {} tokens", run.tokens);
    assert_eq!(policy.probe_gap, MIN_PROBE_GAP);
}

fn half_accepting(seed: u64) -> impl FnMut(usize) -> usize {
    let mut rng = XorShift(seed);
    move |k| (0..k).take_while(|_| rng.coin()).count()
}

#[test]
fn half_acceptance_does_not_pay_on_cpu_but_does_on_gpu() {
    let cpu = CostTable::cpu_prior();
    let mut policy = adaptive(cpu.clone());
    let mut run = Run::default();
    simulate(&mut policy, &cpu, &mut run, 3000, &mut half_accepting(7));
    assert!(run.ks.iter().all(|&k| k <= 1));
    assert!(run.speed() >= 0.97, "{:.3} of plain speed", run.speed());

    // At a = 0.5 on a GPU, k = 2 beats k = 1 by only 4 %, so estimation noise flips between
    // them; k ≥ 2 should still hold most late rounds (over seeds 1..40: 42–98 %, mean 78 %).
    let gpu = CostTable::gpu_prior();
    let mut policy = adaptive(gpu.clone());
    let mut run = Run::default();
    simulate(&mut policy, &gpu, &mut run, 3000, &mut half_accepting(7));
    let late = &run.ks[run.ks.len() / 2..];
    let deep = late.iter().filter(|&&k| k >= 2).count();
    assert!(
        deep * 2 > late.len(),
        "{deep} of {} rounds k ≥ 2",
        late.len()
    );
    assert!(run.speed() > 1.2, "{:.3} of plain speed", run.speed());
}

#[test]
fn costs_follow_measured_times() {
    let mut policy = adaptive(CostTable::cpu_prior());
    for _ in 0..5 {
        policy.record_target_time(1, 0.010);
        policy.record_target_time(4, 0.050);
    }
    // Sizes not measured keep the prior but may not undercut a smaller batch.
    let prior = CostTable::cpu_prior().verify;
    let want: Vec<f64> = (prior.iter().enumerate())
        .map(|(i, &c)| if i < 3 { c } else { c.max(5.0) })
        .collect();
    let verify = &policy.costs().verify;
    assert!(close_all(verify, &want), "{verify:?}");

    let mut policy = adaptive(CostTable::cpu_prior());
    for _ in 0..5 {
        policy.record_target_time(1, 0.010);
        policy.record_target_time(4, 0.005);
        policy.record_target_time(2, 0.002);
    }
    // Measured 0.2 and 0.5 of a single token: floored at one token, then at the batch below.
    let mut want = CostTable::cpu_prior().verify;
    (want[1], want[3]) = (1.0, 1.9);
    let verify = &policy.costs().verify;
    assert!(close_all(verify, &want), "{verify:?}");
}

#[test]
fn costs_keep_the_prior_until_measurements_can_be_trusted() {
    let prior = CostTable::cpu_prior();
    let mut policy = adaptive(prior.clone());
    // No single-token times: no ratio can be formed.
    for _ in 0..10 {
        policy.record_target_time(3, 0.5);
        policy.record_draft_time(2, 0.1);
    }
    assert_eq!(policy.costs(), &prior);
    // Two samples are not enough; unusable times and sizes are ignored.
    policy.record_target_time(1, 0.1);
    policy.record_target_time(1, 0.1);
    for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
        policy.record_target_time(1, bad);
    }
    policy.record_target_time(0, 0.1);
    policy.record_target_time(MAX_DRAFT + 2, 0.1);
    policy.record_draft_time(0, 0.1);
    assert_eq!(policy.costs(), &prior);

    policy.record_target_time(1, 0.1);
    let costs = policy.costs();
    assert!(
        close(costs.verify[2], 5.0) && close(costs.draft_step, 0.5),
        "{costs:?}"
    );
}

#[test]
fn from_seconds_extrapolates_and_never_decreases() {
    let table = CostTable::from_seconds(&[0.01, 0.015, 0.02], 0.001).unwrap();
    let want: Vec<f64> = (0..=MAX_DRAFT).map(|i| 1.0 + 0.5 * i as f64).collect();
    assert!(close_all(&table.verify, &want), "{table:?}");
    assert!(close(table.draft_step, 0.1));

    let table = CostTable::from_seconds(&[0.01, 0.02, 0.015, 0.0, 0.5], 0.0).unwrap();
    // 1.5 after 2.0 is lifted, and so is the extrapolation down from it; 0.0 ends the
    // measurements, so 0.5 after it is never read.
    let mut want = vec![1.0];
    want.extend([2.0; MAX_DRAFT]);
    assert!(close_all(&table.verify, &want), "{table:?}");

    let table = CostTable::from_seconds(&[0.01], 0.001).unwrap();
    assert_eq!(table.verify, vec![1.0; MAX_DRAFT + 1]);

    for bad in [&[][..], &[0.0, 1.0], &[f64::NAN], &[-1.0]] {
        assert_eq!(CostTable::from_seconds(bad, 0.001), None);
    }
    assert_eq!(CostTable::from_seconds(&[0.01], f64::NAN), None);
}

#[test]
fn gpu_prior_is_nearly_flat() {
    let gpu = CostTable::gpu_prior();
    assert_eq!(gpu.verify.len(), MAX_DRAFT + 1);
    assert!(close(gpu.verify[0], 1.0) && close(gpu.verify[8], 1.32));
    assert!(close(gpu.round(2, 2), 1.28));
    assert!(close(CostTable::cpu_prior().round(0, 0), 1.0));
}

#[test]
fn next_k_respects_the_limit() {
    let mut policy = adaptive(CostTable::gpu_prior());
    assert_eq!(policy.next_k(0), 0);
    assert_eq!(policy.next_k(1), 1);
    assert!(policy.next_k(usize::MAX) >= 2);

    let mut fixed = SpecPolicy::new(DraftLength::Fixed { n: 4 }, CostTable::cpu_prior());
    assert_eq!(fixed.next_k(10), 4);
    assert_eq!(fixed.next_k(2), 2);
    assert_eq!(fixed.next_k(0), 0);
    fixed.record_round(4, 0);
    assert_eq!(fixed.next_k(10), 4);
    assert!(!fixed.is_off());
    assert_eq!(fixed.best().0, 4);
}

#[test]
fn a_short_limit_does_not_switch_speculation_off() {
    let mut policy = adaptive(CostTable::gpu_prior());
    for _ in 0..20 {
        policy.record_round(3, 1);
    }
    assert!(policy.next_k(usize::MAX) >= 1 && !policy.is_off());
    policy.next_k(1);
    assert!(!policy.is_off());
}

#[test]
fn rounds_try_the_positions_up_to_the_first_miss() {
    let mut policy = adaptive(CostTable::cpu_prior());
    policy.record_round(3, 1);
    let rates = policy.acceptance.rates();
    assert!(close(rates[0], 2.0 / 3.0), "{rates:?}");
    // Its prior is position 1's estimate, a little worse, at the weight of two trials.
    assert!(
        close(rates[1], 2.0 * rates[0] * UNTRIED_FALLOFF / 3.0),
        "{rates:?}"
    );
    // Position 3 was never reached: it follows position 2.
    assert!(close(rates[2], rates[1] * UNTRIED_FALLOFF), "{rates:?}");
    assert_eq!(policy.totals(), (3, 1));
}

#[test]
fn fixed_draft_steps_charge_every_round_in_full() {
    let policy = SpecPolicy::new(DraftLength::Adaptive { max: 4 }, CostTable::gpu_prior())
        .with_fixed_draft_steps(4);
    let expected = 1.5 / CostTable::gpu_prior().round(1, 4);
    assert!(close(policy.expected_speedup(1), expected));
    assert!(close(policy.expected_speedup(0), 1.0));
}

#[test]
fn describe_names_each_state() {
    let mut fixed = SpecPolicy::new(DraftLength::Fixed { n: 4 }, CostTable::cpu_prior());
    assert_eq!(fixed.describe(), "fixed k=4 (acceptance n/a)");
    fixed.record_round(4, 3);
    assert_eq!(fixed.describe(), "fixed k=4 (acceptance 75%)");

    let mut on = adaptive(CostTable::gpu_prior());
    assert_eq!(on.describe(), "adaptive (no rounds yet)");
    on.record_round(2, 2);
    on.record_round(3, 2);
    on.next_k(usize::MAX);
    assert_eq!(on.describe(), "adaptive k=3 (acceptance 80%, est 1.92x)");

    let mut off = adaptive(CostTable::cpu_prior());
    off.record_round(1, 0);
    off.next_k(usize::MAX);
    assert_eq!(
        off.describe(),
        "off: acceptance 0% does not pay here (best est 0.83x at k=1)"
    );
}

#[test]
fn draft_length_serializes_with_its_kind() {
    let json = serde_json::to_string(&DraftLength::Adaptive { max: 6 }).unwrap();
    assert_eq!(json, r#"{"kind":"adaptive","max":6}"#);
    let back: DraftLength = serde_json::from_str(r#"{"kind":"fixed","n":3}"#).unwrap();
    assert_eq!(back, DraftLength::Fixed { n: 3 });
}

#[test]
fn estimates_stay_in_range_under_any_history() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let max = rng.below(10);
        let prior = if case % 2 == 0 {
            CostTable::cpu_prior()
        } else {
            CostTable::gpu_prior()
        };
        let length = DraftLength::Adaptive {
            max: u32::try_from(max).unwrap(),
        };
        let mut policy = SpecPolicy::new(length, prior);
        for _ in 0..200 {
            let limit = rng.below(12);
            let k = policy.next_k(limit);
            assert!(
                k <= limit && k <= max.min(MAX_DRAFT),
                "k {k} limit {limit} max {max}"
            );
            let proposed = rng.below(11);
            policy.record_round(proposed, rng.below(12));
            policy.record_plain(rng.below(40));
            if rng.below(4) == 0 {
                let seconds = [0.01, 0.0, -0.5, f64::NAN, 1e9][rng.below(5)];
                policy.record_target_time(rng.below(11), seconds);
                policy.record_draft_time(rng.below(3), seconds);
            }
            let rates = policy.acceptance.rates();
            assert!(
                rates.iter().all(|r| (0.0..=MAX_RATE).contains(r)),
                "{rates:?}"
            );
            let (proposed, accepted) = policy.totals();
            assert!(accepted <= proposed);
            assert!(policy.best().1.is_finite());
        }
    }
}

/// Overheads the cost table does not know (sampling every row, trimming) show up in the
/// measured round times, and a drafter that is always right still loses where they are
/// large: the policy follows the clock, not the table.
#[test]
fn measured_round_times_overrule_the_cost_table() {
    let table = CostTable::cpu_prior();
    let mut policy = adaptive(table.clone());
    let mut run = Run::default();
    let mut tokens = 0;
    while tokens < 2000 {
        let k = policy.next_k(usize::MAX);
        run.ks.push(k);
        if k == 0 {
            policy.record_plain(1);
            policy.record_round_time(0, 1.0);
            run.cost += 1.0;
            tokens += 1;
            continue;
        }
        // Every proposal holds, but each round costs three times what the table says.
        let cost = 3.0 * table.round(k, k);
        policy.record_round(k, k);
        policy.record_round_time(k, cost);
        run.cost += cost;
        tokens += k + 1;
    }
    run.tokens = tokens;
    assert!(policy.is_off(), "{}", policy.describe());
    assert!(run.speed() >= 0.95, "{:.3} of plain speed", run.speed());
}
