//! Which found model lode uses when none is configured.
//!
//! An agent needs a model that follows instructions, fits in memory and has room for a
//! repository's worth of context. [`rank`] orders the candidates by that, purely from what
//! discovery read (names, sizes, headers), so the rule is tested without a machine; the
//! front ends take the first that also passes [`crate::gguf::validate`], say why, and ask
//! before remembering it.

use super::entry::ModelEntry;
use super::memory::Memory;
use super::render::{human_bytes, human_context};

/// Below this a session's tool schemas, instructions and a few files do not fit.
pub const MIN_CONTEXT: u64 = 8192;

/// Weights are not all a model takes: the KV cache and compute buffers come on top.
const HEADROOM_PERCENT: u64 = 25;

/// A model picked, and why, in words for the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice<'a> {
    pub entry: &'a ModelEntry,
    pub reason: String,
}

/// The first of [`rank`].
pub fn choose(entries: &[ModelEntry], memory: Memory) -> Option<Choice<'_>> {
    rank(entries, memory).into_iter().next()
}

/// The usable models, best first. Out: unreadable files, multimodal projectors, models
/// whose weights (plus headroom) exceed the available memory, and models that declare a
/// context under [`MIN_CONTEXT`]. Then instruct-tuned coders first, other instruct/chat
/// models next, base models last; within each, the largest that fits (the most capable).
pub fn rank(entries: &[ModelEntry], memory: Memory) -> Vec<Choice<'_>> {
    let mut usable: Vec<&ModelEntry> = entries
        .iter()
        .filter(|e| e.error.is_none())
        .filter(|e| e.architecture.as_deref() != Some("clip") && !is_projector(&e.name))
        .filter(|e| fits(e, memory))
        .filter(|e| e.context_length.is_none_or(|n| n >= MIN_CONTEXT))
        .collect();
    usable.sort_by_key(|e| std::cmp::Reverse((kind(&e.name), e.size_bytes)));
    usable
        .into_iter()
        .map(|entry| Choice {
            entry,
            reason: reason(entry, memory),
        })
        .collect()
}

fn fits(entry: &ModelEntry, memory: Memory) -> bool {
    match memory {
        Memory::Available(bytes) => needed(entry) <= bytes,
        Memory::Unknown => true,
    }
}

fn needed(entry: &ModelEntry) -> u64 {
    entry
        .size_bytes
        .saturating_add(entry.size_bytes / 100 * HEADROOM_PERCENT)
}

/// What the name says the model was tuned for, ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Base,
    Coder,
    Instruct,
    InstructCoder,
}

fn kind(name: &str) -> Kind {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(x));
    let instruct = has(&["instruct", "chat", "it", "inst"]);
    // `starcoder2`, `codellama`, `codegemma`, `qwen2.5-coder`.
    let coder = words
        .iter()
        .any(|w| w.contains("coder") || w.starts_with("code"));
    match (instruct, coder) {
        (true, true) => Kind::InstructCoder,
        (true, false) => Kind::Instruct,
        (false, true) => Kind::Coder,
        (false, false) => Kind::Base,
    }
}

fn is_projector(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower
        .rsplit('/')
        .next()
        .unwrap_or(&lower)
        .starts_with("mmproj")
}

