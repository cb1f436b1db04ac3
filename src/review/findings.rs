//! The model's findings: the schema its final answer is held to, a lenient reader for that
//! answer (small local models wrap JSON in prose and fences, write lines as strings, invent
//! severity words, or get cut off by the time budget), and the check that anchors every finding
//! to a line the diff actually shows, so a report never points at code nobody reviewed.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::changes::FileChange;

/// How far (in lines) a finding may sit outside a hunk and still be moved onto it: models often
/// count a few lines off, but a finding further away is about code the diff did not show.
const MOVE_WINDOW: u32 = 10;

/// How bad a finding is. Ordered: Note < Warning < Error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    /// The word used in reports, SARIF levels and the answer schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Reads a severity word as models write it: any case, with common synonyms.
    fn lenient(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "error" | "critical" | "high" | "bug" | "blocker" | "fatal" => Some(Severity::Error),
            "warning" | "warn" | "medium" => Some(Severity::Warning),
            "note" | "info" | "low" | "nit" | "suggestion" => Some(Severity::Note),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the review fails (exit 1): any finding at or above this level, or never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    #[default]
    Error,
    Warning,
    Note,
    Never,
}

impl FailOn {
    /// Whether `findings` make the review fail.
    pub fn fails(self, findings: &[Finding]) -> bool {
        let threshold = match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Note => Severity::Note,
            FailOn::Never => return false,
        };
        findings.iter().any(|f| f.severity >= threshold)
    }
}

/// A `--fail-on` value that is not one of the levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fail-on level `{0}`: use one of error, warning, note, never")]
pub struct UnknownFailOn(pub String);

impl FromStr for FailOn {
    type Err = UnknownFailOn;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(FailOn::Error),
            "warning" => Ok(FailOn::Warning),
            "note" => Ok(FailOn::Note),
            "never" => Ok(FailOn::Never),
            _ => Err(UnknownFailOn(s.to_string())),
        }
    }
}

/// One thing the model found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub path: String,
    /// New-file line, 1-based; None: about the file as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The line the model gave, when the finding was moved onto the diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<u32>,
}

/// JSON schema of the model's final answer: `{"findings": [{path, line, severity, title,
/// detail, suggestion?}]}`. It is turned into a llama.cpp grammar, so it keeps to plain
/// features (no `$ref`, `pattern`, `maxLength`), and declares properties in the order the model
/// should write them. `path` is limited to the changed files when there are any.
pub fn answer_schema(paths: &[String]) -> Value {
    let mut unique: Vec<&String> = Vec::new();
    for p in paths {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    let path = if unique.is_empty() {
        json!({"type": "string"})
    } else {
        json!({"type": "string", "enum": unique})
    };
    json!({
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": path,
                        "line": {"type": "integer", "minimum": 0},
                        "severity": {"type": "string", "enum": ["error", "warning", "note"]},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                        "suggestion": {"type": "string"}
                    },
                    "required": ["path", "line", "severity", "title", "detail"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["findings"],
        "additionalProperties": false
    })
}

/// What to ask the model for when its answer cannot be read; quoted back to it.
const ANSWER_SHAPE: &str = "reply with only one JSON object of the form \
     {\"findings\": [{\"path\": ..., \"line\": ..., \"severity\": \"error\"|\"warning\"|\"note\", \
     \"title\": ..., \"detail\": ...}]} (an empty list if nothing is wrong)";

/// Reads the model's final answer, leniently: the object may be fenced or wrapped in prose,
/// lines may be strings, severities may be synonyms, and findings without a path or title are
/// skipped. Err (a message meant for the model) only when no findings object can be read.
pub fn parse_answer(text: &str) -> Result<Vec<Finding>, String> {
    let bytes = text.as_bytes();
    let mut problem: Option<String> = None;
    let mut start = 0;
    while let Some(offset) = text[start..].find('{') {
        let open = start + offset;
        let Some(close) = balanced_end(bytes, open) else {
            problem.get_or_insert_with(|| "the JSON object in the answer is not closed".into());
            start = open + 1;
            continue;
        };
        match serde_json::from_str::<Value>(&text[open..=close]) {
            Ok(value) => match findings_in(&value) {
                Some(Ok(items)) => return Ok(items.iter().filter_map(finding_from).collect()),
                Some(Err(message)) => {
                    problem = Some(message);
                    start = close + 1;
                }
                None => {
                    problem.get_or_insert_with(|| {
                        "the JSON object in the answer has no \"findings\" key".into()
                    });
                    start = close + 1;
                }
            },
            Err(e) => {
                problem
                    .get_or_insert_with(|| format!("the JSON in the answer does not parse ({e})"));
                start = open + 1;
            }
        }
    }
    let problem = problem.unwrap_or_else(|| "the answer contains no JSON object".into());
    Err(format!("{problem}; {ANSWER_SHAPE}"))
}

/// From an answer cut off mid-way: every complete finding object before the cut, read with
/// the same leniency as [`parse_answer`].
pub fn salvage(text: &str) -> Vec<Finding> {
    if let Ok(found) = parse_answer(text) {
        return found;
    }
    let bytes = text.as_bytes();
    let Some(key) = text.find("\"findings\"") else {
        return Vec::new();
    };
    let Some(array) = text[key..].find('[').map(|i| key + i) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut i = array + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                let Some(close) = balanced_end(bytes, i) else {
                    break;
                };
                if let Ok(value) = serde_json::from_str::<Value>(&text[i..=close]) {
                    found.extend(finding_from(&value));
                }
                i = close + 1;
            }
            b']' => break,
            _ => i += 1,
        }
    }
    found
}

