//! GGUF model discovery: the model dir and stores users already have.
//!
//! `lode models` lists every GGUF file in lode's model dir(s) and in the Ollama, LM Studio and
//! Hugging Face stores on this machine, described from the GGUF header in pure Rust (no
//! llama.cpp load). [`ScanRoots::discover`] finds where the stores live, [`scan`] walks them
//! (`stores.rs`), reads each header (`entry.rs`) and folds duplicates, [`render_table`] prints.
//! A missing store is skipped; an unreadable file is listed with its reason, never a crash.
//! [`rank`] orders what was found for the case where no model is configured (`choose.rs`),
//! using the memory this machine has available (`memory.rs`).

mod choose;
mod discover;
mod entry;
mod memory;
mod render;
mod stores;
#[cfg(test)]
mod testutil;
mod walk;

use std::collections::HashSet;

pub use choose::{choose, rank, Choice, MIN_CONTEXT};
pub use discover::{ScanRoots, StoreEnv};
pub use entry::{ModelEntry, Source};
pub use memory::Memory;
pub use render::{render_empty, render_table};

/// Every model under `roots`, sorted by source then name. A file reachable twice (an HF
/// snapshot and a model dir symlink to the same blob, two Ollama tags of one blob) is listed
/// once, under the first source in [`Source`] order and then the first name.
pub fn scan(roots: &ScanRoots) -> Vec<ModelEntry> {
    let mut candidates = Vec::new();
    for dir in &roots.model_dirs {
        candidates.extend(stores::tree(dir, Source::ModelDir));
    }
    if let Some(root) = &roots.ollama {
        candidates.extend(stores::ollama(root));
    }
    for root in &roots.lmstudio {
        candidates.extend(stores::tree(root, Source::LmStudio));
    }
    if let Some(root) = &roots.hf_hub {
        candidates.extend(stores::huggingface(root));
    }
    candidates.sort_by(|a, b| (a.source, &a.name, &a.parts).cmp(&(b.source, &b.name, &b.parts)));

    let mut seen = HashSet::new();
    candidates.retain(|c| {
        let first = c.parts.first().cloned().unwrap_or_default();
        seen.insert(first.canonicalize().unwrap_or(first))
    });
    // Headers are read only for the survivors: a duplicate costs one `canonicalize`.
    describe_all(candidates)
}

/// Reads headers on several threads: a header with a 150k-token vocabulary takes tens of
/// milliseconds to parse, and a store can hold dozens of models. Order is preserved.
fn describe_all(candidates: Vec<entry::Candidate>) -> Vec<ModelEntry> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if candidates.len() <= 1 || threads == 1 {
        return candidates.iter().map(entry::describe).collect();
    }
    let chunk = candidates.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(entry::describe).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests;
