//! The interactive session: `lode` with no subcommand. A ratatui front end that consumes
//! `AgentEvent`s and sends `AgentCommand`s; the only module that names ratatui or crossterm.

pub mod diff;
pub mod files;
pub mod highlight;
pub mod history;
pub mod input;
pub mod markdown;
pub mod theme;
pub mod wrap;
