//! Held turns: a grammar over the whole turn, from its first token.
//!
//! The lazy call grammar ([`super::call_grammar`]) only starts once a model writes the call
//! marker, and leaves argument values free. That is right for capable models, whose prose
//! and file contents should not be touched. Small models and models whose templates never
//! saw tools fail earlier: they write calls as fenced code, invent keys, drop required ones,
//! or spell an enum their own way. A held turn leaves them two things to write: one tool
//! call whose name is a real tool and whose arguments satisfy that tool's schema (required
//! keys, types, enums — llama.cpp's converter turns each schema into grammar), or a final
//! answer, in prose or in the caller's answer schema.
//!
//! The turn is also bounded: every string and array in the arguments gets a length limit
//! derived from the turn's token budget, so a held call always closes before `max_tokens`
//! (each token is at least one character; the limits count characters), and one call per
//! turn keeps the whole turn inside that budget.

use serde_json::{Map, Value};

use super::grammar::{gbnf_literal, prefix_rules, ANSWER_PREFIX};
use super::CallFormat;
use crate::engine::Grammar;
use crate::tools::ToolSpec;

/// Longest array a held call may write (plan steps, for instance).
const MAX_ITEMS: usize = 12;
/// The shortest string limit, even when the budget is smaller than the schema's keys.
const MIN_STRING: usize = 4;
/// The longest string limit worth having: longer strings are file contents a held model
/// should write with several edits.
const MAX_STRING: usize = 4000;
/// Most characters one `space` of the grammar can take ([`crate::engine::bounded_json_gbnf`]
/// limits the gaps between JSON tokens to one space).
const SPACE: usize = 1;
/// Characters of the envelope around the arguments: markers, `name` and `arguments` keys,
/// the longest tool name's quotes, and the whitespace between them.
const ENVELOPE: usize = 96;

/// What a held turn may end with instead of a call.
pub enum HeldAnswer<'a> {
    /// Free text (that does not open a call).
    Prose,
    /// JSON matching a schema: its GBNF as llama.cpp's converter writes it, root `root`.
    Gbnf(&'a str),
    /// No answer: the turn must call a tool.
    CallRequired,
}

/// One tool as a held turn offers it: the spec and the GBNF of its bounded argument schema
/// ([`bounded_arguments`], converted), root rule `root`.
pub struct HeldTool<'a> {
    pub spec: &'a ToolSpec,
    pub arguments_gbnf: String,
}

/// The grammar of a held turn in `format`: one call to one of `tools`, or `answer`. With no
/// tools (a turn that must answer now), only the answer.
pub fn held_grammar(format: CallFormat, tools: &[HeldTool<'_>], answer: HeldAnswer<'_>) -> Grammar {
    let mut text = String::new();
    let answer_rule = match answer {
        HeldAnswer::Prose => {
            text.push_str(&prose_rules(format));
            Some("answer")
        }
        HeldAnswer::Gbnf(gbnf) => {
            text.push_str(&prefix_rules(gbnf, ANSWER_PREFIX));
            Some("answer-root")
        }
        HeldAnswer::CallRequired if tools.is_empty() => {
            text.push_str(&prose_rules(format));
            Some("answer")
        }
        HeldAnswer::CallRequired => None,
    };
    let root = match answer_rule {
        Some(answer) if tools.is_empty() => format!("root ::= {answer}\n"),
        Some(answer) => {
            text.push_str(&call_rules(format, tools));
            format!("root ::= envelope | {answer}\n")
        }
        None => {
            text.push_str(&call_rules(format, tools));
            "root ::= envelope\n".to_string()
        }
    };
    Grammar::Gbnf {
        text: root + &text,
        root: "root".to_string(),
    }
}

/// `schema` with a length limit on every free string and array, chosen so that the longest
/// call it admits fits in `budget_chars` characters with the envelope around it.
pub fn bounded_arguments(schema: &Value, budget_chars: usize) -> Value {
    let fits = |limit: usize| worst_case(&bound(schema, limit), 0) + ENVELOPE <= budget_chars;
    // The largest limit that fits: worst_case grows with the limit, so bisect.
    let (mut lo, mut hi) = (MIN_STRING, MAX_STRING);
    if fits(hi) {
        return bound(schema, hi);
    }
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    bound(schema, lo)
}

/// The longest text a value matching `schema` can take in the converter's grammar, where
/// every string and array is bounded (`depth` guards against self-similar schemas).
pub fn worst_case(schema: &Value, depth: usize) -> usize {
    if depth > 16 {
        return usize::MAX / 4;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return options
            .iter()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(0);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => match schema.get("maxLength").and_then(Value::as_u64) {
            // Quotes around; an escape is counted as one character, as the model writes it.
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX / 4) + 2,
            None => usize::MAX / 4,
        },
        Some("integer") => 20,
        Some("number") => 40,
        Some("boolean") => 5,
        Some("null") => 4,
        Some("array") => {
            let items = schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .map_or(usize::MAX / 4, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX / 4)
                });
            let item = schema
                .get("items")
                .map_or(usize::MAX / 4, |s| worst_case(s, depth + 1));
            2 + 2 * SPACE + items.saturating_mul(item.saturating_add(1 + 2 * SPACE))
        }
        Some("object") => {
            let properties = schema.get("properties").and_then(Value::as_object);
            2 + 2 * SPACE
                + properties.map_or(0, |props| {
                    props
                        .iter()
                        .map(|(key, value)| {
                            (key.len() + 3 + 3 * SPACE).saturating_add(worst_case(value, depth + 1))
                        })
                        .fold(0usize, usize::saturating_add)
                })
        }
        _ => usize::MAX / 4,
    }
}

