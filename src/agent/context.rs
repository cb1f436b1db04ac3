//! Prompt assembly. The system message — base prompt, project instructions, repo map — is
//! built once per run and never changes, tool schemas come in a fixed order, and history is
//! append-only, so every turn's prompt starts with the previous turn's prompt and the KV
//! cache reuses it. Compaction near the context limit rewrites only history, never the
//! stable prefix.

use std::path::Path;

use crate::agent::permissions::PermissionMode;
use crate::backend::{Message, Role};
use crate::tools::{Tool, ToolSpec, Workspace};

/// The base system prompt, compiled in.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/system.md");

/// Below this context length (tokens) the prompt is slimmed: short tool descriptions, fewer
/// tools, a smaller repo map.
const SMALL_CONTEXT: u32 = 8192;

/// Tools left out for small contexts: useful, but not worth their schema's tokens.
const OPTIONAL_TOOLS: &[&str] = &["outline", "git_status", "git_diff"];

/// Project instruction files read from the repository root down to the working directory.
const INSTRUCTION_FILES: &[&str] = &["AGENTS.md", "CLAUDE.md"];

/// Largest instruction file included; bigger ones are cut with a note.
const MAX_INSTRUCTIONS: usize = 16 * 1024;

/// The tool specs offered to the model, in registry order.
pub fn offered_tools(
    tools: &[Box<dyn Tool>],
    mode: PermissionMode,
    context_length: Option<u32>,
) -> Vec<ToolSpec> {
    let small = context_length.is_some_and(|n| n < SMALL_CONTEXT);
    tools
        .iter()
        .map(|t| t.spec())
        .filter(|spec| mode.offers(spec.permission))
        .filter(|spec| !small || !OPTIONAL_TOOLS.contains(&spec.name))
        .map(|mut spec| {
            if small {
                spec.description = spec.short_description;
            }
            spec
        })
        .collect()
}

/// The user's own instructions for every repository (`<config dir>/AGENTS.md`), read by the
/// front end: this layer does not know where configuration lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInstructions {
    /// The file, as the system message names it.
    pub path: String,
    pub body: String,
}

impl UserInstructions {
    /// `body` as read from `path`, cut like a project's instructions when too long; `None`
    /// when there is nothing in it.
    pub fn new(path: String, body: &str) -> Option<Self> {
        if body.trim().is_empty() {
            return None;
        }
        let body = if body.len() > MAX_INSTRUCTIONS {
            crate::tools::cap_output(body, MAX_INSTRUCTIONS)
        } else {
            body.to_string()
        };
        Some(Self { path, body })
    }
}

/// The system message: base prompt, the user's instructions, project instructions, test
/// command, repo map. The user's come first so the repository's, more specific, read last.
pub fn system_message(
    workspace: &Workspace,
    cwd: &Path,
    user: Option<&UserInstructions>,
    test_command: Option<&str>,
    context_length: Option<u32>,
) -> String {
    let mut text = SYSTEM_PROMPT.trim_end().to_string();
    if let Some(user) = user {
        text.push_str(&format!(
            "\n\n# User instructions ({})\n\n{}",
            user.path,
            user.body.trim_end()
        ));
    }
    for (path, body) in project_instructions(workspace, cwd) {
        text.push_str(&format!(
            "\n\n# Project instructions ({path})\n\n{}",
            body.trim_end()
        ));
    }
    if let Some(command) = test_command {
        text.push_str(&format!("\n\nThe project's test command is `{command}`."));
    }
    let map_budget = match context_length {
        Some(n) if n < SMALL_CONTEXT => 1_500,
        Some(n) if n < 32_768 => 6_000,
        _ => 12_000,
    };
    let map = crate::tools::outline::repo_map(workspace, map_budget);
    if !map.trim().is_empty() {
        text.push_str(&format!("\n\n# Repository map\n\n{}", map.trim_end()));
    }
    text.push('\n');
    text
}

/// `AGENTS.md` / `CLAUDE.md` from the root down to `cwd`, outermost first.
pub fn project_instructions(workspace: &Workspace, cwd: &Path) -> Vec<(String, String)> {
    let root = workspace.root();
    let cwd = cwd.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut dirs: Vec<&Path> = cwd
        .ancestors()
        .take_while(|d| d.starts_with(root))
        .collect();
    if dirs.is_empty() {
        dirs.push(root);
    }
    dirs.reverse();
    let mut found = Vec::new();
    for dir in dirs {
        for name in INSTRUCTION_FILES {
            let path = dir.join(name);
            let Ok(body) = std::fs::read_to_string(&path) else {
                continue;
            };
            let body = if body.len() > MAX_INSTRUCTIONS {
                crate::tools::cap_output(&body, MAX_INSTRUCTIONS)
            } else {
                body
            };
            found.push((workspace.display(&path), body));
        }
    }
    found
}

