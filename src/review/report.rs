//! What `lode review` prints: compiler-style lines (which editors and terminals already know
//! how to jump to), a one-line summary for stderr, the whole report as JSON for scripts, and
//! SARIF 2.1.0 for code-scanning services.

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use super::findings::{Dropped, Finding, Severity};

/// How many findings of each severity.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

/// Counts `findings` by severity.
pub fn counts(findings: &[Finding]) -> Counts {
    let mut counts = Counts::default();
    for f in findings {
        match f.severity {
            Severity::Error => counts.errors += 1,
            Severity::Warning => counts.warnings += 1,
            Severity::Note => counts.notes += 1,
        }
    }
    counts
}

/// Everything one review produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// What was reviewed, in words: "staged changes", "range main..topic", "uncommitted changes".
    pub scope: String,
    /// Changed files (all of them, reviewed or not).
    pub files: Vec<String>,
    /// Files whose diff the model did not see (too large, lockfile, …), each with why:
    /// (path, reason). Serialized as `[{"path", "reason"}]`.
    #[serde(serialize_with = "serialize_skipped")]
    pub skipped: Vec<(String, String)>,
    pub findings: Vec<Finding>,
    pub dropped: Vec<Dropped>,
    /// False when the time budget ran out or the answer was cut off: the findings may be incomplete.
    pub complete: bool,
    /// Things the user should know (budget ran out, diff sampled, answer unreadable, …), one sentence each.
    pub notices: Vec<String>,
    pub model: String,
    pub elapsed_ms: u64,
    /// What each model turn cost (prompt tokens, how many came from the caches, timings).
    pub turns: Vec<crate::stats::TurnStats>,
}

/// A skipped file as it appears in JSON: named fields read better to scripts than a pair.
#[derive(Serialize)]
struct SkippedFile<'a> {
    path: &'a str,
    reason: &'a str,
}

fn serialize_skipped<S: Serializer>(
    skipped: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(
        skipped
            .iter()
            .map(|(path, reason)| SkippedFile { path, reason }),
    )
}

/// Compiler-style lines for stdout, one block per finding (blocks separated by a blank line):
/// `path:line: severity: title` (or `path: severity: title` for a file-level finding), then the
/// detail, the suggestion and any note about where the finding was moved, indented by four
/// spaces. Empty when there are no findings.
pub fn text(report: &Report) -> String {
    let blocks: Vec<String> = report.findings.iter().map(block).collect();
    blocks.join("\n")
}

/// One finding's block of [`text`], ending with a newline.
fn block(f: &Finding) -> String {
    let title = one_line(&f.title);
    let mut out = match f.line {
        Some(line) => format!("{}:{line}: {}: {title}\n", f.path, f.severity),
        None => format!("{}: {}: {title}\n", f.path, f.severity),
    };
    indent(&mut out, f.detail.trim_end());
    if let Some(suggestion) = &f.suggestion {
        indent(&mut out, &format!("suggestion: {}", suggestion.trim_end()));
    }
    match (f.moved_from, f.line) {
        (Some(from), Some(_)) => indent(
            &mut out,
            &format!("(the model said line {from}; moved onto the diff)"),
        ),
        (Some(from), None) => indent(
            &mut out,
            &format!("(the model said line {from}; the file has no lines to point at)"),
        ),
        (None, _) => {}
    }
    out
}

