//! Tier 0 of the router: requests that are exactly one tool call, answered with no model.
//!
//! "run the tests", "git diff --staged", "where is parse_args defined", "show src/main.rs":
//! for these the cheapest model is no model. Each rule matches the *whole* normalised request
//! (politeness and trailing punctuation set aside, see `normalize`), so anything extra —
//! "run the tests and fix the failures", "undo the rename in parser.rs", a question about a
//! tool — falls through to the small-model tier. When in doubt a rule says no: a miss costs a
//! router call, a wrong catch answers a request the user did not make.
//!
//! Arguments are checked as strictly as the tools would check them, and more (`normalize`):
//! paths are relative with no `..`, a test command is a known runner with plain flags (no
//! shell operators), a searched name looks like an identifier or is quoted.

mod normalize;

use serde_json::{json, Map, Value};

use normalize::{after, after_parts, any, is, Word, Words};

/// What tier 0 decided.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum RuleMatch {
    /// One tool call answers the request.
    Tool {
        /// The tool's name, as the agent registers it (`run_tests`, `git_diff`, …).
        tool: &'static str,
        /// The call's arguments, valid against the tool's schema.
        args: Value,
        /// Short stable name of the rule that fired, for the router's stated reason.
        rule: &'static str,
    },
    /// Undo the last task's edits (a session command, not a tool).
    Undo {
        /// Short stable name of the rule that fired.
        rule: &'static str,
    },
}

/// Tier 0: the single tool call that answers `request`, if it is one; `None` falls through.
/// Pure, allocation-light (arguments are the only allocations), well under 1 ms.
pub fn match_request(request: &str) -> Option<RuleMatch> {
    let words = Words::new(request)?;
    let w = words.as_slice();
    undo(w)
        .or_else(|| run_tests(&words))
        .or_else(|| git(w))
        .or_else(|| list_files(&words))
        .or_else(|| search(&words))
        .or_else(|| outline(w))
        .or_else(|| read_file(w))
}

fn tool(tool: &'static str, args: Value, rule: &'static str) -> Option<RuleMatch> {
    Some(RuleMatch::Tool { tool, args, rule })
}

