//! One of a server's tools as a `Tool` the agent offers and calls like a built-in one.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::Tool as RemoteTool;
use serde_json::Value;

use super::connection::Connection;
use super::content::text_of;
use super::naming::intern;
use super::spec::McpServerSpec;
use crate::tools::{
    cap_output, Permission, Tool, ToolContext, ToolError, ToolFuture, ToolOutput, ToolSpec,
};

/// How often a running call looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// A server's tool.
pub struct McpTool {
    connection: Arc<Connection>,
    server: String,
    /// The server's own name for it.
    remote: String,
    spec: ToolSpec,
    timeout: Duration,
}

impl McpTool {
    /// `remote` of `server`, called `name` by the model (`naming::model_name`).
    pub fn new(
        server: &McpServerSpec,
        connection: Arc<Connection>,
        name: &str,
        remote: &RemoteTool,
    ) -> Self {
        let description = remote
            .description
            .as_deref()
            .or(remote.title.as_deref())
            .unwrap_or("");
        let description = format!("{description} (from the MCP server `{}`)", server.name);
        let short = description.lines().next().unwrap_or_default().to_string();
        Self {
            connection,
            server: server.name.clone(),
            remote: remote.name.to_string(),
            spec: ToolSpec {
                name: intern(name),
                description: intern(description.trim()),
                short_description: intern(short.trim()),
                parameters: Value::Object((*remote.input_schema).clone()),
                permission: if server.read_only {
                    Permission::Read
                } else {
                    Permission::Exec
                },
            },
            timeout: server.tool_timeout,
        }
    }
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let arguments = match args {
                Value::Object(map) => map,
                Value::Null => serde_json::Map::new(),
                other => {
                    return Err(ToolError::BadArgs(format!(
                        "arguments must be a JSON object, not {other}"
                    )))
                }
            };
            let call = self.connection.call(&self.remote, arguments, self.timeout);
            let result = tokio::select! {
                result = call => result,
                () = cancelled(&ctx.cancel) => return Err(ToolError::Cancelled),
            };
            let result = result
                .map_err(|e| ToolError::Failed(format!("MCP server `{}`: {e}", self.server)))?;
            let text = cap_output(&text_of(&result), ctx.output_limit);
            if result.is_error == Some(true) {
                return Err(ToolError::Failed(text));
            }
            Ok(ToolOutput {
                content: text,
                ..ToolOutput::default()
            })
        })
    }
}

/// Resolves once `flag` is set.
async fn cancelled(flag: &crate::cancel::CancelFlag) {
    while !flag.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}
