//! The router's cost per request. `tier0` routes every line of the label set through the
//! rules; `tier1` classifies one request on a tiny synthetic qwen2 with the instructions'
//! prefix in memory (`cached`), restored from the disk prompt cache (`cold`: the router
//! session dropped before each call, as in a new process), and computed from scratch
//! (`no-cache`: no disk cache, session dropped). Label-set accuracy and the overhead
//! estimate are in `lode bench --router`.
//!
//! One run (tiny random qwen2, 1 thread, a shared 2-core x86 machine):
//!
//! | bench          | time            | ÷ no-cache |
//! |----------------|-----------------|------------|
//! | tier0/labels   | 829 µs for 221 requests (3.8 µs each) | |
//! | tier1/cached   | 39.5 ms         | 0.45       |
//! | tier1/cold     | 45.8 ms (disk)  | 0.52       |
//! | tier1/no-cache | 88.1 ms         | 1          |
//!
//! cached ÷ cold (disk) = 0.86. By difference, the ~1,160-token instructions cost ~49 ms to
//! compute and ~6 ms to restore from disk; most of every call (~38 ms) is decoding the
//! grammar-bound answer, which a random model drags out towards the longest reason allowed.
//! A trained model's shorter answers would shrink that part (not measured here). A second
//! run gave 37.8 / 48.4 / 104.4 ms.
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lode::engine::synth::{synthesize, Arch, Shape, SynthSpec, Weights};
use lode::engine::{
    CancelFlag, ContextOptions, DiskCacheConfig, Engine, EngineConfig, LoadOptions,
};
use lode::router::classify::SESSION;
use lode::router::{rules, Classifier};

const LABELS: &str = include_str!("../fixtures/router/labels.jsonl");

/// A request no rule answers, so the classifier has to read it.
const REQUEST: &str = "rename parse_args to parse_flags in src/cli.rs and update the callers";

fn requests() -> Vec<String> {
    LABELS
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("label line");
            value["request"]
                .as_str()
                .expect("request field")
                .to_string()
        })
        .collect()
}

fn tier0(c: &mut Criterion) {
    let requests = requests();
    let mut group = c.benchmark_group("tier0");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("labels", |b| {
        b.iter(|| {
            for request in &requests {
                black_box(rules::match_request(black_box(request)));
            }
        })
    });
    group.finish();
}

fn engine(model: &Path, cache: Option<&Path>) -> Engine {
    let engine = Engine::spawn(EngineConfig {
        disk_cache: cache.map(|dir| DiskCacheConfig {
            dir: dir.to_path_buf(),
            max_bytes: u64::MAX,
        }),
        max_sessions: Some(3),
    })
    .expect("engine thread");
    engine
        .blocking_load(LoadOptions {
            context: ContextOptions {
                // The instructions alone are over a thousand tokens with the synthetic
                // tokenizer; 4096 is what the tiny model declares.
                n_ctx: Some(4096),
                // One thread: on a shared machine a second one waits on whatever else runs,
                // and the spread swamps the ratios.
                threads: 1,
                threads_batch: 1,
                ..ContextOptions::default()
            },
            ..LoadOptions::new(model)
        })
        .expect("load synthetic model");
    engine
}

fn classify(classifier: &Classifier) {
    black_box(
        classifier
            .classify(REQUEST, "", &CancelFlag::new())
            .expect("classify"),
    );
}

fn tier1(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("router.gguf");
    synthesize(
        &SynthSpec {
            arch: Arch::Qwen2,
            shape: Shape::Tiny,
            weights: Weights::Random,
            seed: 5,
            quant: None,
            mtp: false,
            n_vocab: None,
            n_ctx: None,
        },
        &model,
    )
    .expect("synthesize");
    let cached_engine = engine(&model, Some(&dir.path().join("cache")));
    let cached = Classifier::new(cached_engine.clone());
    // The first call computes the prefix and stores it on disk for `cold`.
    classify(&cached);

    let mut group = c.benchmark_group("tier1");
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(10));
    group.bench_function("cached", |b| b.iter(|| classify(&cached)));
    group.bench_function("cold", |b| {
        b.iter_batched(
            || cached_engine.blocking_drop_session(SESSION).expect("drop"),
            |()| classify(&cached),
            BatchSize::PerIteration,
        )
    });
    let bare_engine = engine(&model, None);
    let bare = Classifier::new(bare_engine.clone());
    group.bench_function("no-cache", |b| {
        b.iter_batched(
            || bare_engine.blocking_drop_session(SESSION).expect("drop"),
            |()| classify(&bare),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, tier0, tier1);
criterion_main!(benches);