fn undo(w: &[Word<'_>]) -> Option<RuleMatch> {
    let undo = any(
        w,
        &[
            "undo that|it|this?",
            "undo|revert the|your? last change|changes|edit|edits|task",
            "undo|revert your|the change|changes|edit|edits",
            "revert that|it",
            "roll back",
            "rollback",
            "roll it|that back",
            "roll back the|your? last? change|changes|edits",
            "undo|revert what you just? did",
        ],
    );
    undo.then_some(RuleMatch::Undo { rule: "undo" })
}

fn run_tests(words: &Words<'_>) -> Option<RuleMatch> {
    let w = words.as_slice();
    let plain = any(
        w,
        &[
            "test|tests|retest",
            "run|rerun|re-run|execute all? the|my? tests|test again?",
            "run|rerun|re-run|execute the|my? whole|full|entire? test suite again?",
        ],
    );
    if plain {
        return tool("run_tests", json!({}), "run-tests");
    }
    let mut rest = after(w, "run|rerun|re-run|execute?")?;
    if let Some((last, init)) = rest.split_last() {
        if last.is("again") {
            rest = init;
        }
    }
    let command = normalize::test_command(words.span(rest))?;
    // `run_tests` runs the project's own command, narrowed at most by plain filter words; a
    // runner with options is the user's own command line, so it goes to `shell` (and its
    // permission) as typed.
    let runner_words = normalize::test_runner(&command).map_or(0, |r| r.split(' ').count());
    let args: Vec<&str> = command.split(' ').skip(runner_words).collect();
    let plain = |a: &&str| {
        a.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if args.is_empty() {
        tool("run_tests", json!({}), "run-tests")
    } else if args.iter().all(plain) {
        tool("run_tests", json!({ "filter": args }), "run-test-filter")
    } else {
        tool("shell", json!({ "command": command }), "run-test-command")
    }
}

fn git(w: &[Word<'_>]) -> Option<RuleMatch> {
    const SHOW: &str = "show|view|print|display|see? me?";
    let staged = is(w, "git|show? diff --staged|--cached")
        || is_after(
            w,
            SHOW,
            &["the|my? staged diff|changes", "what's|whats staged"],
        )
        || is_after(w, SHOW, &["what is staged"]);
    if staged {
        return tool("git_diff", json!({ "staged": true }), "show-staged-diff");
    }
    let diff = any(
        w,
        &["git diff", "what's|whats the diff", "what is the diff"],
    ) || is_after(w, SHOW, &["the|your|my? current|unstaged? diff|diffs"])
        || is_after(w, SHOW, &["the|my? unstaged changes"]);
    if diff {
        return tool("git_diff", json!({}), "show-diff");
    }
    let status = any(
        w,
        &[
            "git? status",
            "show|check|print|display|view me? the? git|repo? status",
            "what changed",
            "what's|whats changed",
            "what has|have changed",
            "show|list me? the|my? changes",
            "show|list me? the? changed|modified files",
            "changed|modified files",
            "what|which files changed",
            "what|which files have|are changed|modified",
            "what|which files did you change|touch|modify|edit",
        ],
    );
    status.then(|| RuleMatch::Tool {
        tool: "git_status",
        args: json!({}),
        rule: "git-status",
    })
}

/// Whether `w` is `head` followed by exactly one of `tails`.
fn is_after(w: &[Word<'_>], head: &str, tails: &[&str]) -> bool {
    after(w, head).is_some_and(|rest| any(rest, tails))
}

fn list_files(words: &Words<'_>) -> Option<RuleMatch> {
    let w = words.as_slice();
    if any(
        w,
        &[
            "ls",
            "list|show me? all? the|my? project|repo|repository? files",
        ],
    ) {
        return tool("list_files", json!({}), "list-files");
    }
    let dir = after(w, "ls")
        .filter(|rest| rest.len() == 1)
        .or_else(|| after(w, "list|show me? all? the? files in|under|inside"))
        .or_else(|| after(w, "what files are in|under"));
    if let Some(dir) = dir {
        return tool(
            "list_files",
            json!({ "path": directory(dir)? }),
            "list-files",
        );
    }
    let rest = after(w, "list|show|find me? all? the|my?")?;
    let (kind, rest) = rest.split_first()?;
    let mut args = Map::new();
    args.insert("glob".into(), language_glob(kind.text)?.into());
    match after(rest, "files")? {
        [] => {}
        [within, dir @ ..] if within.is_one_of("in|under|inside") => {
            args.insert("path".into(), directory(dir)?.into());
        }
        _ => return None,
    }
    tool("list_files", Value::Object(args), "list-files-by-type")
}

/// A directory named by one path word, "the src directory" or "src folder".
fn directory<'a>(w: &[Word<'a>]) -> Option<&'a str> {
    let name = match after(w, "the?")? {
        [name] => name,
        [name, noun] if noun.is_one_of("directory|folder|dir") => name,
        _ => return None,
    };
    let path = normalize::relative_path(name.text)?;
    (!normalize::has_known_extension(path)).then_some(path)
}

/// `**/*.rs` for "rust", "rs", ".rs" or "*.rs".
fn language_glob(kind: &str) -> Option<String> {
    const LANGUAGES: &str = "rust:rs|python:py|typescript:ts|javascript:js|golang:go|markdown:md|\
        yaml:{yaml,yml}|yml:{yaml,yml}";
    const EXTENSIONS: &str = "rs|py|ts|js|go|md|toml|json|java";
    let bare = kind.strip_prefix('*').unwrap_or(kind);
    let bare = bare.strip_prefix('.').unwrap_or(bare);
    let named = LANGUAGES
        .split('|')
        .filter_map(|entry| entry.split_once(':'))
        .find(|(name, _)| bare.eq_ignore_ascii_case(name));
    let ext = match named {
        Some((_, ext)) => ext,
        None => EXTENSIONS
            .split('|')
            .find(|e| bare.eq_ignore_ascii_case(e))?,
    };
    Some(format!("**/*.{ext}"))
}

/// Kinds of definition a request may name before the identifier ("where is fn parse").
const KINDS: &str =
    "function|fn|method|struct|enum|trait|class|interface|type|def|func|const|macro|symbol";

/// What a definition of a name starts with, in the languages lode outlines and their kin.
const DEFINITION: &str =
    r"\b(fn|struct|enum|trait|type|class|def|func|function|interface|const|let|var)\s+";

/// Verbs that open a search request.
const FIND: &str = "find|show|locate|get|search|grep|go|jump|goto|list me? to? for? all? the?";

fn search(words: &Words<'_>) -> Option<RuleMatch> {
    let w = words.as_slice();
    if let Some(name) = definition_target(w) {
        let pattern = format!(r"{DEFINITION}{name}\b");
        return tool("search", json!({ "pattern": pattern }), "find-symbol");
    }
    if let Some(name) = usage_target(w) {
        let pattern = format!(r"\b{name}\b");
        return tool("search", json!({ "pattern": pattern }), "find-uses");
    }
    let todos = after_parts(w, &[FIND, "my? todos|todo|todo's|fixmes|fixme"])
        .or_else(|| after(w, "todos|fixmes"));
    if let Some(scope) = todos {
        let fixme = w.iter().any(|t| t.is_one_of("fixme|fixmes"));
        let pattern = if fixme { "FIXME" } else { "TODO" };
        return search_call(pattern.into(), scope, "find-todos");
    }
    let rest = after(w, "search|grep the? code|codebase|repo|project for")
        .or_else(|| after(w, "grep|rg|search for?"))?;
    let last_in = rest.iter().rposition(|t| t.is_one_of("in|under"));
    let splits = [Some(rest.len()), last_in.filter(|&i| i > 0)];
    for split in splits.into_iter().flatten() {
        let (lit, scope) = rest.split_at(split);
        if let Some(lit) = normalize::literal(words.span(lit)) {
            return search_call(normalize::regex_escape(lit), scope, "grep");
        }
    }
    None
}

/// A search call with an optional scope: "in src/" or "in rust files".
fn search_call(pattern: String, scope: &[Word<'_>], rule: &'static str) -> Option<RuleMatch> {
    let mut args = Map::new();
    args.insert("pattern".into(), pattern.into());
    match scope {
        [] => {}
        [within, path] if within.is_one_of("in|under") => {
            args.insert("path".into(), normalize::relative_path(path.text)?.into());
        }
        [within, kind, files] if within.is_one_of("in|under") && files.is("files") => {
            args.insert("glob".into(), language_glob(kind.text)?.into());
        }
        _ => return None,
    }
    tool("search", Value::Object(args), rule)
}

/// The identifier in "find the definition of X", "where is X defined", "where is fn X".
fn definition_target<'a>(w: &[Word<'a>]) -> Option<&'a str> {
    let defined = |t: &Word<'_>| t.is_one_of("defined|declared");
    let explicit = after_parts(w, &[FIND, "definition|declaration of|for"])
        .or_else(|| after(w, "the? definition|declaration of|for"));
    let name = match explicit {
        Some([name]) => name,
        _ => {
            let wheres = after(w, "where is|where's|wheres");
            match wheres.or_else(|| after(w, FIND))? {
                [name, end] if wheres.is_some() && defined(end) => name,
                [kind, name] if names_definition(kind, name) => name,
                [kind, name, end]
                    if wheres.is_some() && names_definition(kind, name) && defined(end) =>
                {
                    name
                }
                _ => match after(w, "show|find|tell me? where")? {
                    [name, verb, end] if verb.is("is") && defined(end) => name,
                    _ => return None,
                },
            }
        }
    };
    normalize::identifier(name.text)
}

