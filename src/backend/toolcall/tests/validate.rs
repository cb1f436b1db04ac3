//! Validation of call arguments against tool schemas: repairs small models need, and the
//! messages that tell a model what to fix.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::super::*;
use super::{call, tools};
use CallFormat::Hermes;

fn check(name: &str, arguments: &str) -> Result<serde_json::Value, String> {
    let call = ToolCall {
        id: "call_0".into(),
        name: name.into(),
        arguments: arguments.into(),
    };
    validate(&call, &tools())
}

#[test]
fn validate_accepts_and_repairs() {
    let cases = [
        ("read_file", r#"{"path": "a.rs"}"#, json!({"path": "a.rs"})),
        (
            "read_file",
            r#"{"path": "a.rs", "offset": "12", "limit": 5.0}"#,
            json!({"path": "a.rs", "offset": 12, "limit": 5}),
        ),
        (
            "read_file",
            r#"{"path": "a.rs", "offset": null}"#,
            json!({"path": "a.rs", "offset": null}),
        ),
        (
            "read_file",
            r#""{\"path\": \"a.rs\"}""#,
            json!({"path": "a.rs"}),
        ),
        ("list_files", "", json!({})),
        ("list_files", r#"{"anything": 1}"#, json!({"anything": 1})),
        (
            "run_shell",
            r#"{"command": "ls", "timeout_s": "2.5"}"#,
            json!({"command": "ls", "timeout_s": 2.5}),
        ),
        (
            "run_shell",
            r#"{"command": "ls", "timeout_s": null, "env": {}}"#,
            json!({"command": "ls", "timeout_s": null, "env": {}}),
        ),
        (
            "edit_file",
            r#"{"path": "a", "edits": [{"old": "x", "new": "y"}], "replace_all": "true", "mode": "patch"}"#,
            json!({"path": "a", "edits": [{"old": "x", "new": "y"}], "replace_all": true, "mode": "patch"}),
        ),
    ];
    for (name, arguments, want) in cases {
        assert_eq!(check(name, arguments), Ok(want), "{name} {arguments}");
    }
}

#[test]
fn validate_reports_what_to_fix() {
    let cases = [
        ("read_flie", "{}", "unknown tool `read_flie`; available tools: read_file, edit_file, run_shell, list_files"),
        ("ReadFile", "{}", "unknown tool `ReadFile` (did you mean `read_file`?); available tools: read_file, edit_file, run_shell, list_files"),
        ("read_file", "[1]", "read_file: the arguments must be a JSON object, got an array ([1])"),
        ("read_file", "\"a.rs\"", "read_file: the arguments must be a JSON object, got a string"),
        ("read_file", "{\"path\": ", "read_file: the arguments are not valid JSON (EOF while parsing a value at line 1 column 9)"),
        ("read_file", "{}", "read_file: invalid arguments: missing required property `path` (a string)"),
        ("read_file", r#"{"path": null}"#, "read_file: invalid arguments: missing required property `path` (a string)"),
        ("read_file", r#"{"path": 3}"#, "read_file: invalid arguments: `path` must be a string, got an integer (3)"),
        ("read_file", r#"{"path": "a", "offset": "ten"}"#, "read_file: invalid arguments: `offset` must be an integer, got a string (\"ten\")"),
        ("read_file", r#"{"path": "a", "offset": 1.5}"#, "read_file: invalid arguments: `offset` must be an integer, got a number (1.5)"),
        (
            "read_file",
            r#"{"file": "a"}"#,
            "read_file: invalid arguments: unknown property `file`; the properties are `path`, `offset`, `limit`; missing required property `path` (a string)",
        ),
        ("edit_file", r#"{"path": "a", "edits": {}}"#, "edit_file: invalid arguments: `edits` must be an array, got an object ({})"),
        ("edit_file", r#"{"path": "a", "edits": [{"old": "x"}]}"#, "edit_file: invalid arguments: missing required property `edits[0].new` (a string)"),
        ("edit_file", r#"{"path": "a", "edits": [], "replace_all": "yes"}"#, "edit_file: invalid arguments: `replace_all` must be a boolean, got a string (\"yes\")"),
        ("edit_file", r#"{"path": "a", "edits": [], "mode": "all"}"#, "edit_file: invalid arguments: `mode` must be one of \"patch\", \"whole\", got a string (\"all\")"),
        ("run_shell", r#"{"command": ["ls"], "timeout_s": true}"#, "run_shell: invalid arguments: `command` must be a string, got an array ([\"ls\"]); `timeout_s` must be a number or null, got a boolean (true)"),
        ("run_shell", r#"{"command": "ls", "env": "A=1"}"#, "run_shell: invalid arguments: `env` must be an object, got a string (\"A=1\")"),
    ];
    for (name, arguments, want) in cases {
        assert_eq!(
            check(name, arguments),
            Err(want.to_string()),
            "{name} {arguments}"
        );
    }
    let long = format!(r#"{{"path": "{}"}}"#, "x".repeat(200));
    let err = check("edit_file", &long).unwrap_err();
    assert!(
        err.contains("missing required property `edits` (an array)"),
        "{err}"
    );
    assert_eq!(
        validate(&call(0, "x", json!({})), &[]),
        Err("unknown tool `x`: no tools are available in this turn".to_string())
    );
}

#[test]
fn parsed_calls_validate_end_to_end() {
    let parsed = parse(Hermes, "<tool_call>{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"a.rs\\\", \\\"limit\\\": \\\"40\\\"}\"}</tool_call>");
    assert_eq!(
        validate(&parsed.calls[0], &tools()),
        Ok(json!({"path": "a.rs", "limit": 40}))
    );
}
