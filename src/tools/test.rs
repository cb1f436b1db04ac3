//! `run_tests`: run the project's tests and say how many passed and failed. The agent loop
//! uses the verdict to decide whether a task is done, so the command is never the model's:
//! it is `--test-cmd`, the configured one, or the one the project's files imply. The model may
//! only narrow it with plain filter words (test names, test files), which are quoted; any
//! other command is a `shell` call, with shell's permission. The counts come from parsing the
//! usual runners' summaries, not from the model.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::tools::shell::{run_command, RunEnd};
use crate::tools::{Permission, Tool, ToolContext, ToolError, ToolFuture, ToolOutput, ToolSpec};

const TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Filter words one call may pass, and the length of each.
const MAX_FILTERS: usize = 16;
const MAX_FILTER_LEN: usize = 200;

/// The `run_tests` tool.
pub struct RunTests;

impl Tool for RunTests {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "run_tests",
            description:
                "Run the project's test command in the workspace root (the configured one, or \
                the one the project implies: cargo test, pytest, npm test, go test, make test) \
                and report how many passed and failed, with the end of the output (where runners \
                print failures). `filter` narrows the run to some tests: test names or test files \
                such as `parser` or `tests/test_io.py::test_read` (plain words, no options). Only \
                a run without a filter proves the task done. Use `shell` for any other command. \
                Killed after 600 s.",
            short_description: "Run the project's tests and report pass/fail counts.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "filter": {
                        "type": "array",
                        "items": {"type": "string"},
                        "maxItems": MAX_FILTERS,
                        "description": "Test names or files to run instead of the whole suite."
                    }
                },
                "required": [],
                "additionalProperties": false
            }),
            permission: Permission::Exec,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let root = ctx.workspace.root();
            let plan = TestRun::plan(&args, ctx)?;
            let command = plan.command.as_str();
            let protected = crate::tools::protect::Snapshot::take(root);
            let run = run_command(command, root, TEST_TIMEOUT, &ctx.cancel, &ctx.confine).await;
            let restored = protected.restore(root);
            let run = run?;
            let restored = if restored.is_empty() {
                String::new()
            } else {
                format!(
                    "[the test command changed protected files; they were put back: {}]\n",
                    restored.join(", ")
                )
            };
            let counts = parse_test_counts(&run.output);
            let success = run.exit_code == Some(0) && run.end != RunEnd::TimedOut;
            let verdict = if success {
                "tests passed"
            } else {
                "tests FAILED"
            };
            let tally = match counts {
                Some(c) => format!("{} passed, {} failed", c.passed, c.failed),
                None => "pass/fail counts not found in the output".to_string(),
            };
            let output = if run.output.is_empty() {
                "(no output)".to_string()
            } else {
                cap_keeping_tail(&run.output, ctx.output_limit)
            };
            Ok(ToolOutput {
                content: format!(
                    "{}\n{}\n{restored}[{verdict}: {tally} — `{command}`]",
                    output.trim_end_matches('\n'),
                    run.status_line()
                ),
                diff: None,
                changed: Vec::new(),
                data: Some(json!({
                    "command": command,
                    "filtered": plan.filtered,
                    "passed": counts.map(|c| c.passed),
                    "failed": counts.map(|c| c.failed),
                    "exit_code": run.exit_code,
                    "success": success,
                })),
            })
        })
    }
}

/// The command line one `run_tests` call runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    pub command: String,
    /// Whether filter words narrowed it (such a run does not prove the task done).
    pub filtered: bool,
}

impl TestRun {
    /// The project's test command for `ctx`, narrowed by the call's `filter` words.
    ///
    /// # Errors
    /// No test command is configured or detected, or a filter word is not plain.
    pub fn plan(args: &Value, ctx: &ToolContext) -> Result<Self, ToolError> {
        let root = ctx.workspace.root();
        let base = project_test_command(ctx).ok_or_else(|| {
            ToolError::Failed(format!(
                "no test command found in {}: the user can set one with --test-cmd or \
                 `[agent] test_command`; use `shell` to run something else",
                root.display()
            ))
        })?;
        let filters = filter_words(args)?;
        if filters.is_empty() {
            return Ok(Self {
                command: base,
                filtered: false,
            });
        }
        let quoted: Vec<String> = filters.iter().map(|f| quote(f)).collect();
        let words = quoted.join(" ");
        let command =
            match base.as_str() {
                "npm test --silent" => format!("npm test --silent -- {words}"),
                "go test ./..." => format!("go test -run {} ./...", quote(&filters.join("|"))),
                "make test" => return Err(ToolError::BadArgs(
                    "this project's test command (`make test`) takes no filter; run it without \
                     `filter`"
                        .into(),
                )),
                _ => format!("{base} {words}"),
            };
        Ok(Self {
            command,
            filtered: true,
        })
    }
}

