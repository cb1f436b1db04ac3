//! `git_status` and `git_diff`, read through libgit2 rather than the `git` binary: no
//! dependency on what is installed, no pager, no user aliases or colour settings leaking into
//! what the model reads. This file and `review.rs` are the only places that name `git2`.

use std::path::Path;

use git2::{Delta, DiffFormat, DiffOptions, ErrorCode, Repository, Status, StatusOptions};
use serde_json::{json, Value};

use crate::tools::{
    cap_output, Permission, Tool, ToolContext, ToolError, ToolFuture, ToolOutput, ToolSpec,
};

/// The `git_status` tool.
pub struct GitStatus;

/// The `git_diff` tool.
pub struct GitDiff;

impl Tool for GitStatus {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_status",
            description: "Show the git status of the repository containing the workspace: the \
                branch, then one `XY path` line per changed file, where X is the staged state and \
                Y the unstaged one (M modified, A added, D deleted, R renamed, U conflicted, \
                ?? untracked). Ignored files are not listed.",
            short_description: "Show changed files (git status, short format).",
            parameters: json!({
                "type": "object",
                "properties": {},
                "required": [],
                "additionalProperties": false
            }),
            permission: Permission::Read,
        }
    }

    fn run<'a>(&'a self, _args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let repo = open(ctx.workspace.root())?;
            let text = status_text(&repo, ctx.workspace.root())
                .map_err(|e| git_failed("read the status", &e))?;
            Ok(ToolOutput {
                content: cap_output(&text, ctx.output_limit),
                ..ToolOutput::default()
            })
        })
    }
}

impl Tool for GitDiff {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_diff",
            description: "Show uncommitted changes as a unified diff: by default the unstaged \
                changes (working tree against the index); with `staged: true` the staged ones \
                (index against HEAD). Untracked files are not included; git_status lists them.",
            short_description: "Show uncommitted changes as a unified diff.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "staged": {"type": "boolean", "description": "Show staged changes instead of unstaged ones (default false)."}
                },
                "required": [],
                "additionalProperties": false
            }),
            permission: Permission::Read,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let staged = opt_bool(&args, "staged")?.unwrap_or(false);
            let repo = open(ctx.workspace.root())?;
            let (patch, stats) =
                diff_text(&repo, staged).map_err(|e| git_failed("compute the diff", &e))?;
            let content = if patch.is_empty() {
                let what = if staged {
                    "no staged changes (the index matches HEAD)"
                } else {
                    "no unstaged changes (the working tree matches the index)"
                };
                what.to_string()
            } else {
                cap_output(&patch, ctx.output_limit)
            };
            Ok(ToolOutput {
                content,
                data: Some(json!({
                    "staged": staged,
                    "files_changed": stats.files_changed(),
                    "insertions": stats.insertions(),
                    "deletions": stats.deletions(),
                })),
                ..ToolOutput::default()
            })
        })
    }
}

/// Makes `dir` a git repository whose first commit holds every file in it (`lode demo`'s
/// example, so `/diff` has something to compare against). The author is fixed so the
/// user's git configuration is neither needed nor read.
pub fn init_with_commit(dir: &Path, message: &str) -> Result<(), String> {
    let fail = |e: git2::Error| format!("git could not set up {}: {}", dir.display(), e.message());
    let repo = Repository::init(dir).map_err(fail)?;
    let mut index = repo.index().map_err(fail)?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .map_err(fail)?;
    index.write().map_err(fail)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(fail)?)
        .map_err(fail)?;
    let who = git2::Signature::now("lode", "lode@localhost").map_err(fail)?;
    repo.commit(Some("HEAD"), &who, &who, message, &tree, &[])
        .map_err(fail)?;
    Ok(())
}

fn open(root: &Path) -> Result<Repository, ToolError> {
    let repo = Repository::discover(root).map_err(|_| {
        ToolError::Failed(format!(
            "{} is not inside a git repository, so there is no git status or diff; \
             use list_files and read_file to look at the files",
            root.display()
        ))
    })?;
    if repo.is_bare() {
        return Err(ToolError::Failed(format!(
            "the git repository at {} is bare (it has no working tree)",
            repo.path().display()
        )));
    }
    Ok(repo)
}

fn git_failed(what: &str, e: &git2::Error) -> ToolError {
    ToolError::Failed(format!("git could not {what}: {}", e.message()))
}

fn opt_bool(args: &Value, name: &str) -> Result<Option<bool>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Small models often quote booleans.
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ToolError::BadArgs(format!(
            "`{name}` must be true or false, got {other}"
        ))),
    }
}

