//! `lode models [list] | pull SPEC | use MODEL`: the models on this machine, getting one from
//! the Hugging Face hub, and choosing the one lode uses.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,
    /// `lode models` alone lists, taking `list`'s flags.
    #[command(flatten)]
    pub list: ListArgs,
}

impl ModelsArgs {
    /// The subcommand, `list` when none was named.
    pub fn command(&self) -> ModelsCommandRef<'_> {
        match &self.command {
            None => ModelsCommandRef::List(&self.list),
            Some(ModelsCommand::List(list)) => ModelsCommandRef::List(list),
            Some(ModelsCommand::Pull(pull)) => ModelsCommandRef::Pull(pull),
            Some(ModelsCommand::Use(choice)) => ModelsCommandRef::Use(choice),
        }
    }
}

/// [`ModelsArgs::command`]'s answer.
#[derive(Debug)]
pub enum ModelsCommandRef<'a> {
    List(&'a ListArgs),
    Pull(&'a PullArgs),
    Use(&'a UseArgs),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List GGUF models on disk (the default).
    #[command(after_long_help = "Example:\n  lode models list --json")]
    List(ListArgs),
    /// Download a GGUF from the Hugging Face hub into the model dir.
    #[command(
        after_long_help = "SPEC is hf:ORG/REPO with a quant name (hf:ORG/REPO:Q4_K_M, matched \
case-insensitively against the repository's GGUF file names) or a file (hf:ORG/REPO/FILE.gguf \
or hf:ORG/REPO:FILE.gguf); a repository with one GGUF needs neither. The file goes to \
`<file>.part` in the model dir first: an interrupted pull resumes where it stopped when run \
again, and the file is renamed into place only when its SHA-256 matches the hub's. \
HF_ENDPOINT names a mirror (default https://huggingface.co); HF_TOKEN is sent for gated and \
private repositories.\n\nExamples:\n  lode models pull hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M\n  \
lode models pull hf:bartowski/gemma-2-2b-it-GGUF/gemma-2-2b-it-Q4_K_M.gguf"
    )]
    Pull(PullArgs),
    /// Make a model the one lode uses: writes `[models.large] path` into your config file.
    #[command(
        after_long_help = "MODEL is a GGUF path or a name `lode models` lists. Only the \
[models.large] table of the user config file is rewritten; comments and the rest stay.\n\n\
Examples:\n  lode models use ~/models/qwen2.5-coder-7b-instruct-q4_k_m.gguf\n  \
lode models use qwen2.5-coder:7b"
    )]
    Use(UseArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also scan this directory (repeatable).
    #[arg(long, value_name = "DIR")]
    pub dir: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// hf:ORG/REPO:QUANT, hf:ORG/REPO/FILE.gguf or hf:ORG/REPO.
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// The branch, tag or commit to download from.
    #[arg(long, value_name = "REV", default_value = "main")]
    pub revision: String,
}

#[derive(Debug, Args)]
pub struct UseArgs {
    /// A GGUF path, or a name from `lode models`.
    #[arg(value_name = "MODEL")]
    pub model: String,
}
