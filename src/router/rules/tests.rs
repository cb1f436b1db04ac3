use super::*;
use pretty_assertions::assert_eq;
use serde_json::json;

/// Shorthand for an expected tool call.
fn call(tool: &'static str, args: Value, rule: &'static str) -> Option<RuleMatch> {
    Some(RuleMatch::Tool { tool, args, rule })
}

fn tests(args: Value) -> Option<RuleMatch> {
    let rule = if args.get("filter").is_some() {
        "run-test-filter"
    } else {
        "run-tests"
    };
    call("run_tests", args, rule)
}

/// A test command typed with options: the user's own command line, run by `shell`.
fn typed(command: &str) -> Option<RuleMatch> {
    call("shell", json!({ "command": command }), "run-test-command")
}

fn status() -> Option<RuleMatch> {
    call("git_status", json!({}), "git-status")
}

fn diff(args: Value) -> Option<RuleMatch> {
    let rule = if args.get("staged").is_some() {
        "show-staged-diff"
    } else {
        "show-diff"
    };
    call("git_diff", args, rule)
}

fn undo() -> Option<RuleMatch> {
    Some(RuleMatch::Undo { rule: "undo" })
}

fn definition(name: &str) -> Option<RuleMatch> {
    let pattern = format!(
        r"\b(fn|struct|enum|trait|type|class|def|func|function|interface|const|let|var)\s+{name}\b"
    );
    call("search", json!({ "pattern": pattern }), "find-symbol")
}

/// Requests tier 0 answers, and how.
fn caught() -> Vec<(&'static str, Option<RuleMatch>)> {
    vec![
        ("run the tests", tests(json!({}))),
        ("run tests", tests(json!({}))),
        ("test", tests(json!({}))),
        ("Please run the tests!", tests(json!({}))),
        ("hey can you please run the tests for me", tests(json!({}))),
        ("ok, run the tests, please", tests(json!({}))),
        ("rerun the tests", tests(json!({}))),
        ("run all the tests again", tests(json!({}))),
        ("RUN THE WHOLE TEST SUITE", tests(json!({}))),
        ("  run   the\ttests  ", tests(json!({}))),
        ("run the tests ?", tests(json!({}))),
        ("run cargo test", tests(json!({}))),
        ("cargo test -p foo", typed("cargo test -p foo")),
        (
            "run pytest tests/test_x.py -q",
            typed("pytest tests/test_x.py -q"),
        ),
        (
            "run pytest tests/test_x.py::test_a",
            tests(json!({"filter": ["tests/test_x.py::test_a"]})),
        ),
        ("go test ./...", typed("go test ./...")),
        ("run `npm run test`", tests(json!({}))),
        (
            "cargo nextest run --workspace",
            typed("cargo nextest run --workspace"),
        ),
        ("git status", status()),
        ("status", status()),
        ("what changed?", status()),
        ("what's changed", status()),
        ("What\u{2019}s changed?", status()),
        ("show changes", status()),
        ("which files did you change", status()),
        ("show the diff", diff(json!({}))),
        ("git diff", diff(json!({}))),
        ("diff", diff(json!({}))),
        ("git diff --cached", diff(json!({"staged": true}))),
        ("show staged changes", diff(json!({"staged": true}))),
        ("what's staged?", diff(json!({"staged": true}))),
        ("undo", undo()),
        ("undo that", undo()),
        ("undo the last changes", undo()),
        ("revert your changes", undo()),
        ("roll back", undo()),
        ("rollback please", undo()),
        ("list files", call("list_files", json!({}), "list-files")),
        ("ls", call("list_files", json!({}), "list-files")),
        (
            "list the files in src",
            call("list_files", json!({"path": "src"}), "list-files"),
        ),
        (
            "show files under src/",
            call("list_files", json!({"path": "src"}), "list-files"),
        ),
        (
            "list files in the tests directory",
            call("list_files", json!({"path": "tests"}), "list-files"),
        ),
        (
            "list rust files",
            call(
                "list_files",
                json!({"glob": "**/*.rs"}),
                "list-files-by-type",
            ),
        ),
        (
            "list *.rs files",
            call(
                "list_files",
                json!({"glob": "**/*.rs"}),
                "list-files-by-type",
            ),
        ),
        (
            "find all yaml files in config/",
            call(
                "list_files",
                json!({"glob": "**/*.{yaml,yml}", "path": "config"}),
                "list-files-by-type",
            ),
        ),
        ("find the symbol Foo", definition("Foo")),
        (
            "find the definition of parse_args",
            definition("parse_args"),
        ),
        ("where is Foo defined", definition("Foo")),
        ("where is fn foo", definition("foo")),
        ("where is `Parser` defined?", definition("Parser")),
        (
            "find usages of parse_args",
            call("search", json!({"pattern": r"\bparse_args\b"}), "find-uses"),
        ),
        (
            "grep for TODO",
            call("search", json!({"pattern": "TODO"}), "find-todos"),
        ),
        (
            "list all fixmes in src",
            call(
                "search",
                json!({"pattern": "FIXME", "path": "src"}),
                "find-todos",
            ),
        ),
        (
            "search for foo_bar",
            call("search", json!({"pattern": "foo_bar"}), "grep"),
        ),
        (
            "grep for self.cache",
            call("search", json!({"pattern": r"self\.cache"}), "grep"),
        ),
        (
            "search for \"fn main(\" in src",
            call(
                "search",
                json!({"pattern": r"fn main\(", "path": "src"}),
                "grep",
            ),
        ),
        (
            "grep unwrap in rust files",
            call(
                "search",
                json!({"pattern": "unwrap", "glob": "**/*.rs"}),
                "grep",
            ),
        ),
        (
            "show src/main.rs",
            call("read_file", json!({"path": "src/main.rs"}), "read-file"),
        ),
        (
            "open ./Cargo.toml",
            call("read_file", json!({"path": "Cargo.toml"}), "read-file"),
        ),
        (
            "cat Makefile",
            call("read_file", json!({"path": "Makefile"}), "read-file"),
        ),
        (
            "show lines 10 to 40 of src/lib.rs",
            call(
                "read_file",
                json!({"path": "src/lib.rs", "start_line": 10, "end_line": 40}),
                "read-file",
            ),
        ),
        (
            "read src/main.rs:5-9",
            call(
                "read_file",
                json!({"path": "src/main.rs", "start_line": 5, "end_line": 9}),
                "read-file",
            ),
        ),
        (
            "show the first 20 lines of README.md",
            call(
                "read_file",
                json!({"path": "README.md", "start_line": 1, "end_line": 20}),
                "read-file",
            ),
        ),
        (
            "outline src/lib.rs",
            call("outline", json!({"path": "src/lib.rs"}), "outline-file"),
        ),
        (
            "symbols in app/models.py",
            call("outline", json!({"path": "app/models.py"}), "outline-file"),
        ),
        (
            "what functions are in web/util.ts",
            call("outline", json!({"path": "web/util.ts"}), "outline-file"),
        ),
    ]
}

