//! One live session with one MCP server: connecting (a child process or an HTTP endpoint, under
//! the server's startup timeout), listing its tools, calling one under the tool timeout, and
//! noticing when the server says its tool list changed.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool as RemoteTool};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::io::AsyncReadExt;

use super::spec::{McpServerSpec, McpTransport};

/// How much of a server's stderr is kept for error messages.
const STDERR_TAIL: usize = 2048;

/// Counts the server's `tools/list_changed` notifications.
#[derive(Clone, Default)]
struct Watcher {
    changes: Arc<AtomicU64>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A connected server.
pub struct Connection {
    service: RunningService<RoleClient, Watcher>,
    changes: Arc<AtomicU64>,
    /// Calls answered so far: a call may change a server's tools, and its notification can
    /// arrive after the call's result (the TypeScript SDK sends it on the next tick), so a
    /// server that says its list can change is listed again after any call.
    calls: AtomicU64,
    /// The end of what a stdio server wrote to stderr, for error messages.
    stderr: Arc<Mutex<String>>,
}

impl Connection {
    /// Connects to the server and completes MCP's handshake within its startup timeout.
    pub async fn open(spec: &McpServerSpec, root: &Path) -> Result<Self, String> {
        let watcher = Watcher::default();
        let changes = watcher.changes.clone();
        let stderr = Arc::new(Mutex::new(String::new()));
        let started = match &spec.transport {
            McpTransport::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args)
                    .current_dir(root)
                    .env_clear()
                    // The same environment as any command lode runs (no API keys, nothing
                    // that looks like a secret), plus what the server's config names.
                    .envs(crate::tools::confine::command_env(
                        std::env::vars(),
                        &[],
                        &[],
                    ))
                    .envs(env)
                    .kill_on_drop(true);
                let (process, err) = TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot start `{command}`: {e}"))?;
                if let Some(err) = err {
                    tokio::spawn(keep_tail(err, stderr.clone()));
                }
                tokio::time::timeout(spec.startup_timeout, watcher.serve(process)).await
            }
            McpTransport::Http {
                url,
                bearer_token_env,
            } => {
                // reqwest is built without a default crypto provider (see backend/http).
                let _ = rustls::crypto::ring::default_provider().install_default();
                let token = match bearer_token_env {
                    Some(var) => Some(
                        std::env::var(var)
                            .map_err(|_| format!("`{var}` (its bearer_token_env) is not set"))?,
                    ),
                    None => None,
                };
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                if let Some(token) = token {
                    config = config.auth_header(token);
                }
                let transport = StreamableHttpClientTransport::from_config(config);
                tokio::time::timeout(spec.startup_timeout, watcher.serve(transport)).await
            }
        };
        let service = match started {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => return Err(with_stderr(format!("handshake failed: {e}"), &stderr)),
            Err(_) => {
                return Err(with_stderr(
                    format!(
                        "no answer within {}s (raise startup_timeout_s)",
                        spec.startup_timeout.as_secs()
                    ),
                    &stderr,
                ))
            }
        };
        Ok(Self {
            service,
            changes,
            calls: AtomicU64::new(0),
            stderr,
        })
    }

    /// Every tool the server lists, within `timeout`.
    pub async fn list_tools(&self, timeout: Duration) -> Result<Vec<RemoteTool>, String> {
        match tokio::time::timeout(timeout, self.service.peer().list_all_tools()).await {
            Ok(Ok(tools)) => Ok(tools),
            Ok(Err(e)) => Err(self.failure(format!("listing tools failed: {e}"))),
            Err(_) => Err(format!(
                "did not list its tools within {}s",
                timeout.as_secs()
            )),
        }
    }

    /// Calls `tool` with `arguments`; fails when the server does not answer within `timeout`
    /// (the request is then cancelled on the server).
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        timeout: Duration,
    ) -> Result<CallToolResult, String> {
        let request = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let answer = tokio::time::timeout(timeout, self.service.peer().call_tool(request)).await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(self.failure(e.to_string())),
            Err(_) => Err(format!(
                "no answer within {}s (its tool_timeout_s); the call was abandoned",
                timeout.as_secs()
            )),
        }
    }

    /// Grows whenever the server's tools may have changed: each `tools/list_changed`, and
    /// each call to a server whose capabilities say its list changes.
    pub fn changes(&self) -> u64 {
        let changing = self
            .service
            .peer()
            .peer_info()
            .and_then(|info| info.capabilities.tools.clone())
            .and_then(|tools| tools.list_changed)
            .unwrap_or(false);
        let calls = if changing {
            self.calls.load(Ordering::SeqCst)
        } else {
            0
        };
        self.changes.load(Ordering::SeqCst) + calls
    }

    /// Whether the session has ended (the process exited, the connection dropped).
    pub fn is_closed(&self) -> bool {
        self.service.is_closed()
    }

    fn failure(&self, what: String) -> String {
        let what = if self.is_closed() {
            format!("the server has stopped ({what})")
        } else {
            what
        };
        with_stderr(what, &self.stderr)
    }
}

/// `message`, followed by the end of the server's stderr when it wrote any.
fn with_stderr(message: String, stderr: &Mutex<String>) -> String {
    let tail = stderr
        .lock()
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if tail.is_empty() {
        message
    } else {
        format!("{message}; its stderr ends: {tail}")
    }
}

/// Keeps the last `STDERR_TAIL` bytes the server writes to stderr.
async fn keep_tail(mut err: tokio::process::ChildStderr, tail: Arc<Mutex<String>>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = err.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Ok(mut tail) = tail.lock() {
            tail.push_str(&String::from_utf8_lossy(&buf[..n]));
            if tail.len() > STDERR_TAIL {
                let mut cut = tail.len() - STDERR_TAIL;
                while !tail.is_char_boundary(cut) {
                    cut += 1;
                }
                tail.drain(..cut);
            }
        }
    }
}
