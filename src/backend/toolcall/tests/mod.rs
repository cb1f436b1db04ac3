//! Table tests for parsing, rendering and grammar text; validation lives in `validate`.

mod grammar;
mod validate;

use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::tools::{Permission, ToolSpec};

use CallFormat::{Generic, Hermes, Llama3, Mistral};

fn tool(name: &'static str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec {
        name,
        description: "",
        short_description: "",
        parameters,
        permission: Permission::Read,
    }
}

fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            "read_file",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        tool(
            "edit_file",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "edits": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                        "required": ["old", "new"]
                    }},
                    "replace_all": {"type": "boolean"},
                    "mode": {"type": "string", "enum": ["patch", "whole"]}
                },
                "required": ["path", "edits"]
            }),
        ),
        tool(
            "run_shell",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string"},
                    "timeout_s": {"type": ["number", "null"]},
                    "env": {"type": "object"}
                },
                "required": ["command"]
            }),
        ),
        tool("list_files", json!({"type": "object", "properties": {}})),
    ]
}

struct Case {
    name: &'static str,
    format: CallFormat,
    input: &'static str,
    content: &'static str,
    /// (name, compact arguments)
    calls: &'static [(&'static str, &'static str)],
    /// One substring per expected error, in order.
    errors: &'static [&'static str],
}