/// Whether "KIND NAME" names a definition. `fn`, `def` and `func` are code whatever follows;
/// "function", "type" or "class" are English too ("the function body", "the type mismatch"),
/// so after them only a name that looks like code (`parse_args`, `Parser`) counts.
fn names_definition(kind: &Word<'_>, name: &Word<'_>) -> bool {
    kind.is_one_of("fn|def|func")
        || (kind.is_one_of(KINDS) && normalize::looks_like_code(name.text))
}

/// The identifier in "find usages of X", "where is X used", "who calls X".
fn usage_target<'a>(w: &[Word<'a>]) -> Option<&'a str> {
    const USES: &str = "usages|references|callers|uses|occurrences|mentions";
    let (name, english) = match after(w, FIND) {
        Some([noun, to, name]) if noun.is_one_of(USES) && to.is_one_of("of|to") => {
            (name, noun.is_one_of("uses|occurrences|mentions"))
        }
        _ => match (
            after(w, "who|what calls"),
            after(w, "where is|where's|wheres"),
        ) {
            (Some([name]), _) => (name, false),
            (_, Some([name, how])) if how.is_one_of("used|called|referenced") => {
                (name, how.is("used"))
            }
            _ => return None,
        },
    };
    // "uses of recursion", "where is memory used": English words need a code-looking name.
    let name = normalize::identifier(name.text)?;
    (!english || normalize::looks_like_code(name)).then_some(name)
}