/// The index of the bracket closing the one at `open` (`{` or `[`), skipping brackets inside
/// JSON strings; None when the text ends first.
fn balanced_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// What `"findings": null` reads as.
static NO_FINDINGS: Vec<Value> = Vec::new();

/// The findings array of an answer object (searched in nested objects too, for models that
/// wrap it as `{"review": {"findings": [...]}}`); Err when `findings` is not a list.
fn findings_in(value: &Value) -> Option<Result<&Vec<Value>, String>> {
    let object = value.as_object()?;
    match object.get("findings") {
        Some(Value::Array(items)) => Some(Ok(items)),
        Some(Value::Null) => Some(Ok(&NO_FINDINGS)),
        Some(_) => Some(Err("\"findings\" in the answer is not a list".into())),
        None => object.values().find_map(|v| match findings_in(v) {
            Some(Ok(items)) => Some(Ok(items)),
            _ => None,
        }),
    }
}

/// One finding from a JSON value; None when it has no path or no title.
fn finding_from(value: &Value) -> Option<Finding> {
    let object = value.as_object()?;
    let path = text_field(object, &["path", "file"])?;
    let title = text_field(object, &["title"])?;
    Some(Finding {
        path,
        line: object.get("line").and_then(line_number),
        // A finding the model did not grade is still worth showing; warning is the middle.
        severity: object
            .get("severity")
            .and_then(Value::as_str)
            .and_then(Severity::lenient)
            .unwrap_or(Severity::Warning),
        title,
        detail: text_field(object, &["detail", "description", "message"]).unwrap_or_default(),
        suggestion: text_field(object, &["suggestion"]),
        moved_from: None,
    })
}

/// The first of `keys` holding a non-blank string, trimmed.
fn text_field(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|k| object.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// A line as the model wrote it: a number, a numeric string ("12", "12-14"), null; 0 and
/// anything unreadable mean the whole file.
fn line_number(value: &Value) -> Option<u32> {
    let n = match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 1.0).map(|f| f as u64))?,
        Value::String(s) => {
            let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()?
        }
        _ => return None,
    };
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// A finding the anchoring step threw away, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub finding: Finding,
    pub reason: String,
}

/// Findings after anchoring: those the report shows and those it cannot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Anchored {
    pub kept: Vec<Finding>,
    pub dropped: Vec<Dropped>,
}

/// Checks every finding against the diff so none points at a line that does not exist or was
/// not reviewed: unknown files are dropped, lines a few off a hunk are moved onto it, lines far
/// from every hunk are dropped, and lines in files without lines become file-level. Kept
/// findings are deduplicated and sorted by path, line (file-level first), severity (worst
/// first).
pub fn anchor(findings: Vec<Finding>, files: &[FileChange]) -> Anchored {
    let mut out = Anchored::default();
    let mut seen = HashSet::new();
    for finding in findings {
        match anchor_one(finding, files) {
            Anchoring::Kept(kept) => {
                let key = (
                    kept.path.clone(),
                    kept.line,
                    kept.severity,
                    kept.title.clone(),
                );
                if seen.insert(key) {
                    out.kept.push(kept);
                }
            }
            Anchoring::Dropped(dropped) => out.dropped.push(dropped),
        }
    }
    out.kept.sort_by(|a, b| {
        (&a.path, a.line)
            .cmp(&(&b.path, b.line))
            .then(b.severity.cmp(&a.severity))
    });
    out
}