/// The command that proves a task done here: configured, else detected.
pub fn project_test_command(ctx: &ToolContext) -> Option<String> {
    ctx.test_command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .or_else(|| detect_test_command(ctx.workspace.root()).map(str::to_string))
}

/// The call's filter words, each checked to be a plain word: a name or a relative path that
/// cannot be read as an option, does not climb out with `..` and is not absolute.
fn filter_words(args: &Value) -> Result<Vec<String>, ToolError> {
    let words = match args.get("filter") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ToolError::BadArgs("`filter` must be a list of strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ToolError::BadArgs(
                "`filter` must be a list of strings".into(),
            ))
        }
    };
    if words.len() > MAX_FILTERS {
        return Err(ToolError::BadArgs(format!(
            "`filter` has {} words; at most {MAX_FILTERS}",
            words.len()
        )));
    }
    let words: Vec<String> = words
        .into_iter()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect();
    for word in &words {
        let plain = word.len() <= MAX_FILTER_LEN
            && word
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            && word.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '-' | '[' | ']' | ',')
            })
            && !word.split('/').any(|part| part == "..");
        if !plain {
            return Err(ToolError::BadArgs(format!(
                "`{}` is not a plain test filter (a test name or a relative test file, without \
                 options or shell syntax); use `shell` for any other command",
                word.chars().take(80).collect::<String>()
            )));
        }
    }
    Ok(words)
}

/// Single-quotes a word for `sh` (filter words never contain a quote, but be exact anyway).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The test command the project's files imply, in order: Cargo, Python, npm, Go, make.
pub fn detect_test_command(root: &Path) -> Option<&'static str> {
    let file = |name: &str| root.join(name).is_file();
    if file("Cargo.toml") {
        return Some("cargo test");
    }
    if file("pyproject.toml") || file("setup.py") || file("pytest.ini") || has_python_tests(root) {
        return Some("python3 -m pytest -q");
    }
    if npm_has_test_script(root) {
        return Some("npm test --silent");
    }
    if file("go.mod") {
        return Some("go test ./...");
    }
    if makefile_has_test_target(root) {
        return Some("make test");
    }
    None
}

fn has_python_tests(root: &Path) -> bool {
    std::fs::read_dir(root.join("tests")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|ext| ext == "py"))
    })
}

/// npm's `init` writes a placeholder test script that always fails; it does not count.
fn npm_has_test_script(root: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("package.json")) else {
        return false;
    };
    let Ok(json) = serde_json::from_str::<Value>(&text) else {
        return false;
    };
    json["scripts"]["test"]
        .as_str()
        .is_some_and(|script| !script.trim().is_empty() && !script.contains("no test specified"))
}

fn makefile_has_test_target(root: &Path) -> bool {
    ["Makefile", "makefile", "GNUmakefile"].iter().any(|name| {
        std::fs::read_to_string(root.join(name)).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("test")
                    .map(str::trim_start)
                    .is_some_and(|rest| rest.starts_with(':') && !rest.starts_with(":="))
            })
        })
    })
}

/// Pass and fail counts read from a test runner's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
}

/// Reads the counts from cargo, jest/vitest, node's test runner, mocha, pytest or go output
/// (the first format found wins). Failed includes pytest's errors. Go counts tests where
/// `--- PASS`/`--- FAIL` lines exist and packages (`ok`/`FAIL` lines) otherwise.
pub fn parse_test_counts(output: &str) -> Option<TestCounts> {
    let parsers: [fn(&str) -> Option<TestCounts>; 6] = [cargo, jest, node, mocha, pytest, go];
    parsers.iter().find_map(|parse| parse(output))
}

/// The number right before one of `words` in `line` (`3 passed`, `1 failed,`).
fn count_before(line: &str, words: &[&str]) -> Option<u64> {
    let tokens: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '|' | '(' | ')' | '='))
        .filter(|t| !t.is_empty())
        .collect();
    tokens
        .windows(2)
        .filter(|w| words.contains(&w[1].trim_end_matches(['.', ':'])))
        .find_map(|w| w[0].parse().ok())
}

