//! Everything that touches llama.cpp, and nothing else does.
//!
//! One engine thread ([`worker`]) owns the backend, the loaded model and its sessions;
//! [`worker::Engine`] is the handle the rest of lode uses.

pub mod arch;
pub mod cache;
pub mod calibrate;
pub mod error;
pub mod flash;
pub mod generate;
pub mod kv_session;
pub mod llama;
pub mod model;
pub mod ngram;
pub mod options;
pub mod read;
pub mod repetition;
pub mod sampling;
pub mod spec_policy;
pub mod speculative;
pub mod synth;
pub mod template;
pub mod textstream;
pub mod worker;

pub use crate::cancel::CancelFlag;
pub use calibrate::Calibration;
pub use error::EngineError;
pub use generate::{
    FinishReason, GenerateRequest, GenerationResult, OnLoop, Persist, Prompt, Speculation,
};
pub use model::{MemoryKind, ModelInfo};
pub use options::{ContextOptions, FlashAttention, LoadOptions};
pub use read::{ReadRequest, Reading};
pub use sampling::{bounded_json_gbnf, json_schema_gbnf, Grammar, SamplingParams};
pub use spec_policy::{CostTable, DraftLength, SpecPolicy};
pub use worker::{DiskCacheConfig, Engine, EngineConfig, GenEvent, Generation};
