//! `write_file`: create a file or replace it whole. Also home of the steps every writing tool
//! shares — the stale-file check, the undo journal, the atomic write, the `seen` stamp and
//! the diff — so `edit_file` and `write_file` cannot drift apart on any of them.

use std::path::Path;

use serde_json::{json, Value};

use crate::tools::fsutil::atomic_write;
use crate::tools::{
    arg_str, cap_output, FileStamp, Permission, Tool, ToolContext, ToolError, ToolFuture,
    ToolOutput, ToolSpec,
};

/// The `write_file` tool.
pub struct WriteFile;

impl Tool for WriteFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write_file",
            description: "Create a new file, or replace the whole content of an existing one. \
                Missing parent directories are created. Prefer edit_file for changing part of an \
                existing file: it is shorter and safer. An existing file must not have changed on \
                disk since you last read it. Returns a unified diff of the change.",
            short_description: "Create or overwrite a whole file.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path, relative to the workspace root."},
                    "content": {"type": "string", "description": "The complete new content of the file."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
            permission: Permission::Write,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move { write_file(&args, ctx) })
    }

    fn preview(&self, args: &Value, ctx: &ToolContext) -> Option<Result<String, ToolError>> {
        Some(plan_write(args, ctx).map(|plan| {
            let old_text = plan.previous.as_deref().map(String::from_utf8_lossy);
            unified_diff(&plan.rel, old_text.as_deref(), plan.content)
        }))
    }
}

/// A write worked out (path resolved, previous content checked fresh) but not yet done.
struct PlannedWrite<'a> {
    abs: std::path::PathBuf,
    rel: String,
    previous: Option<Vec<u8>>,
    content: &'a str,
}

fn plan_write<'a>(args: &'a Value, ctx: &ToolContext) -> Result<PlannedWrite<'a>, ToolError> {
    let path = arg_str(args, "path")?;
    let content = arg_str(args, "content")?;
    let abs = ctx.workspace.resolve(path)?;
    let rel = ctx.workspace.display(&abs);
    if abs.is_dir() {
        return Err(ToolError::Failed(format!(
            "`{rel}` is a directory; give a file path"
        )));
    }
    let previous = read_existing(&abs, &rel)?;
    if let Some(old) = &previous {
        check_fresh(ctx, &abs, &rel, old)?;
    }
    Ok(PlannedWrite {
        abs,
        rel,
        previous,
        content,
    })
}

fn write_file(args: &Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    let PlannedWrite {
        abs,
        rel,
        previous,
        content,
    } = plan_write(args, ctx)?;
    save_file(ctx, &abs, &rel, content.as_bytes())?;

    let old_text = previous.as_deref().map(String::from_utf8_lossy);
    let diff = unified_diff(&rel, old_text.as_deref(), content);
    let lines = content.lines().count();
    let summary = match &previous {
        None => format!("Created `{rel}` ({lines} lines)."),
        Some(old) if old.as_slice() == content.as_bytes() => {
            format!("`{rel}` already had exactly this content; nothing changed.")
        }
        Some(_) => format!("Replaced the content of `{rel}` ({lines} lines now)."),
    };
    Ok(ToolOutput {
        content: cap_output(&format!("{summary}\n{diff}"), ctx.output_limit),
        diff: Some(diff),
        changed: vec![rel],
        data: None,
    })
}

/// The file's bytes, or `None` when it does not exist yet.
pub(crate) fn read_existing(abs: &Path, rel: &str) -> Result<Option<Vec<u8>>, ToolError> {
    crate::tools::regular::read_regular(abs, rel, crate::tools::regular::MAX_FILE_BYTES)
}

