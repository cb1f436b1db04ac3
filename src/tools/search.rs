//! `search`: regex search over the workspace, built from ripgrep's own crates.
//!
//! The model finds code by searching far more than by listing, so this has to be as fast as
//! `rg` on a large tree: the `ignore` crate's parallel walker feeds one `grep_searcher`
//! per thread. Results are sorted by path and line before they are cut, so the same tree
//! and pattern always give the same bytes whatever order the threads finished in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::WalkState;
use serde_json::{json, Value};

use crate::cancel::CancelFlag;
use crate::tools::list::{walker, PathGlob};
use crate::tools::{
    arg_str, cap_output, opt_str, opt_u64, Permission, Tool, ToolContext, ToolError, ToolFuture,
    ToolOutput, ToolSpec, Workspace,
};

/// Matching lines shown by the tool before the result is cut.
pub const MAX_MATCHES: usize = 200;
/// Largest `context` honoured; more would mostly repeat `read_file`'s job.
const MAX_CONTEXT: usize = 10;
/// Lines longer than this are shown as a window around the match.
const MAX_LINE_BYTES: usize = 400;

/// What to search for, and where.
#[derive(Clone, Debug)]
pub struct SearchRequest<'a> {
    /// A regular expression (Rust `regex` syntax).
    pub pattern: &'a str,
    /// A directory or file relative to the workspace root; the root when `None`.
    pub path: Option<&'a str>,
    /// Only files whose relative path matches this glob are searched.
    pub glob: Option<&'a str>,
    /// Lines of context shown before and after each match.
    pub context: usize,
    /// Matching lines kept; the rest are only counted.
    pub limit: usize,
}

/// How a shown line relates to the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// The line matches; `column` is the 1-based byte column of the first match.
    Match { column: u64 },
    /// A line of context around a match.
    Context,
}

/// One shown line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HitLine {
    pub number: u64,
    pub kind: LineKind,
    pub text: String,
}

/// The shown lines of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHits {
    /// Workspace-relative path with `/` separators.
    pub path: String,
    pub lines: Vec<HitLine>,
}

/// Everything a search found, already sorted and cut to the request's limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchResult {
    pub files: Vec<FileHits>,
    /// Matching lines shown.
    pub shown_matches: usize,
    /// Matching lines in the whole search, shown or not.
    pub total_matches: usize,
    /// Files with at least one match.
    pub total_files: usize,
}

impl SearchResult {
    /// Whether matches were left out.
    pub fn truncated(&self) -> bool {
        self.shown_matches < self.total_matches
    }

    /// `path:line:col: text` for matches, `path-line- text` for context, `--` between
    /// groups that are not adjacent, and a note when matches were left out.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let grouped = self
            .files
            .iter()
            .flat_map(|f| &f.lines)
            .any(|l| l.kind == LineKind::Context);
        let mut previous: Option<(&str, u64)> = None;
        for file in &self.files {
            for line in &file.lines {
                if let Some((path, number)) = previous {
                    let adjacent = path == file.path && number + 1 == line.number;
                    if grouped && !adjacent {
                        out.push_str("--\n");
                    }
                }
                let _ = match line.kind {
                    LineKind::Match { column } => {
                        writeln!(out, "{}:{}:{column}: {}", file.path, line.number, line.text)
                    }
                    LineKind::Context => {
                        writeln!(out, "{}-{}- {}", file.path, line.number, line.text)
                    }
                };
                previous = Some((&file.path, line.number));
            }
        }
        if self.truncated() {
            let _ = write!(
                out,
                "[… {} more matching lines not shown ({} matching lines in {} files in all); narrow with path, glob or a more specific pattern]",
                self.total_matches - self.shown_matches,
                self.total_matches,
                self.total_files
            );
        }
        out.trim_end().to_string()
    }
}

/// The `search` tool.
pub struct Search;

