//! The transcript: what the session shows above the prompt, built from `AgentEvent`s. Each
//! entry is laid out once per width and cached, so a frame costs the entries on screen, not
//! the whole history (a 5,000-message session must still draw in well under a frame).

use std::cell::RefCell;
use std::rc::Rc;

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::agent::{AgentEvent, HookResult, Outcome, PlanStep};
use crate::tui::{diff, markdown, theme, wrap};

/// Lines of one tool's output shown when tool output is expanded.
const EXPANDED_LINES: usize = 200;

/// Where a tool call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolState {
    Running,
    Ok,
    Failed,
}

/// What kind of note lode itself adds to the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// Output of a slash command (Markdown).
    Info,
    Warning,
    Error,
}

/// One tool call as the transcript shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolEntry {
    pub id: String,
    pub tool: String,
    pub args: serde_json::Value,
    pub state: ToolState,
    pub output: String,
}

/// One thing in the transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    User(String),
    /// Model text (Markdown), growing while it streams.
    Assistant(String),
    Tool(ToolEntry),
    Diff {
        path: String,
        diff: String,
    },
    Plan(Vec<PlanStep>),
    Test {
        command: String,
        passed: u64,
        failed: u64,
        success: bool,
    },
    Notice {
        kind: NoticeKind,
        text: String,
    },
    Outcome {
        outcome: Outcome,
        message: String,
    },
}

impl Entry {
    /// Tool activity is listed without blank lines between its parts.
    fn is_activity(&self) -> bool {
        matches!(
            self,
            Entry::Tool(_) | Entry::Diff { .. } | Entry::Test { .. }
        )
    }
}

type Cached = Option<(usize, Rc<Vec<Line<'static>>>)>;

/// The entries and their layout cache.
#[derive(Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    cache: RefCell<Vec<Cached>>,
    /// Whether tool output is shown in full (Ctrl+O) or as one summary line.
    expand_tools: bool,
    /// Whether the last entry is an answer still receiving tokens.
    answer_open: bool,
    /// Index of the current task's plan, updated in place by later `update_plan` calls.
    plan: Option<usize>,
}

