//! Command-line definitions. Parsing only: each subcommand's logic lives in
//! [`crate::commands`], where tests reach it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::FlashAttention;

// Each subcommand's arguments beside their conversion into options; the shared ones
// (backend, model, permissions) stay here.
mod engine;
mod mcp;
mod models;
mod review;
mod run;
pub mod sessions;
pub use engine::{BenchArgs, GenArgs, RouteArgs, SpecArgs, SynthArgs};
pub use mcp::{McpAction, McpArgs};
pub use models::{ListArgs, ModelsArgs, ModelsCommand, ModelsCommandRef, PullArgs, UseArgs};
pub use review::{HookAction, HookArgs, ReviewArgs};
pub use run::RunArgs;

/// lode — a coding agent that runs its model inside its own process.
#[derive(Debug, Parser)]
#[command(name = "lode", version, args_conflicts_with_subcommands = true)]
#[command(
    after_long_help = "Without a subcommand, lode opens the interactive session in \
this repository.\n\nExamples:\n  lode\n  lode --model ~/models/qwen2.5-coder-7b-q4_k_m.gguf\n  \
lode --resume\n  lode demo\n\nExit status: 0 success, 1 error, 2 bad usage.\n\
Environment: LODE_BACKEND, LODE_MODEL, LODE_MODEL_DIR, LODE_REMOTE_URL, LODE_CTX_SIZE, \
LODE_THREADS, LODE_GPU_LAYERS, LODE_CACHE (true/false), LODE_CACHE_MAX_MB, LODE_SPEC, \
LODE_ROUTE, LODE_FALLBACK, LODE_SANDBOX, LODE_SKIP (the hook), LODE_CONFIG_DIR, LODE_CACHE_DIR, \
LODE_DATA_DIR."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The interactive session's options (`lode` with no subcommand).
#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Continue a saved session of this repository: without ID, pick one from a list.
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "")]
    pub resume: Option<String>,
}

/// What every agent front end takes: the model, the permissions, the budget, the tests and
/// the workspace.
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub routing: RoutingArgs,
    #[command(flatten)]
    pub permissions: PermissionArgs,
    /// Model requests allowed per task (default 30).
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u32>,
    /// The command that proves a task done (default: detected: cargo test, pytest, …).
    #[arg(long, value_name = "CMD")]
    pub test_cmd: Option<String>,
    /// Work in this directory (its repository root is the workspace).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// What commands may write: workspace-write (default), read-only or off.
    #[arg(long, value_name = "MODE")]
    pub sandbox: Option<crate::tools::confine::SandboxMode>,
    /// Run commands without the OS sandbox (the same as `--sandbox off`).
    #[arg(long, conflicts_with = "sandbox")]
    pub no_sandbox: bool,
}

impl AgentArgs {
    /// Applies the flags that override configuration (the sandbox).
    pub fn override_config(&self, config: &mut crate::config::Config) {
        if self.no_sandbox {
            config.sandbox.mode = crate::tools::confine::SandboxMode::Off;
        } else if let Some(mode) = self.sandbox {
            config.sandbox.mode = mode;
        }
    }
}

/// Which calls need approval. The interactive session asks by default; `lode run` edits
/// and runs tests without asking by default.
#[derive(Debug, Clone, Args)]
pub struct PermissionArgs {
    /// Edits and commands need approval (the session's default; `lode run` asks in a
    /// terminal and refuses without one).
    #[arg(long, group = "permission")]
    pub ask: bool,
    /// Edits and the test command run; other commands are refused (`lode run`'s default).
    #[arg(long, group = "permission")]
    pub auto_edit: bool,
    /// Everything runs without asking.
    #[arg(long, group = "permission")]
    pub yolo: bool,
    /// Only reading tools are offered; nothing is written or run.
    #[arg(long, group = "permission")]
    pub read_only: bool,
}

