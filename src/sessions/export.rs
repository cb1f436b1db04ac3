//! A saved session written out for people (Markdown) or programs (JSON): `/export` in the
//! session and `lode sessions export`. Markdown holds what the transcript showed — the
//! user's messages, the answers, each tool call with its arguments and its output (capped),
//! diffs as `diff` blocks, test results and how each task ended; JSON is the session's
//! records as they were saved.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::agent::AgentEvent;
use crate::sessions::{Record, SavedSession};

/// Tool output kept per call in Markdown; the rest is cut with a note.
const MAX_TOOL_OUTPUT: usize = 4 * 1024;

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    /// `.json` files get JSON, anything else Markdown.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Markdown,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }
}

/// Whether an existing file may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Keep,
    Replace,
}

/// The session in `format`.
pub fn render(session: &SavedSession, format: Format) -> String {
    match format {
        Format::Markdown => markdown(session),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&session.records)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            text.push('\n');
            text
        }
    }
}

/// Why an export was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} exists; choose another file", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `text` to `path`; an existing file is refused unless `existing` says replace.
pub fn write(path: &Path, text: &str, existing: Existing) -> Result<(), WriteError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match existing {
        Existing::Keep => options.create_new(true),
        Existing::Replace => options.create(true).truncate(true),
    };
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => WriteError::Exists {
            path: path.to_path_buf(),
        },
        _ => io(e),
    })?;
    file.write_all(text.as_bytes()).map_err(io)
}

fn markdown(session: &SavedSession) -> String {
    let mut out = format!("# lode session {}\n", session.id);
    for record in &session.records {
        match record {
            Record::Header {
                workspace,
                created_unix,
                ..
            } => out.push_str(&format!(
                "\nWorkspace `{}`, started {}.\n",
                workspace.display(),
                utc(*created_unix)
            )),
            Record::User { text } => {
                out.push_str(&format!("\n## You\n\n{}\n", text.trim_end()));
            }
            Record::Event { event } => event_markdown(&mut out, event),
            Record::Message { .. } | Record::Messages { .. } => {}
        }
    }
    out
}

fn event_markdown(out: &mut String, event: &AgentEvent) {
    match event {
        AgentEvent::TokenStream { text, .. } if !text.trim().is_empty() => {
            out.push_str(&format!("\n## lode\n\n{}\n", text.trim_end()));
        }
        AgentEvent::ToolStarted { tool, args, .. } => {
            let args = serde_json::to_string_pretty(args).unwrap_or_else(|_| args.to_string());
            out.push_str(&format!("\n### Tool `{tool}`\n\n{}", fenced("json", &args)));
        }
        AgentEvent::ToolFinished { ok, output, .. } => {
            let label = if *ok { "Output" } else { "Failed" };
            let output = crate::tools::cap_output(output, MAX_TOOL_OUTPUT);
            out.push_str(&format!("\n{label}:\n\n{}", fenced("text", &output)));
        }
        AgentEvent::DiffProposed { path, diff, .. } => {
            out.push_str(&format!(
                "\nChange to `{path}`:\n\n{}",
                fenced("diff", diff)
            ));
        }
        AgentEvent::TestResult {
            command,
            passed,
            failed,
            success,
        } => {
            let verdict = if *success { "passed" } else { "failed" };
            out.push_str(&format!(
                "\nTests `{command}` {verdict}: {passed} passed, {failed} failed.\n"
            ));
        }
        AgentEvent::Finished { outcome, message } => {
            out.push_str(&format!("\n*Task ended: {outcome:?}.* {message}\n"));
        }
        AgentEvent::Error { message } => out.push_str(&format!("\n**Error:** {message}\n")),
        _ => {}
    }
}

/// `2026-12-03 15:38 UTC` for a Unix time.
fn utc(unix: u64) -> String {
    let (year, month, day) = super::civil_from_days(unix / 86_400);
    let (hour, minute) = ((unix % 86_400) / 3600, (unix % 3600) / 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// `text` in a fence longer than any run of backticks inside it, so it cannot close early.
fn fenced(lang: &str, text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", text.trim_end_matches('\n'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::agent::Outcome;
    use pretty_assertions::assert_eq;

    fn session() -> SavedSession {
        SavedSession {
            id: "s1".into(),
            path: "s1.jsonl".into(),
            records: vec![
                Record::Header {
                    version: 1,
                    id: "s1".into(),
                    workspace: "/repo".into(),
                    created_unix: 7,
                },
                Record::User {
                    text: "fix it".into(),
                },
                Record::Event {
                    event: AgentEvent::ToolStarted {
                        id: "c1".into(),
                        tool: "read_file".into(),
                        args: serde_json::json!({"path": "a.rs"}),
                    },
                },
                Record::Event {
                    event: AgentEvent::ToolFinished {
                        id: "c1".into(),
                        tool: "read_file".into(),
                        ok: true,
                        output: "has ``` inside".into(),
                    },
                },
                Record::Event {
                    event: AgentEvent::DiffProposed {
                        id: "c2".into(),
                        path: "a.rs".into(),
                        diff: "-a\n+b\n".into(),
                    },
                },
                Record::Event {
                    event: AgentEvent::TokenStream {
                        turn: 0,
                        text: "Fixed.".into(),
                    },
                },
                Record::Event {
                    event: AgentEvent::Finished {
                        outcome: Outcome::Done,
                        message: "tests pass".into(),
                    },
                },
            ],
            skipped_lines: 0,
        }
    }

    #[test]
    fn markdown_shows_the_conversation_tools_and_diffs() {
        assert_eq!(
            render(&session(), Format::Markdown),
            "# lode session s1\n\
             \nWorkspace `/repo`, started 1970-01-01 00:00 UTC.\n\
             \n## You\n\nfix it\n\
             \n### Tool `read_file`\n\n```json\n{\n  \"path\": \"a.rs\"\n}\n```\n\
             \nOutput:\n\n````text\nhas ``` inside\n````\n\
             \nChange to `a.rs`:\n\n```diff\n-a\n+b\n```\n\
             \n## lode\n\nFixed.\n\
             \n*Task ended: Done.* tests pass\n"
        );
    }

    #[test]
    fn json_is_the_records_and_reads_back() {
        let text = render(&session(), Format::Json);
        let back: Vec<Record> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, session().records);
    }

    #[test]
    fn an_existing_file_is_kept_unless_replacing_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.md");
        std::fs::write(&path, "mine").unwrap();
        let refused = write(&path, "new", Existing::Keep).unwrap_err();
        assert!(matches!(refused, WriteError::Exists { .. }), "{refused}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        write(&path, "new", Existing::Replace).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(Format::for_path(Path::new("x.JSON")), Format::Json);
        assert_eq!(Format::for_path(Path::new("x.txt")), Format::Markdown);
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(1_796_312_290), "2026-12-03 15:38 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }
}
