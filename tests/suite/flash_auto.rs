//! `auto` flash attention: measured at the first load of a model on the real weights,
//! remembered in the memo file, and read back (not measured again) at the next load; an
//! explicit setting is never measured.

use lode::engine::flash::FlashChoice;
use lode::engine::{Engine, EngineConfig, FlashAttention};

use super::common::llama_lock;
use super::real_models::{options, GEMMA, SMOLLM2};

#[test]
fn auto_measures_once_per_model_and_remembers() {
    let _guard = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let memo = dir.path().join("cache").join("flash-attention.json");
    let load = |file: &str, flash: FlashAttention| {
        let engine = Engine::spawn(EngineConfig::default()).unwrap();
        let mut opts = options(file, 512);
        opts.context.flash_attention = flash;
        opts.flash_memo = Some(memo.clone());
        engine.blocking_load(opts).unwrap()
    };
    let first = load(SMOLLM2, FlashAttention::Auto);
    let choice = first.flash.clone().expect("auto measured nothing");
    assert!(
        choice.prompt_ratio > 0.0 && choice.decode_ratio > 0.0 && choice.verify_ratio > 0.0,
        "{choice:?}"
    );
    let written = std::fs::read_to_string(&memo).unwrap();
    assert!(written.contains(&first.identity), "{written}");

    // The next load reads the decision back: the numbers written, to the last digit, which
    // a second measurement would never give. (JSON keeps a float to its shortest decimal,
    // which may differ from the measured one in the last bit, so compare with the file.)
    let stored: std::collections::BTreeMap<String, FlashChoice> =
        serde_json::from_str(&written).unwrap();
    let stored = stored.into_values().next().unwrap();
    assert_eq!(stored.on, choice.on);
    assert!(
        (stored.decode_ratio - choice.decode_ratio).abs() < 1e-12,
        "{stored:?}"
    );
    let again = load(SMOLLM2, FlashAttention::Auto);
    assert_eq!(again.flash, Some(stored));
    // Another model is measured for itself; an explicit setting is not measured at all.
    let gemma = load(GEMMA, FlashAttention::Auto);
    assert!(gemma.flash.is_some());
    let memo_now: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&memo).unwrap()).unwrap();
    assert_eq!(memo_now.as_object().unwrap().len(), 2, "{memo_now}");
    assert_eq!(load(GEMMA, FlashAttention::On).flash, None);
}
