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

/// Most findings one answer may hold, and the longest title, detail and suggestion: bounds
/// that make the longest answer the schema admits fit the answer's token budget, so a
/// model that rambles inside a string is cut at the bound and the answer still completes.
pub const MAX_FINDINGS: usize = 5;
const MAX_TITLE: usize = 80;
const MAX_DETAIL: usize = 240;
const MAX_SUGGESTION: usize = 160;
/// Paths are the changed files when there are any; otherwise at most this long.
const MAX_PATH: usize = 200;

/// JSON schema of the model's final answer: `{"findings": [{path, line, severity, title,
/// detail, suggestion?}]}`, every string and the list bounded (above). It is turned into a
/// llama.cpp grammar, so it keeps to plain features (no `$ref`, no `pattern`), and declares
/// properties in the order the model should write them. `path` is limited to the changed
/// files when there are any.
pub fn answer_schema(paths: &[String]) -> Value {
    let mut unique: Vec<&String> = Vec::new();
    for p in paths {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    let path = if unique.is_empty() {
        json!({"type": "string", "maxLength": MAX_PATH})
    } else {
        json!({"type": "string", "enum": unique})
    };
    json!({
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": MAX_FINDINGS,
                "items": {
                    "type": "object",
                    "properties": {
                        "path": path,
                        "line": {"type": "integer", "minimum": 0, "maximum": 9_999_999},
                        "severity": {"type": "string", "enum": ["error", "warning", "note"]},
                        "title": {"type": "string", "maxLength": MAX_TITLE},
                        "detail": {"type": "string", "maxLength": MAX_DETAIL},
                        "suggestion": {"type": "string", "maxLength": MAX_SUGGESTION}
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
impl Finding {
    /// A finding with only its place, severity and title (tests fill the rest as needed).
    pub(crate) fn bare(path: &str, line: Option<u32>, severity: Severity, title: &str) -> Self {
        Self {
            path: path.into(),
            line,
            severity,
            title: title.into(),
            detail: String::new(),
            suggestion: None,
            moved_from: None,
        }
    }
}

#[cfg(test)]
mod tests;