impl PermissionArgs {
    /// The chosen mode, or `default` when no flag was given.
    pub fn mode(&self, default: crate::agent::PermissionMode) -> crate::agent::PermissionMode {
        use crate::agent::PermissionMode;
        if self.read_only {
            PermissionMode::ReadOnly
        } else if self.yolo {
            PermissionMode::Yolo
        } else if self.ask {
            PermissionMode::Ask
        } else if self.auto_edit {
            PermissionMode::AutoEdit
        } else {
            default
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Do a task in one shot: plan, read, edit, test, until the tests pass.
    #[command(
        after_long_help = "Progress goes to stderr, the final answer to stdout. Piped \
standard input is appended to the task.\n\nExit status: 0 done and tests pass, 1 task not \
achieved, 2 usage or configuration error, 3 no model available, 130 interrupted.\n\n\
Examples:\n  lode run \"fix the failing test\"\n  \
lode run --backend scripted:demo.json --cwd fixtures/repos/rust-bug \"fix the failing test\"\n  \
cargo test 2>&1 | lode run --read-only \"why does this fail?\"\n  \
lode run /fix-issue 42"
    )]
    Run(RunArgs),
    /// Restore the files the last `lode run` in this repository changed, byte for byte.
    #[command(
        after_long_help = "A file changed after the run (by you, by another tool) is not \
overwritten: undo refuses, changes nothing and exits 1; `--force` undoes anyway and keeps each \
changed version as FILE.lode-backup. Nothing is written through a symlink. Directories the run \
created are removed when empty.\n\nExamples:\n  lode undo\n  lode undo --force --cwd ~/src/app"
    )]
    Undo(UndoArgs),
    /// List or export this repository's saved sessions (the session's and `lode run`'s).
    Sessions(sessions::SessionsArgs),
    /// Trust this repository: let its `.lode/config.toml` choose models, servers, the test
    /// command and the sandbox (until then only performance settings apply).
    #[command(
        after_long_help = "Recorded in your own config.toml as [projects.\"<root>\"] trust = \
\"trusted\"; a repository cannot trust itself. --revoke records \"untrusted\".\n\nExamples:\n  \
lode trust\n  lode trust ~/src/project\n  lode trust --revoke"
    )]
    Trust(TrustArgs),
    /// Raw completion with the in-process engine, like llama-cli.
    #[command(
        after_long_help = "Examples:\n  lode gen --model m.gguf \"fn main() {\"\n  \
lode gen --model m.gguf --chat --seed 1 --json \"Explain borrowing\"\n  \
lode gen --model m.gguf --json-schema person.json \"A person:\""
    )]
    Gen(GenArgs),
    /// Write a synthetic GGUF model (random or structured weights) for tests and benchmarks.
    #[command(
        after_long_help = "These models have real shapes, a real tokenizer and chat \
template, and weights that are noise (or structured so the next token is known exactly). They \
are for testing and benchmarking lode and llama.cpp without downloading weights; they do not \
produce meaningful text.\n\nExamples:\n  lode synth --arch qwen2 --shape tiny --seed 7 t.gguf\n  \
lode synth --arch qwen2 --shape qwen2.5-0.5b --quant q4_k_m bench.gguf\n  \
lode synth --arch qwen35 --weights perm --mtp t35.gguf"
    )]
    Synth(SynthArgs),
    /// List GGUF models on disk (the model dir, Ollama, LM Studio, the Hugging Face cache),
    /// pull one from the Hugging Face hub, or choose the one lode uses.
    #[command(after_long_help = "Examples:\n  lode models --json\n  \