impl Transcript {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Self {
            expand_tools: self.expand_tools,
            ..Self::default()
        };
    }

    pub fn push(&mut self, entry: Entry) {
        if matches!(entry, Entry::User(_)) {
            self.plan = None;
        }
        self.answer_open = matches!(entry, Entry::Assistant(_));
        self.entries.push(entry);
        self.cache.borrow_mut().push(None);
    }

    /// Adds a note from lode itself.
    pub fn notice(&mut self, kind: NoticeKind, text: impl Into<String>) {
        self.push(Entry::Notice {
            kind,
            text: text.into(),
        });
    }

    pub fn expand_tools(&self) -> bool {
        self.expand_tools
    }

    /// Shows or hides tool output in full; every tool entry is laid out again.
    pub fn set_expand_tools(&mut self, expand: bool) {
        self.expand_tools = expand;
        let mut cache = self.cache.borrow_mut();
        for (entry, cached) in self.entries.iter().zip(cache.iter_mut()) {
            if matches!(entry, Entry::Tool(_)) {
                *cached = None;
            }
        }
    }

    /// Applies one agent event. Events that are not part of the transcript (turn starts,
    /// statistics, approval requests) change nothing.
    pub fn apply(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::TokenStream { text, .. } => {
                if self.answer_open {
                    let last = self.entries.len() - 1;
                    if let Some(Entry::Assistant(answer)) = self.entries.last_mut() {
                        answer.push_str(text);
                    }
                    self.invalidate(last);
                } else if !text.trim().is_empty() {
                    self.push(Entry::Assistant(text.trim_start().to_string()));
                }
            }
            AgentEvent::ToolStarted { id, tool, args } => {
                self.answer_open = false;
                // The plan has its own entry; the call itself adds nothing to read.
                if tool != "update_plan" {
                    self.push(Entry::Tool(ToolEntry {
                        id: id.clone(),
                        tool: tool.clone(),
                        args: args.clone(),
                        state: ToolState::Running,
                        output: String::new(),
                    }));
                }
            }
            AgentEvent::ToolFinished {
                id,
                tool,
                ok,
                output,
            } => {
                let found = self
                    .entries
                    .iter()
                    .rposition(|e| matches!(e, Entry::Tool(t) if &t.id == id));
                match found {
                    Some(i) => {
                        if let Entry::Tool(entry) = &mut self.entries[i] {
                            entry.state = if *ok {
                                ToolState::Ok
                            } else {
                                ToolState::Failed
                            };
                            entry.output = output.clone();
                        }
                        self.invalidate(i);
                    }
                    None if !ok => self.notice(
                        NoticeKind::Warning,
                        format!("{tool}: {}", output.trim_start_matches("error: ")),
                    ),
                    None => {}
                }
            }
            AgentEvent::DiffProposed { path, diff, .. } => self.push(Entry::Diff {
                path: path.clone(),
                diff: diff.clone(),
            }),
            AgentEvent::PlanUpdated { steps } => match self.plan {
                Some(i) if i < self.entries.len() => {
                    self.entries[i] = Entry::Plan(steps.clone());
                    self.invalidate(i);
                }
                _ => {
                    self.push(Entry::Plan(steps.clone()));
                    self.plan = Some(self.entries.len() - 1);
                }
            },
            AgentEvent::TestResult {
                command,
                passed,
                failed,
                success,
            } => self.push(Entry::Test {
                command: command.clone(),
                passed: *passed,
                failed: *failed,
                success: *success,
            }),
            AgentEvent::Error { message } => self.notice(NoticeKind::Error, message.clone()),
            AgentEvent::ContextFull { message, .. } => {
                self.notice(NoticeKind::Warning, message.clone());
            }
            // A hook that did its work quietly (a formatter) adds nothing to read.
            AgentEvent::HookRan {
                event,
                command,
                result,
                output,
                ..
            } => match result {
                HookResult::Ok if output.trim().is_empty() => {}
                HookResult::Ok => {
                    self.notice(
                        NoticeKind::Info,
                        format!("hook {event} `{command}`: {output}"),
                    );
                }
                HookResult::Blocked => self.notice(
                    NoticeKind::Warning,
                    format!("hook {event} `{command}` blocked: {output}"),
                ),
                HookResult::Failed => self.notice(
                    NoticeKind::Warning,
                    format!("hook {event} `{command}` failed: {output}"),
                ),
            },
            AgentEvent::Routed {
                lane,
                tier,
                reason,
                elapsed_ms,
            } => self.notice(
                NoticeKind::Info,
                format!(
                    "→ {lane} ({}, {elapsed_ms:.0} ms): {reason}",
                    tier_name(*tier)
                ),
            ),
            AgentEvent::Escalated { from, to, reason } => {
                self.notice(NoticeKind::Warning, format!("↑ {from} → {to}: {reason}"));
            }
            AgentEvent::ToolsChanged { added, removed } => self.notice(
                NoticeKind::Info,
                crate::agent::events::tools_changed_line(added, removed),
            ),
            AgentEvent::BackendSwitched { from, to, reason } => {
                // The next text is the regenerated answer: a new entry, not a continuation.
                self.answer_open = false;
                self.notice(NoticeKind::Warning, format!("⇄ {from} → {to}: {reason}"));
            }
            AgentEvent::Finished { outcome, message } => {
                self.answer_open = false;
                // An error already on screen is not repeated as the reason.
                let repeated = matches!(
                    self.entries.last(),
                    Some(Entry::Notice { kind: NoticeKind::Error, text }) if text == message
                );
                self.push(Entry::Outcome {
                    outcome: *outcome,
                    message: if repeated {
                        String::new()
                    } else {
                        message.clone()
                    },
                });
            }
            AgentEvent::TextEnded { .. } => self.answer_open = false,
            // Not part of the transcript, or shown by the slash command that asked for them.
            AgentEvent::TurnStarted { .. }
            | AgentEvent::TurnStats { .. }
            | AgentEvent::ApprovalNeeded { .. }
            | AgentEvent::Conversation { .. }
            | AgentEvent::Compacted { .. }
            | AgentEvent::Undone { .. }
            | AgentEvent::UndoRefused { .. }
            | AgentEvent::RepoDiff { .. } => {}
        }
    }

    /// The tool call with this id, if the transcript shows it.
    pub fn tool(&self, id: &str) -> Option<&ToolEntry> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::Tool(t) if t.id == id => Some(t),
            _ => None,
        })
    }

    fn invalidate(&self, index: usize) {
        if let Some(slot) = self.cache.borrow_mut().get_mut(index) {
            *slot = None;
        }
    }

    /// Entry `index` laid out at `width`, including the blank line that separates it from
    /// the entry before.
    pub fn lines(&self, index: usize, width: usize) -> Rc<Vec<Line<'static>>> {
        if let Some(Some((w, lines))) = self.cache.borrow().get(index) {
            if *w == width {
                return Rc::clone(lines);
            }
        }
        let Some(entry) = self.entries.get(index) else {
            return Rc::new(Vec::new());
        };
        let mut lines = Vec::new();
        let gap = index > 0 && !(entry.is_activity() && self.entries[index - 1].is_activity());
        if gap {
            lines.push(Line::default());
        }
        lines.extend(render_entry(entry, width, self.expand_tools));
        let lines = Rc::new(lines);
        if let Some(slot) = self.cache.borrow_mut().get_mut(index) {
            *slot = Some((width, Rc::clone(&lines)));
        }
        lines
    }

    /// The last `height` lines of the transcript after skipping `scroll` lines from the
    /// bottom. Only the entries that reach the screen are laid out.
    pub fn window(&self, width: usize, height: usize, scroll: usize) -> Vec<Line<'static>> {
        let want = height + scroll;
        let mut collected: Vec<Rc<Vec<Line<'static>>>> = Vec::new();
        let mut total = 0;
        for index in (0..self.entries.len()).rev() {
            let lines = self.lines(index, width);
            total += lines.len();
            collected.push(lines);
            if total >= want {
                break;
            }
        }
        let mut all: Vec<Line<'static>> = Vec::with_capacity(total.min(want));
        for lines in collected.iter().rev() {
            all.extend(lines.iter().cloned());
        }
        let end = all.len().saturating_sub(scroll);
        let start = end.saturating_sub(height);
        all.drain(start..end).collect()
    }

    /// Total height at `width` (lays out everything; used to clamp scrolling).
    pub fn height(&self, width: usize) -> usize {
        (0..self.entries.len())
            .map(|i| self.lines(i, width).len())
            .sum()
    }
}