impl Tool for Search {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search",
            description: "Search file contents in the workspace with a regular expression (Rust regex syntax, \
                case-sensitive; use (?i) for case-insensitive). Prints `path:line:column: text` for each \
                matching line, sorted by path and line; with `context`, that many lines around each match \
                are shown as `path-line- text`. Files ignored by .gitignore, hidden files and binary files \
                are skipped. `path` limits the search to a directory or file, `glob` (e.g. `*.rs`, \
                `src/**/*.py`) to matching paths. At most 200 matching lines are shown.",
            short_description: "Regex search over workspace files (path:line:col: text).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression to search for."},
                    "path": {"type": "string", "description": "Directory or file to search, relative to the workspace root (default: all)."},
                    "glob": {"type": "string", "description": "Only search files whose path matches this glob, e.g. `*.rs`."},
                    "context": {"type": "integer", "minimum": 0, "maximum": MAX_CONTEXT, "description": "Lines of context before and after each match (default 0)."}
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
            permission: Permission::Read,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let pattern = arg_str(&args, "pattern")?.to_string();
            let path = opt_str(&args, "path")?.map(str::to_string);
            let glob = opt_str(&args, "glob")?.map(str::to_string);
            let context = opt_u64(&args, "context")?
                .unwrap_or(0)
                .min(MAX_CONTEXT as u64) as usize;
            let ws = ctx.workspace.clone();
            let cancel = ctx.cancel.clone();
            let result = tokio::task::spawn_blocking(move || {
                let request = SearchRequest {
                    pattern: &pattern,
                    path: path.as_deref(),
                    glob: glob.as_deref(),
                    context,
                    limit: MAX_MATCHES,
                };
                search_cancellable(&ws, &request, &cancel).map(|result| {
                    (
                        result.render(),
                        result.total_matches,
                        request.path.unwrap_or(".").to_string(),
                    )
                })
            })
            .await
            .map_err(|e| ToolError::Failed(format!("search stopped unexpectedly: {e}")))?;
            let (text, total, where_) = result?;
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            let content = if total == 0 {
                format!("no matches in `{where_}`")
            } else {
                cap_output(&text, ctx.output_limit)
            };
            Ok(ToolOutput {
                content,
                ..ToolOutput::default()
            })
        })
    }
}

/// Searches the workspace (the benchmark's entry point; the tool adds cancellation).
pub fn search_workspace(
    ws: &Workspace,
    request: &SearchRequest<'_>,
) -> Result<SearchResult, ToolError> {
    search_cancellable(ws, request, &CancelFlag::new())
}

fn search_cancellable(
    ws: &Workspace,
    request: &SearchRequest<'_>,
    cancel: &CancelFlag,
) -> Result<SearchResult, ToolError> {
    let matcher = RegexMatcherBuilder::new()
        // Lets the searcher scan whole buffers instead of going line by line.
        .line_terminator(Some(b'\n'))
        .build(request.pattern)
        .map_err(|e| ToolError::BadArgs(format!("`pattern` is not a valid regex: {e}; escape special characters such as `(` or `{{` with a backslash")))?;
    let base = ws.resolve(request.path.unwrap_or("."))?;
    if !base.exists() {
        return Err(ToolError::Failed(format!(
            "`{}` does not exist; use list_files to find the right path",
            ws.display(&base)
        )));
    }
    let filter = request.glob.map(PathGlob::new).transpose()?;
    let mut builder = SearcherBuilder::new();
    builder
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\0'))
        .before_context(request.context)
        .after_context(request.context);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(12));
    let kept = Mutex::new(Kept::new(request.limit, request.context));
    let shared = Shared {
        root: ws.root(),
        base: &base,
        matcher: &matcher,
        filter: filter.as_ref(),
        builder: &builder,
        cancel,
        kept: &kept,
        limit: request.limit,
    };
    let shared = &shared;
    walker(&base).threads(threads).build_parallel().run(|| {
        let mut searcher = shared.builder.build();
        let matcher = shared.matcher.clone();
        Box::new(move |entry| shared.visit(&mut searcher, &matcher, entry))
    });
    let kept = kept
        .into_inner()
        .map_err(|_| ToolError::Failed("search worker panicked".into()))?;
    Ok(kept.finish(ws))
}

/// What every walker thread reads.
struct Shared<'s> {
    root: &'s Path,
    base: &'s Path,
    matcher: &'s RegexMatcher,
    filter: Option<&'s PathGlob>,
    builder: &'s SearcherBuilder,
    cancel: &'s CancelFlag,
    kept: &'s Mutex<Kept>,
    limit: usize,
}

impl Shared<'_> {
    fn visit(
        &self,
        searcher: &mut Searcher,
        matcher: &RegexMatcher,
        entry: Result<ignore::DirEntry, ignore::Error>,
    ) -> WalkState {
        if self.cancel.is_cancelled() {
            return WalkState::Quit;
        }
        // Unreadable entries are skipped, as rg does without --debug.
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            return WalkState::Continue;
        }
        let path = entry.path();
        if let Some(filter) = self.filter {
            let from_base = path.strip_prefix(self.base).unwrap_or(path);
            let from_root = path.strip_prefix(self.root).unwrap_or(path);
            if !filter.is_match(from_root, from_base) {
                return WalkState::Continue;
            }
        }
        let mut sink = FileSink::new(matcher, self.limit);
        if searcher.search_path(matcher, path, &mut sink).is_err()
            || sink.binary
            || sink.found.matches == 0
        {
            return WalkState::Continue;
        }
        let rel = path.strip_prefix(self.root).unwrap_or(path).to_path_buf();
        if let Ok(mut kept) = self.kept.lock() {
            kept.add(rel, sink.found);
        }
        WalkState::Continue
    }
}