const READ_A: (&str, &str) = ("read_file", r#"{"path":"a.rs"}"#);
const LIST: (&str, &str) = ("list_files", "{}");

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ── Hermes ──
    Case { name: "hermes plain", format: Hermes,
        input: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n</tool_call>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes prose around", format: Hermes,
        input: "Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n</tool_call>\nThen I fix it.",
        content: "Let me look.\n\nThen I fix it.", calls: &[READ_A], errors: &[] },
    Case { name: "hermes two calls", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}</tool_call>\n<tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call>",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "hermes nested braces and braces in strings", format: Hermes,
        input: r#"<tool_call>{"name": "edit_file", "arguments": {"path": "m.rs", "edits": [{"old": "fn a() { }", "new": "fn a() { let s = \"}{\"; }"}]}}</tool_call>"#,
        content: "", calls: &[("edit_file", r#"{"path":"m.rs","edits":[{"old":"fn a() { }","new":"fn a() { let s = \"}{\"; }"}]}"#)], errors: &[] },
    Case { name: "hermes escaped quotes and backslashes", format: Hermes,
        input: r#"<tool_call>{"name": "run_shell", "arguments": {"command": "echo \"hi\" \\ done"}}</tool_call>"#,
        content: "", calls: &[("run_shell", r#"{"command":"echo \"hi\" \\ done"}"#)], errors: &[] },
    Case { name: "hermes unicode", format: Hermes,
        input: "Voilà 🦀 <tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"données/日本.txt\"}}</tool_call>",
        content: "Voilà 🦀", calls: &[("read_file", r#"{"path":"données/日本.txt"}"#)], errors: &[] },
    Case { name: "hermes unicode escapes", format: Hermes,
        input: r#"<tool_call>{"name": "read_file", "arguments": {"path": "caf\u00e9"}}</tool_call>"#,
        content: "", calls: &[("read_file", r#"{"path":"café"}"#)], errors: &[] },
    Case { name: "hermes closing tag inside an argument", format: Hermes,
        input: r#"<tool_call>{"name": "edit_file", "arguments": {"path": "p.md", "edits": [{"old": "x", "new": "</tool_call> and <think>"}]}}</tool_call>"#,
        content: "", calls: &[("edit_file", r#"{"path":"p.md","edits":[{"old":"x","new":"</tool_call> and <think>"}]}"#)], errors: &[] },
    Case { name: "hermes truncated json inside closed tag", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"</tool_call>",
        content: "", calls: &[], errors: &["cut off"] },
    Case { name: "hermes unclosed tag at end", format: Hermes,
        input: "Reading.\n<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}",
        content: "Reading.", calls: &[], errors: &["never closed"] },
    Case { name: "hermes truncated at end", format: Hermes,
        input: "<tool_call>\n{\"name\": \"read_file\", \"argu",
        content: "", calls: &[], errors: &["never closed"] },
    Case { name: "hermes missing close before the next call", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n<tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call>",
        content: "", calls: &[LIST], errors: &["never closed"] },
    Case { name: "hermes cut off with a tag inside a string", format: Hermes,
        input: "<tool_call>{\"name\": \"edit_file\", \"arguments\": {\"new\": \"a <tool_call> b",
        content: "", calls: &[], errors: &["never closed"] },
    Case { name: "hermes abandoned call then a new one", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\n<tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call>",
        content: "", calls: &[LIST], errors: &["never closed"] },
    Case { name: "hermes missing name", format: Hermes,
        input: "<tool_call>{\"arguments\": {\"path\": \"a.rs\"}}</tool_call>",
        content: "", calls: &[], errors: &["no \"name\""] },
    Case { name: "hermes name not a string", format: Hermes,
        input: "<tool_call>{\"name\": 7, \"arguments\": {}}</tool_call>",
        content: "", calls: &[], errors: &["\"name\" must be a string, got a number"] },
    Case { name: "hermes empty name", format: Hermes,
        input: "<tool_call>{\"name\": \" \", \"arguments\": {}}</tool_call>",
        content: "", calls: &[], errors: &["\"name\" is empty"] },
    Case { name: "hermes arguments as a JSON string", format: Hermes,
        input: r#"<tool_call>{"name": "read_file", "arguments": "{\"path\": \"a.rs\"}"}</tool_call>"#,
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes arguments string without an object", format: Hermes,
        input: r#"<tool_call>{"name": "read_file", "arguments": "a.rs"}</tool_call>"#,
        content: "", calls: &[], errors: &["does not hold a JSON object"] },
    Case { name: "hermes arguments as array", format: Hermes,
        input: r#"<tool_call>{"name": "read_file", "arguments": ["a.rs"]}</tool_call>"#,
        content: "", calls: &[], errors: &["must be a JSON object, got an array"] },
    Case { name: "hermes null and empty-string arguments", format: Hermes,
        input: r#"<tool_call>{"name": "list_files", "arguments": null}</tool_call><tool_call>{"name": "list_files", "arguments": ""}</tool_call>"#,
        content: "", calls: &[LIST, LIST], errors: &[] },
    Case { name: "hermes wrong tag case", format: Hermes,
        input: "<Tool_Call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}</TOOL_CALL>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes single quotes", format: Hermes,
        input: "<tool_call>{'name': 'read_file', 'arguments': {'path': 'a.rs'}}</tool_call>",
        content: "", calls: &[], errors: &["double quotes"] },
    Case { name: "hermes trailing comma", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\",}}</tool_call>",
        content: "", calls: &[], errors: &["no comma before a closing bracket"] },
    Case { name: "hermes not json", format: Hermes,
        input: "<tool_call>read_file(path=\"a.rs\")</tool_call>",
        content: "", calls: &[], errors: &["expected a JSON object, found `read_file"] },
    Case { name: "hermes empty", format: Hermes,
        input: "ok <tool_call>  </tool_call>",
        content: "ok", calls: &[], errors: &["empty"] },
    Case { name: "hermes fence inside the tag", format: Hermes,
        input: "<tool_call>\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n```\n</tool_call>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes list inside one tag", format: Hermes,
        input: "<tool_call>[{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}, {\"name\": \"list_files\", \"arguments\": {}}]</tool_call>",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "hermes flattened arguments", format: Hermes,
        input: "<tool_call>{\"name\": \"read_file\", \"path\": \"a.rs\"}</tool_call>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes openai wrapper", format: Hermes,
        input: r#"<tool_call>{"type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}}</tool_call>"#,
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes tool_calls wrapper", format: Hermes,
        input: r#"<tool_call>{"tool_calls": [{"name": "read_file", "arguments": {"path": "a.rs"}}]}</tool_call>"#,
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes one good one bad", format: Hermes,
        input: "<tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"read_file\" \"arguments\": {}}</tool_call>",
        content: "", calls: &[LIST], errors: &["invalid JSON"] },
    Case { name: "hermes bare call without tags", format: Hermes,
        input: "I will read it: {\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}",
        content: "I will read it:", calls: &[READ_A], errors: &[] },
    Case { name: "hermes stray closing tag", format: Hermes,
        input: "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n</tool_call>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes think block hides its calls", format: Hermes,
        input: "<think>Maybe <tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call>?</think>\nThe answer is 4.",
        content: "The answer is 4.", calls: &[], errors: &[] },
    Case { name: "hermes reply starting inside think", format: Hermes,
        input: "I should read a.rs first.\n</think>\n\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n</tool_call>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "hermes unclosed think", format: Hermes,
        input: "Sure. <think>pondering <tool_call>{\"name\": \"read_f",
        content: "Sure.", calls: &[], errors: &[] },
    Case { name: "hermes prose json is content", format: Hermes,
        input: "package.json has {\"name\": \"lode\", \"version\": \"1.0\"} and {braces}.",
        content: "package.json has {\"name\": \"lode\", \"version\": \"1.0\"} and {braces}.", calls: &[], errors: &[] },
    Case { name: "hermes code fence is content", format: Hermes,
        input: "Use:\n```rust\nlet v = json!({\"name\": x, \"arguments\": y});\n```",
        content: "Use:\n```rust\nlet v = json!({\"name\": x, \"arguments\": y});\n```", calls: &[], errors: &[] },
    Case { name: "hermes truncated bare call", format: Hermes,
        input: "Sure: {\"name\": \"read_file\", \"arguments\": {\"pa",
        content: "Sure:", calls: &[], errors: &["cut off"] },
    // ── Llama 3 ──
    Case { name: "llama3 bare call", format: Llama3,
        input: "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "llama3 python tag", format: Llama3,
        input: "<|python_tag|>{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}<|eom_id|>",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "llama3 one per line", format: Llama3,
        input: "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}\n{\"name\": \"list_files\", \"parameters\": {}}",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "llama3 json list", format: Llama3,
        input: "[{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}, {\"name\": \"list_files\", \"parameters\": {}}]",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "llama3 python tag semicolons", format: Llama3,
        input: "<|python_tag|>{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}; {\"name\": \"list_files\", \"parameters\": {}}",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "llama3 arguments key", format: Llama3,
        input: "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "llama3 prose before", format: Llama3,
        input: "I'll check the file.\n\n{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}",
        content: "I'll check the file.", calls: &[READ_A], errors: &[] },
    Case { name: "llama3 python code is an error", format: Llama3,
        input: "<|python_tag|>brave_search.call(query=\"rust\")",
        content: "", calls: &[], errors: &["expected a JSON object"] },
    Case { name: "llama3 truncated", format: Llama3,
        input: "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"",
        content: "", calls: &[], errors: &["cut off"] },
    Case { name: "llama3 missing name after tag", format: Llama3,
        input: "<|python_tag|>{\"parameters\": {\"path\": \"a.rs\"}}",
        content: "", calls: &[], errors: &["no \"name\""] },
    Case { name: "llama3 broken bare call", format: Llama3,
        input: "{\"name\": \"read_file\", \"parameters\": {\"path\": a.rs}}",
        content: "", calls: &[], errors: &["invalid JSON"] },
    // ── Mistral ──
    Case { name: "mistral list", format: Mistral,
        input: "[TOOL_CALLS][{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}]",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "mistral with id", format: Mistral,
        input: "[TOOL_CALLS] [{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}, \"id\": \"a1b2c3d4e\"}]",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "mistral two calls", format: Mistral,
        input: "[TOOL_CALLS][{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}, {\"name\": \"list_files\", \"arguments\": {}}]",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "mistral single object", format: Mistral,
        input: "[TOOL_CALLS]{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "mistral name args form", format: Mistral,
        input: "[TOOL_CALLS]read_file[ARGS]{\"path\": \"a.rs\"}",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "mistral call id form", format: Mistral,
        input: "[TOOL_CALLS]read_file[CALL_ID]x1y2z3w4v[ARGS]{\"path\": \"a.rs\"}[TOOL_CALLS]list_files[ARGS]{}",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "mistral prose before and after", format: Mistral,
        input: "Checking.[TOOL_CALLS][{\"name\": \"list_files\", \"arguments\": {}}] done",
        content: "Checking. done", calls: &[LIST], errors: &[] },
    Case { name: "mistral truncated", format: Mistral,
        input: "[TOOL_CALLS][{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}",
        content: "", calls: &[], errors: &["cut off"] },
    Case { name: "mistral prose after marker", format: Mistral,
        input: "[TOOL_CALLS] I will call read_file",
        content: "", calls: &[], errors: &["JSON list"] },
    Case { name: "mistral single quotes", format: Mistral,
        input: "[TOOL_CALLS][{'name': 'read_file', 'arguments': {'path': 'a.rs'}}]",
        content: "", calls: &[], errors: &["double quotes"] },
    Case { name: "mistral args not an object", format: Mistral,
        input: "[TOOL_CALLS]read_file[ARGS]\"a.rs\"",
        content: "", calls: &[], errors: &["must be followed by a JSON object"] },
    Case { name: "mistral list item not an object", format: Mistral,
        input: "[TOOL_CALLS][\"read_file\"]",
        content: "", calls: &[], errors: &["must be a JSON object, got a string"] },
    // ── Generic ──
    Case { name: "generic json fence", format: Generic,
        input: "Reading:\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}\n```\nok",
        content: "Reading:\n\nok", calls: &[READ_A], errors: &[] },
    Case { name: "generic fence without language", format: Generic,
        input: "```\n{\"name\": \"list_files\"}\n```",
        content: "", calls: &[LIST], errors: &[] },
    Case { name: "generic bare object", format: Generic,
        input: "{\"name\": \"read_file\", \"parameters\": {\"path\": \"a.rs\"}}",
        content: "", calls: &[READ_A], errors: &[] },
    Case { name: "generic bare array", format: Generic,
        input: "[{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.rs\"}}, {\"name\": \"list_files\", \"arguments\": {}}]",
        content: "", calls: &[READ_A, LIST], errors: &[] },
    Case { name: "generic understands hermes tags", format: Generic,
        input: "<tool_call>{\"name\": \"list_files\", \"arguments\": {}}</tool_call>",
        content: "", calls: &[LIST], errors: &[] },
    Case { name: "generic understands mistral", format: Generic,
        input: "[TOOL_CALLS][{\"name\": \"list_files\", \"arguments\": {}}]",
        content: "", calls: &[LIST], errors: &[] },
    Case { name: "generic data fence is content", format: Generic,
        input: "```json\n{\"name\": \"lode\", \"dependencies\": {}}\n```",
        content: "```json\n{\"name\": \"lode\", \"dependencies\": {}}\n```", calls: &[], errors: &[] },
    Case { name: "generic unclosed fence with a call", format: Generic,
        input: "```json\n{\"name\": \"read_file\", \"arguments\": {\"path\"",
        content: "", calls: &[], errors: &["cut off"] },
    Case { name: "generic broken call in fence", format: Generic,
        input: "```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": 'a.rs'}}\n```",
        content: "", calls: &[], errors: &["double quotes"] },
    Case { name: "generic plain prose", format: Generic,
        input: "  Nothing to call: use {x} or [1, 2] or `{\"a\": 1}`.  ",
        content: "Nothing to call: use {x} or [1, 2] or `{\"a\": 1}`.", calls: &[], errors: &[] },
    Case { name: "generic empty", format: Generic, input: "", content: "", calls: &[], errors: &[] },
];

#[test]
fn parse_table() {
    for case in CASES {
        let parsed = parse(case.format, case.input);
        let calls: Vec<(&str, &str)> = parsed
            .calls
            .iter()
            .map(|c| (c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(calls, case.calls.to_vec(), "{}: calls", case.name);
        assert_eq!(parsed.content, case.content, "{}: content", case.name);
        assert_eq!(
            parsed.errors.len(),
            case.errors.len(),
            "{}: errors {:#?}",
            case.name,
            parsed.errors
        );
        for (error, want) in parsed.errors.iter().zip(case.errors) {
            assert!(
                error.contains(want),
                "{}: {error:?} lacks {want:?}",
                case.name
            );
        }
        for (i, call) in parsed.calls.iter().enumerate() {
            assert_eq!(call.id, format!("call_{i}"), "{}", case.name);
        }
    }
}

#[test]
fn errors_show_the_fragment_and_the_expected_shape() {
    let parsed = parse(Hermes, "<tool_call>{\"arguments\": {}}</tool_call>");
    assert_eq!(
        parsed.errors,
        vec![
            "could not read a tool call: the call has no \"name\" (the tool to call). \
             You wrote: `{\"arguments\": {}}`. Write each call as:\n<tool_call>\n\
             {\"name\": \"<tool name>\", \"arguments\": {<arguments>}}\n</tool_call>"
                .to_string()
        ]
    );
    let parsed = parse(Llama3, "<|python_tag|>oops");
    assert!(
        parsed.errors[0].ends_with("{\"name\": \"<tool name>\", \"parameters\": {<arguments>}}")
    );
    let long = format!("<tool_call>{{\"x\": \"{}\"}}</tool_call>", "y".repeat(500));
    let parsed = parse(Hermes, &long);
    assert!(parsed.errors[0].contains("yyy…`"), "{}", parsed.errors[0]);
}

#[test]
fn detect_reads_template_markers() {
    let cases = [
        ("{{- '<tool_call>\\n' }}{{ tool_call | tojson }}", Hermes),
        ("{%- if message.role == 'ipython' %}", Llama3),
        ("{{- '<|python_tag|>' + tool_call.name }}", Llama3),
        ("{{- '[TOOL_CALLS][' }}", Mistral),
        (
            "{% for m in messages %}{{ m.content }}{% endfor %}",
            Generic,
        ),
        ("", Generic),
    ];
    for (template, want) in cases {
        assert_eq!(CallFormat::detect(template), want, "{template}");
    }
}

fn call(id: usize, name: &str, arguments: serde_json::Value) -> ToolCall {
    ToolCall {
        id: format!("call_{id}"),
        name: name.to_string(),
        arguments: arguments.to_string(),
    }
}

#[test]
fn render_then_parse_gives_the_calls_back() {
    let calls = vec![
        call(0, "read_file", json!({"path": "src/lib.rs", "offset": 10})),
        call(
            1,
            "edit_file",
            json!({"path": "ü/日本.md", "edits": [{"old": "}{\"'", "new": "</tool_call>[TOOL_CALLS]\n```<think></think><|python_tag|><|eom_id|>"}]}),
        ),
        call(2, "list_files", json!({})),
    ];
    for format in [Hermes, Llama3, Mistral, Generic] {
        let rendered = render_calls(format, &calls);
        let want = Parsed {
            content: String::new(),
            calls: calls.clone(),
            errors: Vec::new(),
        };
        assert_eq!(parse(format, &rendered), want, "{format:?}:\n{rendered}");
        assert_eq!(
            parse(format, &render_calls(format, &calls[..1])).calls,
            calls[..1]
        );
        assert_eq!(render_calls(format, &[]), "");
    }
}

#[test]
fn render_matches_each_family_s_markup() {
    let calls = [call(0, "read_file", json!({"path": "a.rs"}))];
    assert_eq!(
        render_calls(Hermes, &calls),
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\":\"a.rs\"}}\n</tool_call>"
    );
    assert_eq!(
        render_calls(Llama3, &calls),
        "{\"name\": \"read_file\", \"parameters\": {\"path\":\"a.rs\"}}"
    );
    assert_eq!(
        render_calls(Mistral, &calls),
        "[TOOL_CALLS][{\"name\": \"read_file\", \"arguments\": {\"path\":\"a.rs\"}}]"
    );
    let odd = ToolCall {
        id: "x".into(),
        name: "read_file".into(),
        arguments: "not json".into(),
    };
    assert_eq!(
        render_calls(Hermes, &[odd]),
        "<tool_call>\n{\"name\": \"read_file\", \"arguments\": \"not json\"}\n</tool_call>"
    );
}

#[test]
fn grammar_text_restricts_names_and_keeps_values_free() {
    let specs = tools();
    let hermes = envelope_gbnf(Hermes, &specs);
    assert!(hermes.starts_with("root ::= envelope\n"), "{hermes}");
    assert!(hermes.contains(
        r#"name ::= "\"read_file\"" | "\"edit_file\"" | "\"run_shell\"" | "\"list_files\"""#
    ));
    assert!(hermes.contains(r#"envelope ::= "<tool_call>" ws call ws "</tool_call>""#));
    assert!(hermes.contains("ws object ws \"}\""));
    let Some(crate::engine::Grammar::Lazy {
        text,
        root,
        triggers,
    }) = call_grammar(Hermes, &specs)
    else {
        panic!("Hermes has a lazy grammar");
    };
    assert_eq!(root, "root");
    assert_eq!(triggers, vec!["<tool_call>".to_string()]);
    assert!(text.starts_with("root ::= envelope ( ws envelope )*\n"));
    assert!(call_grammar(Generic, &specs).is_none());
    assert!(call_grammar(Hermes, &[]).is_none());
    assert!(envelope_gbnf(Hermes, &[]).contains("name ::= string\n"));
    let Some(crate::engine::Grammar::Lazy { triggers, .. }) = call_grammar(Llama3, &specs) else {
        panic!("Llama3 has a lazy grammar");
    };
    assert_eq!(triggers.len(), 2);
    assert!(envelope_gbnf(Mistral, &specs).contains(r#""\"id\"""#));
    let odd = [tool("quote\"back\\slash\nnew", json!({}))];
    assert!(envelope_gbnf(Generic, &odd).contains(r#"name ::= "\"quote\\\"back\\\\slash\\nnew\"""#));
}

const PIECES: &[&str] = &[
    "<tool_call>",
    "</tool_call>",
    "<TOOL_CALL>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "[CALL_ID]",
    "<|python_tag|>",
    "<|eom_id|>",
    "<think>",
    "</think>",
    "```",
    "```json\n",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "\\",
    ":",
    ",",
    ";",
    "\n",
    " ",
    "\"name\"",
    "\"arguments\"",
    "\"parameters\"",
    "\"read_file\"",
    "{}",
    "é",
    "日",
    "🦀",
    "null",
    "1",
    "x",
];

fn marker_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        for format in [Hermes, Llama3, Mistral, Generic] {
            let _ = parse(format, &text);
        }
    }

    #[test]
    fn parse_never_panics_on_marker_soup(text in marker_soup()) {
        for format in [Hermes, Llama3, Mistral, Generic] {
            let parsed = parse(format, &text);
            for call in &parsed.calls {
                let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
                prop_assert!(args.is_object());
            }
        }
    }

    #[test]
    fn render_parse_round_trips_any_argument_text(
        names in prop::collection::vec(prop::sample::select(vec!["read_file", "edit_file"]), 1..4),
        text in prop_oneof![any::<String>(), marker_soup()],
        number in any::<i64>(),
    ) {
        let calls: Vec<ToolCall> = names
            .iter()
            .enumerate()
            .map(|(i, name)| call(i, name, json!({"text": text, "n": number, "nested": {"k": [text]}})))
            .collect();
        for format in [Hermes, Llama3, Mistral, Generic] {
            let parsed = parse(format, &render_calls(format, &calls));
            prop_assert_eq!(&parsed.calls, &calls, "{:?}", format);
            prop_assert!(parsed.errors.is_empty());
        }
    }
}

/// Thousands of unclosed calls must not make parsing quadratic: every marker would otherwise
/// rescan the rest of the output.
#[test]
fn pathological_output_parses_in_linear_time() {
    let inputs = [
        "{\"".repeat(20_000),
        "<tool_call>{".repeat(5_000),
        "[TOOL_CALLS][".repeat(5_000),
        "[TOOL_CALLS]x".repeat(5_000),
        "[TOOL_CALLS]x[ARGS]{".repeat(5_000),
        "<|python_tag|>{".repeat(5_000),
        "</think>{\"".repeat(5_000),
        "```json\n{\"".repeat(5_000),
        format!(
            "{}{}",
            "{\"a\": \"".repeat(5_000),
            "<tool_call>".repeat(5_000)
        ),
    ];
    for input in &inputs {
        let started = std::time::Instant::now();
        for format in [Hermes, Llama3, Mistral, Generic] {
            let _ = parse(format, input);
        }
        let took = started.elapsed();
        assert!(took.as_secs() < 5, "{:?}…: {took:?}", &input[..12]);
    }
}
