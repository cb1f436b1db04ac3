//! Engine errors: each one says what went wrong, where, and what to do about it.

use std::path::PathBuf;

use crate::gguf::GgufError;

/// Everything the engine can fail with. Messages are shown to users as-is.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model file `{}` does not exist; pass --model PATH (see `lode models` for what is on disk)", path.display())]
    ModelNotFound { path: PathBuf },

    /// Bad magic, truncation, corruption: the GGUF reader's own messages say which.
    #[error(transparent)]
    ModelFile(GgufError),

    #[error("model file `{}` has architecture `{arch}`, which this build of llama.cpp does not know; update lode or use a supported model", path.display())]
    UnknownArchitecture { path: PathBuf, arch: String },

    #[error("requested context of {requested} tokens is more than model `{}` supports ({max}); lower --ctx-size to {max} or less", path.display())]
    ContextTooLarge {
        path: PathBuf,
        requested: u32,
        max: u32,
    },

    #[error("llama.cpp could not load `{}` (out of memory, or an unsupported tensor layout); run `lode doctor` and check the file with `lode models`", path.display())]
    LoadFailed { path: PathBuf },

    #[error("could not create an inference context of {n_ctx} tokens (out of memory?); lower --ctx-size")]
    ContextFailed { n_ctx: u32 },

    #[error("no model is loaded; load one first")]
    NoModel,

    #[error("draft speculation needs a draft model: pass --draft-model PATH.gguf (a small model with the same vocabulary)")]
    NoDraft,

    #[error("draft model `{draft}` cannot draft for `{target}`: {reason}")]
    DraftMismatch {
        draft: String,
        target: String,
        reason: String,
    },

    #[error("MTP speculation is not available: {0}")]
    MtpUnavailable(String),

    #[error("the prompt has {prompt} tokens but the context holds {n_ctx}; shorten the prompt or raise --ctx-size")]
    PromptTooLong { prompt: usize, n_ctx: u32 },

    #[error("token id {token} is outside the model's vocabulary of {n_vocab}")]
    BadToken { token: i32, n_vocab: i32 },

    #[error("the prompt is empty")]
    EmptyPrompt,

    #[error("invalid grammar: {0}")]
    Grammar(String),

    #[error("invalid sampling settings: {0}")]
    Sampling(String),

    #[error("chat template: {0}")]
    Template(#[from] crate::engine::template::TemplateError),

    #[error("llama.cpp decode failed: {0}")]
    Decode(String),

    #[error("model state: {0}")]
    State(String),

    #[error(transparent)]
    Backend(#[from] crate::engine::llama::BackendError),

    /// A read (which has no partial answer to return) was cancelled.
    #[error("cancelled")]
    Cancelled,

    #[error("the engine thread stopped unexpectedly")]
    WorkerGone,
}

impl EngineError {
    /// Maps a GGUF header problem onto the engine's model-file errors.
    pub fn from_gguf(err: GgufError) -> Self {
        match err {
            GgufError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                Self::ModelNotFound { path }
            }
            other => Self::ModelFile(other),
        }
    }
}
