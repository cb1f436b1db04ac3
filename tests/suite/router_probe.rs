//! The router's probe: the small model's first layers read a request, a head fitted on the
//! labels' training split names the lane. On synthetic models the invariants are exact
//! (a read with its prefix cached, restored from disk or computed cold gives the same
//! numbers; a head is fitted once and found again by the next process); on SmolLM2-135M the
//! held-out accuracy the issue asks for.

use std::path::Path;

use lode::engine::synth::{Arch, Weights};
use lode::engine::{
    CancelFlag, DiskCacheConfig, Engine, EngineConfig, FlashAttention, LoadOptions, ModelInfo,
    ReadRequest,
};
use lode::gguf;
use lode::router::labels::{self, Split};
use lode::router::probe::{Probe, ProbeError, ProbeModel};
use lode::router::{rules, Lane};

use super::common::{llama_lock, tiny, tiny_options};
use super::real_models::{options, SMOLLM2};

fn engine(options: LoadOptions, cache: &Path) -> (Engine, ModelInfo) {
    let engine = Engine::spawn(EngineConfig {
        disk_cache: Some(DiskCacheConfig {
            dir: cache.to_path_buf(),
            max_bytes: 1 << 30,
        }),
        max_sessions: None,
    })
    .unwrap();
    let info = engine.blocking_load(options).unwrap();
    (engine, info)
}

fn probe_of(engine: Engine, info: ModelInfo, cache: &Path, threads: u32) -> Probe {
    Probe::new(
        ProbeModel {
            full: engine,
            info,
            gpu_layers: None,
            threads,
            flash_attention: FlashAttention::Off,
            disk_cache: Some(DiskCacheConfig {
                dir: cache.join("prompts"),
                max_bytes: 1 << 30,
            }),
        },
        Some(cache.join("router")),
    )
}

fn tiny_model() -> LoadOptions {
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, 41));
    options.context.n_ctx = Some(4096);
    options
}

#[test]
fn the_first_layers_of_a_model_load_as_a_model_of_their_own() {
    let _guard = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Arch::Qwen2, Weights::Random, 41);
    let cut = dir.path().join("cut.gguf");
    gguf::first_layers(&src, &cut, 1).unwrap();
    let file = gguf::read(&cut).unwrap();
    assert_eq!(file.arch_u64("block_count"), Some(1));
    assert!(file.tensors.iter().any(|t| t.name.starts_with("blk.0.")));
    assert!(!file.tensors.iter().any(|t| t.name.starts_with("blk.1.")));
    let (_engine, info) = engine(tiny_options(&cut), dir.path());
    assert_eq!(info.n_layer, 1);
    // Nothing half-written is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn a_model_cannot_be_cut_to_none_or_all_of_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Arch::Qwen2, Weights::Random, 41);
    for keep in [0, 2, 5] {
        let err = gguf::first_layers(&src, &dir.path().join("cut.gguf"), keep).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot be cut to its first layers"),
            "{err}"
        );
    }
    let not_a_model = dir.path().join("x.gguf");
    std::fs::write(&not_a_model, b"not a model").unwrap();
    assert!(gguf::first_layers(&not_a_model, &dir.path().join("y.gguf"), 1).is_err());
}

#[test]
fn a_read_is_the_same_cold_with_its_prefix_in_memory_and_restored_from_disk() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let request = |text: &str| ReadRequest {
        prefix: "Sort each request into a lane.\n\nRequest: rename x\nLane: small\n\n".into(),
        text: format!("Request: {text}\nLane:"),
        session: "reader".into(),
        disk_cache: true,
        logits_of: vec![1, 2],
    };
    let cancel = CancelFlag::new();
    let (first, _) = engine(tiny_model(), cache.path());
    let cold = first
        .blocking_read(request("fix the flaky test"), cancel.clone())
        .unwrap();
    assert_eq!(cold.stats.cached_tokens, 0);
    // Another request in between: the session must drop its rows, not reuse them.
    first
        .blocking_read(request("explain main"), cancel.clone())
        .unwrap();
    let warm = first
        .blocking_read(request("fix the flaky test"), cancel.clone())
        .unwrap();
    assert!(warm.stats.cached_tokens > 0, "{:?}", warm.stats);
    assert_eq!(warm.stats.disk_cached_tokens, 0);
    let (second, _) = engine(tiny_model(), cache.path());
    let disk = second
        .blocking_read(request("fix the flaky test"), cancel)
        .unwrap();
    assert_eq!(disk.stats.disk_cached_tokens, warm.stats.cached_tokens);
    for other in [&warm, &disk] {
        assert_eq!(other.last, cold.last);
        assert_eq!(other.mean, cold.mean);
        assert_eq!(other.logits, cold.logits);
    }
    assert_eq!(cold.logits.len(), 2);
}

