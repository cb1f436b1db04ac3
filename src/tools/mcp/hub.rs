//! Every configured MCP server, connected in the background from the start, and the tools
//! they offer in a fixed order (by server, then by name) after the built-in ones, so the
//! prompt prefix the cache keeps is the same from run to run. The first turn boundary waits
//! for the servers still starting (each within its startup timeout), so even a one-shot run's
//! first request sees their tools.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rmcp::model::Tool as RemoteTool;
use serde::Serialize;

use super::connection::Connection;
use super::naming::model_name;
use super::spec::{McpServerSpec, ServerOrigin};
use super::tool::McpTool;
use crate::tools::{Refreshed, Tool, ToolSource, ToolSourceFuture};

/// The configured servers and their sessions.
pub struct McpHub {
    servers: Vec<Arc<Server>>,
    /// The connecting in progress (each task records its server's state as it ends), until
    /// someone waits for it.
    starting: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Failures not yet reported to the agent.
    unreported: Arc<Mutex<Vec<String>>>,
}

struct Server {
    spec: McpServerSpec,
    live: Mutex<Live>,
}

enum Live {
    Starting,
    Up {
        connection: Arc<Connection>,
        tools: Vec<RemoteTool>,
        /// The server's change count when its tools were last listed.
        listed_at: u64,
    },
    Down(String),
}

/// How a server stands, for `lode mcp list` and the start notices.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum ServerState {
    Starting,
    Ready,
    /// It could not be reached, or it stopped; the reason says which.
    Failed(String),
}

/// One server's row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerStatus {
    pub name: String,
    pub endpoint: String,
    pub origin: ServerOrigin,
    pub read_only: bool,
    #[serde(flatten)]
    pub state: ServerState,
    /// Offered tools, as the model calls them.
    pub tools: Vec<String>,
}

impl McpHub {
    /// Starts connecting to every server at once, in `root`, on the current tokio runtime.
    /// A server that fails is kept with its reason; the others work.
    pub fn launch(mut specs: Vec<McpServerSpec>, root: &Path) -> Arc<Self> {
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        let servers: Vec<Arc<Server>> = specs
            .into_iter()
            .map(|spec| {
                Arc::new(Server {
                    spec,
                    live: Mutex::new(Live::Starting),
                })
            })
            .collect();
        let unreported = Arc::new(Mutex::new(Vec::new()));
        let starting = servers
            .iter()
            .map(|server| {
                let (server, unreported) = (server.clone(), unreported.clone());
                let root: PathBuf = root.to_path_buf();
                tokio::spawn(async move {
                    let live = open(&server.spec, &root).await;
                    if let Live::Down(reason) = &live {
                        lock(&unreported).push(format!(
                            "MCP server `{}` is unavailable: {reason}",
                            server.spec.name
                        ));
                    }
                    *lock(&server.live) = live;
                })
            })
            .collect();
        Arc::new(Self {
            servers,
            starting: tokio::sync::Mutex::new(starting),
            unreported,
        })
    }

    /// Waits until every server has connected or failed; whether this call saw them finish.
    pub async fn settle(&self) -> bool {
        let handles = std::mem::take(&mut *self.starting.lock().await);
        if handles.is_empty() {
            return false;
        }
        for (server, handle) in self.servers.iter().zip(handles) {
            if let Err(e) = handle.await {
                *lock(&server.live) = Live::Down(format!("connecting stopped: {e}"));
            }
        }
        true
    }

    /// Failures since the last call, one line each.
    pub fn take_unreported(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.unreported))
    }

    /// Every offered tool of every reachable server, in the fixed order.
    pub fn tools(&self) -> Vec<Box<dyn Tool>> {
        let mut tools: Vec<Box<dyn Tool>> = Vec::new();
        for server in &self.servers {
            let live = lock(&server.live);
            if let Live::Up {
                connection,
                tools: listed,
                ..
            } = &*live
            {
                tools.extend(
                    offered(&server.spec, listed)
                        .into_iter()
                        .map(|(name, remote)| {
                            Box::new(McpTool::new(
                                &server.spec,
                                connection.clone(),
                                &name,
                                remote,
                            )) as Box<dyn Tool>
                        }),
                );
            }
        }
        tools
    }

    /// Each server's state and offered tools.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.servers
            .iter()
            .map(|server| {
                let live = lock(&server.live);
                let (state, tools) = match &*live {
                    Live::Up {
                        connection, tools, ..
                    } => {
                        let names: Vec<String> = offered(&server.spec, tools)
                            .into_iter()
                            .map(|(name, _)| name)
                            .collect();
                        let state = if connection.is_closed() {
                            ServerState::Failed("the server has stopped".into())
                        } else {
                            ServerState::Ready
                        };
                        (state, names)
                    }
                    Live::Down(reason) => (ServerState::Failed(reason.clone()), Vec::new()),
                    Live::Starting => (ServerState::Starting, Vec::new()),
                };
                ServerStatus {
                    name: server.spec.name.clone(),
                    endpoint: server.spec.endpoint(),
                    origin: server.spec.origin.clone(),
                    read_only: server.spec.read_only,
                    state,
                    tools,
                }
            })
            .collect()
    }

    /// Lists again the tools of servers that said theirs changed; whether any did.
    async fn relist(&self) -> bool {
        let mut changed = false;
        for server in &self.servers {
            let stale = match &*lock(&server.live) {
                Live::Up {
                    connection,
                    listed_at,
                    ..
                } if connection.changes() != *listed_at && !connection.is_closed() => {
                    Some((connection.clone(), connection.changes()))
                }
                _ => None,
            };
            let Some((connection, count)) = stale else {
                continue;
            };
            // A failed listing keeps the old tools: their calls say what is wrong.
            if let Ok(tools) = connection.list_tools(server.spec.startup_timeout).await {
                let mut live = lock(&server.live);
                *live = Live::Up {
                    connection,
                    tools,
                    listed_at: count,
                };
                changed = true;
            }
        }
        changed
    }
}

impl ToolSource for McpHub {
    fn refresh(&self) -> ToolSourceFuture<'_> {
        Box::pin(async move {
            let started = self.settle().await;
            let relisted = self.relist().await;
            Refreshed {
                tools: (started || relisted).then(|| self.tools()),
                problems: self.take_unreported(),
            }
        })
    }
}

async fn open(spec: &McpServerSpec, root: &Path) -> Live {
    let connection = match Connection::open(spec, root).await {
        Ok(connection) => connection,
        Err(reason) => return Live::Down(reason),
    };
    // Count changes from before the listing: one that arrives during it is listed again.
    let listed_at = connection.changes();
    match connection.list_tools(spec.startup_timeout).await {
        Ok(tools) => Live::Up {
            connection: Arc::new(connection),
            tools,
            listed_at,
        },
        Err(reason) => Live::Down(reason),
    }
}

/// The server's tools that its spec offers, with the names the model sees, in their order
/// (by that name), which is the order of the prompt and of `lode mcp list` alike.
fn offered<'a>(spec: &McpServerSpec, listed: &'a [RemoteTool]) -> Vec<(String, &'a RemoteTool)> {
    let mut offered: Vec<(String, &RemoteTool)> = listed
        .iter()
        .filter(|t| spec.offers(&t.name))
        .map(|t| (model_name(&spec.name, &t.name), t))
        .collect();
    offered.sort_by(|a, b| a.0.cmp(&b.0));
    offered
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