/// What became of one finding.
enum Anchoring {
    Kept(Finding),
    Dropped(Dropped),
}

/// Anchors one finding, or says why it cannot be.
fn anchor_one(mut finding: Finding, files: &[FileChange]) -> Anchoring {
    let Some(file) = changed_file(&finding.path, files) else {
        let reason = format!("`{}` is not a changed file", finding.path);
        return Anchoring::Dropped(Dropped { finding, reason });
    };
    finding.path = file.path.clone();
    let Some(line) = finding.line else {
        return Anchoring::Kept(finding);
    };
    if !file.has_lines() {
        finding.line = None;
        finding.moved_from = Some(line);
        return Anchoring::Kept(finding);
    }
    if file.shows(line) {
        return Anchoring::Kept(finding);
    }
    match nearest_shown(file, line) {
        Some(near) => {
            finding.line = Some(near);
            finding.moved_from = Some(line);
            Anchoring::Kept(finding)
        }
        None => {
            let reason = format!("line {line} is outside the diff of {}", file.path);
            Anchoring::Dropped(Dropped { finding, reason })
        }
    }
}

/// The changed file a model's path names: exactly, after normalising (`./`, `a/`, `b/`,
/// backslashes), or as the unique changed file ending with `/path`.
fn changed_file<'a>(path: &str, files: &'a [FileChange]) -> Option<&'a FileChange> {
    let mut p = path.trim().replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    let exact = |p: &str| files.iter().find(|f| f.path == p);
    if let Some(f) = exact(&p) {
        return Some(f);
    }
    if let Some(f) = ["a/", "b/"]
        .iter()
        .find_map(|prefix| p.strip_prefix(prefix))
        .and_then(exact)
    {
        return Some(f);
    }
    let suffix = format!("/{p}");
    let mut matching = files.iter().filter(|f| f.path.ends_with(&suffix));
    match (matching.next(), matching.next()) {
        (Some(f), None) => Some(f),
        _ => None,
    }
}

