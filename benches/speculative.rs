//! Decode speed with and without speculation, measured side by side on synthetic models:
//! plain decoding; a draft model equal to the target (the verify path's upper bound, every
//! proposal accepted); a random draft (the overhead floor, nothing accepted); a small draft
//! built to agree with the target (the `perm` construction); and the model's own MTP layers,
//! agreeing (bigram weights) or not (random). Each case runs at a fixed draft length and with
//! the adaptive policy, whose goal is ≥ 0.98× plain where nothing is accepted.
//!
//! Tiny models by default; `LODE_BENCH_SHAPE=qwen2.5-0.5b` uses targets with that model's
//! real shape (Q4_K_M) and E=64 drafts with the same vocabulary.
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lode::engine::synth::{synthesize, Arch, Quant, Shape, SynthSpec, Weights};
use lode::engine::{
    ContextOptions, DraftLength, Engine, EngineConfig, GenerateRequest, LoadOptions, Prompt,
    Speculation,
};

const TOKENS: u32 = 64;

struct Models {
    shape: Shape,
    dir: tempfile::TempDir,
}

impl Models {
    fn new() -> Self {
        let shape = match std::env::var("LODE_BENCH_SHAPE").as_deref() {
            Ok("qwen2.5-0.5b") => Shape::Qwen25_05b,
            _ => Shape::Tiny,
        };
        Self {
            shape,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn vocab(&self) -> Option<u32> {
        (self.shape != Shape::Tiny).then_some(151_936)
    }

    /// A target at the benchmark's shape.
    fn target(&self, arch: Arch, weights: Weights, mtp: bool) -> PathBuf {
        self.write(arch, self.shape, weights, 3, mtp)
    }

    /// A tiny draft with the target's vocabulary.
    fn draft(&self, weights: Weights, seed: u64) -> PathBuf {
        self.write(Arch::Qwen2, Shape::Tiny, weights, seed, false)
    }

    fn write(&self, arch: Arch, shape: Shape, weights: Weights, seed: u64, mtp: bool) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("{arch:?}-{shape:?}-{weights:?}-{seed}-{mtp}.gguf"));
        if !path.exists() {
            synthesize(
                &SynthSpec {
                    arch,
                    shape,
                    weights,
                    seed,
                    quant: (shape != Shape::Tiny).then_some(Quant::Q4KM),
                    mtp,
                    n_vocab: self.vocab(),
                    n_ctx: None,
                },
                &path,
            )
            .expect("synthesize");
        }
        path
    }
}

fn engine(target: &Path, draft: Option<&Path>) -> Engine {
    let engine = Engine::spawn(EngineConfig::default()).expect("engine thread");
    engine
        .blocking_load(LoadOptions {
            context: ContextOptions {
                n_ctx: Some(512),
                threads: 2,
                threads_batch: 2,
                ..ContextOptions::default()
            },
            draft: draft.map(Path::to_path_buf),
            ..LoadOptions::new(target)
        })
        .expect("load synthetic model");
    engine
}

fn decode(engine: &Engine, speculation: Speculation) {
    let mut request = GenerateRequest::text("", TOKENS);
    request.prompt = Prompt::Tokens((1..=16).collect());
    request.stop_at_eog = false;
    request.disk_cache = false;
    request.speculation = speculation;
    engine
        .generate(request)
        .expect("generate")
        .blocking_complete(|_| {})
        .expect("completion");
}

/// One model setup, measured plain, at a fixed draft length and adaptively.
struct Case {
    name: &'static str,
    engine: Engine,
    /// Draft with the model's MTP layers instead of the draft model.
    mtp: bool,
    fixed: u32,
}

impl Case {
    fn runs(&self) -> [(String, Speculation); 3] {
        let spec = |length| match self.mtp {
            true => Speculation::Mtp { length },
            false => Speculation::Draft { length },
        };
        [
            ("plain".to_string(), Speculation::Off),
            (
                format!("k{}", self.fixed),
                spec(DraftLength::Fixed { n: self.fixed }),
            ),
            (
                "adaptive".to_string(),
                spec(DraftLength::Adaptive { max: 4 }),
            ),
        ]
    }
}

fn speculation(c: &mut Criterion) {
    let models = Models::new();
    let perm_target = models.target(Arch::Qwen2, Weights::Perm, false);
    let draft_case = |name, draft: &Path| Case {
        name,
        engine: engine(&perm_target, Some(draft)),
        mtp: false,
        fixed: 4,
    };
    let mtp_case = |name, weights| Case {
        name,
        engine: engine(&models.target(Arch::Qwen35, weights, true), None),
        mtp: true,
        fixed: 3,
    };
    let cases = [
        draft_case("draft-self", &perm_target),
        draft_case("draft-agreeing", &models.draft(Weights::Perm, 3)),
        draft_case("draft-random", &models.draft(Weights::Random, 9)),
        mtp_case("mtp-agreeing", Weights::Bigram),
        mtp_case("mtp-random", Weights::Random),
    ];
    for case in &cases {
        let mut group = c.benchmark_group(format!("decode/{}", case.name));
        group.sample_size(10);
        group.throughput(Throughput::Elements(u64::from(TOKENS)));
        for (label, spec) in case.runs() {
            // One untimed run: the adaptive policy learns per model, as it does in a session.
            decode(&case.engine, spec);
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter(|| decode(&case.engine, spec));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, speculation);
criterion_main!(benches);