#[test]
fn a_read_refuses_tokens_outside_the_vocabulary_and_an_empty_text() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let (engine, info) = engine(tiny_model(), cache.path());
    let cancel = CancelFlag::new();
    let mut bad = ReadRequest {
        prefix: "p".into(),
        text: "q".into(),
        session: "reader".into(),
        disk_cache: false,
        logits_of: vec![i32::try_from(info.n_vocab).unwrap()],
    };
    let err = engine
        .blocking_read(bad.clone(), cancel.clone())
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the model's vocabulary"),
        "{err}"
    );
    bad.logits_of.clear();
    bad.text.clear();
    let err = engine.blocking_read(bad, cancel).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn the_probe_fits_once_and_the_next_process_finds_its_head() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let (engine1, info) = engine(tiny_model(), cache.path());
    let probe = probe_of(engine1, info, cache.path(), 1);
    let first = probe
        .classify("redesign the storage layer", &cancel)
        .unwrap();
    let trained = labels::bundled()
        .unwrap()
        .iter()
        .filter(|l| l.split == Split::Train)
        .count();
    assert_eq!(first.fitted.map(|(lines, _)| lines), Some(trained));
    assert!([Lane::Small, Lane::Large].contains(&first.lane));
    assert!(
        (0.5..=1.0).contains(&first.confidence),
        "{}",
        first.confidence
    );
    let again = probe
        .classify("redesign the storage layer", &cancel)
        .unwrap();
    assert_eq!(again.fitted, None);
    assert_eq!(again.logit, first.logit);
    assert!(again.stats.cached_tokens > 0, "{:?}", again.stats);

    let stored: Vec<String> = std::fs::read_dir(cache.path().join("router"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(stored.iter().any(|n| n.starts_with("probe-")), "{stored:?}");
    assert!(
        stored.iter().any(|n| n.ends_with("-first1.gguf")),
        "{stored:?}"
    );

    let (engine2, info) = engine(tiny_model(), cache.path());
    let next = probe_of(engine2, info, cache.path(), 1)
        .classify("redesign the storage layer", &cancel)
        .unwrap();
    assert_eq!(
        next.fitted, None,
        "the stored head is used, not fitted again"
    );
    assert_eq!(next.logit, first.logit);
    assert!(next.stats.disk_cached_tokens > 0, "{:?}", next.stats);
}

#[test]
fn a_stored_head_that_does_not_match_is_fitted_again_not_trusted() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let (engine1, info) = engine(tiny_model(), cache.path());
    let first = probe_of(engine1, info.clone(), cache.path(), 1)
        .classify("add a doc comment to main", &cancel)
        .unwrap();
    let head = std::fs::read_dir(cache.path().join("router"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let text = std::fs::read_to_string(&head).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Weights of another width: read back, they would score every request 0.
    value["head"]["weights"] = serde_json::json!([1.0, 2.0]);
    std::fs::write(&head, value.to_string()).unwrap();
    let (engine2, _) = engine(tiny_model(), cache.path());
    let refit = probe_of(engine2, info, cache.path(), 1)
        .classify("add a doc comment to main", &cancel)
        .unwrap();
    assert!(refit.fitted.is_some());
    assert_eq!(refit.logit, first.logit);
}

#[test]
fn a_cancelled_probe_says_so() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let (engine, info) = engine(tiny_model(), cache.path());
    let cancel = CancelFlag::new();
    cancel.cancel();
    let err = probe_of(engine, info, cache.path(), 1)
        .classify("redesign the storage layer", &cancel)
        .unwrap_err();
    assert!(matches!(err, ProbeError::Cancelled), "{err}");
}

/// The acceptance on a real small model: every held-out line the rules leave gets a
/// lane; accuracy, small recall and large-sent-to-small as `lode bench --router` reports
/// them (bench: 0.868 / 0.82 / 0.09 here). The bound on large→small leaves room for a
/// borderline line to flip on another CPU's kernels; the bench holds the exact figure.
#[test]
fn on_smollm2_the_probe_routes_held_out_requests_from_its_cached_prefix() {
    let _guard = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let (engine1, info) = engine(options(SMOLLM2, 2048), cache.path());
    let probe = probe_of(engine1, info.clone(), cache.path(), 2);
    let held: Vec<labels::Labeled> = labels::bundled()
        .unwrap()
        .into_iter()
        .filter(|l| l.split == Split::HeldOut && rules::match_request(&l.request).is_none())
        .collect();
    assert!(held.len() >= 80, "{}", held.len());
    let (mut right, mut small, mut small_said, mut large, mut large_small) = (0, 0, 0, 0, 0);
    for (i, line) in held.iter().enumerate() {
        let verdict = probe.classify(&line.request, &cancel).unwrap();
        assert!([Lane::Small, Lane::Large].contains(&verdict.lane));
        assert_eq!(verdict.fitted.is_some(), i == 0);
        if i > 0 {
            // The prefix (instructions and examples) comes from the session.
            assert!(verdict.stats.cached_tokens >= 150, "{:?}", verdict.stats);
        }
        right += usize::from(verdict.lane == line.model_lane());
        if line.model_lane() == Lane::Small {
            small += 1;
            small_said += usize::from(verdict.lane == Lane::Small);
        } else {
            large += 1;
            large_small += usize::from(verdict.lane == Lane::Small);
        }
    }
    let accuracy = right as f64 / held.len() as f64;
    let recall = small_said as f64 / small as f64;
    let large_to_small = large_small as f64 / large as f64;
    assert!(accuracy >= 0.80, "accuracy {accuracy}");
    assert!(recall >= 0.70, "small recall {recall}");
    assert!(
        large_to_small <= 0.13,
        "large sent to small {large_to_small}"
    );

    // A fresh process: the head from its file, the prefix from the disk cache.
    let (engine2, _) = engine(options(SMOLLM2, 2048), cache.path());
    let verdict = probe_of(engine2, info, cache.path(), 2)
        .classify(&held[0].request, &cancel)
        .unwrap();
    assert_eq!(verdict.fitted, None);
    assert!(
        verdict.stats.disk_cached_tokens >= 150,
        "{:?}",
        verdict.stats
    );
}