/// Appends each line of `text` indented by four spaces (blank lines stay empty).
fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// A title on one line, so it cannot break the `path:line:` format editors parse.
fn one_line(title: &str) -> String {
    title.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line for stderr: what was found, in how many files, and the scope, time and model.
pub fn summary(report: &Report) -> String {
    let c = counts(&report.findings);
    let found = if report.findings.is_empty() {
        "no findings".to_string()
    } else {
        format!(
            "{}, {}, {}",
            plural(c.errors, "error"),
            plural(c.warnings, "warning"),
            plural(c.notes, "note")
        )
    };
    let seconds = format!("{:.1} s", report.elapsed_ms as f64 / 1000.0);
    let context: Vec<&str> = [report.scope.as_str(), &seconds, report.model.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    format!(
        "lode review: {found} in {} ({})",
        plural(report.files.len(), "file"),
        context.join(", ")
    )
}

/// `n word` with an `s` unless n is 1.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The whole report as JSON, with the counts added so scripts need not recount.
pub fn json(report: &Report) -> Value {
    let skipped: Vec<Value> = report
        .skipped
        .iter()
        .map(|(path, reason)| json!({"path": path, "reason": reason}))
        .collect();
    json!({
        "scope": report.scope,
        "files": report.files,
        "skipped": skipped,
        "findings": report.findings,
        "dropped": report.dropped,
        "counts": counts(&report.findings),
        "complete": report.complete,
        "notices": report.notices,
        "model": report.model,
        "elapsed_ms": report.elapsed_ms,
        "turns": report.turns,
    })
}

/// Where SARIF consumers learn about lode.
const INFORMATION_URI: &str = "https://github.com/lode-agent/lode";
/// The one rule every finding reports under: the model's findings have no fixed rule set.
const RULE_ID: &str = "lode/review";

/// The report as a SARIF 2.1.0 log with one run. Paths are relative to the repository root
/// (`%SRCROOT%`); each result carries a fingerprint of path and title so code-scanning services
/// can follow a finding across commits even when its line moves.
pub fn sarif(report: &Report, version: &str) -> Value {
    let results: Vec<Value> = report.findings.iter().map(sarif_result).collect();
    let mut invocation = json!({"executionSuccessful": true});
    if !report.notices.is_empty() {
        let notifications: Vec<Value> = report
            .notices
            .iter()
            .map(|n| json!({"message": {"text": n}, "level": "warning"}))
            .collect();
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "lode",
                    "version": version,
                    "informationUri": INFORMATION_URI,
                    "rules": [{
                        "id": RULE_ID,
                        "name": "CodeReview",
                        "shortDescription": {"text": "Finding from lode's model review"}
                    }]
                }
            },
            "invocations": [invocation],
            "results": results
        }]
    })
}

/// One finding as a SARIF result.
fn sarif_result(f: &Finding) -> Value {
    let mut message = f.title.clone();
    if !f.detail.trim().is_empty() {
        message.push_str("\n\n");
        message.push_str(&f.detail);
    }
    if let Some(suggestion) = &f.suggestion {
        message.push_str("\n\nSuggestion: ");
        message.push_str(suggestion);
    }
    let mut physical = json!({
        "artifactLocation": {"uri": uri_reference(&f.path), "uriBaseId": "%SRCROOT%"}
    });
    // SARIF lines start at 1; a finding without one is about the whole file.
    if let Some(line) = f.line.filter(|l| *l >= 1) {
        physical["region"] = json!({"startLine": line});
    }
    json!({
        "ruleId": RULE_ID,
        "level": f.severity.as_str(),
        "message": {"text": message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"lodeFinding/v1": fingerprint(f)}
    })
}

/// First 16 hex digits of the BLAKE3 hash of path and title: stable while the line moves.
fn fingerprint(f: &Finding) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(f.path.as_bytes());
    hasher.update(b"\n");
    hasher.update(f.title.as_bytes());
    hasher.finalize().to_hex().chars().take(16).collect()
}

