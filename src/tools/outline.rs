//! `outline` and the repo map: a file's or a repository's shape from tree-sitter parses.
//!
//! An outline (symbols with line ranges) lets the model find the part of a file it needs
//! and read only that range, which costs far fewer prompt tokens than reading the file.
//! The repo map puts every source file's top-level symbols in the stable prompt prefix, so
//! it must be byte-identical from one call to the next or the KV cache misses.

mod symbols;

use serde_json::{json, Value};

pub use symbols::{symbols, Lang, Symbol, SymbolKind};

use crate::tools::list::walker;
use crate::tools::{
    arg_str, cap_output, Permission, Tool, ToolContext, ToolError, ToolFuture, ToolOutput,
    ToolSpec, Workspace,
};

/// Files larger than this are left out of the repo map (generated code, vendored bundles).
pub const REPO_MAP_MAX_FILE_BYTES: u64 = 256 * 1024;
/// Top-level symbols listed per file in the repo map; a file of 300 helpers says so instead.
const MAX_MAP_SYMBOLS: usize = 40;
/// Larger files are not outlined at all.
const OUTLINE_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The extensions outline accepts, for error messages.
const SUPPORTED: &str = ".rs, .py, .js, .jsx, .mjs, .cjs, .ts, .tsx, .go";

/// Renders symbols as `start-end  signature`, members indented under their parent.
pub fn render_outline(symbols: &[Symbol]) -> String {
    let mut out = String::new();
    for symbol in symbols {
        let lines = format!("{}-{}", symbol.start_line, symbol.end_line);
        out.push_str(&format!(
            "{lines:>11}  {}{}\n",
            "  ".repeat(symbol.depth),
            symbol.signature
        ));
    }
    out.trim_end().to_string()
}

/// The `outline` tool.
pub struct Outline;

impl Tool for Outline {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "outline",
            description: "Show the structure of a source file: its functions, methods, structs/classes, enums, \
                traits/interfaces, impls, constants and type aliases, each with its line range \
                (`start-end`) and signature, members indented under their parent. Use it to find \
                the part of a large file you need, then read_file that line range. Supports Rust, \
                Python, JavaScript, TypeScript and Go.",
            short_description: "List a source file's symbols with line ranges.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Source file relative to the workspace root."}
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
            let resolved = ctx.workspace.resolve(path)?;
            let shown = ctx.workspace.display(&resolved);
            let lang = Lang::of(&resolved).ok_or_else(|| {
                ToolError::BadArgs(format!(
                    "outline does not know the language of `{shown}`; supported extensions: {SUPPORTED}. \
                     Use read_file or search for other files"
                ))
            })?;
            let meta = crate::tools::metadata(&resolved, &shown).await?;
            if meta.is_dir() {
                return Err(ToolError::Failed(format!(
                    "`{shown}` is a directory; outline takes one source file (use list_files to see the directory)"
                )));
            }
            if meta.len() > OUTLINE_MAX_FILE_BYTES {
                return Err(ToolError::Failed(format!(
                    "`{shown}` is {} bytes, too large to outline; use search to find what you need in it",
                    meta.len()
                )));
            }
            let bytes =
                crate::tools::regular::read_regular(&resolved, &shown, OUTLINE_MAX_FILE_BYTES)?
                    .ok_or_else(|| ToolError::Failed(format!("`{shown}` does not exist")))?;
            let found = tokio::task::spawn_blocking(move || symbols(lang, &bytes))
                .await
                .map_err(|e| ToolError::Failed(format!("outline stopped unexpectedly: {e}")))??;
            let content = if found.is_empty() {
                format!("(no symbols found in `{shown}`)")
            } else {
                cap_output(&render_outline(&found), ctx.output_limit)
            };
            Ok(ToolOutput {
                content,
                ..ToolOutput::default()
            })
        })
    }
}

/// A compact map of the repository for the prompt prefix: one line per source file,
/// `path: kind name, kind name, …` with its top-level symbols, sorted by path. Output is a
/// pure function of the files on disk (no timestamps, no walk order), so it is byte-stable.
/// At most `max_bytes` long, ending with a mark when files were left out.
pub fn repo_map(ws: &Workspace, max_bytes: usize) -> String {
    let mut files: Vec<(std::path::PathBuf, Lang)> = walker(ws.root())
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.len() <= REPO_MAP_MAX_FILE_BYTES)
        })
        .filter_map(|e| Lang::of(e.path()).map(|lang| (e.into_path(), lang)))
        .collect();
    files.sort();
    let mut out = String::new();
    for (index, (path, lang)) in files.iter().enumerate() {
        let mut line = ws.display(path);
        let top: Vec<String> = std::fs::read(path)
            .ok()
            .and_then(|bytes| symbols(*lang, &bytes).ok())
            .unwrap_or_default()
            .into_iter()
            // `mod x;` is its own file in the map, and unit-test modules are noise there.
            .filter(|s| {
                s.depth == 0 && s.has_body && !(s.kind == SymbolKind::Module && s.name == "tests")
            })
            .map(|s| format!("{} {}", s.kind.label(), s.name))
            .collect();
        if !top.is_empty() {
            line.push_str(": ");
            line.push_str(&top[..top.len().min(MAX_MAP_SYMBOLS)].join(", "));
            if top.len() > MAX_MAP_SYMBOLS {
                line.push_str(&format!(", … {} more", top.len() - MAX_MAP_SYMBOLS));
            }
        }
        line.push('\n');
        let left = files.len() - index;
        let mark = format!("[… {left} more files not shown]\n");
        let is_last = left == 1;
        if out.len() + line.len() + if is_last { 0 } else { mark.len() } > max_bytes {
            out.push_str(&mark);
            return out;
        }
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests;
