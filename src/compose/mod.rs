//! The composition layer: configuration plus plain option structs in, running parts out —
//! the model backend with its fallback, the router and its models, the tool context. Front ends (`lode run`,
//! the session, the reviewer, the commands) call this; the layers below it (`backend/`,
//! `router/`, `tools/`, `engine/`) never read `Config` themselves.

pub mod agent;
pub mod backend;
pub mod commands;
pub mod remote;
pub mod routing;