/// A repository path as a relative URI reference: unreserved characters and `/` stay, every
/// other byte is percent-encoded (spaces, `%`, `#`, `?`, non-ASCII).
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            scope: "staged changes".into(),
            files: vec![
                "src/lib.rs".into(),
                "docs/my file.md".into(),
                "logo.png".into(),
            ],
            skipped: vec![("Cargo.lock".into(), "lockfile".into())],
            findings,
            dropped: vec![],
            complete: true,
            notices: vec![],
            model: "model.gguf".into(),
            elapsed_ms: 4_216,
            turns: Vec::new(),
        }
    }

    #[test]
    fn text_for_a_line_finding() {
        let f = Finding {
            detail: "The index can be past the end.\n\nCheck it first.".into(),
            suggestion: Some("use `get`".into()),
            ..Finding::bare(
                "src/lib.rs",
                Some(12),
                Severity::Error,
                "index out of\nbounds",
            )
        };
        assert_eq!(
            text(&report(vec![f])),
            "src/lib.rs:12: error: index out of bounds\n\
             \x20   The index can be past the end.\n\
             \n\
             \x20   Check it first.\n\
             \x20   suggestion: use `get`\n"
        );
    }

    #[test]
    fn text_for_file_level_and_moved_findings() {
        let findings = vec![
            Finding {
                detail: "Nothing calls it.".into(),
                ..Finding::bare("src/lib.rs", None, Severity::Note, "dead module")
            },
            Finding {
                moved_from: Some(30),
                ..Finding::bare("src/lib.rs", Some(40), Severity::Warning, "unchecked")
            },
            Finding {
                moved_from: Some(3),
                ..Finding::bare("logo.png", None, Severity::Warning, "large image")
            },
        ];
        assert_eq!(
            text(&report(findings)),
            "src/lib.rs: note: dead module\n\
             \x20   Nothing calls it.\n\
             \n\
             src/lib.rs:40: warning: unchecked\n\
             \x20   (the model said line 30; moved onto the diff)\n\
             \n\
             logo.png: warning: large image\n\
             \x20   (the model said line 3; the file has no lines to point at)\n"
        );
        assert_eq!(text(&report(vec![])), "");
    }

    #[test]
    fn summary_counts_with_plurals() {
        let findings = vec![
            Finding::bare("a", None, Severity::Error, "e"),
            Finding::bare("a", None, Severity::Warning, "w1"),
            Finding::bare("a", None, Severity::Warning, "w2"),
        ];
        assert_eq!(
            summary(&report(findings)),
            "lode review: 1 error, 2 warnings, 0 notes in 3 files (staged changes, 4.2 s, model.gguf)"
        );
        let mut one = report(vec![Finding::bare("a", None, Severity::Note, "n")]);
        one.files.truncate(1);
        one.elapsed_ms = 1_000;
        assert_eq!(
            summary(&one),
            "lode review: 0 errors, 0 warnings, 1 note in 1 file (staged changes, 1.0 s, model.gguf)"
        );
        assert_eq!(
            summary(&report(vec![])),
            "lode review: no findings in 3 files (staged changes, 4.2 s, model.gguf)"
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let kept = Finding::bare("src/lib.rs", Some(2), Severity::Warning, "w");
        let mut r = report(vec![kept.clone()]);
        r.dropped = vec![Dropped {
            finding: Finding::bare("x.rs", Some(1), Severity::Error, "e"),
            reason: "`x.rs` is not a changed file".into(),
        }];
        r.complete = false;
        r.notices = vec!["The time budget ran out.".into()];
        let expected = json!({
            "scope": "staged changes",
            "files": ["src/lib.rs", "docs/my file.md", "logo.png"],
            "skipped": [{"path": "Cargo.lock", "reason": "lockfile"}],
            "findings": [{"path": "src/lib.rs", "line": 2, "severity": "warning",
                          "title": "w", "detail": ""}],
            "dropped": [{"finding": {"path": "x.rs", "line": 1, "severity": "error",
                                     "title": "e", "detail": ""},
                         "reason": "`x.rs` is not a changed file"}],
            "counts": {"errors": 0, "warnings": 1, "notes": 0},
            "complete": false,
            "notices": ["The time budget ran out."],
            "model": "model.gguf",
            "elapsed_ms": 4216,
            "turns": []
        });
        assert_eq!(json(&r), expected);
        // The derived Serialize agrees with json() apart from the counts.
        let mut derived = serde_json::to_value(&r).unwrap();
        derived["counts"] = expected["counts"].clone();
        assert_eq!(derived, expected);
    }

    fn sarif_validator() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sarif-schema-2.1.0.json"
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    }

    #[test]
    fn sarif_is_valid_and_maps_findings() {
        let findings = vec![
            Finding {
                detail: "Spaces & more.".into(),
                suggestion: Some("rename it".into()),
                ..Finding::bare("docs/my file#1.md", Some(7), Severity::Error, "bad name")
            },
            Finding::bare("logo.png", None, Severity::Warning, "large image"),
            Finding::bare("src/lib.rs", Some(3), Severity::Note, "nit"),
        ];
        let mut r = report(findings);
        r.notices = vec![
            "The time budget ran out.".into(),
            "The diff was sampled.".into(),
        ];
        let log = sarif(&r, "0.1.0");
        let validator = sarif_validator();
        let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
        assert_eq!(errors, Vec::<String>::new());

        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["version"], "0.1.0");
        let levels: Vec<&str> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["level"].as_str().unwrap())
            .collect();
        assert_eq!(levels, ["error", "warning", "note"]);
        let first = &run["results"][0];
        assert_eq!(
            first["message"]["text"],
            "bad name\n\nSpaces & more.\n\nSuggestion: rename it"
        );
        assert_eq!(
            first["locations"][0]["physicalLocation"],
            json!({"artifactLocation": {"uri": "docs/my%20file%231.md", "uriBaseId": "%SRCROOT%"},
                   "region": {"startLine": 7}})
        );
        assert_eq!(
            run["results"][1]["locations"][0]["physicalLocation"],
            json!({"artifactLocation": {"uri": "logo.png", "uriBaseId": "%SRCROOT%"}})
        );
        let print = first["partialFingerprints"]["lodeFinding/v1"]
            .as_str()
            .unwrap();
        assert_eq!(print.len(), 16);
        assert!(print.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            run["invocations"][0]["toolExecutionNotifications"][1],
            json!({"message": {"text": "The diff was sampled."}, "level": "warning"})
        );
    }

    #[test]
    fn sarif_without_findings_or_notices_is_valid() {
        let log = sarif(&report(vec![]), "0.1.0");
        assert!(sarif_validator().is_valid(&log));
        assert_eq!(
            log["runs"][0]["invocations"],
            json!([{"executionSuccessful": true}])
        );
        assert_eq!(log["runs"][0]["results"], json!([]));
    }

    #[test]
    fn sarif_rejects_what_the_schema_forbids() {
        // Guards the fixture and validator: a broken log must not pass.
        let mut log = sarif(
            &report(vec![Finding::bare("a", Some(1), Severity::Error, "e")]),
            "1",
        );
        let mut bad_level = log.clone();
        bad_level["runs"][0]["results"][0]["level"] = json!("fatal");
        assert!(!sarif_validator().is_valid(&bad_level));
        // Formats are checked too, which is why paths are percent-encoded.
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"] = json!("my file.md");
        assert!(!sarif_validator().is_valid(&log));
    }

    #[test]
    fn fingerprint_ignores_the_line() {
        let a = Finding::bare("src/lib.rs", Some(3), Severity::Error, "t");
        let b = Finding::bare("src/lib.rs", Some(30), Severity::Warning, "t");
        let c = Finding::bare("src/lib.rs", Some(3), Severity::Error, "other");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn uri_reference_encodes_what_uris_forbid() {
        assert_eq!(uri_reference("src/a-b_c.~d.rs"), "src/a-b_c.~d.rs");
        assert_eq!(uri_reference("my dir/100%.md"), "my%20dir/100%25.md");
        assert_eq!(uri_reference("é?.rs"), "%C3%A9%3F.rs");
    }
}
