//! `[mcp.servers.NAME]` in a config file, and a repository's `.mcp.json` (Claude Code's
//! format), as the MCP client's server specs. A later layer's server replaces an earlier
//! one of the same name whole; `enabled = false` keeps a definition without starting it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::tools::mcp::{valid_server_name, McpServerSpec, McpTransport, ServerOrigin};

/// `[mcp]` in one layer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct McpLayer {
    #[serde(default)]
    pub servers: BTreeMap<String, ServerLayer>,
}

/// `[mcp.servers.NAME]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerLayer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
    bearer_token_env: Option<String>,
    enabled: Option<bool>,
    enabled_tools: Option<Vec<String>>,
    #[serde(default)]
    disabled_tools: Vec<String>,
    startup_timeout_s: Option<u64>,
    tool_timeout_s: Option<u64>,
    #[serde(default)]
    read_only: bool,
}

/// The servers of every layer, by name.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct McpSettings {
    /// Servers to start, by name (disabled ones are left out).
    pub servers: BTreeMap<String, McpServerSpec>,
}

impl McpSettings {
    /// Adds a layer's servers over what earlier layers said.
    pub(super) fn apply(&mut self, layer: McpLayer, origin: &ServerOrigin) -> Result<(), String> {
        for (name, server) in layer.servers {
            let enabled = server.enabled.unwrap_or(true);
            let spec = server.into_spec(&name, origin)?;
            if enabled {
                self.servers.insert(name, spec);
            } else {
                self.servers.remove(&name);
            }
        }
        Ok(())
    }

    /// The specs, in name order.
    pub fn specs(&self) -> Vec<McpServerSpec> {
        self.servers.values().cloned().collect()
    }
}

impl ServerLayer {
    fn into_spec(self, name: &str, origin: &ServerOrigin) -> Result<McpServerSpec, String> {
        if !valid_server_name(name) {
            return Err(format!(
                "mcp.servers.{name}: a server name is 1 to 32 ASCII letters, digits, `_` or `-` \
                 (no `__`), since it becomes part of tool names"
            ));
        }
        let transport = match (self.command, self.url) {
            (Some(command), None) => {
                if self.bearer_token_env.is_some() {
                    return Err(format!(
                        "mcp.servers.{name}: bearer_token_env is for url servers; a command's \
                         server gets variables through env"
                    ));
                }
                McpTransport::Stdio {
                    command,
                    args: self.args,
                    env: self.env,
                }
            }
            (None, Some(url)) => {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err(format!(
                        "mcp.servers.{name}: url `{url}` must start with http:// or https://"
                    ));
                }
                McpTransport::Http {
                    url,
                    bearer_token_env: self.bearer_token_env,
                }
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "mcp.servers.{name}: set command (a stdio server) or url (an HTTP server), not both"
                ))
            }
            (None, None) => {
                return Err(format!(
                    "mcp.servers.{name}: set command (a stdio server) or url (an HTTP server)"
                ))
            }
        };
        Ok(McpServerSpec {
            name: name.to_string(),
            transport,
            enabled_tools: self.enabled_tools,
            disabled_tools: self.disabled_tools,
            startup_timeout: self
                .startup_timeout_s
                .map_or(McpServerSpec::DEFAULT_STARTUP, Duration::from_secs),
            tool_timeout: self
                .tool_timeout_s
                .map_or(McpServerSpec::DEFAULT_TOOL_TIMEOUT, Duration::from_secs),
            read_only: self.read_only,
            origin: origin.clone(),
        })
    }
}

/// Claude Code's `.mcp.json`: `{"mcpServers": {NAME: {command, args, env} | {type, url}}}`.
#[derive(Deserialize)]
struct McpJson {
    #[serde(rename = "mcpServers", default)]
    servers: BTreeMap<String, JsonServer>,
}

#[derive(Deserialize)]
struct JsonServer {
    #[serde(rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
}

/// The `.mcp.json` that belongs to `cwd`: in it or a parent, up to the repository root.
pub(super) fn find_mcp_json(cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(".mcp.json");
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// The servers `.mcp.json` at `path` defines, as one layer.
pub(super) fn read_mcp_json(path: &Path) -> Result<McpLayer, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let json: McpJson = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut layer = McpLayer::default();
    for (name, server) in json.servers {
        match server.kind.as_deref() {
            None | Some("stdio" | "http" | "streamable-http") => {}
            Some(other) => {
                return Err(format!(
                "server `{name}` has type `{other}`; lode speaks stdio and http (streamable HTTP)"
            ))
            }
        }
        layer.servers.insert(
            name,
            ServerLayer {
                command: server.command,
                args: server.args,
                env: server.env,
                url: server.url,
                ..ServerLayer::default()
            },
        );
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(toml_text: &str) -> McpLayer {
        #[derive(Deserialize)]
        struct Wrap {
            mcp: McpLayer,
        }
        toml::from_str::<Wrap>(toml_text).unwrap().mcp
    }

    #[test]
    fn a_later_layer_replaces_a_server_whole_and_can_disable_it() {
        let mut settings = McpSettings::default();
        let user = layer(
            "[mcp.servers.git]\ncommand = \"uvx\"\nargs = [\"mcp-server-git\"]\nread_only = true\n\
             [mcp.servers.web]\nurl = \"http://127.0.0.1:3001/mcp\"\n",
        );
        settings.apply(user, &ServerOrigin::User).unwrap();
        let repo = layer("[mcp.servers.git]\ncommand = \"mcp-server-git\"\n[mcp.servers.web]\nenabled = false\nurl = \"http://x\"\n");
        let origin = ServerOrigin::Repository("/r/.lode/config.toml".into());
        settings.apply(repo, &origin).unwrap();
        let git = &settings.servers["git"];
        assert_eq!(git.endpoint(), "mcp-server-git");
        assert!(
            !git.read_only,
            "the repository's definition replaced the user's whole"
        );
        assert_eq!(git.origin, origin);
        assert!(!settings.servers.contains_key("web"));
    }

    #[test]
    fn bad_definitions_say_what_to_set() {
        let mut settings = McpSettings::default();
        for (text, says) in [
            ("[mcp.servers.a]\nargs = []\n", "set command"),
            (
                "[mcp.servers.a]\ncommand = \"x\"\nurl = \"http://y\"\n",
                "not both",
            ),
            ("[mcp.servers.a]\nurl = \"ftp://y\"\n", "http://"),
            ("[mcp.servers.a__b]\ncommand = \"x\"\n", "server name"),
        ] {
            let err = settings
                .apply(layer(text), &ServerOrigin::User)
                .unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn claude_codes_mcp_json_is_read_and_sse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".mcp.json");
        std::fs::write(
            &path,
            r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "server-filesystem", "."]},
                "web": {"type": "http", "url": "http://127.0.0.1:9/mcp"}}}"#,
        )
        .unwrap();
        let mut settings = McpSettings::default();
        let origin = ServerOrigin::Repository(path.clone());
        settings
            .apply(read_mcp_json(&path).unwrap(), &origin)
            .unwrap();
        assert_eq!(
            settings.servers["fs"].endpoint(),
            "npx -y server-filesystem ."
        );
        assert_eq!(settings.servers["web"].endpoint(), "http://127.0.0.1:9/mcp");
        std::fs::write(
            &path,
            r#"{"mcpServers": {"old": {"type": "sse", "url": "http://x"}}}"#,
        )
        .unwrap();
        assert!(read_mcp_json(&path).unwrap_err().contains("sse"));
    }
}
