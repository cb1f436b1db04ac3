//! `read_file`: shows a text file with line numbers, one page at a time.
//!
//! Numbered lines let the model cite and edit by line without counting; paging keeps a
//! large file from flooding the context window (the prompt is the agent's main cost).
//! Reading a file also records its fingerprint in `ToolContext::seen`, so an edit can
//! tell when the file changed on disk behind the agent's back.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::tools::{
    arg_str, cap_output, opt_u64, FileStamp, Permission, Tool, ToolContext, ToolError, ToolFuture,
    ToolOutput, ToolSpec,
};

/// Lines shown when the model gives no range.
pub const PAGE_LINES: usize = 400;
/// How much of the file's head is checked for binary content.
const SNIFF_BYTES: usize = 8 * 1024;
/// Longer lines (minified code, data) are cut so one line cannot eat the whole page.
const MAX_LINE_CHARS: usize = 2000;
/// Room kept for the paging note after the lines.
const FOOTER_RESERVE: usize = 200;

/// The `read_file` tool.
pub struct ReadFile;

impl Tool for ReadFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file",
            description: "Read a text file in the workspace. Lines are shown numbered (`   12│text`, 1-based). \
                Without a range at most 400 lines are shown, followed by a note saying how many lines the \
                file has and which start_line to ask for next. Give start_line and end_line (inclusive) to \
                read a specific part, e.g. around a search hit. Binary files are not shown. Read a file \
                before editing it.",
            short_description: "Read a file with numbered lines (optionally a line range).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace root."},
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line to show (1-based)."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show (inclusive)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
            permission: Permission::Read,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let path = arg_str(&args, "path")?;
            let range = LineRange {
                start: opt_u64(&args, "start_line")?,
                end: opt_u64(&args, "end_line")?,
            };
            let resolved = ctx.workspace.resolve(path)?;
            let shown = ctx.workspace.display(&resolved);
            let meta = crate::tools::metadata(&resolved, &shown).await?;
            if meta.is_dir() {
                return Err(ToolError::Failed(format!(
                    "`{shown}` is a directory; use list_files with path `{shown}` to see what it contains"
                )));
            }
            let bytes = crate::tools::regular::read_regular(
                &resolved,
                &shown,
                crate::tools::regular::MAX_FILE_BYTES,
            )?
            .ok_or_else(|| ToolError::Failed(format!("`{shown}` does not exist")))?;
            if looks_binary(&bytes) {
                return Ok(ToolOutput {
                    content: format!("`{shown}`: binary file, {} bytes; not shown", bytes.len()),
                    ..ToolOutput::default()
                });
            }
            let text = String::from_utf8_lossy(&bytes);
            let page = render_page(
                &text,
                &range,
                ctx.output_limit.saturating_sub(FOOTER_RESERVE),
            )?;
            if let Ok(mut seen) = ctx.seen.lock() {
                seen.insert(resolved, FileStamp::of(&bytes));
            }
            Ok(ToolOutput {
                content: cap_output(&page, ctx.output_limit),
                ..ToolOutput::default()
            })
        })
    }
}

/// The lines the model asked for, as given (1-based, inclusive).
struct LineRange {
    start: Option<u64>,
    end: Option<u64>,
}

/// NUL bytes or invalid UTF-8 near the start mean the file is not text. A multi-byte
/// character cut by the sniff window is not an error.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => false,
        Err(e) => e.error_len().is_some() || head.len() == bytes.len(),
    }
}

