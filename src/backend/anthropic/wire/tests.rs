//! The mapping of lode's conversation onto the Messages API's rules, compared as whole JSON
//! bodies, and the lenient parsing of stream events.

use pretty_assertions::assert_eq;
use serde_json::{json, Value};

use super::*;
use crate::backend::ToolCall;
use crate::stats::TurnStats;
use crate::tools::{Permission, ToolSpec};

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn calling(text: &str, calls: Vec<ToolCall>) -> Message {
    Message {
        tool_calls: calls,
        ..Message::assistant(text)
    }
}

fn chat(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        messages,
        tools: Vec::new(),
        temperature: 0.0,
        seed: Some(7),
        max_tokens: 512,
        stable_prefix_messages: 1,
        answer_schema: None,
        answer_now: false,
        task_turn: 0,
    }
}

fn body(request: &ChatRequest) -> Value {
    serde_json::to_value(Request::new("claude-test", request, 4096)).unwrap()
}

/// Just the `messages` of the body.
fn messages(messages: Vec<Message>) -> Value {
    body(&chat(messages))["messages"].clone()
}

const CACHED: &str = "ephemeral";

#[test]
fn system_goes_top_level_and_consecutive_roles_merge() {
    let sent = body(&chat(vec![
        Message::system("Be brief."),
        Message::system("Project rules."),
        Message::user("hi"),
        Message::user("   "),
        Message::user("are you there?"),
        Message::assistant("yes"),
        Message::assistant(""),
        Message::assistant("what now?"),
        Message::user("fix it"),
    ]));
    assert_eq!(
        sent,
        json!({
            "model": "claude-test",
            "max_tokens": 512,
            "system": [{"type": "text", "text": "Be brief.\n\nProject rules.", "cache_control": {"type": CACHED}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "text", "text": "are you there?"},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "yes"},
                    {"type": "text", "text": "what now?"},
                ]},
                {"role": "user", "content": [
                    {"type": "text", "text": "fix it", "cache_control": {"type": CACHED}},
                ]},
            ],
            "stream": true,
            "temperature": 0.0,
        })
    );
}

#[test]
fn tool_calls_become_tool_use_blocks_answered_by_one_user_turn_of_results() {
    let read = call("toolu_01A", "read_file", r#"{"path": "a.rs"}"#);
    let grep = call("toolu_01B", "grep", r#"{"pattern": "fn main"}"#);
    let sent = messages(vec![
        Message::system("sys"),
        Message::user("look"),
        calling("Reading both.", vec![read.clone(), grep.clone()]),
        Message::tool(&read, "fn main() {}"),
        Message::tool(&grep, ""),
        Message::user("and?"),
    ]);
    assert_eq!(
        sent,
        json!([
            {"role": "user", "content": [{"type": "text", "text": "look"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Reading both."},
                {"type": "tool_use", "id": "toolu_01A", "name": "read_file", "input": {"path": "a.rs"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "grep", "input": {"pattern": "fn main"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "fn main() {}"},
                {"type": "tool_result", "tool_use_id": "toolu_01B"},
                {"type": "text", "text": "and?", "cache_control": {"type": CACHED}},
            ]},
        ])
    );
}

#[test]
fn unusable_ids_are_sanitized_and_reused_ids_made_unique_for_call_and_result() {
    // A local model numbers its calls from call_0 in every turn; another server uses dots.
    let first = call("call_0", "list", "");
    let second = call("call_0", "list", "{}");
    let dotted = call("fc.9/x", "list", "{}");
    let sent = messages(vec![
        Message::user("go"),
        calling("", vec![first.clone()]),
        Message::tool(&first, "a"),
        calling("", vec![second.clone(), dotted.clone()]),
        Message::tool(&dotted, "c"),
        Message::tool(&second, "b"),
    ]);
    assert_eq!(
        sent,
        json!([
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_0", "name": "list", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_0", "content": "a"},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_0_2", "name": "list", "input": {}},
                {"type": "tool_use", "id": "fc_9_x", "name": "list", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "fc_9_x", "content": "c"},
                {"type": "tool_result", "tool_use_id": "call_0_2", "content": "b", "cache_control": {"type": CACHED}},
            ]},
        ])
    );
}

#[test]
fn arguments_that_are_not_an_object_become_empty_input_with_the_text_kept() {
    let broken = call("c1", "read_file", r#"{"path": "a.rs""#);
    let sent = messages(vec![
        Message::user("go"),
        calling("", vec![broken.clone()]),
        Message::tool(&broken, "error: arguments are not valid JSON"),
    ]);
    assert_eq!(
        sent[1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": r#"(arguments written for read_file, not a JSON object: {"path": "a.rs")"#},
            {"type": "tool_use", "id": "c1", "name": "read_file", "input": {}},
        ]})
    );
}

#[test]
fn a_call_without_result_is_answered_and_a_stray_result_becomes_text() {
    // Cancelled during the tool: the assistant's call never got its result.
    let cancelled = call("c1", "run_tests", "{}");
    let stray = call("gone", "grep", "{}");
    let sent = messages(vec![
        Message::user("test it"),
        calling("Running.", vec![cancelled]),
        Message::user("never mind; what is 2+2?"),
        Message::tool(&stray, "match"),
    ]);
    assert_eq!(
        sent,
        json!([
            {"role": "user", "content": [{"type": "text", "text": "test it"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "c1", "name": "run_tests", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": NO_RESULT},
                {"type": "text", "text": "never mind; what is 2+2?"},
                {"type": "text", "text": "[result of grep call gone]\nmatch", "cache_control": {"type": CACHED}},
            ]},
        ])
    );
}

#[test]
fn calls_at_the_end_of_the_history_are_answered_and_a_final_answer_is_trimmed() {
    let dangling = call("c1", "list", "{}");
    assert_eq!(
        messages(vec![Message::user("go"), calling("", vec![dangling])])[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": NO_RESULT, "cache_control": {"type": CACHED}},
        ]})
    );
    assert_eq!(
        messages(vec![Message::user("go"), Message::assistant("Sure \n")])[1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "Sure", "cache_control": {"type": CACHED}},
        ]})
    );
}