/// Collects one file's lines: every matching line is counted, but only the first `limit`
/// (with their context) are kept, since no more can ever be shown.
struct FileSink<'m> {
    matcher: &'m RegexMatcher,
    limit: usize,
    found: FileLines,
    /// Once `limit` matches are kept, context lines belong to matches that are not shown.
    sealed: bool,
    binary: bool,
}

/// What one file contributed.
struct FileLines {
    lines: Vec<HitLine>,
    /// Every matching line, kept or not.
    matches: usize,
}

impl<'m> FileSink<'m> {
    fn new(matcher: &'m RegexMatcher, limit: usize) -> Self {
        Self {
            matcher,
            limit,
            found: FileLines {
                lines: Vec::new(),
                matches: 0,
            },
            sealed: false,
            binary: false,
        }
    }
}

impl Sink for FileSink<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        self.found.matches += 1;
        if self.found.matches > self.limit {
            self.sealed = true;
            return Ok(true);
        }
        let bytes = mat.bytes();
        let start = match self.matcher.find(bytes) {
            Ok(Some(m)) => m.start(),
            _ => 0,
        };
        self.found.lines.push(HitLine {
            number: mat.line_number().unwrap_or(0),
            kind: LineKind::Match {
                column: start as u64 + 1,
            },
            text: clip_line(bytes, start),
        });
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> Result<bool, Self::Error> {
        if !self.sealed {
            self.found.lines.push(HitLine {
                number: context.line_number().unwrap_or(0),
                kind: LineKind::Context,
                text: clip_line(context.bytes(), 0),
            });
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, Self::Error> {
        if self.found.matches >= self.limit {
            self.sealed = true;
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, Self::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// A line as text without its terminator; a long line becomes a window around `focus`.
fn clip_line(bytes: &[u8], focus: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\n', '\r']);
    if text.len() <= MAX_LINE_BYTES {
        return text.to_string();
    }
    let mut start = focus.saturating_sub(MAX_LINE_BYTES / 4).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + MAX_LINE_BYTES).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = if start > 0 { "…" } else { "" };
    let tail = if end < text.len() { "…" } else { "" };
    format!("{head}{}{tail}", &text[start..end])
}

/// The files whose lines may still be shown, smallest paths first, plus running totals.
struct Kept {
    files: BTreeMap<PathBuf, FileLines>,
    kept_matches: usize,
    total_matches: usize,
    total_files: usize,
    limit: usize,
    context: usize,
}

impl Kept {
    fn new(limit: usize, context: usize) -> Self {
        Self {
            files: BTreeMap::new(),
            kept_matches: 0,
            total_matches: 0,
            total_files: 0,
            limit,
            context,
        }
    }

    fn add(&mut self, rel: PathBuf, found: FileLines) {
        self.total_matches += found.matches;
        self.total_files += 1;
        self.kept_matches += found.matches.min(self.limit);
        self.files.insert(rel, found);
        // Files after the first `limit` matches in path order can never be shown; dropping
        // them keeps memory bounded on huge trees with common patterns.
        while let Some((_, last)) = self.files.last_key_value() {
            let last_kept = last.matches.min(self.limit);
            if self.kept_matches - last_kept < self.limit {
                break;
            }
            self.kept_matches -= last_kept;
            self.files.pop_last();
        }
    }

    fn finish(self, ws: &Workspace) -> SearchResult {
        let mut result = SearchResult {
            total_matches: self.total_matches,
            total_files: self.total_files,
            ..SearchResult::default()
        };
        for (rel, found) in self.files {
            if result.shown_matches >= self.limit {
                break;
            }
            let mut lines = Vec::with_capacity(found.lines.len());
            // After the last shown match only its own after-context belongs in the output.
            let mut trailing = 0;
            for line in found.lines {
                if matches!(line.kind, LineKind::Match { .. }) {
                    if result.shown_matches >= self.limit {
                        break;
                    }
                    result.shown_matches += 1;
                } else if result.shown_matches >= self.limit {
                    trailing += 1;
                    if trailing > self.context {
                        break;
                    }
                }
                lines.push(line);
            }
            let path = ws.display(&ws.root().join(rel));
            result.files.push(FileHits { path, lines });
        }
        result
    }
}

#[cfg(test)]
mod tests;
