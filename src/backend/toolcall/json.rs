//! Reading call objects out of JSON text.
//!
//! Models wrap the same call in many shapes: one object, a list, `{"tool_calls": […]}`,
//! OpenAI's `{"type": "function", "function": {…}}`, arguments flattened into the call or
//! encoded once more as a string. Inside a format's marker every shape is accepted and
//! anything else is an error; in prose only the exact call shape counts.

use serde_json::{Map, Value};

/// Keys a call object may have besides its arguments; anything else in prose JSON means the
/// object is data, not a call.
const ENVELOPE_KEYS: [&str; 5] = ["name", "arguments", "parameters", "id", "type"];

/// How strictly a JSON value must look like a call to be taken as one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Strictness {
    /// Inside a marker: every value is meant as a call; anything else is an error.
    Region,
    /// In prose: only exact call shapes count; anything else stays content.
    Prose,
}

pub(super) type CallResult = Result<(String, String), String>;

/// A region body: one or more JSON values (objects or lists of calls), separated by
/// whitespace, `;` or `,`, optionally inside a code fence.
pub(super) fn json_calls(body: &str) -> Vec<CallResult> {
    let body = strip_fence(body.trim());
    let mut results = Vec::new();
    let mut i = 0;
    loop {
        i += separator_len(&body[i..]);
        let rest = &body[i..];
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(['{', '[']) {
            results.push(Err(not_json(rest)));
            break;
        }
        let Some(end) = balanced_end(rest, 0) else {
            results.push(Err(truncated()));
            break;
        };
        match serde_json::from_str::<Value>(&rest[..end]) {
            Ok(value) => results.extend(calls_in(value, Strictness::Region).unwrap_or_default()),
            Err(e) => results.push(Err(json_problem(&e, &rest[..end]))),
        }
        i += end;
    }
    if results.is_empty() {
        results.push(Err("the call is empty".to_string()));
    }
    results
}

fn strip_fence(body: &str) -> &str {
    let Some(inner) = body.strip_prefix("```") else {
        return body;
    };
    let inner = inner.find('\n').map_or("", |nl| &inner[nl + 1..]);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// The calls a JSON value holds. In prose, `None` means "not a call"; in a region every
/// value yields results, errors included.
pub(super) fn calls_in(value: Value, strictness: Strictness) -> Option<Vec<CallResult>> {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(map) => results.extend(object_calls(map, strictness)?),
                    other if strictness == Strictness::Region => {
                        results.push(Err(format!(
                            "each call must be a JSON object, got {}",
                            kind(&other)
                        )));
                    }
                    _ => return None,
                }
            }
            Some(results)
        }
        Value::Object(map) => object_calls(map, strictness),
        other => (strictness == Strictness::Region).then(|| {
            vec![Err(format!(
                "a call must be a JSON object with \"name\" and \"arguments\", got {}",
                kind(&other)
            ))]
        }),
    }
}

/// One call object, or a wrapper around calls (`{"tool_calls": […]}`, OpenAI's
/// `{"type": "function", "function": {…}}`).
fn object_calls(mut map: Map<String, Value>, strictness: Strictness) -> Option<Vec<CallResult>> {
    if map.len() == 1 {
        for key in ["tool_calls", "tool_call", "function_call", "calls"] {
            if let Some(inner) = map.remove(key) {
                return calls_in(inner, strictness);
            }
        }
    }
    if !map.contains_key("name") && map.get("function").is_some_and(Value::is_object) {
        let wrapper_only = map
            .keys()
            .all(|k| matches!(k.as_str(), "function" | "type" | "id"));
        if wrapper_only {
            return calls_in(map.remove("function")?, strictness);
        }
    }
    one_call(map, strictness).map(|result| vec![result])
}

