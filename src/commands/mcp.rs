//! `lode mcp list`: starts every configured MCP server the way a session would, in the
//! repository lode was started in, and shows how each one stands and what the model would
//! be offered.

use std::io::Write;

use crate::cli::{McpAction, McpArgs};
use crate::config::Config;
use crate::tools::mcp::{McpHub, ServerOrigin, ServerState, ServerStatus};
use crate::tools::Workspace;

use super::CommandError;

pub fn run(args: &McpArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let McpAction::List { json } = args.action;
    if let Some(notice) = config.untrusted_notice() {
        eprintln!("lode: {notice}");
    }
    let cwd = std::env::current_dir()?;
    let workspace = Workspace::new(&crate::exec::repo_root(&cwd))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        let hub = McpHub::launch(config.mcp.specs(), workspace.root());
        hub.settle().await;
        hub.status()
    });
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        )?;
        return Ok(());
    }
    write!(out, "{}", describe(&status, config))?;
    Ok(())
}

/// The servers as text: a line with each one's state, where it is and how its calls are
/// judged, and its tools (`lode mcp list`, and `/mcp` in the session).
pub fn describe(status: &[ServerStatus], config: &Config) -> String {
    if status.is_empty() {
        return format!(
            "no MCP servers configured; add [mcp.servers.NAME] to {} (see the README's MCP section)\n",
            config.dirs.config.join("config.toml").display()
        );
    }
    status.iter().map(server_text).collect()
}

fn server_text(server: &ServerStatus) -> String {
    let state = match &server.state {
        ServerState::Ready => "ready".to_string(),
        ServerState::Starting => "starting".to_string(),
        ServerState::Failed(reason) => format!("failed: {reason}"),
    };
    let origin = match &server.origin {
        ServerOrigin::User => "user config".to_string(),
        ServerOrigin::Repository(path) => path.display().to_string(),
    };
    let approval = if server.read_only {
        "runs without approval (read_only)"
    } else {
        "each call needs approval like shell"
    };
    let mut text = format!(
        "{}  {state}\n  {}  ({origin}; {approval})\n",
        server.name, server.endpoint
    );
    if !server.tools.is_empty() {
        text.push_str(&format!(
            "  {} tools: {}\n",
            server.tools.len(),
            server.tools.join(", ")
        ));
    }
    text
}
