//! How `lode run` shows a run: human progress on stderr and the answer on stdout, or every
//! event as one JSON line; and the `--ask` prompt at the terminal.

use std::io::{IsTerminal, Write};

use crate::agent::{AgentEvent, Decision, HookResult, Outcome};

/// Prints events: human progress on stderr and the answer on stdout, or JSON Lines.
pub(super) struct Printer {
    json: bool,
    streamed: String,
}

impl Printer {
    pub(super) fn new(json: bool) -> Self {
        Self {
            json,
            streamed: String::new(),
        }
    }

    pub(super) fn print(&mut self, event: &AgentEvent) {
        if self.json {
            // The conversation repeats what the other events showed; it is for saving.
            if matches!(event, AgentEvent::Conversation { .. }) {
                return;
            }
            if let Ok(line) = serde_json::to_string(event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        let mut err = std::io::stderr().lock();
        // Streamed model text ends where anything else begins.
        if !matches!(event, AgentEvent::TokenStream { .. })
            && !self.streamed.is_empty()
            && !self.streamed.ends_with('\n')
        {
            self.streamed.push('\n');
            let _ = writeln!(err);
        }
        let _ = match event {
            AgentEvent::TurnStarted { .. } => {
                self.streamed.clear();
                Ok(())
            }

            AgentEvent::TokenStream { text, .. } => {
                self.streamed.push_str(text);
                write!(err, "{text}").and_then(|()| err.flush())
            }
            AgentEvent::PlanUpdated { steps } => {
                let lines: Vec<String> = steps
                    .iter()
                    .map(|s| {
                        let mark = match s.status.as_str() {
                            "done" => "[x]",
                            "in_progress" => "[~]",
                            _ => "[ ]",
                        };
                        format!("  {mark} {}", s.text)
                    })
                    .collect();
                writeln!(err, "plan:\n{}", lines.join("\n"))
            }
            AgentEvent::ToolStarted { tool, args, .. } => {
                writeln!(err, "→ {tool} {}", brief(args))
            }
            AgentEvent::ToolFinished {
                ok: false,
                output,
                tool,
                ..
            } => {
                writeln!(err, "  ✗ {tool}: {}", first_line(output))
            }
            AgentEvent::ToolFinished { .. } => Ok(()),
            AgentEvent::DiffProposed { path, diff, .. } => {
                let changed = diff
                    .lines()
                    .filter(|l| {
                        (l.starts_with('+') || l.starts_with('-'))
                            && !l.starts_with("+++")
                            && !l.starts_with("---")
                    })
                    .count();
                writeln!(err, "  edited {path} ({changed} lines changed)")
            }
            AgentEvent::TestResult {
                command,
                passed,
                failed,
                success,
            } => writeln!(
                err,
                "  tests {}: {passed} passed, {failed} failed ({command})",
                if *success { "pass" } else { "fail" }
            ),
            AgentEvent::ApprovalNeeded { summary, diff, .. } => {
                if let Some(diff) = diff {
                    let _ = writeln!(err, "{}", diff.trim_end());
                }
                write!(
                    err,
                    "  {summary}\n  allow? [y]es / [n]o / [a]lways this session: "
                )
                .and_then(|()| err.flush())
            }
            AgentEvent::TurnStats { .. }
            | AgentEvent::TextEnded { .. }
            | AgentEvent::Conversation { .. }
            | AgentEvent::Compacted { .. }
            | AgentEvent::Undone { .. }
            | AgentEvent::UndoRefused { .. }
            | AgentEvent::RepoDiff { .. } => Ok(()),
            AgentEvent::Routed {
                lane,
                reason,
                elapsed_ms,
                ..
            } => writeln!(err, "  route: {lane} ({elapsed_ms:.0} ms): {reason}"),
            AgentEvent::BackendSwitched { from, to, reason } => {
                if !self.streamed.is_empty() {
                    self.streamed.clear();
                    let _ = writeln!(err);
                }
                writeln!(err, "  switched {from} → {to}: {reason}")
            }
            AgentEvent::Escalated { from, to, reason } => {
                writeln!(err, "  escalated {from} → {to}: {reason}")
            }
            AgentEvent::ToolsChanged { added, removed } => {
                writeln!(
                    err,
                    "  {}",
                    crate::agent::events::tools_changed_line(added, removed)
                )
            }
            AgentEvent::Error { message } => writeln!(err, "error: {message}"),
            AgentEvent::ContextFull { message, .. } => writeln!(err, "  {message}"),
            AgentEvent::HookRan {
                event,
                command,
                result,
                output,
                ..
            } => {
                let what = match result {
                    HookResult::Ok => "ok",
                    HookResult::Blocked => "blocked",
                    HookResult::Failed => "failed",
                };
                match first_line(output) {
                    "" => writeln!(err, "  hook {event} `{command}`: {what}"),
                    line => writeln!(err, "  hook {event} `{command}` {what}: {line}"),
                }
            }
            AgentEvent::Finished { outcome, message } => match outcome {
                Outcome::Done => {
                    // In a terminal the answer was just streamed above; print it again only
                    // where stdout goes somewhere else (a pipe, a file).
                    let same_screen = std::io::stdout().is_terminal()
                        && std::io::stderr().is_terminal()
                        && self.streamed.trim() == message.trim();
                    if !same_screen {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{}", message.trim());
                    }
                    Ok(())
                }
                Outcome::NotAchieved => writeln!(err, "not done: {message}"),
                Outcome::Cancelled => writeln!(err, "interrupted"),
            },
        };
    }
}

/// One answer from the terminal; anything but yes/always is a no.
pub(super) fn read_decision() -> Decision {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return Decision::Reject;
    }
    match line.trim().to_lowercase().as_str() {
        "y" | "yes" => Decision::Approve,
        "a" | "always" => Decision::AlwaysThisSession,
        _ => Decision::Reject,
    }
}

fn brief(args: &serde_json::Value) -> String {
    let text = match args
        .get("path")
        .or_else(|| args.get("command"))
        .or_else(|| args.get("pattern"))
    {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    first_line(&text).chars().take(100).collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
