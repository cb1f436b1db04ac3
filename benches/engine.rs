//! Engine benchmarks on synthetic models: time to first token cold, with the prefix in
//! memory and with the prefix restored from the disk cache, measured side by side so the
//! ratios compare like with like. Real-shape figures come from `lode bench`; these run on a
//! small model so criterion can repeat them.
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lode::engine::synth::{synthesize, Arch, Shape, SynthSpec, Weights};
use lode::engine::{
    ContextOptions, DiskCacheConfig, Engine, EngineConfig, GenerateRequest, LoadOptions, Persist,
    Prompt,
};

const PREFIX: usize = 768;
const SUFFIX: usize = 32;

fn engine(model: &Path, cache: &Path) -> Engine {
    let engine = Engine::spawn(EngineConfig {
        disk_cache: Some(DiskCacheConfig {
            dir: cache.to_path_buf(),
            max_bytes: u64::MAX,
        }),
        max_sessions: Some(4),
    })
    .expect("engine thread");
    engine
        .blocking_load(LoadOptions {
            context: ContextOptions {
                n_ctx: Some(1024),
                threads: 2,
                threads_batch: 2,
                ..ContextOptions::default()
            },
            ..LoadOptions::new(model)
        })
        .expect("load synthetic model");
    engine
}

fn request(session: &str, tokens: &[i32], persist: Persist, disk: bool) -> GenerateRequest {
    let mut request = GenerateRequest::text("", 1);
    request.prompt = Prompt::Tokens(tokens.to_vec());
    request.session = session.to_string();
    request.stop_at_eog = false;
    request.persist = persist;
    request.disk_cache = disk;
    request
}

fn run(engine: &Engine, request: GenerateRequest) {
    engine
        .generate(request)
        .expect("generate")
        .blocking_complete(|_| {})
        .expect("completion");
}

fn ttft(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("ttft");
    group.sample_size(10);
    for arch in [Arch::Qwen2, Arch::Qwen35] {
        let model = dir.path().join(format!("{arch:?}.gguf"));
        synthesize(
            &SynthSpec {
                arch,
                shape: Shape::Tiny,
                weights: Weights::Random,
                seed: 1,
                quant: None,
                mtp: false,
                n_vocab: None,
                n_ctx: None,
            },
            &model,
        )
        .expect("synthesize");
        let cache = dir.path().join(format!("cache-{arch:?}"));
        let engine = engine(&model, &cache);
        let prefix: Vec<i32> = (0..PREFIX as i32).map(|i| 256 + (i * 7) % 200).collect();
        let prompt_a = [
            prefix.clone(),
            (0..SUFFIX as i32).map(|i| 300 + i).collect(),
        ]
        .concat();
        let prompt_b = [
            prefix.clone(),
            (0..SUFFIX as i32).map(|i| 350 + i).collect(),
        ]
        .concat();
        // Store the prefix on disk once.
        run(
            &engine,
            request("seed", &prompt_a, Persist::PrefixTokens(PREFIX), true),
        );
        let name = format!("{arch:?}").to_lowercase();
        group.bench_function(BenchmarkId::new("cold", &name), |b| {
            b.iter(|| {
                engine.blocking_drop_session("cold").expect("drop");
                run(&engine, request("cold", &prompt_b, Persist::Nothing, false));
            })
        });
        // The prefix length is passed as the stable prefix, which is where hybrid models
        // checkpoint their recurrent state (the agent passes its system prompt the same way).
        let stable = Persist::PrefixTokens(PREFIX);
        group.bench_function(BenchmarkId::new("warm", &name), |b| {
            run(&engine, request("warm", &prompt_a, stable, false));
            let mut flip = false;
            b.iter(|| {
                // Alternate the suffix so every iteration reuses the prefix and recomputes
                // only the new tokens.
                flip = !flip;
                let prompt = if flip { &prompt_b } else { &prompt_a };
                run(&engine, request("warm", prompt, stable, false));
            })
        });
        group.bench_function(BenchmarkId::new("disk", &name), |b| {
            b.iter(|| {
                engine.blocking_drop_session("disk").expect("drop");
                run(&engine, request("disk", &prompt_b, Persist::Nothing, true));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ttft);
criterion_main!(benches);