/// Requests that must fall through: extra work, questions, partial undo, bad arguments.
const FALL_THROUGH: &[&str] = &[
    "run the tests and fix the failures",
    "run the tests, then commit",
    "why do the tests fail",
    "show the diff of the parser refactor and explain it",
    "undo the rename in parser.rs",
    "undo the last commit",
    "what does run_tests do",
    "how do I run the tests",
    "should I run the tests",
    "can the tests run in parallel",
    "tests fail",
    "test the login flow",
    "run cargo test; rm -rf /",
    "cargo test && rm -rf /",
    "cargo test | tee out.txt",
    "cargo test > /dev/null",
    "pytest `id`",
    "run cargo test $(whoami)",
    "cargo test and fix it",
    "run cargo build",
    "show ../../etc/passwd",
    "read /etc/passwd",
    "cat ~/.ssh/id_rsa",
    "show .env",
    "list files in ../secret",
    "ls -la",
    "open src/main.rs and fix the bug",
    "explain src/main.rs",
    "fix the typo in README.md",
    "rename foo to bar",
    "add a test for parse_args",
    "where is it defined",
    "where is the config",
    "find Foo",
    "where's Parser::new defined",
    "search for bugs",
    "search for bugs in the parser",
    "grep for \"unterminated",
    "outline config.toml",
    "show lines 40-10 of src/lib.rs",
    "show src/main.rs:0",
    "git status and commit",
    "what did you change",
    "undo everything",
    "roll back the migration",
    "revert",
    "please",
    "diff parser.rs against main",
    "where is memory used",
    "find uses of recursion",
    "find the function body",
    "find the symbol table",
    "make test pass",
    "go test the parser",
    "what uses memory",
];

#[test]
fn requests_that_are_one_tool_call_are_caught() {
    for (request, expected) in caught() {
        assert_eq!(match_request(request), expected, "request: {request:?}");
    }
}

#[test]
fn requests_with_anything_more_fall_through() {
    for request in FALL_THROUGH {
        assert_eq!(match_request(request), None, "request: {request:?}");
    }
}

#[test]
fn the_tables_cover_both_sides() {
    assert!(caught().len() + FALL_THROUGH.len() >= 60);
    assert!(FALL_THROUGH.len() >= 25);
}

#[test]
fn a_long_request_is_never_a_command() {
    let long = format!("run the tests {}", "now ".repeat(30));
    assert_eq!(match_request(&long), None);
}

#[test]
fn regex_escape_makes_searches_literal() {
    assert_eq!(
        normalize::regex_escape(r"a.b*c(d)[e]{f}|g^h$i\j+k?l#m&n-o~p"),
        r"a\.b\*c\(d\)\[e\]\{f\}\|g\^h\$i\\j\+k\?l\#m\&n\-o\~p"
    );
}

/// One line of `fixtures/router/labels.jsonl`.
#[derive(serde::Deserialize)]
struct Label {
    request: String,
    lane: String,
    note: String,
}

#[test]
fn label_set_precision_is_total_and_coverage_high() {
    let text = include_str!("../../../fixtures/router/labels.jsonl");
    let labels: Vec<Label> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    assert!(labels.len() >= 170, "{} labels", labels.len());
    assert!(labels
        .iter()
        .all(|l| matches!(l.lane.as_str(), "direct" | "small" | "large") && !l.note.is_empty()));
    let wrongly_caught: Vec<&str> = labels
        .iter()
        .filter(|l| l.lane != "direct" && match_request(&l.request).is_some())
        .map(|l| l.request.as_str())
        .collect();
    assert_eq!(wrongly_caught, Vec::<&str>::new(), "precision must be 1.0");
    let direct: Vec<&Label> = labels.iter().filter(|l| l.lane == "direct").collect();
    let hits = direct
        .iter()
        .filter(|l| match_request(&l.request).is_some())
        .count();
    let coverage = hits as f64 / direct.len() as f64;
    assert!(
        coverage >= 0.7,
        "coverage {coverage:.3} ({hits}/{})",
        direct.len()
    );
}