/// Numbers the requested lines, stopping early (with a note) if `budget` bytes are used up.
fn render_page(text: &str, range: &LineRange, budget: usize) -> Result<String, ToolError> {
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    if total == 0 {
        return Ok("(empty file)".to_string());
    }
    // Small models often send 0 for "the start"; treat it as line 1 rather than failing.
    let start = range.start.unwrap_or(1).max(1) as usize;
    if start > total {
        return Err(ToolError::BadArgs(format!(
            "start_line {start} is past the end of the file, which has {total} lines"
        )));
    }
    let end = match range.end {
        Some(end) => {
            let end = end as usize;
            if end < start {
                return Err(ToolError::BadArgs(format!(
                    "end_line {end} is before start_line {start}; give end_line ≥ start_line"
                )));
            }
            end.min(total)
        }
        None => (start + PAGE_LINES - 1).min(total),
    };
    let width = total.to_string().len().max(5);
    let mut out = String::new();
    let mut last_shown = start - 1;
    for (index, line) in lines[start - 1..end].iter().enumerate() {
        let number = start + index;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let before = out.len();
        match line.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => {
                let rest = line[cut..].chars().count();
                let _ = writeln!(
                    out,
                    "{number:>width$}│{}… [{rest} more characters on this line]",
                    &line[..cut]
                );
            }
            None => {
                let _ = writeln!(out, "{number:>width$}│{line}");
            }
        }
        if out.len() > budget && number > start {
            out.truncate(before);
            break;
        }
        last_shown = number;
    }
    if last_shown < total {
        let _ = write!(
            out,
            "[showing lines {start}-{last_shown} of {total}; call read_file with start_line={} to continue]",
            last_shown + 1
        );
    } else if start > 1 || range.end.is_some() {
        let _ = write!(out, "[end of file: {total} lines]");
    }
    Ok(out.trim_end_matches('\n').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::path::Path;

    fn ctx(root: &Path) -> ToolContext {
        let mut ctx = ToolContext::new(crate::tools::Workspace::new(root).unwrap());
        ctx.output_limit = 64 * 1024;
        ctx
    }

    async fn read(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        ReadFile.run(args, ctx).await.map(|o| o.content)
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[tokio::test]
    async fn numbers_lines_from_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "alpha\nbeta\r\ngamma").unwrap();
        let ctx = ctx(dir.path());
        let out = read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        assert_eq!(out, "    1│alpha\n    2│beta\n    3│gamma");
    }

    #[tokio::test]
    async fn range_shows_only_those_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), numbered(20)).unwrap();
        let ctx = ctx(dir.path());
        let out = read(
            &ctx,
            json!({"path": "a.txt", "start_line": 3, "end_line": "5"}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            "    3│line 3\n    4│line 4\n    5│line 5\n[showing lines 3-5 of 20; call read_file with start_line=6 to continue]"
        );
        let tail = read(&ctx, json!({"path": "a.txt", "start_line": 19}))
            .await
            .unwrap();
        assert_eq!(
            tail,
            "   19│line 19\n   20│line 20\n[end of file: 20 lines]"
        );
    }

    #[tokio::test]
    async fn bad_ranges_say_how_long_the_file_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), numbered(5)).unwrap();
        let ctx = ctx(dir.path());
        let err = read(&ctx, json!({"path": "a.txt", "start_line": 9}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("has 5 lines"), "{err}");
        let err = read(
            &ctx,
            json!({"path": "a.txt", "start_line": 4, "end_line": 2}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::BadArgs(_)), "{err}");
    }

    #[tokio::test]
    async fn long_files_are_paged_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), numbered(1000)).unwrap();
        let ctx = ctx(dir.path());
        let out = read(&ctx, json!({"path": "big.txt"})).await.unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), PAGE_LINES + 1);
        assert_eq!(lines[PAGE_LINES - 1], "  400│line 400");
        assert_eq!(
            lines[PAGE_LINES],
            "[showing lines 1-400 of 1000; call read_file with start_line=401 to continue]"
        );
    }

    #[tokio::test]
    async fn output_limit_pages_early_instead_of_cutting_mid_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), numbered(1000)).unwrap();
        let mut ctx = ctx(dir.path());
        ctx.output_limit = 1000;
        let out = read(&ctx, json!({"path": "big.txt"})).await.unwrap();
        assert!(out.len() <= 1000, "{}", out.len());
        let note = out.lines().last().unwrap();
        assert!(note.starts_with("[showing lines 1-"), "{note}");
        let shown: usize = out.lines().count() - 1;
        assert!(
            note.contains(&format!("start_line={}", shown + 1)),
            "{note}"
        );
    }

    #[tokio::test]
    async fn binary_files_are_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.bin"), [0x7f, b'E', b'L', b'F', 0, 1, 2]).unwrap();
        std::fs::write(dir.path().join("latin1.txt"), b"caf\xe9 au lait").unwrap();
        let ctx = ctx(dir.path());
        assert_eq!(
            read(&ctx, json!({"path": "b.bin"})).await.unwrap(),
            "`b.bin`: binary file, 7 bytes; not shown"
        );
        let out = read(&ctx, json!({"path": "latin1.txt"})).await.unwrap();
        assert!(out.contains("binary file, 12 bytes"), "{out}");
    }

    #[test]
    fn utf8_cut_by_the_sniff_window_is_still_text() {
        let mut text = "a".repeat(SNIFF_BYTES - 1).into_bytes();
        text.extend("é and more".as_bytes());
        assert!(!looks_binary(&text));
    }

    #[tokio::test]
    async fn directories_point_to_list_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let ctx = ctx(dir.path());
        let err = read(&ctx, json!({"path": "src"})).await.unwrap_err();
        assert!(err.to_string().contains("list_files"), "{err}");
        let err = read(&ctx, json!({"path": "nope.rs"})).await.unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[tokio::test]
    async fn reading_records_the_file_stamp() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x\n").unwrap();
        let ctx = ctx(dir.path());
        read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        let key = ctx.workspace.root().join("a.txt");
        assert_eq!(
            ctx.seen.lock().unwrap().get(&key),
            Some(&FileStamp::of(b"x\n"))
        );
    }

    #[tokio::test]
    async fn paths_outside_the_workspace_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        let ctx = ctx(&dir.path().join("root"));
        let abs = dir.path().join("secret");
        for bad in ["../secret", abs.to_str().unwrap(), "/etc/passwd"] {
            let err = read(&ctx, json!({ "path": bad })).await.unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn spec_is_a_closed_object_schema() {
        let spec = ReadFile.spec();
        assert_eq!(spec.name, "read_file");
        assert_eq!(spec.permission, Permission::Read);
        assert_eq!(spec.parameters["additionalProperties"], json!(false));
        assert_eq!(spec.parameters["required"], json!(["path"]));
    }
}