fn render_entry(entry: &Entry, width: usize, expand_tools: bool) -> Vec<Line<'static>> {
    match entry {
        Entry::User(text) => prefixed(
            text,
            width,
            Span::styled("› ", theme::user()),
            theme::user(),
        ),
        Entry::Assistant(text) => markdown::render(text, width),
        Entry::Tool(tool) => render_tool(tool, width, expand_tools),
        Entry::Diff { diff, .. } => {
            let mut lines = diff::render(diff, width.saturating_sub(2).max(8));
            for line in &mut lines {
                line.spans.insert(0, Span::raw("  "));
            }
            lines
        }
        Entry::Plan(steps) => render_plan(steps, width),
        Entry::Test {
            command,
            passed,
            failed,
            success,
        } => {
            let (mark, style, verdict) = if *success {
                ("✓ ", theme::success(), "tests pass")
            } else {
                ("✗ ", theme::failure(), "tests fail")
            };
            let line = Line::from(vec![
                Span::styled(mark, style),
                Span::styled(
                    format!("{verdict}: {passed} passed, {failed} failed"),
                    style.add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!("  {command}"), theme::dim()),
            ]);
            wrap::wrap_with_prefix(&line, width, &[], &[Span::raw("  ")])
        }
        Entry::Notice { kind, text } => match kind {
            NoticeKind::Info => markdown::render(text, width),
            NoticeKind::Warning => prefixed(
                text,
                width,
                Span::styled("! ", theme::warning()),
                theme::warning(),
            ),
            NoticeKind::Error => prefixed(
                text,
                width,
                Span::styled("✗ error: ", theme::failure().add_modifier(Modifier::BOLD)),
                theme::failure(),
            ),
        },
        Entry::Outcome { outcome, message } => {
            let (mark, style, word) = match outcome {
                Outcome::Done => ("✓ ", theme::success(), "done"),
                Outcome::NotAchieved => ("✗ ", theme::warning(), "not done"),
                Outcome::Cancelled => ("■ ", theme::warning(), "interrupted"),
            };
            let mut line = vec![
                Span::styled(mark, style),
                Span::styled(word, style.add_modifier(Modifier::BOLD)),
            ];
            // A finished task's message is the answer already shown above.
            if *outcome == Outcome::NotAchieved && !message.is_empty() {
                line.push(Span::styled(format!(": {message}"), style));
            }
            wrap::wrap_with_prefix(&Line::from(line), width, &[], &[Span::raw("  ")])
        }
    }
}

/// `text` with `first` before its first line and a matching indent before the rest.
fn prefixed(text: &str, width: usize, first: Span<'static>, style: Style) -> Vec<Line<'static>> {
    let indent = Span::raw(" ".repeat(wrap::width(&first.content)));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lead = if i == 0 {
            first.clone()
        } else {
            indent.clone()
        };
        out.extend(wrap::wrap_with_prefix(
            &Line::from(Span::styled(line.to_string(), style)),
            width,
            &[lead],
            std::slice::from_ref(&indent),
        ));
    }
    if out.is_empty() {
        out.push(Line::from(first));
    }
    out
}