fn one_call(mut map: Map<String, Value>, strictness: Strictness) -> Option<CallResult> {
    if strictness == Strictness::Prose {
        let envelope_only = map.keys().all(|k| ENVELOPE_KEYS.contains(&k.as_str()));
        if !envelope_only || !map.get("name").is_some_and(Value::is_string) {
            return None;
        }
    }
    let name = match map.remove("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
        Some(Value::String(_)) => return Some(Err("\"name\" is empty".to_string())),
        Some(other) => {
            return Some(Err(format!(
                "\"name\" must be a string, got {}",
                kind(&other)
            )));
        }
        None => {
            return Some(Err(
                "the call has no \"name\" (the tool to call)".to_string()
            ))
        }
    };
    let arguments = match (map.remove("arguments"), map.remove("parameters")) {
        (Some(args), _) | (None, Some(args)) => Some(args),
        (None, None) => {
            // Small models flatten the arguments into the call object; the leftover keys are
            // what they meant.
            map.remove("id");
            map.remove("type");
            (!map.is_empty()).then_some(Value::Object(map))
        }
    };
    Some(arguments_text(arguments).map(|args| (name, args)))
}

/// The arguments as compact JSON object text. A JSON-encoded string holding an object is
/// unwrapped (models double-encode); no arguments at all means `{}`.
pub(super) fn arguments_text(arguments: Option<Value>) -> Result<String, String> {
    match arguments {
        None | Some(Value::Null) => Ok("{}".to_string()),
        Some(Value::Object(map)) => Ok(Value::Object(map).to_string()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok("{}".to_string()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(Value::Object(map).to_string()),
            _ => Err(
                "\"arguments\" is a string that does not hold a JSON object; give the arguments as an object"
                    .to_string(),
            ),
        },
        Some(other) => Err(format!("\"arguments\" must be a JSON object, got {}", kind(&other))),
    }
}

/// Bytes of bracket scanning left for one parse. Pathological output (thousands of unclosed
/// calls) would otherwise rescan the rest of the text from every marker; once the budget is
/// spent, spans count as unclosed and the parse falls back to its plain marker searches.
pub(super) struct ScanBudget(usize);

impl ScanBudget {
    pub(super) fn for_text(len: usize) -> Self {
        Self(len.saturating_mul(16).saturating_add(1 << 16))
    }

    pub(super) fn spent(&self) -> bool {
        self.0 == 0
    }

    /// The first `needle` (ASCII, any case) at or after `start` that is outside strings
    /// (quoted as in [`balanced_end`]), charged to the budget; `None` also once it is spent.
    pub(super) fn find_outside_strings(
        &mut self,
        text: &str,
        start: usize,
        needle: &str,
    ) -> Option<usize> {
        if self.spent() {
            return None;
        }
        let (bytes, pat) = (text.as_bytes(), needle.as_bytes());
        let mut quote: Option<u8> = None;
        let mut escaped = false;
        let mut found = None;
        for i in start..bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == q {
                    quote = None;
                }
            } else if b == b'"' || b == b'\'' {
                quote = Some(b);
            } else if bytes[i..].len() >= pat.len()
                && bytes[i..i + pat.len()].eq_ignore_ascii_case(pat)
            {
                found = Some(i);
                break;
            }
        }
        let scanned = found.unwrap_or(bytes.len()).saturating_sub(start);
        self.0 = self.0.saturating_sub(scanned.max(1));
        found
    }

    /// [`balanced_end`], charged to the budget.
    pub(super) fn balanced_end(&mut self, text: &str, start: usize) -> Option<usize> {
        if self.spent() {
            return None;
        }
        let end = balanced_end(text, start);
        let scanned = end.unwrap_or(text.len()).saturating_sub(start);
        self.0 = self.0.saturating_sub(scanned.max(1));
        end
    }
}

/// Where the bracket opened at `start` closes (exclusive), skipping brackets inside strings;
/// `None` when the text ends first. Single quotes delimit strings too, so a single-quoted call
/// is still cut out whole and reported, rather than split at a brace in one of its strings.
pub(super) fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `{"…` / `{'…` / `[{…`: worth checking as JSON.
pub(super) fn starts_like_json(text: &str) -> bool {
    let mut chars = text.chars();
    let open = chars.next();
    let next = chars.as_str().trim_start().chars().next();
    match open {
        Some('{') => matches!(next, Some('"' | '\'')),
        Some('[') => next == Some('{'),
        _ => false,
    }
}

