//! The attack suite (issue 15): each test is something a hostile repository, model or model
//! file tried, run against the real binary, tools and file system.

pub mod commands;
pub mod custom_commands;
pub mod files;
pub mod gguf;
pub mod hooks;
pub mod remote;
pub mod undo;