/// What an outline request may ask for.
const MEMBERS: &str = "symbols|functions|definitions|classes|structs|methods|types";

fn outline(w: &[Word<'_>]) -> Option<RuleMatch> {
    let rest = after(w, "outline of|for?")
        .or_else(|| {
            after(
                w,
                "show|give|get|print|display|view me? the|an? outline|structure of|for",
            )
        })
        .or_else(|| after_parts(w, &["list|show me? all? the?", MEMBERS, "in|of|from"]))
        .or_else(|| after_parts(w, &[MEMBERS, "in|of"]))
        .or_else(|| after_parts(w, &["what|which", MEMBERS, "are defined? in"]))?;
    let [file] = rest else { return None };
    let path = normalize::relative_path(file.text)?;
    if !normalize::is_outline_source(path) {
        return None;
    }
    tool("outline", json!({ "path": path }), "outline-file")
}

fn read_file(w: &[Word<'_>]) -> Option<RuleMatch> {
    let rest = match after(
        w,
        "show|open|read|cat|view|print|display|dump me? the? file?",
    ) {
        Some(rest) => after(rest, "the? contents|content of the? file?").unwrap_or(rest),
        None => after(w, "what's|whats in").or_else(|| after(w, "what is in"))?,
    };
    let (file, lines) = match rest {
        [file] => match file.text.split_once(':') {
            Some((file, range)) => (file, Some(normalize::line_range(range, "")?)),
            None => (file.text, None),
        },
        [file, word, range @ ..] if word.is_one_of("lines|line") => {
            (file.text, Some(normalize::range_words(range)?))
        }
        [first, n, word, of, file] if first.is("first") && word.is("lines") && of.is("of") => {
            (file.text, Some((1, Some(normalize::line_number(n.text)?))))
        }
        [word, rest @ ..] if word.is_one_of("lines|line") => {
            let [range @ .., of, file] = rest else {
                return None;
            };
            if !of.is_one_of("of|in|from") {
                return None;
            }
            (file.text, Some(normalize::range_words(range)?))
        }
        _ => return None,
    };
    let path = normalize::relative_path(file)?;
    if !normalize::names_file(path) {
        return None;
    }
    let mut args = Map::new();
    args.insert("path".into(), path.into());
    if let Some((start, end)) = lines {
        args.insert("start_line".into(), start.into());
        if let Some(end) = end {
            args.insert("end_line".into(), end.into());
        }
    }
    tool("read_file", Value::Object(args), "read-file")
}

#[cfg(test)]
mod tests;
