//! The cancel flag every long-running piece shares — a generation, a model request, a tool
//! command — so Ctrl-C, a signal or the user's Esc stops whatever is running. It is its own
//! module because everyone needs it and it needs nobody.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared flag that stops work in progress; checked before every decode call, between
/// streamed chunks and while a command runs.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Arms the flag again for the next task of a long-lived session.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
