//! Integration tests, one module per area.

pub mod agent_context;
pub mod agent_run;
pub mod answer_grammar;
pub mod anthropic;
pub mod attack;
pub mod bench_spec;
pub mod boundaries;
pub mod cli;
pub mod common;
pub mod completions;
pub mod demo;
pub mod engine;
pub mod fallback;
pub mod flash_auto;
pub mod hooks;
pub mod mcp;
pub mod models_choose;
pub mod models_pull;
pub mod mtp;
pub mod ngram;
pub mod openai;
pub mod overflow;
pub mod protocol;
pub mod real_models;
pub mod review;
pub mod router_classify;
pub mod router_cmd;
pub mod router_probe;
pub mod run_sessions;

pub mod speculative;
pub mod synth;
pub mod toolcall_grammar;
pub mod tui_loop;
pub mod tui_tmux;
pub mod tui_view;