/// `## branch` and one `XY path` line per entry, like `git status --short --branch`.
fn status_text(repo: &Repository, root: &Path) -> Result<String, git2::Error> {
    let mut text = format!("## {}\n", branch_line(repo)?);
    // Paths are relative to the repository, which differs when the workspace is a subfolder.
    if let Some(workdir) = repo.workdir().and_then(|w| w.canonicalize().ok()) {
        if workdir != root {
            text.push_str(&format!("(paths relative to {})\n", workdir.display()));
        }
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut any = false;
    for entry in statuses.iter() {
        let status = entry.status();
        if status.is_ignored() {
            continue;
        }
        let code = short_code(status);
        let path = String::from_utf8_lossy(entry.path_bytes()).into_owned();
        let path = match entry
            .head_to_index()
            .filter(|d| d.status() == Delta::Renamed)
        {
            Some(delta) => match delta.old_file().path() {
                Some(old) => format!("{} -> {path}", old.display()),
                None => path,
            },
            None => path,
        };
        text.push_str(&format!("{code} {path}\n"));
        any = true;
    }
    if !any {
        text.push_str("nothing to commit, working tree clean\n");
    }
    Ok(text)
}

fn short_code(status: Status) -> String {
    if status.is_conflicted() {
        return "UU".to_string();
    }
    if status.is_wt_new() && !status.intersects(index_flags()) {
        return "??".to_string();
    }
    let x = if status.is_index_new() {
        'A'
    } else if status.is_index_modified() {
        'M'
    } else if status.is_index_deleted() {
        'D'
    } else if status.is_index_renamed() {
        'R'
    } else if status.is_index_typechange() {
        'T'
    } else {
        ' '
    };
    let y = if status.is_wt_modified() {
        'M'
    } else if status.is_wt_deleted() {
        'D'
    } else if status.is_wt_renamed() {
        'R'
    } else if status.is_wt_typechange() {
        'T'
    } else {
        ' '
    };
    format!("{x}{y}")
}

fn index_flags() -> Status {
    Status::INDEX_NEW
        | Status::INDEX_MODIFIED
        | Status::INDEX_DELETED
        | Status::INDEX_RENAMED
        | Status::INDEX_TYPECHANGE
}

fn branch_line(repo: &Repository) -> Result<String, git2::Error> {
    match repo.head() {
        Ok(head) if head.is_branch() => Ok(head.shorthand().unwrap_or("HEAD").to_string()),
        Ok(head) => {
            let id = head.target().map(|oid| oid.to_string()).unwrap_or_default();
            Ok(format!("HEAD (detached at {})", id.get(..7).unwrap_or(&id)))
        }
        Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => {
            let head = repo.find_reference("HEAD")?;
            let target = head.symbolic_target().unwrap_or("HEAD");
            Ok(format!(
                "No commits yet on {}",
                target.trim_start_matches("refs/heads/")
            ))
        }
        Err(e) => Err(e),
    }
}

/// The patch text and its statistics: index against HEAD when `staged`, else the working
/// tree against the index.
fn diff_text(repo: &Repository, staged: bool) -> Result<(String, git2::DiffStats), git2::Error> {
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    let diff = if staged {
        let head_tree = match repo.head() {
            Ok(head) => Some(head.peel_to_tree()?),
            Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => {
                None
            }
            Err(e) => return Err(e),
        };
        repo.diff_tree_to_index(head_tree.as_ref(), None, Some(&mut opts))?
    } else {
        repo.diff_index_to_workdir(None, Some(&mut opts))?
    };
    let mut patch = String::new();
    diff.print(DiffFormat::Patch, |_delta, _hunk, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            patch.push(line.origin());
        }
        patch.push_str(&String::from_utf8_lossy(line.content()));
        true
    })?;
    Ok((patch, diff.stats()?))
}

/// Points libgit2's global, XDG and system config at an empty directory, so no test reads
/// the developer's git config (an excludesFile there would change what status shows).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn sandbox_git_config() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let empty = tempfile::tempdir().unwrap().keep();
        for level in [
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::System,
        ] {
            // SAFETY: runs once, before this test binary's first repository is opened here.
            unsafe { git2::opts::set_search_path(level, empty.as_os_str()).unwrap() };
        }
    });
}

