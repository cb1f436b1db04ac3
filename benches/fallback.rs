//! Time from an outage to the first local token, in the three states a fallback can be in:
//! cold (the local model is loaded when the remote fails), loaded (the model is in memory
//! but has never seen the conversation), and warm standby (`[fallback] preload`: the model
//! has prefilled the conversation while the remote served it). Each iteration sends an
//! agent-sized conversation to a remote that is down and times the one-token turn the
//! fallback then produces.
//!
//! Tiny synthetic model by default; `LODE_BENCH_SHAPE=qwen2.5-0.5b` uses that model's real
//! shape (Q4_K_M).
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lode::backend::fallback::{FallbackBackend, FallbackPolicy};
use lode::backend::local::LocalBackend;
use lode::backend::{BackendError, BackendFuture, ChatRequest, Message, ModelBackend, ModelEvent};
use lode::engine::synth::{synthesize, Arch, Quant, Shape, SynthSpec, Weights};
use lode::engine::{CancelFlag, ContextOptions, Engine, EngineConfig, LoadOptions};
use tokio::sync::mpsc::UnboundedSender;

/// A remote that is down: every turn fails the way a refused connection does.
struct Down;

impl ModelBackend for Down {
    fn kind(&self) -> &'static str {
        "openai"
    }
    fn model_name(&self) -> String {
        "cloud".to_string()
    }
    fn context_length(&self) -> Option<u32> {
        None
    }
    fn complete<'a>(
        &'a self,
        _request: ChatRequest,
        _events: UnboundedSender<ModelEvent>,
        _cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(async { Err(BackendError::Unavailable("connection refused".into())) })
    }
}

fn model(dir: &Path) -> PathBuf {
    let shape = match std::env::var("LODE_BENCH_SHAPE").as_deref() {
        Ok("qwen2.5-0.5b") => Shape::Qwen25_05b,
        _ => Shape::Tiny,
    };
    let path = dir.join("fallback.gguf");
    synthesize(
        &SynthSpec {
            arch: Arch::Qwen2,
            shape,
            weights: Weights::Random,
            seed: 1,
            quant: (shape != Shape::Tiny).then_some(Quant::Q4KM),
            mtp: false,
            n_vocab: None,
            n_ctx: (shape == Shape::Tiny).then_some(8192),
        },
        &path,
    )
    .expect("synthesize");
    path
}

fn open_local(path: &Path) -> Arc<dyn ModelBackend> {
    let engine = Engine::spawn(EngineConfig::default()).expect("engine thread");
    let info = engine
        .blocking_load(LoadOptions {
            context: ContextOptions {
                n_ctx: Some(8192),
                threads: 2,
                threads_batch: 2,
                ..ContextOptions::default()
            },
            ..LoadOptions::new(path)
        })
        .expect("load");
    Arc::new(LocalBackend::new(engine, info))
}

/// An agent-sized conversation: instructions, a task, a tool exchange, and a new message.
fn conversation(salt: usize) -> ChatRequest {
    let instructions = format!(
        "session {salt}. You are a coding agent. {}",
        "Read the code before you edit it; run the tests after every change. ".repeat(60)
    );
    let mut messages = vec![
        Message::system(instructions),
        Message::user("Fix the failing test in src/lib.rs."),
        Message::assistant("Reading the file first."),
        Message::user("fn add(a: i64, b: i64) -> i64 { a - b }\n".repeat(20)),
    ];
    messages.push(Message::user("Continue."));
    ChatRequest {
        messages,
        tools: Vec::new(),
        temperature: 0.0,
        seed: None,
        max_tokens: 1,
        stable_prefix_messages: 1,
        answer_schema: None,
        answer_now: false,
        task_turn: 0,
    }
}

fn policy(warm: bool) -> FallbackPolicy {
    FallbackPolicy {
        retry: Duration::from_secs(3600),
        warm,
        ..FallbackPolicy::default()
    }
}

/// One outage turn: the remote fails, the fallback answers one token.
fn outage_turn(runtime: &tokio::runtime::Runtime, backend: &FallbackBackend, request: ChatRequest) {
    runtime.block_on(async {
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        backend
            .complete(request, events, CancelFlag::new())
            .await
            .expect("the fallback answers");
    });
}

fn fallback(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = model(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("outage_to_first_local_token");
    group.sample_size(10);

    group.bench_function("cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let opened = path.clone();
                let backend = FallbackBackend::new(
                    Arc::new(Down),
                    Arc::new(move || Ok(open_local(&opened))),
                    policy(false),
                );
                let started = Instant::now();
                outage_turn(&runtime, &backend, conversation(i as usize));
                total += started.elapsed();
            }
            total
        });
    });

    let local = open_local(&path);
    let loaded = {
        let local = Arc::clone(&local);
        FallbackBackend::new(
            Arc::new(Down),
            Arc::new(move || Ok(Arc::clone(&local))),
            policy(false),
        )
    };
    loaded.preload().expect("preload");
    let mut salt = 1_000;
    group.bench_function("loaded", |b| {
        b.iter(|| {
            // A conversation the model has never seen.
            salt += 1;
            outage_turn(&runtime, &loaded, conversation(salt));
        });
    });

    group.bench_function("warm", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // What warm standby did while the remote served: the conversation so far.
                salt += 1;
                let mut earlier = conversation(salt);
                earlier.messages.pop();
                outage_turn(&runtime, &loaded, earlier);
                let started = Instant::now();
                outage_turn(&runtime, &loaded, conversation(salt));
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, fallback);
criterion_main!(benches);
