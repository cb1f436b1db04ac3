//! The logic behind each subcommand, callable from tests. `main.rs` parses flags, loads the
//! configuration and hands both here.

pub mod bench;
pub mod bench_router;
pub mod bench_spec;
pub mod demo;
pub mod doctor;
pub mod gen;
pub mod hook;
pub mod mcp;
pub mod models;
pub mod pick;
pub mod pull;
pub mod route;
pub mod sessions;
pub mod synth;
pub mod trust;
pub mod undo;

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cli::ModelArgs;
use crate::config::{Config, ConfigError};
use crate::engine::options::ProgressFn;
use crate::engine::{ContextOptions, EngineError, LoadOptions};

/// What a command can fail with. `main` prints the message and exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Synth(#[from] crate::engine::synth::SynthError),
    #[error("no model given: pass --model PATH or set LODE_MODEL (`lode models` lists the GGUF files on this machine)")]
    NoModel,
    #[error("cannot read `{}`: {source}", path.display())]
    ReadInput {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not valid JSON: {message}", path.display())]
    BadJson { path: PathBuf, message: String },
    #[error("{0}")]
    Undo(String),
    #[error("{0}")]
    Trust(String),
    #[error("{0}")]
    Hook(String),
    #[error("{0}")]
    Route(String),
    #[error("{0}")]
    Models(String),
    #[error(transparent)]
    Hub(#[from] crate::hf_hub::HubError),
    #[error("{0}")]
    Sessions(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Turns flags plus configuration into engine load options.
pub fn load_options(args: &ModelArgs, config: &Config) -> Result<LoadOptions, CommandError> {
    let path = args
        .model
        .clone()
        .or_else(|| config.model.clone().map(PathBuf::from))
        .or_else(|| config.models.large.clone())
        .ok_or(CommandError::NoModel)?;
    let threads = args.threads.unwrap_or(config.engine.threads).max(1);
    Ok(LoadOptions {
        path,
        gpu_layers: args.gpu_layers.or(config.engine.gpu_layers),
        context: ContextOptions {
            n_ctx: args.ctx_size.or(config.engine.ctx_size),
            threads,
            threads_batch: threads,
            flash_attention: args.flash_attn.unwrap_or(config.engine.flash_attention),
            ..ContextOptions::default()
        },
        progress: progress_bar("loading model"),
        draft: None,
        mtp: true,
        spec_costs: None,
        flash_memo: Some(config.flash_memo()),
    })
}

/// A progress bar on stderr when it is a terminal; nothing otherwise (scripts, CI, pipes).
pub fn progress_bar(label: &'static str) -> Option<ProgressFn> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}%")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(label);
    Some(Box::new(move |p: f32| {
        bar.set_position((p.clamp(0.0, 1.0) * 1000.0) as u64);
        if p >= 1.0 {
            bar.finish_and_clear();
        }
    }))
}