/// The shown line nearest to `line` within [`MOVE_WINDOW`] of a hunk, if any.
fn nearest_shown(file: &FileChange, line: u32) -> Option<u32> {
    file.hunks
        .iter()
        .filter(|h| h.new_lines > 0)
        .map(|h| {
            let last = h.new_start + h.new_lines - 1;
            let near = line.clamp(h.new_start, last);
            (near.abs_diff(line), near)
        })
        .filter(|(distance, _)| *distance <= MOVE_WINDOW)
        .min()
        .map(|(_, near)| near)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::changes::{ChangeKind, Hunk};
    use pretty_assertions::assert_eq;

    fn file(path: &str, kind: ChangeKind, hunks: &[(u32, u32)]) -> FileChange {
        FileChange {
            path: path.into(),
            kind,
            binary: false,
            submodule: false,
            old_size: 10,
            new_size: 10,
            patch: String::new(),
            hunks: hunks
                .iter()
                .map(|&(new_start, new_lines)| Hunk {
                    new_start,
                    new_lines,
                    added: Vec::new(),
                })
                .collect(),
        }
    }

    fn finding(path: &str, line: Option<u32>, severity: Severity, title: &str) -> Finding {
        Finding {
            path: path.into(),
            line,
            severity,
            title: title.into(),
            detail: String::new(),
            suggestion: None,
            moved_from: None,
        }
    }

    fn detailed(path: &str, line: Option<u32>, severity: Severity, title: &str) -> Finding {
        Finding {
            detail: "y".into(),
            ..finding(path, line, severity, title)
        }
    }

    #[test]
    fn parses_fenced_json() {
        let text =
            "```json\n{\"findings\": [{\"path\": \"a.rs\", \"line\": 3, \"severity\": \"error\", \
                    \"title\": \"x\", \"detail\": \"y\", \"suggestion\": \"z\"}]}\n```";
        let expected = Finding {
            suggestion: Some("z".into()),
            ..detailed("a.rs", Some(3), Severity::Error, "x")
        };
        assert_eq!(parse_answer(text), Ok(vec![expected]));
    }

    #[test]
    fn parses_json_wrapped_in_prose_with_braces_in_strings() {
        let text = "I looked at {the diff}. Here it is: {\"findings\": [{\"path\": \"a.rs\", \
                    \"line\": 3, \"severity\": \"warning\", \"title\": \"brace } and \\\" quote {\", \
                    \"detail\": \"y\"}]} Hope that helps {";
        assert_eq!(
            parse_answer(text),
            Ok(vec![detailed(
                "a.rs",
                Some(3),
                Severity::Warning,
                "brace } and \" quote {"
            )])
        );
    }

    #[test]
    fn reads_string_null_and_zero_lines() {
        let text = r#"{"findings": [
            {"path": "a.rs", "line": "12", "severity": "error", "title": "s", "detail": "y"},
            {"path": "a.rs", "line": "7-9", "severity": "error", "title": "r", "detail": "y"},
            {"path": "a.rs", "line": null, "severity": "error", "title": "n", "detail": "y"},
            {"path": "a.rs", "line": 0, "severity": "error", "title": "z", "detail": "y"},
            {"path": "a.rs", "severity": "error", "title": "m", "detail": "y"}
        ]}"#;
        let lines: Vec<_> = parse_answer(text)
            .unwrap()
            .into_iter()
            .map(|f| f.line)
            .collect();
        assert_eq!(lines, vec![Some(12), Some(7), None, None, None]);
    }

    #[test]
    fn reads_severity_synonyms_in_any_case() {
        let words = [
            ("ERROR", Severity::Error),
            ("Critical", Severity::Error),
            ("high", Severity::Error),
            ("bug", Severity::Error),
            ("Warn", Severity::Warning),
            ("medium", Severity::Warning),
            ("info", Severity::Note),
            ("low", Severity::Note),
            ("nit", Severity::Note),
            ("Suggestion", Severity::Note),
            ("whatever", Severity::Warning),
        ];
        for (word, severity) in words {
            let text = format!(
                r#"{{"findings": [{{"path": "a.rs", "line": 1, "severity": "{word}", "title": "t"}}]}}"#
            );
            let found = parse_answer(&text).unwrap();
            assert_eq!(found[0].severity, severity, "{word}");
        }
    }

    #[test]
    fn missing_optional_fields_and_extra_fields_are_fine() {
        let text = r#"{"findings": [
            {"path": "a.rs", "title": "only these", "confidence": 0.9},
            {"path": "a.rs", "line": 2, "severity": "note", "detail": "no title"},
            {"line": 2, "severity": "note", "title": "no path"},
            {"path": "  ", "title": "blank path"}
        ], "summary": "ok"}"#;
        assert_eq!(
            parse_answer(text),
            Ok(vec![finding("a.rs", None, Severity::Warning, "only these")])
        );
        assert_eq!(parse_answer(r#"{"findings": []}"#), Ok(vec![]));
    }

    #[test]
    fn garbage_is_an_actionable_error() {
        for text in [
            "Looks good to me!",
            "{not json at all}",
            r#"{"issues": []}"#,
            r#"{"findings": "none"}"#,
            r#"{"findings": [{"path": "a.rs""#,
        ] {
            let err = parse_answer(text).unwrap_err();
            assert!(err.contains("{\"findings\": ["), "{text}: {err}");
        }
        assert!(parse_answer(r#"{"findings": "none"}"#)
            .unwrap_err()
            .starts_with("\"findings\" in the answer is not a list"));
    }

    #[test]
    fn salvages_complete_findings_before_the_cut() {
        let text = r#"```json
{"findings": [{"path":"a.rs","line":3,"severity":"error","title":"x","detail":"y {}"}, {"path":"b.rs","li"#;
        assert!(parse_answer(text).is_err());
        let expected = Finding {
            detail: "y {}".into(),
            ..finding("a.rs", Some(3), Severity::Error, "x")
        };
        assert_eq!(salvage(text), vec![expected]);
        assert_eq!(salvage("nothing here"), vec![]);
        assert_eq!(salvage(r#"{"findings": [{"path": "a.rs", "ti"#), vec![]);
    }

    #[test]
    fn salvage_of_a_whole_answer_reads_it_all() {
        let text = r#"{"findings": [{"path":"a.rs","title":"x"},{"path":"b.rs","title":"y"}]}"#;
        assert_eq!(salvage(text).len(), 2);
    }

    #[test]
    fn fail_on_levels() {
        let notes = [finding("a", None, Severity::Note, "n")];
        let warnings = [finding("a", None, Severity::Warning, "w")];
        let errors = [finding("a", None, Severity::Error, "e")];
        assert!(!FailOn::Error.fails(&warnings));
        assert!(FailOn::Error.fails(&errors));
        assert!(FailOn::Warning.fails(&warnings));
        assert!(!FailOn::Warning.fails(&notes));
        assert!(FailOn::Note.fails(&notes));
        assert!(!FailOn::Note.fails(&[]));
        assert!(!FailOn::Never.fails(&errors));
        assert_eq!("Warning".parse(), Ok(FailOn::Warning));
        assert_eq!("never".parse(), Ok(FailOn::Never));
        let err = "fatal".parse::<FailOn>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown fail-on level `fatal`: use one of error, warning, note, never"
        );
    }

    #[test]
    fn answer_schema_accepts_findings_and_rejects_the_rest() {
        let schema = answer_schema(&["src/a.rs".into(), "b.rs".into(), "b.rs".into()]);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let good = json!({"findings": [
            {"path": "src/a.rs", "line": 3, "severity": "error", "title": "t", "detail": "d"},
            {"path": "b.rs", "line": 0, "severity": "note", "title": "t", "detail": "d",
             "suggestion": "s"}
        ]});
        assert!(validator.is_valid(&good));
        assert!(validator.is_valid(&json!({"findings": []})));
        let bad = [
            json!({"findings": [{"path": "src/a.rs", "line": 3, "severity": "fatal",
                                 "title": "t", "detail": "d"}]}),
            json!({"findings": [{"path": "c.rs", "line": 3, "severity": "error",
                                 "title": "t", "detail": "d"}]}),
            json!({"findings": [{"path": "b.rs", "line": -1, "severity": "error",
                                 "title": "t", "detail": "d"}]}),
            json!({"findings": [{"path": "b.rs", "line": 1, "severity": "error", "title": "t"}]}),
            json!({"findings": [{"path": "b.rs", "line": 1, "severity": "error", "title": "t",
                                 "detail": "d", "extra": 1}]}),
            json!({"findings": [], "summary": "x"}),
            json!({}),
        ];
        for instance in bad {
            assert!(!validator.is_valid(&instance), "{instance}");
        }
        let keys: Vec<_> = schema["properties"]["findings"]["items"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            ["path", "line", "severity", "title", "detail", "suggestion"]
        );
        assert_eq!(
            schema["properties"]["findings"]["items"]["properties"]["path"]["enum"],
            json!(["src/a.rs", "b.rs"])
        );
        let open = answer_schema(&[]);
        assert_eq!(
            open["properties"]["findings"]["items"]["properties"]["path"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn anchor_keeps_shown_lines_and_file_level_findings() {
        let files = [file("src/a.rs", ChangeKind::Modified, &[(10, 5)])];
        let found = vec![
            finding("src/a.rs", Some(10), Severity::Error, "first"),
            finding("src/a.rs", Some(14), Severity::Error, "last"),
            finding("src/a.rs", None, Severity::Note, "whole"),
        ];
        let anchored = anchor(found, &files);
        assert_eq!(
            anchored,
            Anchored {
                kept: vec![
                    finding("src/a.rs", None, Severity::Note, "whole"),
                    finding("src/a.rs", Some(10), Severity::Error, "first"),
                    finding("src/a.rs", Some(14), Severity::Error, "last"),
                ],
                dropped: vec![],
            }
        );
    }

    #[test]
    fn anchor_moves_near_lines_and_drops_far_ones() {
        let files = [file(
            "src/a.rs",
            ChangeKind::Modified,
            &[(10, 5), (100, 0), (40, 3)],
        )];
        let found = vec![
            finding("src/a.rs", Some(24), Severity::Error, "ten after"),
            finding("src/a.rs", Some(1), Severity::Error, "nine before"),
            finding(
                "src/a.rs",
                Some(30),
                Severity::Error,
                "ten before the second",
            ),
            finding("src/a.rs", Some(25), Severity::Error, "eleven after"),
            finding("src/a.rs", Some(100), Severity::Error, "pure deletion hunk"),
        ];
        let anchored = anchor(found, &files);
        let moved = |line, from, title| Finding {
            moved_from: Some(from),
            ..finding("src/a.rs", Some(line), Severity::Error, title)
        };
        assert_eq!(
            anchored.kept,
            vec![
                moved(10, 1, "nine before"),
                moved(14, 24, "ten after"),
                moved(40, 30, "ten before the second"),
            ]
        );
        let reasons: Vec<_> = anchored.dropped.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "line 25 is outside the diff of src/a.rs",
                "line 100 is outside the diff of src/a.rs"
            ]
        );
        assert_eq!(anchored.dropped[0].finding.line, Some(25));
    }

    #[test]
    fn anchor_normalises_and_matches_paths() {
        let files = [
            file("src/review/a.rs", ChangeKind::Modified, &[(1, 3)]),
            file("src/x/mod.rs", ChangeKind::Added, &[(1, 3)]),
            file("src/y/mod.rs", ChangeKind::Added, &[(1, 3)]),
        ];
        let found = vec![
            finding("./src/review/a.rs", Some(1), Severity::Error, "dot"),
            finding("b/src/review/a.rs", Some(2), Severity::Error, "b prefix"),
            finding("src\\review\\a.rs", Some(3), Severity::Error, "backslash"),
            finding("a.rs", None, Severity::Error, "suffix"),
            finding("mod.rs", None, Severity::Error, "ambiguous"),
            finding("src/elsewhere.rs", Some(1), Severity::Error, "unknown"),
        ];
        let anchored = anchor(found, &files);
        let kept: Vec<_> = anchored
            .kept
            .iter()
            .map(|f| (f.path.as_str(), f.title.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("src/review/a.rs", "suffix"),
                ("src/review/a.rs", "dot"),
                ("src/review/a.rs", "b prefix"),
                ("src/review/a.rs", "backslash"),
            ]
        );
        let reasons: Vec<_> = anchored.dropped.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "`mod.rs` is not a changed file",
                "`src/elsewhere.rs` is not a changed file"
            ]
        );
    }

    #[test]
    fn anchor_puts_lines_in_files_without_lines_at_file_level() {
        let mut binary = file("logo.png", ChangeKind::Modified, &[]);
        binary.binary = true;
        let mut submodule = file("vendor/lib", ChangeKind::Modified, &[]);
        submodule.submodule = true;
        let files = [binary, submodule, file("old.rs", ChangeKind::Deleted, &[])];
        let found = vec![
            finding("old.rs", Some(5), Severity::Error, "gone"),
            finding("logo.png", Some(1), Severity::Note, "big"),
            finding("vendor/lib", None, Severity::Warning, "bump"),
        ];
        let at_file = |path, from, severity, title| Finding {
            moved_from: from,
            ..finding(path, None, severity, title)
        };
        assert_eq!(
            anchor(found, &files).kept,
            vec![
                at_file("logo.png", Some(1), Severity::Note, "big"),
                at_file("old.rs", Some(5), Severity::Error, "gone"),
                at_file("vendor/lib", None, Severity::Warning, "bump"),
            ]
        );
    }

    #[test]
    fn anchor_dedupes_and_sorts() {
        let files = [
            file("b.rs", ChangeKind::Modified, &[(1, 20)]),
            file("a.rs", ChangeKind::Added, &[(1, 20)]),
        ];
        let found = vec![
            finding("b.rs", Some(5), Severity::Note, "n"),
            finding("b.rs", Some(5), Severity::Error, "e"),
            finding("a.rs", Some(9), Severity::Warning, "w"),
            finding("./b.rs", Some(5), Severity::Error, "e"),
            finding("b.rs", Some(2), Severity::Warning, "w"),
            finding("b.rs", None, Severity::Note, "f"),
        ];
        assert_eq!(
            anchor(found, &files).kept,
            vec![
                finding("a.rs", Some(9), Severity::Warning, "w"),
                finding("b.rs", None, Severity::Note, "f"),
                finding("b.rs", Some(2), Severity::Warning, "w"),
                finding("b.rs", Some(5), Severity::Error, "e"),
                finding("b.rs", Some(5), Severity::Note, "n"),
            ]
        );
    }

    #[test]
    fn findings_round_trip_through_serde() {
        let f = Finding {
            moved_from: Some(3),
            ..finding("a.rs", Some(4), Severity::Warning, "t")
        };
        let value = serde_json::to_value(&f).unwrap();
        assert_eq!(
            value,
            json!({"path": "a.rs", "line": 4, "severity": "warning", "title": "t",
                   "detail": "", "moved_from": 3})
        );
        assert_eq!(serde_json::from_value::<Finding>(value).unwrap(), f);
    }
}
