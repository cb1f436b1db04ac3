//! Successful turns: the request lode sends, text and tool calls reassembled from recorded
//! streams however the network splits them, stop reasons and token counts.

use pretty_assertions::assert_eq;

use super::*;

#[tokio::test]
async fn streams_text_as_it_arrives_and_sends_a_messages_request() {
    let mut parts = events(TEXT_STREAM);
    // Mid-answer pause after "Hel": the first token must be out before the stream ends.
    parts.insert(4, Part::Pause(Duration::from_millis(300)));
    let server = Server::start(vec![Reply::stream(parts)]).await;
    let read = ToolCall {
        id: "toolu_01A".into(),
        name: "read_file".into(),
        arguments: r#"{"path":"a.rs"}"#.into(),
    };
    let mut chat = request(vec![
        Message::system("Be brief."),
        Message::user("read a.rs"),
        Message {
            tool_calls: vec![read.clone()],
            ..Message::assistant("Reading.")
        },
        Message::tool(&read, "fn main() {}"),
        Message::user("and summarize"),
    ]);
    chat.tools = vec![read_file_tool()];
    chat.temperature = 0.5;
    chat.seed = Some(42);

    let (tx, mut rx) = unbounded_channel();
    let backend = backend(&server);
    let run = backend.complete(chat, tx, CancelFlag::new());
    tokio::pin!(run);
    let first = tokio::select! {
        token = rx.recv() => token,
        _ = &mut run => panic!("the turn ended before any token was streamed"),
    };
    assert_eq!(first, Some(ModelEvent::Token { text: "Hel".into() }));
    let completion = run.await.unwrap();
    let mut rest = Vec::new();
    while let Ok(event) = rx.try_recv() {
        rest.push(event);
    }
    assert_eq!(rest, tokens(&["lo, ", "world"]));
    assert!(completion.stats.prefill_ms >= 0.0 && completion.stats.decode_ms >= 250.0);
    assert_eq!(
        Completion {
            stats: TurnStats {
                prefill_ms: 0.0,
                decode_ms: 0.0,
                ..completion.stats.clone()
            },
            ..completion
        },
        Completion {
            text: "Hello, world".into(),
            tool_calls: vec![],
            malformed: vec![],
            stop: StopReason::Stop,
            stats: TurnStats {
                prompt_tokens: 1825,
                cached_tokens: 1800,
                decode_tokens: 4,
                backend: "anthropic".into(),
                model: "claude-test".into(),
                ..TurnStats::default()
            },
        }
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(
        (
            sent.headers["x-api-key"].as_str(),
            sent.headers["anthropic-version"].as_str(),
            sent.headers["content-type"].as_str(),
            sent.headers.get("authorization"),
        ),
        (KEY, "2023-06-01", "application/json", None)
    );
    let cached = json!({"type": "ephemeral"});
    assert_eq!(
        sent.body,
        json!({
            "model": "claude-test",
            "max_tokens": 256,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": cached}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "read a.rs"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "read_file", "input": {"path": "a.rs"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "fn main() {}"},
                    {"type": "text", "text": "and summarize", "cache_control": cached},
                ]},
            ],
            "tools": [{
                "name": "read_file",
                "description": "Read a file.",
                "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            }],
            "stream": true,
            "temperature": 0.5,
        })
    );
    assert_eq!(backend.kind(), "anthropic");
    assert_eq!(backend.model_name(), "claude-test");
    assert_eq!(backend.context_length(), Some(200_000));
}

#[tokio::test]
async fn tool_use_input_split_across_network_writes_becomes_exact_tool_calls() {
    // Writes of 7 bytes split events, lines, escapes and the JSON pieces at arbitrary points.
    let parts = TOOL_STREAM
        .as_bytes()
        .chunks(7)
        .map(|c| Part::Bytes(c.to_vec()))
        .collect();
    let server = Server::start(vec![Reply::stream(parts)]).await;
    let (result, streamed) = turn(&backend(&server), hello()).await;
    let completion = result.unwrap();
    assert_eq!(streamed, tokens(&["Let me read it."]));
    assert_eq!(
        (
            completion.text,
            completion.tool_calls,
            completion.malformed,
            completion.stop,
            completion.stats.decode_tokens,
        ),
        (
            "Let me read it.".to_owned(),
            vec![
                ToolCall {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path": "src/main.rs", "note": "say \"hi\""}"#.into(),
                },
                ToolCall {
                    id: "toolu_01Ab".into(),
                    name: "git_status".into(),
                    arguments: "{}".into(),
                },
            ],
            vec![],
            StopReason::Stop,
            89,
        )
    );
}

#[tokio::test]
async fn answer_now_forbids_tools_and_a_key_less_config_sends_no_key() {
    let server = Server::start(vec![Reply::stream(events(TEXT_STREAM))]).await;
    let backend = AnthropicBackend::new(AnthropicConfig {
        api_key: None,
        ..config(format!("{}/", server.base_url()))
    })
    .unwrap();
    let mut chat = hello();
    chat.tools = vec![read_file_tool()];
    chat.answer_now = true;
    let (result, _) = turn(&backend, chat).await;
    assert_eq!(result.unwrap().text, "Hello, world");
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert!(!sent.headers.contains_key("x-api-key"));
    assert_eq!(sent.body["tool_choice"], json!({"type": "none"}));
}

#[tokio::test]
async fn a_tool_input_that_is_not_json_is_reported_as_malformed_and_max_tokens_is_length() {
    let server = Server::start(vec![Reply::stream(vec![
        event(json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}})),
        event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "write_file", "input": {}}})),
        event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"a.rs\", \"content\": \"fn"}})),
        event(json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 256}})),
        event(json!({"type": "message_stop"})),
    ])])
    .await;
    let completion = turn(&backend(&server), hello()).await.0.unwrap();
    assert_eq!(
        (completion.tool_calls, completion.stop),
        (vec![], StopReason::Length)
    );
    assert_eq!(completion.malformed.len(), 1);
    let problem = &completion.malformed[0];
    for expected in [
        "write_file",
        "toolu_9",
        "not valid JSON",
        r#"{"path": "a.rs""#,
    ] {
        assert!(
            problem.contains(expected),
            "{expected:?} missing in: {problem}"
        );
    }
}

#[tokio::test]
async fn probe_lists_models_with_the_key_and_version() {
    let server = Server::start(vec![Reply::json(
        200,
        &json!({"data": [{"type": "model", "id": "claude-test"}], "has_more": false}),
    )])
    .await;
    backend(&server).probe().await.unwrap();
    let sent = &server.requests()[0];
    assert_eq!(
        (
            sent.method.as_str(),
            sent.path.as_str(),
            sent.headers["x-api-key"].as_str(),
            sent.headers["anthropic-version"].as_str()
        ),
        ("GET", "/v1/models", KEY, "2023-06-01")
    );
}