/// Rough token count (about 3.5 bytes per token for code and English; errs high).
pub fn estimate_tokens(messages: &[Message], tools: &[ToolSpec]) -> u32 {
    let bytes: usize = messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.tool_calls
                    .iter()
                    .map(|c| c.arguments.len() + 32)
                    .sum::<usize>()
                + 16
        })
        .sum::<usize>()
        + tools
            .iter()
            .map(|t| t.description.len() + t.parameters.to_string().len())
            .sum::<usize>();
    u32::try_from(bytes * 2 / 7).unwrap_or(u32::MAX)
}

/// Messages kept verbatim at the end of the history when compacting.
pub const KEEP_RECENT: usize = 6;

/// When the prompt nears the context limit, old tool results (the bulk of an agent's
/// history) are replaced by a one-line note, oldest first, then old answers, until it fits
/// in 70% of the context. The system message and the most recent messages are never touched. Returns how
/// many results were elided.
pub fn compact(messages: &mut [Message], tools: &[ToolSpec], context_length: u32) -> usize {
    compact_keeping(messages, tools, context_length, KEEP_RECENT)
}

/// [`compact`], keeping only the last `keep` messages whole: after the context overflowed,
/// the recent messages themselves may be what does not fit.
pub fn compact_keeping(
    messages: &mut [Message],
    tools: &[ToolSpec],
    context_length: u32,
    keep: usize,
) -> usize {
    const ELIDED: &str =
        "[earlier tool output elided to fit the context; call the tool again if you need it]";
    const ANSWER_ELIDED: &str = "[earlier answer elided to fit the context]";
    let budget = context_length / 10 * 7;
    let mut elided = 0;
    let end = messages.len().saturating_sub(keep);
    // Tool output goes first; if that is not enough (a long interactive session), old
    // answers' text goes too — their tool calls stay, so the history still reads in order.
    for (role, note) in [(Role::Tool, ELIDED), (Role::Assistant, ANSWER_ELIDED)] {
        for i in 1..end {
            if estimate_tokens(messages, tools) <= budget {
                return elided;
            }
            let message = &mut messages[i];
            if message.role == role && message.content.len() > note.len() {
                message.content = note.to_string();
                elided += 1;
            }
        }
    }
    elided
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ToolCall;

    #[test]
    fn instructions_come_from_root_down_to_cwd_and_the_message_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("crates/a")).unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "root rules").unwrap();
        std::fs::write(dir.path().join("crates/a/CLAUDE.md"), "crate rules").unwrap();
        std::fs::write(dir.path().join("crates/a/lib.rs"), "pub fn f() {}\n").unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        let cwd = dir.path().join("crates/a");
        let user = UserInstructions::new("/home/me/.config/lode/AGENTS.md".into(), "my rules");
        let first = system_message(&ws, &cwd, user.as_ref(), Some("cargo test"), Some(32_768));
        let second = system_message(&ws, &cwd, user.as_ref(), Some("cargo test"), Some(32_768));
        assert_eq!(first, second);
        let user_at = first
            .find("# User instructions (/home/me/.config/lode/AGENTS.md)\n\nmy rules")
            .unwrap();
        let root_at = first.find("root rules").unwrap();
        let crate_at = first.find("crate rules").unwrap();
        assert!(user_at < root_at && root_at < crate_at);
        assert!(first.contains("(crates/a/CLAUDE.md)"));
        assert!(first.contains("`cargo test`"));
    }

    #[test]
    fn empty_user_instructions_add_nothing() {
        assert_eq!(UserInstructions::new("x".into(), " \n"), None);
    }

    #[test]
    fn compaction_elides_old_tool_output_but_keeps_system_and_recent() {
        let call = ToolCall {
            id: "c".into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        };
        let mut messages = vec![Message::system("sys".repeat(100))];
        for _ in 0..10 {
            messages.push(Message::assistant(""));
            messages.push(Message::tool(&call, "x".repeat(4000)));
        }
        let before = messages.clone();
        let elided = compact(&mut messages, &[], 8000);
        assert!(elided > 0);
        assert_eq!(messages[0], before[0]);
        let n = messages.len();
        assert_eq!(messages[n - KEEP_RECENT..], before[n - KEEP_RECENT..]);
        assert!(estimate_tokens(&messages, &[]) <= 8000 / 10 * 7);
    }

    #[test]
    fn long_answers_go_once_tool_output_is_not_enough() {
        let mut messages = vec![Message::system("sys")];
        for _ in 0..10 {
            messages.push(Message::user("go on"));
            messages.push(Message::assistant("y".repeat(4000)));
        }
        let before = messages.clone();
        let elided = compact(&mut messages, &[], 8000);
        assert!(elided > 0);
        let n = messages.len();
        assert_eq!(messages[n - KEEP_RECENT..], before[n - KEEP_RECENT..]);
        assert!(
            messages[2].content.contains("elided"),
            "{}",
            messages[2].content
        );
        assert_eq!(messages[1], before[1], "user messages stay");
        assert!(estimate_tokens(&messages, &[]) <= 8000 / 10 * 7);
    }
}