fn render_tool(tool: &ToolEntry, width: usize, expand: bool) -> Vec<Line<'static>> {
    let (mark, mark_style) = match tool.state {
        ToolState::Running => ("◌ ", theme::dim()),
        ToolState::Ok => ("● ", theme::success()),
        ToolState::Failed => ("● ", theme::failure()),
    };
    let head = Line::from(vec![
        Span::styled(mark, mark_style),
        Span::styled(tool.tool.clone(), theme::tool()),
        Span::styled(
            format!(" {}", summarize_args(&tool.tool, &tool.args)),
            theme::dim(),
        ),
    ]);
    let mut lines = wrap::wrap_with_prefix(&head, width, &[], &[Span::raw("  ")]);
    if tool.state == ToolState::Running {
        return lines;
    }
    let output = tool.output.trim_end();
    let all: Vec<&str> = output.lines().collect();
    let style = match tool.state {
        ToolState::Failed => theme::failure(),
        _ => theme::dim(),
    };
    let shown: Vec<&str> = if expand {
        all.iter().take(EXPANDED_LINES).copied().collect()
    } else if tool.state == ToolState::Failed {
        all.iter().take(3).copied().collect()
    } else {
        all.iter().take(1).copied().collect()
    };
    let gutter = Span::styled("  └ ", theme::dim());
    let rest = Span::styled("    ", theme::dim());
    for (i, text) in shown.iter().enumerate() {
        let lead = if i == 0 { gutter.clone() } else { rest.clone() };
        lines.extend(wrap::wrap_with_prefix(
            &Line::from(Span::styled(text.replace('\t', "    "), style)),
            width,
            &[lead],
            std::slice::from_ref(&rest),
        ));
    }
    let hidden = all.len() - shown.len();
    if hidden > 0 {
        let hint = if expand {
            format!("… {hidden} more lines")
        } else {
            format!("… +{hidden} lines (ctrl+o to expand)")
        };
        lines.push(Line::from(vec![rest, Span::styled(hint, theme::dim())]));
    }
    lines
}

/// The one argument that says what a call is about (a path, a command, a pattern).
pub fn summarize_args(tool: &str, args: &serde_json::Value) -> String {
    let pick = |key: &str| args.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let summary = match tool {
        "shell" | "run_tests" => pick("command").map(|c| format!("$ {c}")),
        "search" => pick("pattern")
            .or_else(|| pick("query"))
            .map(|p| match pick("path") {
                Some(path) => format!("{p:?} in {path}"),
                None => format!("{p:?}"),
            }),
        _ => pick("path"),
    };
    let summary = summary.unwrap_or_default();
    match summary.lines().next() {
        Some(first) if summary.contains('\n') => format!("{first} …"),
        _ => summary,
    }
}

fn render_plan(steps: &[PlanStep], width: usize) -> Vec<Line<'static>> {
    let done = steps.iter().filter(|s| s.status == "done").count();
    let mut lines = vec![Line::from(vec![
        Span::styled("Plan", theme::bold()),
        Span::styled(format!("  {done}/{} done", steps.len()), theme::dim()),
    ])];
    for step in steps {
        let (mark, style) = match step.status.as_str() {
            "done" => ("  ✓ ", theme::success()),
            "in_progress" => ("  ▸ ", theme::accent().add_modifier(Modifier::BOLD)),
            _ => ("  ○ ", theme::dim()),
        };
        let text_style = match step.status.as_str() {
            "done" => theme::dim(),
            "in_progress" => theme::bold(),
            _ => theme::text(),
        };
        lines.extend(wrap::wrap_with_prefix(
            &Line::from(Span::styled(step.text.clone(), text_style)),
            width,
            &[Span::styled(mark, style)],
            &[Span::raw("    ")],
        ));
    }
    lines
}

/// How the transcript names the router's tiers.
fn tier_name(tier: crate::router::Tier) -> &'static str {
    match tier {
        crate::router::Tier::Rules => "rules",
        crate::router::Tier::Model => "small model",
        crate::router::Tier::Fixed => "fixed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::hooks::HookEvent;
    use pretty_assertions::assert_eq;

    fn hook(result: HookResult, output: &str) -> AgentEvent {
        AgentEvent::HookRan {
            event: HookEvent::PostToolUse,
            command: "cargo fmt".into(),
            tool: Some("edit_file".into()),
            id: Some("c1".into()),
            result,
            output: output.into(),
        }
    }

    #[test]
    fn hooks_show_when_they_said_something_blocked_or_failed() {
        let mut t = Transcript::new();
        t.apply(&hook(HookResult::Ok, ""));
        assert_eq!(t.entries(), &[]);
        t.apply(&hook(HookResult::Ok, "formatted 1 file"));
        t.apply(&hook(HookResult::Blocked, "line too long"));
        t.apply(&hook(HookResult::Failed, "exited with code 1"));
        let notice = |kind, text: &str| Entry::Notice {
            kind,
            text: text.to_string(),
        };
        assert_eq!(
            t.entries(),
            &[
                notice(
                    NoticeKind::Info,
                    "hook PostToolUse `cargo fmt`: formatted 1 file"
                ),
                notice(
                    NoticeKind::Warning,
                    "hook PostToolUse `cargo fmt` blocked: line too long"
                ),
                notice(
                    NoticeKind::Warning,
                    "hook PostToolUse `cargo fmt` failed: exited with code 1"
                ),
            ]
        );
    }
}