/// `schema` with `maxLength: limit` on strings without an enum and `maxItems` on arrays.
fn bound(schema: &Value, limit: usize) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), bound(v, limit)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" => bound(value, limit),
            // Descriptions are for the model's prompt, not its grammar.
            "description" => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    let is = |t: &str| map.get("type").and_then(Value::as_str) == Some(t);
    if is("string") && !map.contains_key("enum") {
        let own = map.get("maxLength").and_then(Value::as_u64);
        let limit = own.map_or(limit as u64, |n| n.min(limit as u64));
        out.insert("maxLength".into(), Value::from(limit));
    }
    if is("array") {
        // Lists shrink with the strings, so that a small budget still fits one call.
        let most = MAX_ITEMS.min((limit / 16).max(1)) as u64;
        let own = map.get("maxItems").and_then(Value::as_u64);
        let items = own.map_or(most, |n| n.min(most));
        out.insert("maxItems".into(), Value::from(items));
    }
    Value::Object(out)
}

/// How a held call begins in `format`: a held turn that does not begin so is an answer, and
/// nothing in it is a call (the grammar let calls through the envelope only).
pub fn held_call_opening(format: CallFormat) -> &'static str {
    match format {
        CallFormat::Hermes => "<tool_call>",
        CallFormat::Mistral => "[TOOL_CALLS][",
        CallFormat::Llama3 => "<|python_tag|>",
        CallFormat::Generic => "```json",
    }
}

/// `envelope`: one call in the format's markup, to one of the tools, each tool's arguments
/// held to its own schema grammar.
fn call_rules(format: CallFormat, tools: &[HeldTool<'_>]) -> String {
    let (after_open, close, arguments_key) = match format {
        CallFormat::Hermes => (" nl", " nl \"</tool_call>\"", "arguments"),
        CallFormat::Mistral => ("", " \"]\"", "arguments"),
        CallFormat::Llama3 => ("", "", "parameters"),
        CallFormat::Generic => (" nl", " nl \"```\"", "arguments"),
    };
    let open = gbnf_literal(held_call_opening(format));
    let calls: Vec<String> = (0..tools.len()).map(|i| format!("call{i}")).collect();
    let mut text = format!(
        "envelope ::= {open}{after_open} ( {} ){close}\nnl ::= \"\\n\"\n",
        calls.join(" | ")
    );
    for (i, tool) in tools.iter().enumerate() {
        let prefix = format!("t{i}-");
        let name = gbnf_literal(&Value::String(tool.spec.name.to_string()).to_string());
        text.push_str(&format!(
            "call{i} ::= \"{{\\\"name\\\": \" {name} \", \\\"{arguments_key}\\\": \" {prefix}root \"}}\"\n"
        ));
        text.push_str(&prefix_rules(&tool.arguments_gbnf, &prefix));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// `answer`: prose that does not open a call. It may not start with whitespace, with the
/// character that opens the format's envelope, or (Hermes) with JSON — small models copy the
/// tool list from their prompt — and never writes `<t`, so a call cannot hide inside it
/// unchecked.
fn prose_rules(format: CallFormat) -> String {
    match format {
        CallFormat::Hermes => "answer ::= [^<{\\[\\x00-\\x20] answer-char* \"<\"*\n\
             answer-char ::= [^<] | \"<\"+ [^t<]\n"
            .to_string(),
        CallFormat::Mistral => "answer ::= [^\\[\\x00-\\x20] [^\\x00]*\n".to_string(),
        CallFormat::Llama3 => "answer ::= [^<{\\x00-\\x20] [^\\x00]*\n".to_string(),
        CallFormat::Generic => "answer ::= [^`{\\x00-\\x20] [^\\x00]*\n".to_string(),
    }
}

#[cfg(test)]
mod tests;
