//! The router's tier 1 on llama.cpp itself: a random-weight model is the adversary. Whatever
//! it prefers, the grammar must turn every request into a lane and a confidence, and the
//! fixed instructions must be computed once: kept in memory between calls, and restored from
//! the disk cache by the next process.

use std::path::Path;

use pretty_assertions::assert_eq;

use lode::engine::synth::{Arch, Weights};
use lode::engine::{CancelFlag, DiskCacheConfig, Engine, EngineConfig};
use lode::router::classify::{Classification, Classifier, ClassifyError, REASON_MAX_CHARS};

use super::common::{llama_lock, tiny, tiny_options};

/// The instructions alone are over a thousand tokens with the synthetic tokenizer.
const N_CTX: u32 = 4096;

fn classifier(seed: u64, cache_dir: Option<&Path>) -> Classifier {
    let engine = Engine::spawn(EngineConfig {
        disk_cache: cache_dir.map(|dir| DiskCacheConfig {
            dir: dir.to_path_buf(),
            max_bytes: 1 << 30,
        }),
        max_sessions: None,
    })
    .unwrap();
    let mut options = tiny_options(&tiny(Arch::Qwen2, Weights::Random, seed));
    options.context.n_ctx = Some(N_CTX);
    engine.blocking_load(options).unwrap();
    Classifier::new(engine)
}

/// 56 different requests: every verb with every object.
fn requests() -> Vec<String> {
    let verbs = [
        "run",
        "fix",
        "explain",
        "refactor",
        "find",
        "speed up",
        "undo changes to",
        "document",
    ];
    let objects = [
        "the tests",
        "the parser in src/parse.rs",
        "the flaky deadlock in the scheduler",
        "git status",
        "the Config struct",
        "every module that touches the cache",
        "it",
    ];
    verbs
        .iter()
        .flat_map(|verb| objects.iter().map(move |object| format!("{verb} {object}")))
        .collect()
}

/// What the model decided, without the timings.
fn verdict(c: &Classification) -> (String, u32, String) {
    (c.lane.to_string(), c.confidence.to_bits(), c.reason.clone())
}

#[test]
fn every_request_gets_a_lane_and_a_confidence_in_range() {
    let _lock = llama_lock();
    let classifier = classifier(11, None);
    let cancel = CancelFlag::new();
    let requests = requests();
    assert!(requests.len() > 50);
    for (i, request) in requests.iter().enumerate() {
        let summary = if i % 2 == 0 {
            ""
        } else {
            "last task: fix the parser\nfiles touched: src/parse.rs"
        };
        let c = classifier
            .classify(request, summary, &cancel)
            .unwrap_or_else(|e| panic!("request {request:?}: {e}"));
        assert!(
            (0.0..=1.0).contains(&c.confidence),
            "{request:?}: {}",
            c.confidence
        );
        assert!(c.reason.len() <= REASON_MAX_CHARS, "{request:?}: {c:?}");
        assert!(c.stats.decode_tokens > 0, "{request:?}: {c:?}");
    }
}

#[test]
fn the_instructions_are_computed_once_then_reused_from_memory_and_from_disk() {
    let _lock = llama_lock();
    let cache = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let requests = requests();

    let first = classifier(12, Some(cache.path()));
    let cold = first.classify(&requests[0], "", &cancel).unwrap();
    assert_eq!(cold.stats.cached_tokens, 0, "{:?}", cold.stats);
    let mut warm = Vec::new();
    for request in &requests[1..6] {
        let c = first.classify(request, "", &cancel).unwrap();
        // At least the instructions, which are most of the prompt.
        assert!(
            c.stats.cached_tokens * 2 > c.stats.prompt_tokens,
            "{request:?}: {:?}",
            c.stats
        );
        assert_eq!(c.stats.disk_cached_tokens, 0, "{request:?}: {:?}", c.stats);
        warm.push(c);
    }
    // A cached prefix decides exactly what a cold prefill decides.
    let again = first.classify(&requests[0], "", &cancel).unwrap();
    assert_eq!(verdict(&again), verdict(&cold));
    drop(first);

    let second = classifier(12, Some(cache.path()));
    let restored = second.classify(&requests[1], "", &cancel).unwrap();
    assert!(
        restored.stats.disk_cached_tokens > 0,
        "{:?}",
        restored.stats
    );
    assert_eq!(verdict(&restored), verdict(&warm[0]));
}

#[test]
fn a_cancelled_classification_says_so() {
    let _lock = llama_lock();
    let classifier = classifier(13, None);
    let cancel = CancelFlag::new();
    cancel.cancel();
    let result = classifier.classify("run the tests", "", &cancel);
    assert!(
        matches!(result, Err(ClassifyError::Cancelled)),
        "{result:?}"
    );
}