/// Starts the way a call does: `{"name":` (any quotes, spacing), possibly inside a list.
pub(super) fn strongly_call_like(text: &str) -> bool {
    let text = text.trim_start_matches(|c: char| c == '[' || c.is_whitespace());
    let Some(text) = text.strip_prefix('{') else {
        return false;
    };
    let text = text.trim_start();
    let key = text
        .strip_prefix("\"name\"")
        .or_else(|| text.strip_prefix("'name'"));
    key.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

pub(super) fn mentions_arguments(text: &str) -> bool {
    text.contains("arguments") || text.contains("parameters")
}

pub(super) fn truncated() -> String {
    "the JSON ends before it is complete (was the output cut off?)".to_string()
}

fn not_json(rest: &str) -> String {
    let found: String = rest.chars().take(20).collect();
    format!("expected a JSON object, found `{found}`")
}

/// A JSON syntax error, with a hint for the mistakes small models make most.
pub(super) fn json_problem(error: &serde_json::Error, fragment: &str) -> String {
    let compact: String = fragment.chars().filter(|c| !c.is_whitespace()).collect();
    let hint = if ["{'", "':", ",'", ":'", "['"]
        .iter()
        .any(|p| compact.contains(p))
    {
        "; JSON needs double quotes (\") around keys and strings, not single quotes"
    } else if compact.contains(",}") || compact.contains(",]") {
        "; JSON allows no comma before a closing bracket"
    } else {
        ""
    };
    format!("invalid JSON ({error}){hint}")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `at` lies inside a valid JSON value that starts before it, i.e. in one of its
/// strings: a `</think>` in a call's argument does not end any reasoning.
pub(super) fn inside_json(text: &str, at: usize) -> bool {
    // Bounded, so that reasoning full of unbalanced braces stays linear.
    const MAX_CANDIDATES: usize = 64;
    let mut i = 0;
    for _ in 0..MAX_CANDIDATES {
        let Some(offset) = text[i..at].find(['{', '[']) else {
            return false;
        };
        i += offset;
        if starts_like_json(&text[i..]) {
            match balanced_end(text, i) {
                Some(end) if end > at => {
                    return serde_json::from_str::<Value>(&text[i..end]).is_ok();
                }
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return false,
            }
        }
        i += 1;
    }
    false
}

/// Where a fence whose body is JSON closes: the JSON decides, so "```" inside one of its
/// strings does not end the block.
pub(super) fn json_fence_close(
    text: &str,
    body_start: usize,
    budget: &mut ScanBudget,
) -> Option<usize> {
    let body = &text[body_start..];
    let lead = body.len() - body.trim_start().len();
    if !body[lead..].starts_with(['{', '[']) {
        return None;
    }
    let end = budget.balanced_end(body, lead)?;
    let tail = &body[end..];
    let gap = tail.len() - tail.trim_start().len();
    tail[gap..]
        .starts_with("```")
        .then_some(body_start + end + gap)
}

/// The end of the JSON values (separated by whitespace, `;` or `,`) at the start of `text`.
pub(super) fn json_run_end(text: &str, budget: &mut ScanBudget) -> usize {
    let mut end = 0;
    loop {
        let rest = &text[end..];
        let skip = separator_len(rest);
        let value = &rest[skip..];
        if !value.starts_with(['{', '[']) {
            return end;
        }
        match budget.balanced_end(value, 0) {
            Some(len) => end += skip + len,
            None => return end,
        }
    }
}

/// Bytes of whitespace, `;` and `,` at the start of `text`: what separates JSON values in a
/// run of calls.
fn separator_len(text: &str) -> usize {
    text.len()
        - text
            .trim_start_matches(|c: char| c.is_whitespace() || c == ';' || c == ',')
            .len()
}
