//! The commands that drive the engine directly: `lode gen`, `lode synth`, `lode route`
//! and `lode bench`, with the speculative-decoding flags they share.

use std::path::PathBuf;

use clap::Args;

use super::ModelArgs;
use crate::config::SpecChoice;
use crate::engine::synth::{Arch, Quant, Shape, Weights};

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Wrap the prompt as a user message in the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// System message (with --chat).
    #[arg(long, value_name = "TEXT", requires = "chat")]
    pub system: Option<String>,
    /// Print the exact prompt the model is given (the chat template's output) to stderr
    /// before generating, e.g. `lode gen --model m.gguf --chat --show-prompt "hi"`.
    #[arg(long, requires = "chat")]
    pub show_prompt: bool,
    /// Random seed (default: a random one, printed with --json).
    #[arg(short, long)]
    pub seed: Option<u32>,
    /// Temperature; 0 = greedy.
    #[arg(long = "temp", default_value_t = 0.8, value_name = "T")]
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 40)]
    pub top_k: i32,
    /// Nucleus sampling threshold (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Minimum probability relative to the best token (0 = off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Window for the repetition penalty, in tokens.
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: i32,
    /// Maximum tokens to generate.
    #[arg(short = 'n', long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Stop before this string (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Constrain output with a GBNF grammar file (root rule `root`).
    #[arg(long, value_name = "FILE", conflicts_with = "json_schema")]
    pub grammar_file: Option<PathBuf>,
    /// Constrain output to JSON matching this JSON-schema file.
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<PathBuf>,
    /// Print one JSON object (text, finish reason, seed and the turn's stats) instead of
    /// streaming text.
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the disk prompt cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The prompt; `-` or absent reads standard input.
    pub prompt: Option<String>,
}

/// Speculative decoding flags (`lode gen`, `lode bench --spec`); unset ones come from
/// `[speculation]` in config.
#[derive(Debug, Clone, Args)]
pub struct SpecArgs {
    /// Speculative decoding: `auto` uses the model's MTP layers when it has them, else the
    /// draft model, else n-gram lookup in the session's own tokens; `mtp`, `draft`, `ngram`
    /// and `off` choose. Every token is the model's own choice either way; only the speed
    /// differs.
    #[arg(long, value_enum)]
    pub spec: Option<SpecChoice>,
    /// A small GGUF model with the same vocabulary that proposes tokens for the target to
    /// verify in batches (default: `[models.draft] path`).
    #[arg(long, value_name = "PATH")]
    pub draft_model: Option<PathBuf>,
    /// Most tokens MTP or the draft model proposes per round; the length is chosen each
    /// round from measured acceptance and this machine's costs, down to none when
    /// speculation does not pay. N-gram lookup chooses up to 32.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub draft_max: Option<u32>,
    /// Always propose exactly N tokens per round instead of choosing.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub draft_len: Option<u32>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Architecture.
    #[arg(long, value_enum, default_value = "qwen2")]
    pub arch: Arch,
    /// Shape: tiny (under 2 MB) or a real model's dimensions.
    #[arg(long, value_enum, default_value = "tiny")]
    pub shape: Shape,
    /// Weights: random noise, or structured so the greedy next token is known exactly.
    #[arg(long, value_enum, default_value = "random")]
    pub weights: Weights,
    /// Seed for the weights; the same seed writes the same file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Quantize through llama.cpp (default: f32 for tiny, f16 for real shapes).
    #[arg(long, value_enum)]
    pub quant: Option<Quant>,
    /// Add an MTP (NextN) prediction block (qwen35 only).
    #[arg(long)]
    pub mtp: bool,
    /// Override the vocabulary size.
    #[arg(long, value_name = "N")]
    pub vocab: Option<u32>,
    /// Override the context length the model declares (tiny: 4096).
    #[arg(long, value_name = "N")]
    pub ctx: Option<u32>,
    /// Print a JSON report instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Output file.
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The request, as you would type it to lode; `-` reads standard input.
    pub request: String,
    /// Print one JSON object: lane, tier, reason, elapsed_ms (and confidence, action).
    #[arg(long)]
    pub json: bool,
    /// Routing mode (default: LODE_ROUTE, `[router] mode`, or auto).
    #[arg(long, value_enum)]
    pub route: Option<crate::router::RouteMode>,
    /// The small model that classifies: a GGUF file (default: `[models.small] path`).
    #[arg(long, value_name = "MODEL")]
    pub small_model: Option<String>,
    /// CPU threads for the small model.
    #[arg(short, long, value_name = "N")]
    pub threads: Option<u32>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Prompt tokens for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    pub prefill_tokens: u32,
    /// Tokens for the decode measurement (with --spec: generated per configuration).
    #[arg(long, default_value_t = 128)]
    pub decode_tokens: u32,
    /// Shared prefix for the prompt-cache measurement.
    #[arg(long, default_value_t = 4000)]
    pub prefix_tokens: u32,
    /// New tokens after the cached prefix.
    #[arg(long, default_value_t = 200)]
    pub suffix_tokens: u32,
    /// Repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Measure speculative decoding instead: verify-batch costs, fixed draft lengths and the
    /// adaptive policy.
    #[arg(long = "spec")]
    pub spec: bool,
    /// With --spec: a small GGUF model with the same vocabulary to measure as the drafter
    /// (default: `[models.draft] path`; a model's own MTP layers are preferred).
    #[arg(long, value_name = "PATH", requires = "spec")]
    pub draft_model: Option<PathBuf>,
    /// With --spec: the longest fixed draft length measured, and the adaptive policy's limit.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub draft_max: u32,
    /// Write the best policy for this model into the user config
    /// (`[speculation.models."PATH"]`).
    #[arg(long, requires = "spec")]
    pub save: bool,
    /// Measure the router instead: tier 0's coverage, precision and latency on the bundled
    /// label set, and tier 1's accuracy and latency when a small model is configured or given.
    #[arg(long, conflicts_with = "spec")]
    pub router: bool,
    /// With --router: the small model to measure tier 1 on (default: `[models.small] path`).
    #[arg(long, value_name = "PATH", requires = "router")]
    pub small_model: Option<String>,
}