/// The repository's `core.hooksPath`, as configured (relative paths are relative to `root`).
pub fn hooks_path(root: &Path) -> Option<std::path::PathBuf> {
    let repo = git2::Repository::open(root).ok()?;
    let path = repo.config().ok()?.get_path("core.hooksPath").ok()?;
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Workspace;
    use git2::{IndexAddOption, RepositoryInitOptions, Signature};
    use pretty_assertions::assert_eq;
    use std::fs;

    use super::sandbox_git_config;

    fn init(dir: &Path) -> Repository {
        sandbox_git_config();
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main");
        Repository::init_opts(dir, &opts).unwrap()
    }

    fn stage_all(repo: &Repository) {
        let mut index = repo.index().unwrap();
        index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
    }

    fn commit_all(repo: &Repository) {
        stage_all(repo);
        let mut index = repo.index().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("Test", "test@example.com").unwrap();
        let parent = repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "commit", &tree, &parents)
            .unwrap();
    }

    fn ctx(root: &Path) -> ToolContext {
        ToolContext::new(Workspace::new(root).unwrap())
    }

    async fn status(root: &Path) -> Result<String, ToolError> {
        GitStatus
            .run(json!({}), &ctx(root))
            .await
            .map(|o| o.content)
    }

    async fn diff(root: &Path, args: Value) -> Result<ToolOutput, ToolError> {
        GitDiff.run(args, &ctx(root)).await
    }

    #[tokio::test]
    async fn status_lists_short_codes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        let root = dir.path();
        fs::write(root.join(".gitignore"), "*.log\n").unwrap();
        fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
        fs::write(root.join("b.txt"), "b\n").unwrap();
        commit_all(&repo);
        assert_eq!(
            status(root).await.unwrap(),
            "## main\nnothing to commit, working tree clean\n"
        );

        fs::write(root.join("a.txt"), "one\n2\n").unwrap();
        fs::remove_file(root.join("b.txt")).unwrap();
        fs::write(root.join("c.txt"), "new\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("c.txt")).unwrap();
        index.write().unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/d.txt"), "untracked\n").unwrap();
        fs::write(root.join("debug.log"), "ignored\n").unwrap();
        assert_eq!(
            status(root).await.unwrap(),
            "## main\n M a.txt\n D b.txt\nA  c.txt\n?? sub/d.txt\n"
        );
    }

    #[tokio::test]
    async fn status_of_a_repo_without_commits() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        fs::write(dir.path().join("a.txt"), "x").unwrap();
        assert_eq!(
            status(dir.path()).await.unwrap(),
            "## No commits yet on main\n?? a.txt\n"
        );
    }

    #[tokio::test]
    async fn status_from_a_subfolder_says_where_paths_start() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/x.txt"), "x").unwrap();
        commit_all(&repo);
        fs::write(dir.path().join("sub/x.txt"), "y").unwrap();
        let text = status(&dir.path().join("sub")).await.unwrap();
        let workdir = dir.path().canonicalize().unwrap();
        assert_eq!(
            text,
            format!(
                "## main\n(paths relative to {})\n M sub/x.txt\n",
                workdir.display()
            )
        );
    }

    #[tokio::test]
    async fn diff_shows_unstaged_then_staged_changes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        let root = dir.path();
        fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
        commit_all(&repo);
        fs::write(root.join("a.txt"), "one\n2\n").unwrap();

        let out = diff(root, json!({})).await.unwrap();
        assert!(
            out.content.starts_with("diff --git a/a.txt b/a.txt\n"),
            "{}",
            out.content
        );
        assert!(
            out.content
                .ends_with("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n"),
            "{}",
            out.content
        );
        assert_eq!(
            out.data,
            Some(json!({"staged": false, "files_changed": 1, "insertions": 1, "deletions": 1}))
        );
        let staged = diff(root, json!({"staged": true})).await.unwrap();
        assert_eq!(staged.content, "no staged changes (the index matches HEAD)");

        stage_all(&repo);
        let staged = diff(root, json!({"staged": "true"})).await.unwrap();
        assert!(
            staged.content.contains("@@ -1,2 +1,2 @@\n one\n-two\n+2\n"),
            "{}",
            staged.content
        );
        let unstaged = diff(root, json!({"staged": false})).await.unwrap();
        assert_eq!(
            unstaged.content,
            "no unstaged changes (the working tree matches the index)"
        );
    }

    #[tokio::test]
    async fn staged_diff_works_before_the_first_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        fs::write(dir.path().join("new.rs"), "fn main() {}\n").unwrap();
        stage_all(&repo);
        let out = diff(dir.path(), json!({"staged": true})).await.unwrap();
        assert!(
            out.content.contains("new file mode 100644"),
            "{}",
            out.content
        );
        assert!(
            out.content
                .contains("+++ b/new.rs\n@@ -0,0 +1 @@\n+fn main() {}\n"),
            "{}",
            out.content
        );
    }

    #[tokio::test]
    async fn not_a_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        sandbox_git_config();
        if Repository::discover(dir.path()).is_ok() {
            return; // the temp dir sits inside someone's repository; nothing to check here
        }
        let err = status(dir.path()).await.unwrap_err();
        assert!(
            err.to_string().contains("is not inside a git repository"),
            "{err}"
        );
        let err = diff(dir.path(), json!({})).await.unwrap_err();
        assert!(
            err.to_string().contains("is not inside a git repository"),
            "{err}"
        );
        let bad = diff(dir.path(), json!({"staged": 3})).await.unwrap_err();
        assert!(matches!(bad, ToolError::BadArgs(_)), "{bad}");
    }
}