/// Refuses to overwrite a file that changed on disk since the agent last read or wrote it
/// (someone else's edit would be lost). A file the agent never looked at may be written.
pub(crate) fn check_fresh(
    ctx: &ToolContext,
    abs: &Path,
    rel: &str,
    current: &[u8],
) -> Result<(), ToolError> {
    let seen = ctx
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match seen.get(abs) {
        Some(stamp) if *stamp != FileStamp::of(current) => Err(ToolError::StaleFile {
            path: rel.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Journals the file's original state, replaces it atomically and remembers what the agent
/// wrote. Nothing is written when the journal cannot save the original.
pub(crate) fn save_file(
    ctx: &ToolContext,
    abs: &Path,
    rel: &str,
    bytes: &[u8],
) -> Result<(), ToolError> {
    if let Some(journal) = &ctx.journal {
        let mut journal = journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        journal.record(abs).map_err(|e| {
            ToolError::Failed(format!(
                "cannot save an undo copy of `{rel}` ({e}); the file was not changed"
            ))
        })?;
    }
    atomic_write(abs, bytes)
        .map_err(|e| ToolError::Failed(format!("cannot write `{rel}`: {e}")))?;
    if let Some(journal) = &ctx.journal {
        let mut journal = journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The write already happened; a failure here only loses the "changed since" note.
        let _ = journal.note_written(abs, bytes);
    }
    ctx.seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(abs.to_path_buf(), FileStamp::of(bytes));
    Ok(())
}

/// The most text a diff is computed over, and the longest diff kept: a diff goes to the model,
/// to the screen and into a `--json` event, so a rewrite of a huge file must not become a
/// huge diff.
const DIFF_INPUT_LIMIT: usize = 8 * 1024 * 1024;
const DIFF_LIMIT: usize = 256 * 1024;

/// A unified diff with `a/` and `b/` file headers (`/dev/null` for a new file), at most
/// `DIFF_LIMIT` bytes (cut at a line, with a note of what was left out).
pub(crate) fn unified_diff(rel: &str, old: Option<&str>, new: &str) -> String {
    let old_header = match old {
        Some(_) => format!("a/{rel}"),
        None => "/dev/null".to_string(),
    };
    let old_text = old.unwrap_or("");
    if old_text.len() + new.len() > DIFF_INPUT_LIMIT {
        return format!(
            "--- {old_header}\n+++ b/{rel}\n[diff not computed: {} bytes before, {} after]\n",
            old_text.len(),
            new.len()
        );
    }
    // Past the deadline similar falls back to a coarser (still correct) diff.
    let diff = similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(500))
        .diff_lines(old_text, new)
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &format!("b/{rel}"))
        .to_string();
    if diff.len() <= DIFF_LIMIT {
        return diff;
    }
    let mut cut = DIFF_LIMIT;
    while !diff.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = diff[..cut].rfind('\n').map_or(cut, |i| i + 1);
    format!(
        "{}[… {} more bytes of diff not shown]\n",
        &diff[..cut],
        diff.len() - cut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::journal::{undo_last, Journal};
    use crate::tools::Workspace;
    use pretty_assertions::assert_eq;
    use std::sync::Mutex;

    fn ctx(root: &Path) -> ToolContext {
        ToolContext::new(Workspace::new(root).unwrap())
    }

    async fn write(ctx: &ToolContext, path: &str, content: &str) -> Result<ToolOutput, ToolError> {
        WriteFile
            .run(json!({"path": path, "content": content}), ctx)
            .await
    }

    #[tokio::test]
    async fn creates_a_file_with_parents_and_a_diff() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let out = write(&ctx, "src/new.rs", "fn a() {}\n").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/new.rs")).unwrap(),
            "fn a() {}\n"
        );
        assert_eq!(out.changed, vec!["src/new.rs".to_string()]);
        assert_eq!(
            out.diff.as_deref(),
            Some("--- /dev/null\n+++ b/src/new.rs\n@@ -0,0 +1 @@\n+fn a() {}\n")
        );
        assert!(
            out.content.starts_with("Created `src/new.rs` (1 lines)."),
            "{}",
            out.content
        );
    }

    #[test]
    fn diffs_of_huge_rewrites_stay_small() {
        // A 9 MiB one-line file replaced: no diff is computed at all.
        let big = "x".repeat(9 * 1024 * 1024);
        let diff = unified_diff("big.txt", Some(&big), "y\n");
        assert!(diff.len() < 200, "{}", diff.len());
        assert!(diff.contains("diff not computed"), "{diff}");
        // A new 40k-line file: the diff is cut at a line, with a note.
        let new: String = (0..40_000).map(|i| format!("new line {i}\n")).collect();
        let diff = unified_diff("many.txt", None, &new);
        assert!(diff.len() <= DIFF_LIMIT + 100, "{}", diff.len());
        assert!(
            diff.ends_with("more bytes of diff not shown]\n"),
            "{}",
            &diff[diff.len() - 80..]
        );
    }

    #[tokio::test]
    async fn overwrites_and_diffs_against_the_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\n").unwrap();
        let ctx = ctx(dir.path());
        let out = write(&ctx, "a.txt", "one\nthree\n").await.unwrap();
        assert_eq!(
            out.diff.as_deref(),
            Some("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n")
        );
        let stamp = ctx
            .seen
            .lock()
            .unwrap()
            .get(&ctx.workspace.root().join("a.txt"))
            .copied();
        assert_eq!(stamp, Some(FileStamp::of(b"one\nthree\n")));
    }

    #[tokio::test]
    async fn write_outside_the_workspace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let ctx = ctx(&dir.path().join("root"));
        for path in ["../escape.txt", "/tmp/lode-should-not-exist.txt"] {
            let err = write(&ctx, path, "x").await.unwrap_err();
            assert!(matches!(err, ToolError::OutsideWorkspace { .. }), "{err}");
        }
        assert!(!dir.path().join("escape.txt").exists());
    }

    #[tokio::test]
    async fn stale_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "v1").unwrap();
        let ctx = ctx(dir.path());
        ctx.seen
            .lock()
            .unwrap()
            .insert(ctx.workspace.root().join("a.txt"), FileStamp::of(b"v1"));
        std::fs::write(&path, "v2 by someone else").unwrap();
        let err = write(&ctx, "a.txt", "v3").await.unwrap_err();
        assert_eq!(
            err,
            ToolError::StaleFile {
                path: "a.txt".into()
            }
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "v2 by someone else"
        );
    }

    #[tokio::test]
    async fn writes_are_journaled_and_undoable() {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "original").unwrap();
        let mut ctx = ctx(dir.path());
        ctx.journal = Some(Mutex::new(
            Journal::begin(data.path(), &ctx.workspace).unwrap(),
        ));
        write(&ctx, "a.txt", "new").await.unwrap();
        write(&ctx, "b/created.txt", "made").await.unwrap();
        let report = undo_last(data.path(), dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "original"
        );
        assert!(
            !dir.path().join("b").exists(),
            "the directory the write made must go"
        );
        assert_eq!(report.backups, vec![]);
    }

    #[tokio::test]
    async fn a_directory_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = write(&ctx(dir.path()), "sub", "x").await.unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
