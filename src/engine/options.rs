//! What a caller chooses when loading a model and creating its contexts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::spec_policy::CostTable;

/// Called with load progress in `0.0..=1.0`. The CLI draws a bar, the TUI a gauge.
pub type ProgressFn = Box<dyn FnMut(f32) + Send>;

/// How to load a model.
pub struct LoadOptions {
    /// The GGUF file.
    pub path: PathBuf,
    /// Layers to offload to a GPU; `None` offloads all of them when a GPU backend is built in.
    pub gpu_layers: Option<u32>,
    /// Context settings for every session on this model.
    pub context: ContextOptions,
    /// Load progress reports.
    pub progress: Option<ProgressFn>,
    /// A small model with the same vocabulary, loaded beside this one for draft
    /// speculation (same context settings, its own contexts).
    pub draft: Option<PathBuf>,
    /// Load the model's MTP (NextN) prediction layers when the file has them, so its sessions
    /// can draft their own tokens. Off saves the memory of those layers.
    pub mtp: bool,
    /// This machine's measured decode costs for this model, which seed the speculation
    /// policy (`lode bench --spec --save` stores them); `None` starts from a prior.
    pub spec_costs: Option<CostTable>,
    /// Where `auto` flash attention remembers what it measured (a JSON file in the cache
    /// directory); `None` measures at every load.
    pub flash_memo: Option<PathBuf>,
}

impl LoadOptions {
    /// Defaults for `path`: all layers offloaded, default context, no progress reports.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            gpu_layers: None,
            context: ContextOptions::default(),
            progress: None,
            draft: None,
            mtp: true,
            spec_costs: None,
            flash_memo: None,
        }
    }
}

/// Flash attention: faster for some models and machines, slower for others (on CPUs it can
/// speed decode by a third at shallow depth or slow it at depth), so `auto` measures.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttention {
    /// Whichever a quick measurement at load finds faster for this model here (remembered).
    #[default]
    Auto,
    On,
    Off,
}

/// Settings for an inference context. They are part of the disk-cache key, since saved KV
/// state only fits a context laid out the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextOptions {
    /// Context length in tokens; `None` takes the model's training length capped at
    /// [`DEFAULT_MAX_CTX`].
    pub n_ctx: Option<u32>,
    /// Largest number of tokens submitted to one decode call.
    pub n_batch: u32,
    /// Physical batch size inside llama.cpp.
    pub n_ubatch: u32,
    /// Threads for generation.
    pub threads: u32,
    /// Threads for prompt processing.
    pub threads_batch: u32,
    pub flash_attention: FlashAttention,
}

/// Context length used when the caller does not ask for one: large enough for an agent turn,
/// small enough that the KV cache of a 7B model fits in laptop memory.
pub const DEFAULT_MAX_CTX: u32 = 16_384;

impl Default for ContextOptions {
    fn default() -> Self {
        let threads = default_threads();
        Self {
            n_ctx: None,
            n_batch: 512,
            n_ubatch: 512,
            threads,
            threads_batch: threads,
            flash_attention: FlashAttention::Auto,
        }
    }
}

/// One thread per physical core is llama.cpp's sweet spot; hyperthreads only add contention.
/// Without a physical-core count at hand, take the logical count (at most 8: past that,
/// CPU decode is memory-bound and more threads only add synchronisation).
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
        .clamp(1, 8)
}