fn reason(entry: &ModelEntry, memory: Memory) -> String {
    let what = match kind(&entry.name) {
        Kind::InstructCoder => "an instruct-tuned coding model",
        Kind::Instruct => "an instruct/chat model",
        Kind::Coder => "a coding model (its name does not say instruct-tuned)",
        Kind::Base => "the best that fits (its name does not say instruct-tuned)",
    };
    let size = human_bytes(entry.size_bytes);
    let room = match memory {
        Memory::Available(bytes) => format!("{size} fits in {} available", human_bytes(bytes)),
        Memory::Unknown => format!("{size}; free memory is unknown on this system, not checked"),
    };
    let context = match entry.context_length {
        Some(n) => format!("{} context", human_context(n)),
        None => "context length not declared".to_string(),
    };
    format!("{what}, {room}, {context}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::Source;
    use pretty_assertions::assert_eq;

    const GIB: u64 = 1 << 30;

    fn model(name: &str, size_gib: f64, ctx: Option<u64>) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            source: Source::ModelDir,
            path: name.into(),
            architecture: Some("qwen2".into()),
            n_params: Some(1),
            quantization: Some("Q4_K_M".into()),
            size_bytes: (size_gib * GIB as f64) as u64,
            context_length: ctx,
            mtp: false,
            error: None,
        }
    }

    fn names(entries: &[ModelEntry], memory: Memory) -> Vec<&str> {
        rank(entries, memory)
            .iter()
            .map(|c| c.entry.name.as_str())
            .collect()
    }

    #[test]
    fn instruct_coders_first_then_instruct_then_base_largest_first() {
        let entries = [
            model("llama-3-8b.gguf", 4.0, Some(8192)),
            model("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1.0, Some(32768)),
            model("gemma-3-4b-it-Q4_K_M.gguf", 2.5, Some(131072)),
            model("qwen2.5-coder-7b-instruct-q4_k_m.gguf", 4.4, Some(32768)),
            model("starcoder2-3b.gguf", 1.8, Some(16384)),
            model("qwen3-8b-chat.gguf", 5.0, None),
        ];
        assert_eq!(
            names(&entries, Memory::Available(64 * GIB)),
            [
                "qwen2.5-coder-7b-instruct-q4_k_m.gguf",
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                "qwen3-8b-chat.gguf",
                "gemma-3-4b-it-Q4_K_M.gguf",
                "starcoder2-3b.gguf",
                "llama-3-8b.gguf",
            ]
        );
    }

    #[test]
    fn what_does_not_fit_or_cannot_hold_a_session_is_left_out() {
        let mut broken = model("broken-instruct.gguf", 0.1, None);
        broken.error = Some("bad magic".into());
        let mut projector = model("x/mmproj-model-f16.gguf", 0.1, None);
        projector.architecture = Some("clip".into());
        let entries = [
            model("big-coder-instruct.gguf", 7.0, Some(32768)),
            model("short-instruct.gguf", 0.2, Some(2048)),
            model("small-coder-instruct.gguf", 1.0, Some(32768)),
            broken,
            projector,
        ];
        // 7 GiB of weights need 8.75 GiB with headroom.
        assert_eq!(
            names(&entries, Memory::Available(8 * GIB)),
            ["small-coder-instruct.gguf"]
        );
        assert_eq!(
            names(&entries, Memory::Available(9 * GIB)),
            ["big-coder-instruct.gguf", "small-coder-instruct.gguf"]
        );
        assert_eq!(choose(&entries, Memory::Available(GIB / 2)), None);
    }

    #[test]
    fn the_reason_says_what_was_checked() {
        let entries = [model("qwen2.5-coder-7b-instruct.gguf", 4.0, Some(32768))];
        let known = choose(&entries, Memory::Available(12 * GIB)).unwrap();
        assert_eq!(
            known.reason,
            "an instruct-tuned coding model, 4.0 GiB fits in 12 GiB available, 32K context"
        );
        let unknown = choose(&entries, Memory::Unknown).unwrap();
        assert_eq!(
            unknown.reason,
            "an instruct-tuned coding model, 4.0 GiB; free memory is unknown on this system, not checked, 32K context"
        );
    }

    #[test]
    fn it_is_a_word_not_a_substring() {
        assert_eq!(kind("gemma-3-270m-it-Q4_K_M.gguf"), Kind::Instruct);
        assert_eq!(kind("smollm2-135m-instruct.gguf"), Kind::Instruct);
        assert_eq!(kind("tinyllama-with-italics.gguf"), Kind::Base);
        assert_eq!(kind("deepseek-coder-v2-lite.gguf"), Kind::Coder);
    }
}