#[test]
fn tools_answer_now_temperature_and_default_budget() {
    let mut request = chat(vec![Message::user("hi")]);
    request.tools = vec![ToolSpec {
        name: "read_file",
        description: "Read a file.",
        short_description: "Read",
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        permission: Permission::Read,
    }];
    request.answer_now = true;
    request.temperature = 1.5;
    request.max_tokens = 0;
    let sent = body(&request);
    assert_eq!(
        (
            &sent["tools"],
            &sent["tool_choice"],
            &sent["temperature"],
            &sent["max_tokens"]
        ),
        (
            &json!([{"name": "read_file", "description": "Read a file.",
                     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]),
            &json!({"type": "none"}),
            &json!(1.0),
            &json!(4096),
        )
    );
    // Without tools there is nothing to forbid.
    request.tools.clear();
    assert_eq!(body(&request).get("tool_choice"), None);
}

#[test]
fn unknown_events_blocks_and_deltas_are_skipped_not_errors() {
    let parse = |data: &str| serde_json::from_str::<Event>(data).unwrap();
    assert!(matches!(
        parse(r#"{"type": "content_block_stop", "index": 3}"#),
        Event::ContentBlockStop
    ));
    assert!(matches!(
        parse(r#"{"type": "future_event", "payload": {"x": 1}}"#),
        Event::Unknown
    ));
    assert!(matches!(
        parse(
            r#"{"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}"#
        ),
        Event::ContentBlockStart {
            content_block: ContentBlock::Other,
            ..
        }
    ));
    assert!(matches!(
        parse(
            r#"{"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "x"}}"#
        ),
        Event::ContentBlockDelta {
            delta: Delta::Other,
            ..
        }
    ));
}

#[test]
fn usage_counts_the_whole_prompt_and_keeps_the_latest_counts() {
    let mut usage: Usage = serde_json::from_value(json!({
        "input_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 3000, "output_tokens": 1
    }))
    .unwrap();
    usage.update(
        serde_json::from_value(json!({"output_tokens": 42, "input_tokens": null})).unwrap(),
    );
    let mut stats = TurnStats::default();
    usage.apply(&mut stats);
    assert_eq!(
        stats,
        TurnStats {
            prompt_tokens: 3120,
            cached_tokens: 3000,
            decode_tokens: 42,
            ..TurnStats::default()
        }
    );
}
