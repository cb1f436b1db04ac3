//! The agent loop: it talks to models only through `backend::ModelBackend` and to the world
//! only through `tools/`, and reports to front ends through `events`.

pub mod budget;
pub mod context;
pub mod events;
pub mod hooks;
pub mod host;
pub mod permissions;
pub mod runner;

pub use events::{
    AgentCommand, AgentEvent, ConversationChange, Decision, HookResult, Op, Outcome, PlanStep,
};
pub use permissions::PermissionMode;
pub use runner::{Agent, AgentOptions, Routing, REPEATED_CALL};
