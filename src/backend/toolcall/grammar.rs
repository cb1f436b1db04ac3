//! GBNF grammars for the envelope of a tool call.
//!
//! The grammar fixes what small models get wrong — the markers, the `name` / `arguments`
//! keys, a tool name that exists, well-formed JSON — and leaves argument *values* free: a
//! schema-derived grammar would also constrain file contents, and long constrained strings
//! are where grammars turn slow and models turn strange. Values are checked afterwards by
//! [`super::validate`]. The GBNF is written here by hand because only `engine/` may use
//! llama.cpp's schema converter.
//!
//! A final answer held to a JSON schema is the exception: there the schema *is* the point, so
//! [`answer_grammar`] takes the converter's GBNF (from [`crate::engine::json_schema_gbnf`]) and
//! offers it next to the calls.

use super::CallFormat;
use crate::engine::Grammar;
use crate::tools::ToolSpec;

/// Any JSON value. Whitespace is bounded so a sampling loop cannot spin in it forever, yet
/// fits pretty-printed JSON (one newline, then indentation). Numbers stay within what an f64
/// holds (`1e448` is valid JSON but no parser reads it back).
const JSON_RULES: &str = r#"value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( ws "," ws member )* ws )? "}"
member ::= string ws ":" ws value
array ::= "[" ws ( value ( ws "," ws value )* ws )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
ws ::= ( " " | "\n" [ \t]{0,32} )?
"#;

/// How many calls the root admits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Calls {
    One,
    /// Parallel calls, as the format writes them (repeated tags, a list, `;`-separated).
    Many,
}

/// GBNF (root rule `root`) for exactly one call in `format`'s envelope, marker included, with
/// the name restricted to `tools` (any string when there are none). Generic has no marker:
/// its envelope is a bare `{"name": …, "arguments": {…}}` object.
pub fn envelope_gbnf(format: CallFormat, tools: &[ToolSpec]) -> String {
    gbnf(format, tools, Calls::One, "root")
}

