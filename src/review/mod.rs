//! `lode review` and `lode hook`: a read-only review of exactly what a commit will record,
//! on the local model, reported as compiler-style lines, JSON or SARIF.

pub mod changes;
pub mod findings;
#[cfg(test)]
mod fixture;
pub mod hook;
pub mod prompt;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod supervise;

pub use run::{run, Format, ReviewOptions, Verdict};