fn sum_lines(
    output: &str,
    is_summary: impl Fn(&str) -> bool,
    passed: &[&str],
    failed: &[&str],
) -> Option<TestCounts> {
    output
        .lines()
        .filter(|l| is_summary(l))
        .fold(None, |acc, line| {
            let acc: TestCounts = acc.unwrap_or_default();
            Some(TestCounts {
                passed: acc.passed + count_before(line, passed).unwrap_or(0),
                failed: acc.failed + count_before(line, failed).unwrap_or(0),
            })
        })
}

/// `test result: FAILED. 3 passed; 1 failed; …`, once per test binary and doc-test run.
fn cargo(output: &str) -> Option<TestCounts> {
    sum_lines(
        output,
        |l| l.contains("test result: "),
        &["passed"],
        &["failed"],
    )
}

/// jest `Tests:       1 failed, 5 passed, 6 total`; vitest `Tests  1 failed | 5 passed (6)`.
fn jest(output: &str) -> Option<TestCounts> {
    let summary = |l: &str| {
        let l = l.trim_start();
        (l.starts_with("Tests:") || l.starts_with("Tests "))
            && (l.contains(" passed") || l.contains(" failed"))
    };
    sum_lines(output, summary, &["passed"], &["failed"])
}

/// node's test runner: `# pass 5` / `# fail 1` (TAP) or `ℹ pass 5` (spec reporter).
fn node(output: &str) -> Option<TestCounts> {
    let mut found = None;
    for line in output.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("# ").or_else(|| line.strip_prefix("ℹ ")) else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(word), Some(number), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(n) = number.parse::<u64>() else {
            continue;
        };
        let counts: &mut TestCounts = found.get_or_insert_with(TestCounts::default);
        match word {
            "pass" => counts.passed += n,
            "fail" => counts.failed += n,
            _ => {}
        }
    }
    found
}

/// mocha: `  5 passing (12ms)` and `  1 failing`.
fn mocha(output: &str) -> Option<TestCounts> {
    let summary = |l: &str| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.len() >= 2
            && words[0].parse::<u64>().is_ok()
            && matches!(words[1], "passing" | "failing")
    };
    sum_lines(output, summary, &["passing"], &["failing"])
}

/// pytest's last summary line: `==== 2 failed, 3 passed, 1 error in 0.12s ====`.
fn pytest(output: &str) -> Option<TestCounts> {
    let line = output.lines().rev().find(|l| {
        let l = l.trim().trim_matches('=').trim();
        let timed = l.rsplit_once(" in ").is_some_and(|(_, time)| {
            time.split_whitespace()
                .next()
                .is_some_and(|t| t.ends_with('s') && t[..t.len() - 1].parse::<f64>().is_ok())
        });
        timed
            && (l.starts_with("no tests ran")
                || ["passed", "failed", "error", "errors"]
                    .iter()
                    .any(|w| count_before(l, &[w]).is_some()))
    })?;
    let errors = count_before(line, &["error", "errors"]).unwrap_or(0);
    Some(TestCounts {
        passed: count_before(line, &["passed"]).unwrap_or(0),
        failed: count_before(line, &["failed"]).unwrap_or(0) + errors,
    })
}

/// `go test`: `ok  \tpkg\t0.01s`, `FAIL\tpkg\t0.01s`, `--- FAIL: TestX (0.00s)`.
fn go(output: &str) -> Option<TestCounts> {
    let (mut pkg_ok, mut pkg_fail, mut test_pass, mut test_fail) = (0, 0, 0, 0);
    for line in output.lines() {
        if line.starts_with("ok  \t") || line.starts_with("ok\t") {
            pkg_ok += 1;
        } else if line.starts_with("FAIL\t") {
            pkg_fail += 1;
        } else if line.starts_with("--- PASS:") {
            test_pass += 1;
        } else if line.starts_with("--- FAIL:") {
            test_fail += 1;
        }
    }
    if pkg_ok + pkg_fail + test_pass + test_fail == 0 {
        return None;
    }
    Some(TestCounts {
        passed: if test_pass > 0 { test_pass } else { pkg_ok },
        failed: if test_fail > 0 { test_fail } else { pkg_fail },
    })
}

/// Keeps the end of a long test log: runners print failures and the summary last.
fn cap_keeping_tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut cut = text.len() - limit;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "[… {cut} earlier bytes of output not shown; run a narrower test command to see them]\n{}",
        &text[cut..]
    )
}

#[cfg(test)]
mod tests;