/// A lazy grammar that leaves prose free and, once the model starts a call with the format's
/// opening marker, holds it to the envelope until the call (or the list of calls) is closed.
/// `None` for [`CallFormat::Generic`], which has no marker to trigger on, and when there are
/// no tools to call.
///
/// Triggers are searched anywhere in the output (llama.cpp anchors only patterns written as
/// `^…$`); Llama 3's bare `{"name"` counts only at the very start, since JSON later in a reply
/// is more often an example than a call.
pub fn call_grammar(format: CallFormat, tools: &[ToolSpec]) -> Option<Grammar> {
    if tools.is_empty() {
        return None;
    }
    let triggers: Vec<String> = match format {
        CallFormat::Hermes => vec!["<tool_call>".into()],
        CallFormat::Mistral => vec![r"\[TOOL_CALLS\]".into()],
        CallFormat::Llama3 => vec![r"<\|python_tag\|>".into(), r#"^\s*(\{\s*"name")"#.into()],
        CallFormat::Generic => return None,
    };
    Some(Grammar::Lazy {
        text: gbnf(format, tools, Calls::Many, "root"),
        root: "root".to_string(),
        triggers,
    })
}

/// What the converted answer grammar's rule names are prefixed with, so they cannot collide
/// with the call grammar's (both define `string`, `value` and the like).
pub(super) const ANSWER_PREFIX: &str = "answer-";

/// A grammar enforced from the first token: either tool calls in `format`'s envelope (as
/// [`call_grammar`] holds them) or a final answer matching `answer_gbnf`, the GBNF of a JSON
/// schema with root rule `root` as llama.cpp's converter writes it. Nothing may come before
/// either, not even whitespace. [`CallFormat::Generic`], whose calls are bare JSON objects
/// like the answer, and a turn without tools get the answer alone.
pub fn answer_grammar(format: CallFormat, tools: &[ToolSpec], answer_gbnf: &str) -> Grammar {
    let answer = prefix_rules(answer_gbnf, ANSWER_PREFIX);
    let text = if tools.is_empty() || format == CallFormat::Generic {
        format!("root ::= {ANSWER_PREFIX}root\n{answer}")
    } else {
        let calls = gbnf(format, tools, Calls::Many, "calls");
        format!("root ::= calls | {ANSWER_PREFIX}root\n{calls}{answer}")
    };
    Grammar::Gbnf {
        text,
        root: "root".to_string(),
    }
}

/// `gbnf` with `prefix` put before every rule name, where the rule is defined and wherever it
/// is referenced. Names are the runs of `[a-zA-Z0-9_-]` outside string literals, character
/// classes, `{m,n}` repetition counts and `#` comments, which are copied as they are.
pub(super) fn prefix_rules(gbnf: &str, prefix: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(gbnf.len() * 2);
    let mut chars = gbnf.chars().peekable();
    while let Some(c) = chars.next() {
        // Where the current piece ends (inclusive), for pieces copied verbatim.
        let close = match c {
            '"' => '"',
            '[' => ']',
            '{' => '}',
            '#' => {
                out.push(c);
                while let Some(c) = chars.next_if(|&c| c != '\n') {
                    out.push(c);
                }
                continue;
            }
            c if is_name(c) => {
                out.push_str(prefix);
                out.push(c);
                while let Some(c) = chars.next_if(|&c| is_name(c)) {
                    out.push(c);
                }
                continue;
            }
            c => {
                out.push(c);
                continue;
            }
        };
        out.push(c);
        while let Some(c) = chars.next() {
            out.push(c);
            if c == close {
                break;
            }
            // Literals and classes escape their closing character; counts have no escapes.
            if c == '\\' && close != '}' {
                out.extend(chars.next());
            }
        }
    }
    out
}

/// The envelope grammar, its top rule named `root_name`.
fn gbnf(format: CallFormat, tools: &[ToolSpec], calls: Calls, root_name: &str) -> String {
    let body = match (format, calls) {
        (CallFormat::Hermes, Calls::One) => "envelope",
        (CallFormat::Hermes, Calls::Many) => "envelope ( ws envelope )*",
        (CallFormat::Mistral, Calls::One) => r#""[TOOL_CALLS]" ws "[" ws call ws "]""#,
        (CallFormat::Mistral, Calls::Many) => {
            r#""[TOOL_CALLS]" ws "[" ws call ( ws "," ws call )* ws "]""#
        }
        (CallFormat::Llama3, Calls::One) => r#"( "<|python_tag|>" ws )? call"#,
        (CallFormat::Llama3, Calls::Many) => {
            r#"( "<|python_tag|>" ws )? call ( ( ";" | "\n" ) ws call )*"#
        }
        (CallFormat::Generic, _) => "call",
    };
    let arguments_key = match format {
        CallFormat::Hermes | CallFormat::Mistral => r#""\"arguments\"""#,
        CallFormat::Llama3 | CallFormat::Generic => r#"( "\"parameters\"" | "\"arguments\"" )"#,
    };
    // Mistral's own templates write an id after the arguments; let the model do the same.
    let id = match format {
        CallFormat::Mistral => r#" ( ws "," ws "\"id\"" ws ":" ws string )?"#,
        _ => "",
    };
    let mut text = format!("{root_name} ::= {body}\n");
    if format == CallFormat::Hermes {
        text.push_str("envelope ::= \"<tool_call>\" ws call ws \"</tool_call>\"\n");
    }
    text.push_str(&format!(
        "call ::= \"{{\" ws \"\\\"name\\\"\" ws \":\" ws name ws \",\" ws {arguments_key} ws \":\" ws object{id} ws \"}}\"\n"
    ));
    text.push_str(&format!("name ::= {}\n", name_alternatives(tools)));
    text.push_str(JSON_RULES);
    text
}

/// `"\"read_file\"" | "\"edit_file\""`: each tool name as a JSON string, in first-seen order.
fn name_alternatives(tools: &[ToolSpec]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for tool in tools {
        if !names.contains(&tool.name) {
            names.push(tool.name);
        }
    }
    if names.is_empty() {
        return "string".to_string();
    }
    names
        .iter()
        .map(|name| gbnf_literal(&serde_json::Value::String((*name).to_string()).to_string()))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `text` as a GBNF string literal.
pub(super) fn gbnf_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
