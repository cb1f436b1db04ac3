//! Under the pre-commit hook, the review runs in a child process (the same lode binary), so
//! that nothing it does can end the hook with a crash: an `abort()` inside llama.cpp (a
//! `GGML_ASSERT` on a model file lode did not foresee), a segfault or a panic kills the child,
//! and the hook reports "not reviewed" and lets the commit through (`--strict`: exit 3), as
//! it does for any other reviewer that fails. The child's own statuses (findings, usage,
//! interrupted) pass through unchanged; `main` owns the table of them.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

/// Set in the child's environment: the review runs there, in-process.
pub const CHILD_ENV: &str = "LODE_REVIEW_CHILD";

/// How the supervised child ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    /// With one of `lode review`'s own statuses: pass it on.
    Status(u8),
    /// Ctrl-C reached the whole process group: the person stopped the commit.
    Interrupted,
    /// Anything else is a crash, and why: "not reviewed".
    Crashed(String),
}

/// The exit status Rust uses for a panic that unwinds out of `main`.
const PANIC_STATUS: i32 = 101;

/// Whether this process is the supervised child (or must not supervise for another reason).
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs this process's own command line again in a child and says how it ended; `None` when
/// the child cannot be started (the binary is gone), so the caller reviews in-process instead
/// of not at all. `own` lists the statuses `lode review` itself ends with.
pub fn review_in_child(own: &[u8]) -> Option<ChildEnd> {
    let exe = std::env::current_exe().ok()?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut child = Command::new(exe);
    child.args(args).env(CHILD_ENV, "1");
    let status = child.status().ok()?;
    Some(ending(status, own))
}

/// How a child that ended with `status` counts.
pub fn ending(status: ExitStatus, own: &[u8]) -> ChildEnd {
    if let Some(code) = status.code() {
        return match u8::try_from(code) {
            Ok(code) if own.contains(&code) => ChildEnd::Status(code),
            _ if code == PANIC_STATUS => ChildEnd::Crashed(format!(
                "the reviewer panicked (exit status {code}); please report it"
            )),
            _ => ChildEnd::Crashed(format!("the reviewer ended with exit status {code}")),
        };
    }
    signal_ending(status)
}

#[cfg(unix)]
fn signal_ending(status: ExitStatus) -> ChildEnd {
    use std::os::unix::process::ExitStatusExt;
    const SIGINT: i32 = 2;
    match status.signal() {
        Some(SIGINT) => ChildEnd::Interrupted,
        Some(signal) => ChildEnd::Crashed(format!(
            "the reviewer was killed by signal {signal}{}",
            signal_name(signal)
        )),
        None => ChildEnd::Crashed("the reviewer ended abnormally".to_string()),
    }
}

#[cfg(not(unix))]
fn signal_ending(_status: ExitStatus) -> ChildEnd {
    ChildEnd::Crashed("the reviewer ended abnormally".to_string())
}

/// The signals a crash ends with, and what usually sends them.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => " (SIGABRT: llama.cpp or the model file aborted it)",
        4 => " (SIGILL: an instruction this CPU lacks; rebuild lode on this machine)",
        7 => " (SIGBUS: the model file changed or shrank while mapped)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL: out of memory?)",
        11 => " (SIGSEGV)",
        _ => "",
    }
}

#[cfg(test)]
mod tests;
