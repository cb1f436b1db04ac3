//! How to reach one MCP server, as configuration describes it. The config layer parses
//! `[mcp.servers.NAME]` and a trusted repository's `.mcp.json` into these.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// One configured server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct McpServerSpec {
    /// The configured name; part of every tool name the model sees.
    pub name: String,
    pub transport: McpTransport,
    /// Only these tools (remote names) are offered, when set.
    pub enabled_tools: Option<Vec<String>>,
    /// These tools (remote names) are never offered.
    pub disabled_tools: Vec<String>,
    /// How long connecting and listing tools may take.
    pub startup_timeout: Duration,
    /// How long one tool call may take before it fails.
    pub tool_timeout: Duration,
    /// The user says the server's tools only read: they run without approval, like
    /// `read_file`. Otherwise each call is judged like `shell`.
    pub read_only: bool,
    pub origin: ServerOrigin,
}

/// Where a server's definition came from (shown by `lode mcp list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerOrigin {
    /// The user's own config (or the environment).
    User,
    /// A trusted repository's `.lode/config.toml` or `.mcp.json`.
    Repository(PathBuf),
}

/// How the server is reached.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum McpTransport {
    /// A child process speaking MCP on stdin/stdout, started in the workspace root.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Added to the filtered environment every command gets.
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        url: String,
        /// The variable holding a bearer token, read when connecting (never stored).
        bearer_token_env: Option<String>,
    },
}

impl McpServerSpec {
    /// Connecting may take this long unless configured (npx and uvx servers download on
    /// their first start).
    pub const DEFAULT_STARTUP: Duration = Duration::from_secs(30);
    /// A tool call may take this long unless configured.
    pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(120);

    /// Whether the tool named `remote` (the server's own name) is offered.
    pub fn offers(&self, remote: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|enabled| enabled.iter().any(|t| t == remote))
            && !self.disabled_tools.iter().any(|t| t == remote)
    }

    /// One line describing how the server is reached.
    pub fn endpoint(&self) -> String {
        match &self.transport {
            McpTransport::Stdio { command, args, .. } => std::iter::once(command.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            McpTransport::Http { url, .. } => url.clone(),
        }
    }
}

/// Whether `name` may name a server: it becomes part of tool names, which model APIs limit to
/// ASCII letters, digits, `_` and `-`. Double underscores would make `mcp__a__b__c` ambiguous.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_that_would_make_tool_names_ambiguous_or_invalid_are_refused() {
        assert!(valid_server_name("git"));
        assert!(valid_server_name("my-fs_2"));
        for bad in ["", "a__b", "a b", "../x", "ünï", &"x".repeat(33)] {
            assert!(!valid_server_name(bad), "{bad:?}");
        }
    }
}
