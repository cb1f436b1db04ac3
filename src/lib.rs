//! lode: a terminal coding agent that runs its model inside its own process.
//!
//! The library holds every subcommand's logic so tests reach it directly; `main.rs` only
//! parses flags and dispatches. Layer rules (DESIGN.md): only `engine/` talks to llama.cpp.

pub mod agent;
pub mod backend;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config;
pub mod config_edit;
pub mod discovery;
pub mod engine;
pub mod exec;
pub mod files;
pub mod gguf;
pub mod hf_hub;
pub mod review;
pub mod router;
pub mod sessions;
pub mod stats;
pub mod tools;
pub mod tui;
