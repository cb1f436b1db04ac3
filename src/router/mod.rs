//! The router: decides per request whether a model is needed at all (tier 0, rules), and
//! which one (tier 1, the small model's classification), so a person waits on the large
//! model only when the request needs it.

pub mod classify;
pub mod head;
pub mod labels;
pub mod lane;
pub mod probe;
pub mod route;
pub mod rules;

pub use classify::{Classification, Classifier};
pub use lane::{Lane, Tier};
pub use probe::Probe;
pub use route::{Decision, RouteMode, Router};
pub use rules::RuleMatch;
