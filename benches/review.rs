//! Time from `git commit` to the reviewer's verdict, through the real hook, the real binary
//! and the in-process engine: a 300-line staged diff, with the disk prompt cache cold (the
//! first commit on a machine) and warm (every commit after it). The ratio warm ÷ cold is
//! printed from one run; criterion then measures each case.
//!
//! The model is synthetic (random weights, real tokenizer and template): its findings are
//! noise, but the work is real and identical in both cases (greedy decoding, same prompt),
//! so the difference is what the cache saves. `LODE_BENCH_SHAPE=qwen2.5-0.5b` measures a
//! real model's shape instead of the tiny default: three cold/warm pairs, about two minutes
//! each on two cores, and no criterion rounds.
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lode::engine::synth::{synthesize, Arch, Quant, Shape, SynthSpec, Weights};

struct Fixture {
    home: tempfile::TempDir,
    repo: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let home = tempfile::tempdir().expect("temp dir");
        let repo = home.path().join("repo");
        std::fs::create_dir_all(repo.join("src")).expect("repo dir");
        let shape = match std::env::var("LODE_BENCH_SHAPE").as_deref() {
            Ok("qwen2.5-0.5b") => Shape::Qwen25_05b,
            _ => Shape::Tiny,
        };
        let model = home.path().join("model.gguf");
        synthesize(
            &SynthSpec {
                arch: Arch::Qwen2,
                shape,
                weights: Weights::Random,
                seed: 7,
                quant: (shape != Shape::Tiny).then_some(Quant::Q4KM),
                mtp: false,
                n_vocab: None,
                // The tiny shape declares 4,096 tokens; a 300-line diff needs more room.
                n_ctx: (shape == Shape::Tiny).then_some(32_768),
            },
            &model,
        )
        .expect("synthesize");
        // One review turn, which must answer: the measured work is one prefill of
        // instructions + diff and one short answer (20 tokens with this seed), the same in
        // both cases.
        std::fs::create_dir_all(repo.join(".lode")).expect(".lode");
        std::fs::write(
            repo.join(".lode/config.toml"),
            format!(
                "[models.large]\npath = {:?}\n[engine]\nthreads = 2\nctx_size = 16384\n[review]\nmax_turns = 1\nbudget_s = 600\n",
                model.display().to_string()
            ),
        )
        .expect("config");
        let fixture = Self { home, repo };
        fixture.git(&["init", "-q", "-b", "main"]);
        std::fs::write(
            fixture.repo.join("src/lib.rs"),
            "pub fn base() -> u32 {\n    1\n}\n",
        )
        .expect("lib.rs");
        fixture.git(&["add", "."]);
        fixture.git(&["commit", "-q", "-m", "init"]);
        let (status, _) = fixture.lode(&["hook", "install"]);
        assert!(status, "hook install");
        // 300 added lines: a module of small functions, the shape of a real feature commit.
        let module: String = (0..100)
            .map(|i| format!("pub fn step_{i}(x: u32) -> u32 {{\n    x.wrapping_mul({i}).wrapping_add(7)\n}}\n"))
            .collect();
        std::fs::write(fixture.repo.join("src/steps.rs"), module).expect("steps.rs");
        fixture.git(&["add", "src/steps.rs"]);
        fixture
    }

    fn env(&self, cmd: &mut Command) {
        let home = self.home.path();
        cmd.current_dir(&self.repo)
            .env("HOME", home)
            .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .env("LODE_CONFIG_DIR", home.join("config"))
            .env("LODE_CACHE_DIR", self.cache())
            .env("LODE_DATA_DIR", home.join("data"))
            .env_remove("LODE_MODEL")
            .env_remove("LODE_BACKEND");
    }

    fn cache(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    fn git(&self, args: &[&str]) {
        let mut cmd = Command::new("git");
        self.env(&mut cmd);
        let out = cmd.args(args).output().expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn lode(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lode"));
        self.env(&mut cmd);
        let out = cmd.args(args).output().expect("lode");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Empties the disk prompt cache (the review snapshot stays: that is not the cache
    /// being measured).
    fn clear_prompt_cache(&self) {
        let Ok(entries) = std::fs::read_dir(self.cache()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name() != "review" {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }

    /// `git commit` with the hook: the time until git has the verdict. A commit that went
    /// through is undone so the next one reviews the same diff.
    fn commit(&self) -> Duration {
        let mut cmd = Command::new("git");
        self.env(&mut cmd);
        let started = Instant::now();
        let out = cmd
            .args(["commit", "-q", "-m", "steps"])
            .output()
            .expect("git commit");
        let elapsed = started.elapsed();
        if out.status.success() {
            self.git(&["reset", "-q", "--soft", "HEAD~1"]);
        }
        elapsed
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn commit_to_verdict(c: &mut Criterion) {
    let fixture = Fixture::new();
    // A real shape takes minutes per commit on a CPU: three pairs, and no criterion rounds.
    let real_shape = std::env::var("LODE_BENCH_SHAPE").is_ok();
    let pairs = if real_shape { 3 } else { 5 };
    // Alternate the two cases so drift on a shared machine hits both alike.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        fixture.clear_prompt_cache();
        cold.push(fixture.commit());
        warm.push(fixture.commit());
    }
    let (cold, warm) = (median(cold), median(warm));
    eprintln!("review bench: git commit → verdict, 300-line staged diff, synthetic model");
    eprintln!("  cold disk cache: {cold:?} median of {pairs}");
    eprintln!("  warm disk cache: {warm:?} median of {pairs}");
    eprintln!(
        "  warm ÷ cold = {:.3}",
        warm.as_secs_f64() / cold.as_secs_f64()
    );
    if real_shape {
        return;
    }

    let mut group = c.benchmark_group("review");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("commit_cold_cache", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    fixture.clear_prompt_cache();
                    fixture.commit()
                })
                .sum()
        })
    });
    group.bench_function("commit_warm_cache", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.commit()).sum())
    });
    group.finish();
}

criterion_group!(benches, commit_to_verdict);
criterion_main!(benches);