lode models pull hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M\n  lode models use qwen2.5-coder:7b")]
    Models(ModelsArgs),
    /// The MCP servers from `[mcp.servers.NAME]` and a trusted repository's `.mcp.json`.
    #[command(after_long_help = "Examples:\n  lode mcp list\n  lode mcp list --json")]
    Mcp(McpArgs),
    /// Show the build, compute devices, threads and where lode keeps its files.
    Doctor(DoctorArgs),
    /// Measure prompt processing, generation and prompt-cache speed on this machine.
    #[command(
        after_long_help = "Without --model, a synthetic Qwen2.5-0.5B-shaped Q4_K_M model \
is written once to the cache dir (~400 MB) and measured. --router measures the router \
instead (no large model needed).\n\nExamples:\n  lode bench --json\n  \
lode bench --router --small-model ~/models/qwen2.5-0.5b-q8_0.gguf"
    )]
    Bench(BenchArgs),
    /// Which lane the router gives a request (direct, small or large), at which tier and
    /// why, without running it.
    #[command(
        after_long_help = "Tier 0 rules answer one-call requests with no model; the small \
model ([models.small] path or --small-model) classifies the rest; without one they go to the \
large model. Prints `lane: reason (tier, time)`, or one JSON object with --json.\n\n\
Examples:\n  lode route \"run the tests\"\n  lode route --json \"show the diff\"\n  \
lode route --small-model ~/models/qwen2.5-0.5b-q8_0.gguf \"rename foo to bar in parser.rs\"\n  \
echo \"redesign the storage layer\" | lode route -"
    )]
    Route(RouteArgs),
    /// The interactive session on a bundled example repository with a bundled scripted
    /// model: a whole plan → edit → test cycle in 30 seconds, no model needed.
    #[command(
        after_long_help = "The example is a tiny Rust crate whose `add` subtracts. Press \
Enter to send the prepared task, `y` to approve the edit, watch the tests pass, then try \
/undo, /diff and /help. Needs cargo (the demo's tests are `cargo test`).\n\nExample:\n  \
lode demo\n  lode demo --dir /tmp/try-lode"
    )]
    Demo(DemoArgs),
    /// Review a change with the model, read-only: by default exactly what `git commit` will
    /// record (the index, not the working tree).
    #[command(
        after_long_help = "Findings print as `path:line: severity: title` lines with their \
detail (or --json, or --sarif for code-scanning tools); every line points into the diff. \
The model may read, search and outline the files as they will be committed; it cannot write \
or run anything.\n\nA review never blocks for the wrong reason: no model, a failing model or \
a spent --budget pass with a notice; only findings fail. LODE_SKIP=1 skips the review.\n\n\
Exit status: 0 no finding at or above --fail-on, 1 findings, 2 usage error (not a \
repository, bad range), 3 not reviewed (with --strict), 130 interrupted.\n\n\
Settings for the hook go in config: [review] budget_s, fail_on, max_turns, strict.\n\n\
Examples:\n  lode review\n  lode review --range main..HEAD --sarif > review.sarif\n  \
lode review --uncommitted --fail-on warning"
    )]
    Review(ReviewArgs),
    /// Install or remove lode's git pre-commit hook (`lode review` on every commit).
    #[command(
        after_long_help = "install writes the pre-commit hook where git looks for it \
(core.hooksPath is respected). An existing hook is never overwritten: it is kept, run first, \
and backed up as pre-commit.lode-backup. uninstall puts back exactly what was there.\n\n\
Examples:\n  lode hook install\n  lode hook uninstall"
    )]
    Hook(HookArgs),
    /// Print a shell completion script for lode.
    #[command(
        after_long_help = "Load it for the current shell, or install it where your shell \
looks:\n  bash:  lode completions bash > ~/.local/share/bash-completion/completions/lode\n  \
zsh:   lode completions zsh > \"${fpath[1]}/_lode\"\n  fish:  lode completions fish > \
~/.config/fish/completions/lode.fish\n  powershell:  lode completions powershell >> $PROFILE"
    )]
    Completions(CompletionsArgs),
    /// Print lode's man page (roff) to stdout: `lode man > ~/.local/share/man/man1/lode.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the example repository (default: a new directory under the system
    /// temp dir). Must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The model wire, shared by every agent command.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// local (in-process engine), openai (the `[remote]` server), or scripted:PATH (replay a
    /// script). Default: LODE_BACKEND, or `[agent] backend` in config, or local.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<crate::config::BackendChoice>,
    /// A GGUF file for the local backend, a model name for a remote one (default: LODE_MODEL).
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Context length for the local engine.
    #[arg(short = 'c', long, value_name = "N")]
    pub ctx_size: Option<u32>,
    /// CPU threads for the local engine.
    #[arg(short, long, value_name = "N")]
    pub threads: Option<u32>,
    /// A remote server to use first, e.g. http://10.0.0.5:8080 (with or without /v1; default:
    /// `[remote] base_url`, then OPENAI_BASE_URL / ANTHROPIC_BASE_URL for the wire); the local
    /// model takes over while it is down.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// The remote's protocol: openai (OpenAI-compatible) or anthropic (Messages API).
    #[arg(long, value_enum)]
    pub wire: Option<crate::config::Wire>,
    /// Who takes over when the remote is down: local, none, or scripted:PATH (default:
    /// `[fallback] backend`, else local when `[models.large]` is set).
    #[arg(long, value_name = "BACKEND")]
    pub fallback: Option<crate::config::FallbackChoice>,
    /// Use the local model only; nothing is sent over the network.
    #[arg(long, conflicts_with_all = ["remote", "fallback"])]
    pub offline: bool,
}

/// How agent tasks are routed between models (the reviewer does not route).
#[derive(Debug, Clone, Args)]
pub struct RoutingArgs {
    /// Route each task: `auto` answers one-call requests with no model and lets the small
    /// model pick small or large for the rest; `small` and `large` fix the lane (default:
    /// LODE_ROUTE, `[router] mode`, or auto).
    #[arg(long, value_enum)]
    pub route: Option<crate::router::RouteMode>,
    /// The small model: a GGUF file, or scripted:PATH (default: `[models.small] path`).
    #[arg(long, value_name = "MODEL")]
    pub small_model: Option<String>,
}

impl BackendArgs {
    /// The flags as `backend::open` takes them, with `routing` where the command routes.
    pub fn flags(&self, routing: Option<&RoutingArgs>) -> crate::compose::backend::BackendFlags {
        crate::compose::backend::BackendFlags {
            backend: self.backend.clone(),
            model: self.model.clone(),
            ctx_size: self.ctx_size,
            threads: self.threads,
            route: routing.and_then(|r| r.route),
            small_model: routing.and_then(|r| r.small_model.clone()),
            remote: self.remote.clone(),
            wire: self.wire,
            fallback: self.fallback.clone(),
            offline: self.offline,
        }
    }
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The repository (default: the current one).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Stop trusting it.
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The repository to restore (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Undo even files changed after the run; each changed version is kept as FILE.lode-backup.
    #[arg(long)]
    pub force: bool,
}

/// Options shared by commands that load a model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// GGUF model file (default: LODE_MODEL, or `[models.large] path` in config).
    #[arg(short, long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Context length in tokens (default: the model's own, at most 16384).
    #[arg(short = 'c', long, value_name = "N")]
    pub ctx_size: Option<u32>,
    /// CPU threads (default: one per core, at most 8).
    #[arg(short, long, value_name = "N")]
    pub threads: Option<u32>,
    /// Layers to offload to the GPU (GPU builds; default all).
    #[arg(long, value_name = "N")]
    pub gpu_layers: Option<u32>,
    /// Flash attention (auto: whichever a quick measurement at the first load finds faster
    /// for this model on this machine, remembered in the cache directory).
    #[arg(long, value_enum)]
    pub flash_attn: Option<FlashAttention>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
