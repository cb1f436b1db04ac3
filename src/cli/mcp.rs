//! `lode mcp`: the configured MCP servers.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    pub action: McpAction,
}

#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Start every configured server, then show its state and the tools the model would see.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}
