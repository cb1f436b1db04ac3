//! The MCP client: tools from Model Context Protocol servers, offered to the model beside the
//! built-in ones. A server is a child process speaking MCP on stdio or a streamable-HTTP
//! endpoint (`spec`); `connection` holds one live session with it, `hub` holds every
//! configured server and is the agent's `ToolSource`, and `tool` turns each of a server's tools
//! into a `Tool` named `mcp__<server>__<tool>` (`naming`). A server that dies or hangs makes
//! its calls fail as tool errors; it never holds a turn up past its timeout.

mod connection;
mod content;
mod hub;
mod naming;
mod spec;
mod tool;

pub use hub::{McpHub, ServerState, ServerStatus};
pub use naming::model_name;
pub use spec::{valid_server_name, McpServerSpec, McpTransport, ServerOrigin};
